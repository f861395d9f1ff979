// The official pipeline's 512² generation crop (reference-pipeline.md §1.1) for photos of any shape, with its
// transform kept as data so fits, aligned sequences and renders move between the photo and the crop exactly, and
// results can be composited back into the photo.
//
//   M      photo pixels → crop pixels (the stage-A `M` of cv2.warpAffine; a similarity, here scale + translation)
//   T      a fit's DECA crop transform, photo pixels → 224 crop (fit.ts)
//   T·M⁻¹  the same DECA crop seen from the 512 crop: what render_and_transfer uses when its input is the crop
//
// The reference runs stage A on the photo first and everything after it on the 512 crop. We fit on the photo (more
// pixels for the landmarks) and move the result into the crop where the method needs 512²: guidance rendering, the
// preview and sampling.

import { MagicPortraitError } from '../errors';
import type { Image } from '../io/image';
import { decaTform } from '../flame/orthographic';
import type { Box } from '../perception/detect';
import { generationCropCorners, GENERATION_BOX_512, transformationFromPoints } from '../perception/crops';
import { invertAffine, warpImage, type Affine } from '../perception/warp';
import type { AlignedSequence, FlameFit, PortraitCrop } from './types';

/** Side of the generation crop in the reference pipeline. */
export const GENERATION_SIZE = 512;

/** §1.1: the crop placed by a face box (side 1.5 × box width around its centre) at `size` pixels (default 512). */
export function portraitCrop(box: Box, source: { width: number; height: number }, size = GENERATION_SIZE): PortraitCrop {
  if (!(box.x2 > box.x1 && box.y2 > box.y1)) throw new MagicPortraitError('portraitCrop: the face box is empty.', 'bad-argument');
  if (!(Number.isInteger(size) && size >= 16)) throw new MagicPortraitError(`portraitCrop: size must be an integer ≥ 16, got ${size}.`, 'bad-argument');
  const m512 = transformationFromPoints(generationCropCorners(box), GENERATION_BOX_512);
  // another output size scales the 512 crop about the origin (pixel centres: (p + ½)·k − ½)
  const k = size / GENERATION_SIZE;
  const matrix: Affine = k === 1 ? m512 : [m512[0] * k, m512[1] * k, (m512[2] + 0.5) * k - 0.5, m512[3] * k, m512[4] * k, (m512[5] + 0.5) * k - 0.5];
  return { matrix, inverse: invertAffine(matrix), size, source: { width: source.width, height: source.height }, box: { ...box } };
}

/** The generation crop of a fitted photo, placed by the face the fit used (or, without a detection, its landmarks). */
export function portraitCropOfFit(fit: FlameFit, size = GENERATION_SIZE): PortraitCrop {
  return portraitCrop(fit.face?.box ?? landmarkBox(fit.detected), fit.imageSize, size);
}

/** The box of 68 landmarks, widened to a detector-like box (BlazeFace's box is ~1.1× the landmark extent). */
function landmarkBox(lm: ArrayLike<number>): Box {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (let i = 0; i < lm.length; i += 2) {
    const x = lm[i]!, y = lm[i + 1]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    x1 = Math.min(x1, x); x2 = Math.max(x2, x); y1 = Math.min(y1, y); y2 = Math.max(y2, y);
  }
  if (!(x2 > x1)) throw new MagicPortraitError('The fit has no finite landmarks to place the generation crop.', 'bad-argument');
  const cx = (x1 + x2) / 2, cy = (y1 + y2) / 2, h = 0.55 * Math.max(x2 - x1, y2 - y1);
  return { x1: cx - h, y1: cy - h, x2: cx + h, y2: cy + h };
}

/** The crop's pixels (bilinear, zero outside the photo, as cv2.warpAffine). */
export function cropImage(photo: Image, crop: PortraitCrop): Image {
  checkSource(photo, crop, 'cropImage');
  return warpImage(photo, crop.inverse, crop.size, crop.size);
}

function checkSource(photo: { width: number; height: number }, crop: PortraitCrop, what: string): void {
  if (photo.width !== crop.source.width || photo.height !== crop.source.height)
    throw new MagicPortraitError(`${what}: the crop was made for a ${crop.source.width}×${crop.source.height} photo, this one is ${photo.width}×${photo.height}.`, 'bad-argument');
}

/** T · M⁻¹ as 3×3 row-major: a photo → 224 transform seen from the crop. */
function throughCrop(T: ArrayLike<number>, crop: PortraitCrop): Float64Array {
  const [a, b, c, d, e, f] = crop.inverse;
  const out = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    const t0 = T[3 * r]!, t1 = T[3 * r + 1]!, t2 = T[3 * r + 2]!;
    out[3 * r] = t0 * a + t1 * d;
    out[3 * r + 1] = t0 * b + t1 * e;
    out[3 * r + 2] = t0 * c + t1 * f + t2;
  }
  return out;
}

function mapPoints(m: Affine, pts: Float64Array): Float64Array {
  const out = new Float64Array(pts.length);
  for (let i = 0; i < pts.length; i += 2) {
    out[i] = m[0] * pts[i]! + m[1] * pts[i + 1]! + m[2];
    out[i + 1] = m[3] * pts[i]! + m[4] * pts[i + 1]! + m[5];
  }
  return out;
}

/**
 * A photo's fit expressed in its crop: the DECA crop transform becomes T·M⁻¹ and every pixel quantity moves with M;
 * shape, expression, pose and camera are unchanged (the 224 crop sees the same face).
 */
export function fitInCrop(fit: FlameFit, crop: PortraitCrop): FlameFit {
  checkSource(fit.imageSize, crop, 'fitInCrop');
  const k = Math.hypot(crop.matrix[0], crop.matrix[3]);
  const T = throughCrop(fit.tform, crop);
  const scale = (a: Float64Array) => a.map((v) => v * k);
  return {
    ...fit, tform: T, decaTform: decaTform(T), imageSize: { width: crop.size, height: crop.size },
    landmarks: mapPoints(crop.matrix, fit.landmarks), detected: mapPoints(crop.matrix, fit.detected), residuals: scale(fit.residuals),
    interOcular: fit.interOcular * k, overlay: null,
    dense: fit.dense ? { ...fit.dense, fitted: mapPoints(crop.matrix, fit.dense.fitted), detected: mapPoints(crop.matrix, fit.dense.detected), residuals: scale(fit.dense.residuals) } : null,
    ...(fit.face ? { face: { ...fit.face, box: boxThrough(crop.matrix, fit.face.box) } } : {}),
  };
}

function boxThrough(m: Affine, b: Box): Box {
  const xs = [b.x1 * m[0] + b.y1 * m[1] + m[2], b.x2 * m[0] + b.y2 * m[1] + m[2]];
  const ys = [b.x1 * m[3] + b.y1 * m[4] + m[5], b.x2 * m[3] + b.y2 * m[4] + m[5]];
  return { x1: Math.min(...xs), y1: Math.min(...ys), x2: Math.max(...xs), y2: Math.max(...ys) };
}

/** An aligned sequence placed in the crop instead of the photo (every frame's crop transform through M⁻¹). */
export function alignedInCrop(seq: AlignedSequence, crop: PortraitCrop): AlignedSequence {
  checkSource(seq, crop, 'alignedInCrop');
  const F = seq.numFrames;
  const tform = new Float64Array(9 * F), dt = new Float64Array(9 * F);
  for (let i = 0; i < F; i++) {
    const T = throughCrop(seq.tform.subarray(9 * i, 9 * i + 9), crop);
    tform.set(T, 9 * i);
    dt.set(decaTform(T), 9 * i);
  }
  return { ...seq, width: crop.size, height: crop.size, tform, decaTform: dt, crop, placedIn: 'crop' };
}

export interface CompositeOptions {
  /** Width of the blend at the crop's border, as a fraction of the crop side (default 0.1; 0 = hard edge). */
  feather?: number;
}

/**
 * One crop-sized frame pasted back into the photo: each photo pixel inside the crop takes the frame's value (bilinear
 * through M), blended with the photo over a feathered border (smoothstep of the distance to the crop's edge), so
 * the face moves and the rest of the photo stays. `out` (an RGB copy of the photo) is reused when given.
 */
export function compositeFrame(photo: Image, frame: Image, crop: PortraitCrop, options: CompositeOptions = {}, out?: Image): Image {
  checkSource(photo, crop, 'composite');
  if (frame.width !== crop.size || frame.height !== crop.size)
    throw new MagicPortraitError(`composite: frames must be ${crop.size}×${crop.size} (the crop), got ${frame.width}×${frame.height}.`, 'bad-argument');
  const W = photo.width, H = photo.height, S = crop.size, PC = photo.channels, FC = frame.channels;
  const feather = Math.max(0, options.feather ?? 0.1) * S;
  const res = out ?? { width: W, height: H, channels: 3 as const, data: new Uint8Array(W * H * 3) };
  const [a, b, c, d, e, f] = crop.matrix;
  // the photo pixels the crop covers: its corners through M⁻¹
  const corners = [[-0.5, -0.5], [S - 0.5, -0.5], [-0.5, S - 0.5], [S - 0.5, S - 0.5]].map(([u, v]) => [
    crop.inverse[0] * u! + crop.inverse[1] * v! + crop.inverse[2], crop.inverse[3] * u! + crop.inverse[4] * v! + crop.inverse[5]]);
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[0]!)))), x1 = Math.min(W - 1, Math.ceil(Math.max(...corners.map((p) => p[0]!))));
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[1]!)))), y1 = Math.min(H - 1, Math.ceil(Math.max(...corners.map((p) => p[1]!))));
  const src = photo.data, fd = frame.data, od = res.data;
  if (!out) for (let i = 0, n = W * H; i < n; i++) { od[3 * i] = src[PC * i]!; od[3 * i + 1] = src[PC * i + 1]!; od[3 * i + 2] = src[PC * i + 2]!; }
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const u = a * x + b * y + c, v = d * x + e * y + f;
      // distance to the crop's edge (pixel-centre coordinates: the crop spans [−½, S − ½])
      const edge = Math.min(u + 0.5, v + 0.5, S - 0.5 - u, S - 0.5 - v);
      if (edge <= 0) continue;
      let w = feather > 0 ? Math.min(1, edge / feather) : 1;
      w = w * w * (3 - 2 * w);
      const ux = Math.min(S - 1, Math.max(0, u)), vy = Math.min(S - 1, Math.max(0, v));
      const u0 = Math.min(S - 2, Math.floor(ux)), v0 = Math.min(S - 2, Math.floor(vy));
      const fx = ux - u0, fy = vy - v0;
      const p = (v0 * S + u0) * FC, q = p + S * FC, o = 3 * (y * W + x), s = PC * (y * W + x);
      for (let ch = 0; ch < 3; ch++) {
        const val = (fd[p + ch]! * (1 - fx) + fd[p + FC + ch]! * fx) * (1 - fy) + (fd[q + ch]! * (1 - fx) + fd[q + FC + ch]! * fx) * fy;
        od[o + ch] = Math.round(w * val + (1 - w) * src[s + ch]!);
      }
    }
  }
  return res;
}
