/** Shared setup of the preview tests: a private stage cache, the demo head's landmarks in pixels, blob finding. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flameForward, prepareFlame, type FlameModelData } from '../../src/kernel/flame';
import { orthProject, placeInImage, Rasterizer } from '../../src/kernel/render';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import type { AnyImage } from '../../src/kernel/io/image';

export const dataDir = join(__dirname, '..', '..', '..', 'shared', 'data');

/** demoPortrait and the guidance renders go through the stage cache: keep it out of the user's cache. */
export function privateStageCache(): void {
  setStageCache(new StageCache(mkdtempSync(join(tmpdir(), 'mp-preview-cache-'))));
}

/**
 * The 68 landmarks (full embedding) of the model posed with these parameters, in image pixels (x right, y down,
 * pixel centres at integers), placed as DECA places them: crop NDC, then the crop transform when there is one.
 * Independent of the preview code: the forward model and the camera functions only.
 */
export function landmarkPixels(
  model: FlameModelData,
  p: { shape?: ArrayLike<number>; expression: ArrayLike<number>; pose: ArrayLike<number> },
  cam: ArrayLike<number>, size: { width: number; height: number }, tform: ArrayLike<number> | null = null,
): Float64Array {
  const numShape = Math.max(1, Math.min(p.shape?.length ?? 0, model.numShape));
  const prep = prepareFlame(model, { numShape, numExpression: model.numExpression });
  const shape = new Float32Array(numShape);
  for (let i = 0; i < Math.min(numShape, p.shape?.length ?? 0); i++) shape[i] = p.shape![i]!;
  const expression = new Float32Array(model.numExpression), pose = new Float32Array(3 * model.numJoints);
  for (let i = 0; i < Math.min(expression.length, p.expression.length); i++) expression[i] = p.expression[i]!;
  for (let i = 0; i < Math.min(pose.length, p.pose.length); i++) pose[i] = p.pose[i]!;
  const out = flameForward(prep, { batchSize: 1, shape, expression, pose });
  let ndc = orthProject(Float32Array.from(out.landmarks3d!), cam);
  if (tform) ndc = placeInImage(ndc, tform, size.width, size.height);
  const px = new Float64Array(136);
  for (let i = 0; i < 68; i++) {
    px[2 * i] = ((ndc[3 * i]! + 1) * size.width) / 2 - 0.5;
    px[2 * i + 1] = ((ndc[3 * i + 1]! + 1) * size.height) / 2 - 0.5;
  }
  return px;
}

/** Paints a filled disc of pure green (a colour the demo portrait does not have) centred at (cx, cy). */
export function paintDot(img: AnyImage, cx: number, cy: number, r: number): void {
  for (let y = Math.floor(cy - r - 1); y <= Math.ceil(cy + r + 1); y++)
    for (let x = Math.floor(cx - r - 1); x <= Math.ceil(cx + r + 1); x++) {
      if (x < 0 || y < 0 || x >= img.width || y >= img.height || (x - cx) ** 2 + (y - cy) ** 2 > r * r) continue;
      const o = (y * img.width + x) * img.channels;
      img.data[o] = 0; img.data[o + 1] = 255; img.data[o + 2] = 0;
    }
}

/** Green blobs (greenness g − max(r, b) > 40, 4-connected): greenness-weighted centroids and sizes. */
export function greenBlobs(img: AnyImage): { x: number; y: number; n: number }[] {
  const W = img.width, H = img.height, c = img.channels, d = img.data;
  const g = new Float32Array(W * H);
  for (let p = 0; p < W * H; p++) g[p] = Math.max(0, d[c * p + 1]! - Math.max(d[c * p]!, d[c * p + 2]!));
  const seen = new Uint8Array(W * H);
  const out: { x: number; y: number; n: number }[] = [];
  for (let p0 = 0; p0 < W * H; p0++) {
    if (seen[p0] || g[p0]! <= 40) continue;
    let sw = 0, sx = 0, sy = 0, n = 0;
    const stack = [p0];
    seen[p0] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % W, y = (p / W) | 0;
      sw += g[p]!; sx += g[p]! * x; sy += g[p]! * y; n++;
      for (const q of [x > 0 ? p - 1 : -1, x < W - 1 ? p + 1 : -1, y > 0 ? p - W : -1, y < H - 1 ? p + W : -1])
        if (q >= 0 && !seen[q] && g[q]! > 40) { seen[q] = 1; stack.push(q); }
    }
    out.push({ x: sx / sw, y: sy / sw, n });
  }
  return out;
}

/** PSNR (dB, 8-bit) of two RGB images over the pixels where `mask` is set. */
export function maskedPsnr(a: AnyImage, b: AnyImage, mask: (p: number) => boolean): { psnr: number; pixels: number } {
  let s = 0, n = 0;
  for (let p = 0; p < a.width * a.height; p++) {
    if (!mask(p)) continue;
    n++;
    for (let k = 0; k < 3; k++) s += (a.data[a.channels * p + k]! - b.data[b.channels * p + k]!) ** 2;
  }
  const mse = s / (3 * n);
  return { psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse), pixels: n };
}

/**
 * Whether landmark l is the visible surface at its own pixel in this pose: the rasteriser's front face there (render
 * API, independent of the preview) is the landmark's face, or lies within `tol` crop-NDC depth of the landmark.
 */
export function landmarkVisible(
  model: FlameModelData, p: { expression: ArrayLike<number>; pose: ArrayLike<number> }, cam: ArrayLike<number>, size: number, l: number, tol = 0.01,
): boolean {
  const prep = prepareFlame(model, { numShape: 1, numExpression: model.numExpression });
  const expression = new Float32Array(model.numExpression), pose = new Float32Array(3 * model.numJoints);
  expression.set(Array.from(p.expression).slice(0, expression.length));
  pose.set(Array.from(p.pose).slice(0, pose.length));
  const out = flameForward(prep, { batchSize: 1, shape: new Float32Array(1), expression, pose });
  const v = orthProject(Float32Array.from(out.vertices), cam);
  const lm = orthProject(Float32Array.from(out.landmarks3d!), cam);
  for (let k = 2; k < v.length; k += 3) v[k]! += 10;
  const R = new Rasterizer(size, size).rasterize(v, model.faces);
  const j = Math.round(((lm[3 * l]! + 1) * size) / 2 - 0.5), i = Math.round(((lm[3 * l + 1]! + 1) * size) / 2 - 0.5);
  const pix = i * size + j;
  if (R.face[pix]! < 0) return false;
  if (R.face[pix] === model.landmarks!.fullFaces[l]) return true;
  const s = R.bary[3 * pix]! + R.bary[3 * pix + 1]! + R.bary[3 * pix + 2]!;
  return Math.abs(R.zbuf[pix]! / s - 10 - lm[3 * l + 2]!) < tol;
}
