/**
 * Minimal 2D drawing into 8-bit RGB images for overlays (face boxes, landmarks, residual lines). Anti-aliasing is
 * not needed at the sizes these are viewed at; clipping is.
 */
import type { Image } from './image';

export type Rgb = readonly [number, number, number];

/** A copy of `img` as 3-channel RGB, safe to draw into. */
export function copyRgb(img: Image): Image {
  const n = img.width * img.height;
  const data = new Uint8Array(n * 3);
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    data[3 * i] = img.data[c * i]!;
    data[3 * i + 1] = img.data[c * i + (c >= 3 ? 1 : 0)]!;
    data[3 * i + 2] = img.data[c * i + (c >= 3 ? 2 : 0)]!;
  }
  return { width: img.width, height: img.height, channels: 3, data };
}

function put(img: Image, x: number, y: number, c: Rgb): void {
  x = Math.round(x);
  y = Math.round(y);
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const i = 3 * (y * img.width + x);
  img.data[i] = c[0];
  img.data[i + 1] = c[1];
  img.data[i + 2] = c[2];
}

export function drawLine(img: Image, x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
  const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
  const r = (thickness - 1) / 2;
  for (let s = 0; s <= steps; s++) {
    const x = x0 + ((x1 - x0) * s) / steps;
    const y = y0 + ((y1 - y0) * s) / steps;
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) put(img, x + dx, y + dy, c);
  }
}

export function drawBox(img: Image, box: { x1: number; y1: number; x2: number; y2: number }, c: Rgb, thickness = 2): void {
  drawLine(img, box.x1, box.y1, box.x2, box.y1, c, thickness);
  drawLine(img, box.x2, box.y1, box.x2, box.y2, c, thickness);
  drawLine(img, box.x2, box.y2, box.x1, box.y2, c, thickness);
  drawLine(img, box.x1, box.y2, box.x1, box.y1, c, thickness);
}

/** Filled square dots at each (x, y); `points` is interleaved x,y[,z…] with the given stride. */
export function drawPoints(img: Image, points: ArrayLike<number>, c: Rgb, radius = 1, stride = 2): void {
  for (let i = 0; i + 1 < points.length; i += stride)
    for (let dy = -radius; dy <= radius; dy++) for (let dx = -radius; dx <= radius; dx++) put(img, points[i]! + dx, points[i + 1]! + dy, c);
}
