/**
 * The kernel's one 2D drawing module: lines, boxes, dots and discs drawn into an 8-bit RGB copy of an image, for
 * overlays (face boxes, landmarks, residual lines, mesh wireframes). Optional alpha blending, clipping at the
 * borders; no anti-aliasing (not needed at the sizes these are viewed at).
 */
import type { AnyImage, Image } from './image';

export type Rgb = readonly [number, number, number];

/**
 * An RGB copy of `img` (grey replicated, alpha dropped), safe to draw into; a black canvas of `width`×`height` when
 * `img` is null.
 */
export function copyRgb(img: AnyImage | null, width = img?.width ?? 512, height = img?.height ?? 512): Image<3> {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  if (img) {
    const c = img.channels;
    for (let i = 0; i < n; i++) {
      data[3 * i] = img.data[c * i]!;
      data[3 * i + 1] = img.data[c * i + (c >= 3 ? 1 : 0)]!;
      data[3 * i + 2] = img.data[c * i + (c >= 3 ? 2 : 0)]!;
    }
  }
  return { width, height, channels: 3, data };
}

/** Pixel (x, y) of an RGB image blended towards `c` by `alpha` (1: replaced); outside the image: nothing. */
function put(img: Image, x: number, y: number, c: Rgb, alpha: number): void {
  x = Math.round(x);
  y = Math.round(y);
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const i = 3 * (y * img.width + x);
  const d = img.data;
  if (alpha >= 1) {
    d[i] = c[0];
    d[i + 1] = c[1];
    d[i + 2] = c[2];
  } else {
    d[i] = Math.round(d[i]! + (c[0] - d[i]!) * alpha);
    d[i + 1] = Math.round(d[i + 1]! + (c[1] - d[i + 1]!) * alpha);
    d[i + 2] = Math.round(d[i + 2]! + (c[2] - d[i + 2]!) * alpha);
  }
}

export interface StrokeOptions {
  /** Line width in pixels (a square brush; default 1). */
  thickness?: number;
  /** Opacity in [0, 1] (default 1: the colour replaces the pixels). */
  alpha?: number;
}

/** A straight line (DDA: one sample per pixel along the longer axis). Non-finite or far off-canvas ends draw nothing. */
export function drawLine(img: Image, x0: number, y0: number, x1: number, y1: number, c: Rgb, options: StrokeOptions = {}): void {
  if (![x0, y0, x1, y1].every(Number.isFinite)) return;
  const steps = Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)));
  if (steps > 4 * (img.width + img.height)) return;
  const alpha = options.alpha ?? 1, r = ((options.thickness ?? 1) - 1) / 2;
  for (let s = 0; s <= steps; s++) {
    const t = steps ? s / steps : 0;
    const x = x0 + (x1 - x0) * t, y = y0 + (y1 - y0) * t;
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) put(img, x + dx, y + dy, c, alpha);
  }
}

export function drawBox(img: Image, box: { x1: number; y1: number; x2: number; y2: number }, c: Rgb, thickness = 2): void {
  drawLine(img, box.x1, box.y1, box.x2, box.y1, c, { thickness });
  drawLine(img, box.x2, box.y1, box.x2, box.y2, c, { thickness });
  drawLine(img, box.x2, box.y2, box.x1, box.y2, c, { thickness });
  drawLine(img, box.x1, box.y2, box.x1, box.y1, c, { thickness });
}

/** Filled square dots at each (x, y); `points` is interleaved x,y[,z…] with the given stride. */
export function drawPoints(img: Image, points: ArrayLike<number>, c: Rgb, radius = 1, stride = 2): void {
  for (let i = 0; i + 1 < points.length; i += stride)
    for (let dy = -radius; dy <= radius; dy++) for (let dx = -radius; dx <= radius; dx++) put(img, points[i]! + dx, points[i + 1]! + dy, c, 1);
}

/** A filled disc of radius `r` around (x, y). A non-finite centre draws nothing. */
export function drawDot(img: Image, x: number, y: number, r: number, c: Rgb, alpha = 1): void {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return;
  const cx = Math.round(x), cy = Math.round(y), R = Math.max(0, Math.round(r));
  for (let dy = -R; dy <= R; dy++) for (let dx = -R; dx <= R; dx++) if (dx * dx + dy * dy <= r * r + 0.5) put(img, cx + dx, cy + dy, c, alpha);
}
