// FLAMETex (reference-pipeline.md §2.5): albedo = mean + basis·texcode, both /255, taken at the texels that
// PyTorch's default 'nearest' resize to outSize picks, channels reversed BGR → RGB, not clamped.

import { MagicPortraitError } from '../errors';
import type { FloatArray, FloatDType, TextureSpace } from './types';

/** Source index of PyTorch's legacy 'nearest' interpolation: min(floor(dst·in/out), in − 1). */
export function nearestSourceIndex(dst: number, nIn: number, nOut: number): number {
  return Math.min(Math.floor(dst * (nIn / nOut)), nIn - 1);
}

export interface AlbedoOptions {
  /** Output size (square), default 256. */
  outSize?: number;
  dtype?: FloatDType;
}

/**
 * Albedo maps for `batchSize` texture codes (batchSize × k, k ≤ tex.numComponents; DECA uses k = 50).
 * Returns batchSize × 3 × outSize × outSize (planar RGB, rows top to bottom as stored), nominally 0–1.
 */
export function flameTexAlbedo(
  tex: TextureSpace, texcode: ArrayLike<number>, batchSize: number, opts: AlbedoOptions = {},
): FloatArray {
  const k = texcode.length / batchSize;
  if (!Number.isInteger(k) || k > tex.numComponents) {
    throw new MagicPortraitError(
      `texture code has ${texcode.length} values for ${batchSize} item(s); the texture space has ${tex.numComponents} components`,
      'bad-argument');
  }
  const N = opts.outSize ?? 256;
  const H = tex.size, C = tex.numComponents;
  const out = opts.dtype === 'float64' ? new Float64Array(batchSize * 3 * N * N) : new Float32Array(batchSize * 3 * N * N);
  const src = new Int32Array(N);
  for (let i = 0; i < N; i++) src[i] = nearestSourceIndex(i, H, N);
  const flip = tex.channelOrder === 'BGR';
  const coef = new Float64Array(k);
  for (let b = 0; b < batchSize; b++) {
    for (let l = 0; l < k; l++) coef[l] = texcode[b * k + l];
    for (let y = 0; y < N; y++) {
      const sy = src[y];
      for (let x = 0; x < N; x++) {
        const t = (sy * H + src[x]) * 3;
        for (let c = 0; c < 3; c++) {
          let s = tex.mean[t + c];
          const o = (t + c) * C;
          for (let l = 0; l < k; l++) s += tex.basis[o + l] * coef[l];
          const oc = flip ? 2 - c : c;
          out[((b * 3 + oc) * N + y) * N + x] = s / 255;
        }
      }
    }
  }
  return out;
}

/** Display helper (not part of the reference): one albedo map → RGBA8, clamped to 0–255. */
export function albedoToRGBA8(albedo: ArrayLike<number>, b: number, size: number): Uint8ClampedArray {
  const out = new Uint8ClampedArray(size * size * 4);
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[4 * i + c] = Math.round(albedo[(b * 3 + c) * plane + i] * 255);
    out[4 * i + 3] = 255;
  }
  return out;
}
