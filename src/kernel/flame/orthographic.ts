// DECA's orthographic camera and the crop/image transforms (reference-pipeline.md §1.4, §2.6).

import type { FloatArray } from './types';

/**
 * DECA's `batch_orth_proj` followed by the y/z flip of `decode`: for batch item b with cam = [s, tx, ty],
 *   x' = s·(x + tx),  y' = −s·(y + ty),  z' = −s·z.
 * The result is in the 224-crop NDC: +x right, +y down, smaller z nearer the camera.
 * points: batchSize × n × 3, cam: batchSize × 3.
 */
export function orthographicProject(
  points: ArrayLike<number>, cam: ArrayLike<number>, batchSize: number,
  out: FloatArray = new Float64Array(points.length),
): FloatArray {
  const n = points.length / (3 * batchSize);
  if (!Number.isInteger(n)) throw new RangeError(`points has ${points.length} values, not batchSize × n × 3`);
  for (let b = 0; b < batchSize; b++) {
    const s = cam[3 * b], tx = cam[3 * b + 1], ty = cam[3 * b + 2];
    for (let i = 0; i < n; i++) {
      const o = (b * n + i) * 3;
      out[o] = s * (points[o] + tx);
      out[o + 1] = -s * (points[o + 1] + ty);
      out[o + 2] = -s * points[o + 2];
    }
  }
  return out;
}

/** 3×3 inverse (row-major). */
export function invert3(m: ArrayLike<number>): Float64Array {
  const [a, b, c, d, e, f, g, h, i] = Array.from(m);
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (det === 0 || !Number.isFinite(det)) throw new RangeError('singular 3×3 matrix');
  return Float64Array.from([
    A / det, -(b * i - c * h) / det, (b * f - c * e) / det,
    B / det, (a * i - c * g) / det, -(a * f - c * d) / det,
    C / det, -(a * h - b * g) / det, (a * e - b * d) / det,
  ]);
}

/**
 * DECA's stored `tform` = (T⁻¹)ᵀ for the similarity T that maps original-image pixels to crop pixels
 * (`code['tform']` in render_and_transfer.py).
 */
export function decaTform(T: ArrayLike<number>): Float64Array {
  const inv = invert3(T);
  return Float64Array.from([inv[0], inv[3], inv[6], inv[1], inv[4], inv[7], inv[2], inv[5], inv[8]]);
}

export interface CropToImageOptions {
  /** Crop size used to go from crop NDC to crop pixels. [quirk] DECA uses 224 (the crop was estimated with 223). */
  cropSize?: number;
  /** Output image [height, width]; default [512, 512]. */
  outSize?: [number, number];
}

/**
 * `transform_points` (tensor_cropper.py): crop NDC → crop pixels u = (x·0.5 + 0.5)·cropSize → original pixels
 * [u_o, v_o, 1] = [u, v, 1]·tform → original NDC x' = u_o/w·2 − 1, y' = v_o/h·2 − 1; z unchanged.
 * `tform` is DECA's (T⁻¹)ᵀ (see decaTform); points: n × 3 (or n × 2 with `dims` = 2).
 */
export function cropNdcToImageNdc(
  points: ArrayLike<number>, tform: ArrayLike<number>, opts: CropToImageOptions = {}, dims: 2 | 3 = 3,
  out: FloatArray = new Float64Array(points.length),
): FloatArray {
  const cs = opts.cropSize ?? 224;
  const [h, w] = opts.outSize ?? [512, 512];
  const n = points.length / dims;
  for (let i = 0; i < n; i++) {
    const o = i * dims;
    const u = (points[o] * 0.5 + 0.5) * cs;
    const v = (points[o + 1] * 0.5 + 0.5) * cs;
    const uo = u * tform[0] + v * tform[3] + tform[6];
    const vo = u * tform[1] + v * tform[4] + tform[7];
    out[o] = (uo / w) * 2 - 1;
    out[o + 1] = (vo / h) * 2 - 1;
    if (dims === 3) out[o + 2] = points[o + 2];
  }
  return out;
}

/** NDC (−1..1, +y down) → pixel coordinates with the same convention as above: u = (x·0.5 + 0.5)·width. */
export function ndcToPixels(points: ArrayLike<number>, width: number, height: number, dims: 2 | 3 = 3,
  out: FloatArray = new Float64Array(points.length)): FloatArray {
  const n = points.length / dims;
  for (let i = 0; i < n; i++) {
    const o = i * dims;
    out[o] = (points[o] * 0.5 + 0.5) * width;
    out[o + 1] = (points[o + 1] * 0.5 + 0.5) * height;
    if (dims === 3) out[o + 2] = points[o + 2];
  }
  return out;
}
