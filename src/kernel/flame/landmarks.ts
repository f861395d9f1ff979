// Landmarks on a FLAME-structured mesh (reference-pipeline.md §2.4): the yaw-dependent jaw contour plus the
// 51 static points (68 "2D" landmarks, still 3D world points), and the 68 full 3D landmarks.

import type { FloatArray, LandmarkEmbedding, FlameModelData } from './types';
import { mul3Into } from './rotations';

export const NUM_CONTOUR = 17;
export const NUM_LANDMARKS = 68;

/** Round half to even, as torch.round does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Yaw (degrees, rounded half to even, clamped above at 39) of rel = R_root·R_neck, as FLAME.py computes it:
 * atan2(−rel[2,0], sqrt(rel[0,0]² + rel[1,0]²)). [quirk] no minus sign in front (lbs.py's unused helper has one).
 */
export function contourYawDeg(rRoot: ArrayLike<number>, oRoot: number, rNeck: ArrayLike<number>, oNeck: number): number {
  const rel = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  mul3Into(rRoot, oRoot, rNeck, oNeck, rel, 0);
  const yaw = (Math.atan2(-rel[6], Math.sqrt(rel[0] * rel[0] + rel[3] * rel[3])) * 180) / Math.PI;
  return roundHalfEven(Math.min(yaw, 39));
}

/** Row of the dynamic contour table for a rounded yaw: yaw if ≥ 0, 39 − yaw for −39 ≤ yaw < 0, 78 below −39. */
export function contourLutIndex(yawDeg: number): number {
  if (yawDeg >= 0) return yawDeg;
  if (yawDeg < -39) return 78;
  return 39 - yawDeg;
}

/**
 * Barycentric interpolation of `count` landmarks: out[o + 3l + c] = Σ_k bary[l,k] · V[faces[faceIdx[l], k], c].
 * `verts` holds one mesh (V×3) starting at vOff.
 */
export function verticesToLandmarks(
  verts: ArrayLike<number>, vOff: number, faces: Uint32Array,
  faceIdx: ArrayLike<number>, fOff: number, bary: ArrayLike<number>, bOff: number, count: number,
  out: FloatArray, oOff: number,
): void {
  for (let l = 0; l < count; l++) {
    const f = faceIdx[fOff + l] * 3;
    const b0 = bary[bOff + 3 * l], b1 = bary[bOff + 3 * l + 1], b2 = bary[bOff + 3 * l + 2];
    const i0 = vOff + 3 * faces[f], i1 = vOff + 3 * faces[f + 1], i2 = vOff + 3 * faces[f + 2];
    for (let c = 0; c < 3; c++) out[oOff + 3 * l + c] = b0 * verts[i0 + c] + b1 * verts[i1 + c] + b2 * verts[i2 + c];
  }
}

/** The 68 dynamic-contour landmarks ([17 contour row `row`, 51 static]) of mesh `b` in `verts`. */
export function landmarks68(
  emb: LandmarkEmbedding, faces: Uint32Array, verts: ArrayLike<number>, vOff: number, row: number,
  out: FloatArray, oOff: number,
): void {
  verticesToLandmarks(verts, vOff, faces, emb.dynamicFaces, row * NUM_CONTOUR, emb.dynamicBary, row * NUM_CONTOUR * 3,
    NUM_CONTOUR, out, oOff);
  verticesToLandmarks(verts, vOff, faces, emb.staticFaces, 0, emb.staticBary, 0, 51, out, oOff + 3 * NUM_CONTOUR);
}

/** The 68 full 3D landmarks of one mesh. */
export function landmarks68Full(emb: LandmarkEmbedding, faces: Uint32Array, verts: ArrayLike<number>, vOff: number,
  out: FloatArray, oOff: number): void {
  verticesToLandmarks(verts, vOff, faces, emb.fullFaces, 0, emb.fullBary, 0, NUM_LANDMARKS, out, oOff);
}

/** Landmarks of an unposed template (handy for viewers): 68 full 3D landmarks of `model.vTemplate`. */
export function templateLandmarks(model: FlameModelData): Float64Array {
  const out = new Float64Array(NUM_LANDMARKS * 3);
  if (model.landmarks) landmarks68Full(model.landmarks, model.faces, model.vTemplate, 0, out, 0);
  return out;
}
