/**
 * What fitting one frame needs, shared by the portrait fit (fit.ts) and the tracker (track.ts): the fitting rig of a
 * model (cached), landmark weights and targets in DECA's crop frame, the inter-ocular distance, head angles and the
 * quality grade of a fit.
 */
import type { FlameModelData } from '../flame/types';
import { matrix2angle, rodriguesInto } from '../flame/rotations';
import { transformPoints } from './crop-projection';
import { buildFitRig, type FitRig, type RigPoints } from './fit-rig';
import { type DenseCorrespondence } from './dense';
import type { FrameTargets } from './problem';
import { type FitWeights } from './solve';
import type { FitQuality } from './types';

/** Faces narrower than this (detection box, pixels) or with a smaller inter-ocular distance are flagged too small: the
 * 68-point network sees them upsampled ×2.5 or more and its landmarks get unreliable. */
export const MIN_FACE_PX = 44;

export const MIN_IOD_PX = 20;

const rigCache = new WeakMap<FlameModelData, Map<string, FitRig>>();

/** A cached rig for a model and component counts (free shape). */
export function fitRigFor(model: FlameModelData, numShape?: number, numExpression?: number): FitRig {
  let m = rigCache.get(model);
  if (!m) { m = new Map(); rigCache.set(model, m); }
  const key = `${numShape ?? '-'}/${numExpression ?? '-'}`;
  let r = m.get(key);
  if (!r) { r = buildFitRig(model, { numShape, numExpression }); m.set(key, r); }
  return r;
}

const denseRigCache = new WeakMap<FitRig, Map<DenseCorrespondence, RigPoints>>();

export function denseRigPoints(rig: FitRig, dense: DenseCorrespondence): RigPoints {
  let m = denseRigCache.get(rig);
  if (!m) { m = new Map(); denseRigCache.set(rig, m); }
  let p = m.get(dense);
  if (!p) { p = rig.points(dense.faces, dense.bary); m.set(dense, p); }
  return p;
}

/** Per-landmark weights: contour / inner, non-finite dropped, points outside the image down-weighted. */
export function landmarkWeights(lm: Float64Array, width: number, height: number, w: FitWeights): { weights: Float64Array; outside: number; missing: number } {
  const weights = new Float64Array(68);
  let outside = 0, missing = 0;
  for (let i = 0; i < 68; i++) {
    const x = lm[2 * i], y = lm[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) { missing++; continue; }
    let v = i < 17 ? w.contour : w.landmarks;
    if (x < 0 || y < 0 || x > width - 1 || y > height - 1) { outside++; v *= 0.2; }
    weights[i] = v;
  }
  return { weights, outside, missing };
}

/** Builds the crop-pixel targets of one frame. */
export function frameTargets(
  lm: Float64Array, lmW: Float64Array, mesh: Float32Array | null, dense: DenseCorrespondence | null, T: Float64Array,
  w: FitWeights, width: number, height: number, meshScore = 1,
): FrameTargets {
  const cropLm = transformPoints(T, lm);
  for (let i = 0; i < 136; i++) if (!Number.isFinite(cropLm[i])) cropLm[i] = 0;
  if (!mesh || !dense || !(w.dense > 0)) return { lm: cropLm, lmW, dense: null, denseW: null };
  const n = dense.mpIndex.length;
  const d = new Float64Array(2 * n), dw = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const k = dense.mpIndex[p];
    const x = mesh[3 * k], y = mesh[3 * k + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    d[2 * p] = T[0] * x + T[1] * y + T[2];
    d[2 * p + 1] = T[3] * x + T[4] * y + T[5];
    let v = w.dense * dense.weights[p] * Math.min(1, Math.max(0, meshScore));
    if (x < 0 || y < 0 || x > width - 1 || y > height - 1) v *= 0.2;
    dw[p] = v;
  }
  return { lm: cropLm, lmW, dense: d, denseW: dw };
}

/** Inter-ocular distance: outer eye corners (iBUG 37 and 46, 0-based 36 and 45). */
export function interOcular(lm: ArrayLike<number>): number {
  return Math.hypot(lm[72] - lm[90], lm[73] - lm[91]);
}

/** Global rotation (axis-angle) → pitch / yaw / roll degrees (angle2matrix convention: R = Rz·Ry·Rx). */
export function headAngles(pose: ArrayLike<number>): { pitch: number; yaw: number; roll: number } {
  const R = new Float64Array(9);
  rodriguesInto(pose[0], pose[1], pose[2], R, 0);
  const a = matrix2angle(R, 1);
  return { pitch: a[0], yaw: a[1], roll: a[2] };
}

/** Quality from the NME and the flags. */
export function qualityOf(nme: number, flags: readonly string[]): FitQuality {
  if (!Number.isFinite(nme) || flags.includes('non-finite-guarded') || flags.includes('no-landmarks')) return 'failed';
  let q: FitQuality = nme <= 0.05 ? 'good' : nme <= 0.08 ? 'fair' : 'poor';
  const severe = ['face-too-small', 'partially-out-of-frame', 'extreme-pose'];
  if (flags.some((f) => severe.includes(f))) q = q === 'good' || q === 'fair' ? 'poor' : q;
  return q;
}
