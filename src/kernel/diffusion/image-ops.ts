/**
 * The image conversions of the sampling stage (reference-pipeline.md §6.3, §7.4, §7.10), pure functions over typed
 * arrays:
 *   - Pillow-style separable resampling of 8-bit RGB (Lanczos for the reference image, bicubic for guidance maps),
 *     with Pillow's support scaling when downsampling and its per-pass rounding to 8 bits. Pillow computes the
 *     filter coefficients in fixed point; we use float64, so an occasional pixel may differ by one level.
 *   - torch `F.interpolate(mode='bilinear', align_corners=False)` on float planes (the output resize to the
 *     reference's own size; the identity when sizes match).
 *   - 8-bit conversion `trunc(255·x)` (truncation, as the reference's `(x·255).astype(uint8)`).
 *   - torchvision `make_grid(padding=2, pad_value=0)` for one row of tiles.
 */
import type { AnyImage } from '../io/image';

export type ResampleFilter = 'lanczos' | 'bicubic' | 'bilinear';

const SUPPORT: Record<ResampleFilter, number> = { lanczos: 3, bicubic: 2, bilinear: 1 };

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

function kernel(f: ResampleFilter, x: number): number {
  const a = Math.abs(x);
  if (f === 'bilinear') return a < 1 ? 1 - a : 0;
  if (f === 'lanczos') return a < 3 ? sinc(x) * sinc(x / 3) : 0;
  // Pillow's bicubic, a = −0.5
  const A = -0.5;
  if (a < 1) return ((A + 2) * a - (A + 3)) * a * a + 1;
  if (a < 2) return (((a - 5) * a + 8) * a - 4) * A;
  return 0;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  span: number;
}

function taps(inSize: number, outSize: number, f: ResampleFilter): Taps {
  const scale = inSize / outSize;
  const ss = Math.max(scale, 1);
  const support = SUPPORT[f] * ss;
  const span = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * span);
  for (let x = 0; x < outSize; x++) {
    const center = (x + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    const n = hi - lo;
    for (let i = 0; i < n; i++) {
      const w = kernel(f, (i + lo - center + 0.5) / ss);
      weights[x * span + i] = w;
      total += w;
    }
    if (total !== 0) for (let i = 0; i < n; i++) weights[x * span + i]! /= total;
    start[x] = lo;
    count[x] = n;
  }
  return { start, count, weights, span };
}

const clip8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Resizes an 8-bit image (any channel count) like Pillow's `Image.resize(size, filter)`. Returns RGB(A) as given. */
export function resizeImage(img: AnyImage, width: number, height: number, filter: ResampleFilter): AnyImage {
  if (img.width === width && img.height === height) return img;
  const c = img.channels;
  const src = img.data;
  // horizontal pass → (img.height × width), rounded to 8 bits as Pillow does between passes
  const th = taps(img.width, width, filter);
  const mid = new Uint8Array(img.height * width * c);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < width; x++) {
      const s = th.start[x]!;
      const n = th.count[x]!;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += th.weights[x * th.span + i]! * src[(y * img.width + s + i) * c + ch]!;
        mid[(y * width + x) * c + ch] = clip8(acc);
      }
    }
  const tv = taps(img.height, height, filter);
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const s = tv.start[y]!;
    const n = tv.count[y]!;
    for (let x = 0; x < width; x++)
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += tv.weights[y * tv.span + i]! * mid[((s + i) * width + x) * c + ch]!;
        out[(y * width + x) * c + ch] = clip8(acc);
      }
  }
  return { width, height, channels: c, data: out };
}

/** RGB(A)/grey 8-bit → planar float32 RGB (3, H, W) with `a·(v/255) + b` per value (float32 per op). */
export function toPlanar(img: AnyImage, a = 1, b = 0, out = new Float32Array(3 * img.width * img.height)): Float32Array {
  const n = img.width * img.height;
  const c = img.channels;
  const f = Math.fround;
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < 3; ch++) {
      const v = img.data[i * c + (c === 1 ? 0 : ch)]!;
      const u = f(v / 255);
      out[ch * n + i] = a === 1 && b === 0 ? u : f(f(u * a) + b);
    }
  return out;
}

/**
 * torch `F.interpolate(x, (outH, outW), mode='bilinear', align_corners=False)` of one planar float image
 * (C, H, W) (no antialias). The identity when the size does not change.
 */
export function bilinearResize(src: Float32Array, c: number, h: number, w: number, outH: number, outW: number): Float32Array {
  if (h === outH && w === outW) return src;
  const out = new Float32Array(c * outH * outW);
  const sy = h / outH;
  const sx = w / outW;
  const coord = (o: number, s: number, size: number) => {
    const x = Math.max((o + 0.5) * s - 0.5, 0);
    const i0 = Math.min(Math.floor(x), size - 1);
    const i1 = Math.min(i0 + 1, size - 1);
    return [i0, i1, x - i0] as const;
  };
  const xs = Array.from({ length: outW }, (_, x) => coord(x, sx, w));
  for (let y = 0; y < outH; y++) {
    const [y0, y1, fy] = coord(y, sy, h);
    for (let ch = 0; ch < c; ch++) {
      const p = src.subarray(ch * h * w, (ch + 1) * h * w);
      for (let x = 0; x < outW; x++) {
        const [x0, x1, fx] = xs[x]!;
        const top = p[y0 * w + x0]! * (1 - fx) + p[y0 * w + x1]! * fx;
        const bot = p[y1 * w + x0]! * (1 - fx) + p[y1 * w + x1]! * fx;
        out[ch * outH * outW + y * outW + x] = top * (1 - fy) + bot * fy;
      }
    }
  }
  return out;
}

/** Planar float (3, H, W) in [0, 1] → interleaved 8-bit RGB with `trunc(255·x)` in float32 (the reference's cast). */
export function planarToRgb8(src: Float32Array, h: number, w: number): AnyImage {
  const n = h * w;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < 3; ch++) {
      const v = Math.fround(src[ch * n + i]! * 255);
      data[i * 3 + ch] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
    }
  return { width: w, height: h, channels: 3, data };
}

/** Any 8-bit image → RGB. */
export function asRgb(img: AnyImage): AnyImage {
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < 3; ch++) data[i * 3 + ch] = img.data[i * img.channels + (img.channels === 1 ? 0 : ch)]!;
  return { width: img.width, height: img.height, channels: 3, data };
}

/**
 * torchvision `make_grid(tiles, nrow ≥ tiles, padding, pad_value=0)`: one row, `padding` black pixels around and
 * between tiles; a single tile comes back unpadded. All tiles must share one size.
 */
export function gridRow(tiles: readonly AnyImage[], padding = 2): AnyImage {
  if (tiles.length === 1) return asRgb(tiles[0]!);
  const { width: w, height: h } = tiles[0]!;
  const W = tiles.length * (w + padding) + padding;
  const H = h + 2 * padding;
  const data = new Uint8Array(W * H * 3);
  tiles.forEach((t0, k) => {
    if (t0.width !== w || t0.height !== h) throw new Error(`gridRow: tile ${k} is ${t0.width}×${t0.height}, the first ${w}×${h}`);
    const t = asRgb(t0);
    const x0 = padding + k * (w + padding);
    for (let y = 0; y < h; y++) data.set(t.data.subarray(y * w * 3, (y + 1) * w * 3), ((padding + y) * W + x0) * 3);
  });
  return { width: W, height: H, channels: 3, data };
}
