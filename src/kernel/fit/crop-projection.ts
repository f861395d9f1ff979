// DECA's crop transform and camera, as the fit uses them (reference-pipeline.md §1.2, §1.4, §2.6).
//
// The crop `T` (3×3, row-major) maps image pixels to 224-crop pixels; the camera [s, tx, ty] maps world points to
// the crop NDC; crop NDC → crop pixels uses 224 ([quirk] the crop itself was estimated with 223), and T⁻¹ goes back
// to the image. All fit residuals are in crop pixels, which makes the weights independent of the face's size.

import type { Point } from '../perception/detect';
import { encoderTform } from '../perception/crops';
import { matrixToAxisAngleInto } from '../flame/rotations';

export type Mat3 = Float64Array; // 9 values, row-major

/** §1.2 step 4–5: the DECA crop transform from 68 landmarks (kpt68 box, ×1.1, ×1.3, int(), dst corners 0/223). */
export function decaCropTform(points: ArrayLike<number>, count = points.length / 2, weights?: ArrayLike<number>): Mat3 {
  let l = Infinity, r = -Infinity, t = Infinity, b = -Infinity;
  for (let i = 0; i < count; i++) {
    if (weights && !(weights[i] > 0)) continue;
    const x = points[2 * i], y = points[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (x < l) l = x;
    if (x > r) r = x;
    if (y < t) t = y;
    if (y > b) b = y;
  }
  if (!(r > l && b > t)) throw new RangeError('decaCropTform: the landmarks span no area');
  const oldSize = ((r - l + (b - t)) / 2) * 1.1;
  const size = Math.max(1, Math.trunc(oldSize * 1.3));
  const T = encoderTform((l + r) / 2, (t + b) / 2, size);
  return Float64Array.from([...T[0], ...T[1], ...T[2]]);
}

/** Applies a similarity/affine 3×3 to n points (n × 2). */
export function transformPoints(T: ArrayLike<number>, pts: ArrayLike<number>, out = new Float64Array(pts.length)): Float64Array {
  for (let i = 0; i < pts.length; i += 2) {
    const x = pts[i], y = pts[i + 1];
    out[i] = T[0] * x + T[1] * y + T[2];
    out[i + 1] = T[3] * x + T[4] * y + T[5];
  }
  return out;
}

/** Inverse of an affine 3×3 (last row 0 0 1). */
export function invertAffine3(T: ArrayLike<number>): Mat3 {
  const a = T[0], b = T[1], c = T[2], d = T[3], e = T[4], f = T[5];
  const det = a * e - b * d;
  return Float64Array.of(e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det, 0, 0, 1);
}

/** Scale of a similarity (crop pixels per image pixel). */
export function tformScale(T: ArrayLike<number>): number {
  return Math.sqrt(Math.abs(T[0] * T[4] - T[1] * T[3]));
}

/** Crop-pixel coordinates of world points (n × 3) through the camera. */
export function projectToCrop(world: ArrayLike<number>, cam: ArrayLike<number>, out = new Float64Array((world.length / 3) * 2)): Float64Array {
  const [s, tx, ty] = [cam[0], cam[1], cam[2]];
  for (let i = 0, n = world.length / 3; i < n; i++) {
    out[2 * i] = 112 * s * (world[3 * i] + tx) + 112;
    out[2 * i + 1] = -112 * s * (world[3 * i + 1] + ty) + 112;
  }
  return out;
}

/**
 * Initial global rotation and camera from 2D targets (crop pixels) and the model's 3D points (world, unposed):
 * least-squares affine camera, then its nearest scaled rotation (symmetric orthonormalisation of the two rows).
 * The rotation is about `root` (FLAME turns the head about the root joint). Returns pose0 (axis-angle) and cam.
 */
export function initialRigidPose(
  model3d: ArrayLike<number>, targets: ArrayLike<number>, weights: ArrayLike<number>, root: ArrayLike<number>,
): { rotation: Float64Array; cam: Float64Array } | null {
  const n = targets.length / 2;
  // rows: x_ndc = m1·(X − J0) + c1 ;  −y_ndc = m2·(X − J0) + c2
  const A = new Float64Array(16);
  const bx = new Float64Array(4), by = new Float64Array(4);
  let wsum = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    if (!(w > 0)) continue;
    const X = [model3d[3 * i] - root[0], model3d[3 * i + 1] - root[1], model3d[3 * i + 2] - root[2], 1];
    const xn = (targets[2 * i] - 112) / 112, yn = -(targets[2 * i + 1] - 112) / 112;
    if (!Number.isFinite(xn) || !Number.isFinite(yn)) continue;
    wsum += w;
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) A[4 * a + b] += w * X[a] * X[b];
      bx[a] += w * X[a] * xn;
      by[a] += w * X[a] * yn;
    }
  }
  if (!(wsum > 0)) return null;
  for (let a = 0; a < 3; a++) A[5 * a] += 1e-9 * wsum;
  const m1 = solve4(A, bx), m2 = solve4(A, by);
  if (!m1 || !m2) return null;
  // polar factor of M (2×3): (M Mᵀ)^(-1/2) M
  const p = m1[0] * m1[0] + m1[1] * m1[1] + m1[2] * m1[2];
  const q = m1[0] * m2[0] + m1[1] * m2[1] + m1[2] * m2[2];
  const r = m2[0] * m2[0] + m2[1] * m2[1] + m2[2] * m2[2];
  // eigen-decomposition of [[p, q], [q, r]]
  const tr = p + r, det = p * r - q * q;
  const disc = Math.sqrt(Math.max(0, tr * tr / 4 - det));
  const l1 = tr / 2 + disc, l2 = Math.max(tr / 2 - disc, 1e-30);
  if (!(l1 > 0)) return null;
  const s = (Math.sqrt(l1) + Math.sqrt(l2)) / 2;
  // inverse square root: S⁻½ = a·I + b·S with a, b solving the 2 eigenvalue equations
  const i1 = 1 / Math.sqrt(l1), i2 = 1 / Math.sqrt(l2);
  const bb = Math.abs(l1 - l2) > 1e-15 ? (i1 - i2) / (l1 - l2) : -0.5 * Math.pow(l1, -1.5);
  const aa = i1 - bb * l1;
  const W = [aa + bb * p, bb * q, bb * q, aa + bb * r];
  const r1 = [0, 1, 2].map((k) => W[0] * m1[k] + W[1] * m2[k]);
  const r2 = [0, 1, 2].map((k) => W[2] * m1[k] + W[3] * m2[k]);
  const r3 = [r1[1] * r2[2] - r1[2] * r2[1], r1[2] * r2[0] - r1[0] * r2[2], r1[0] * r2[1] - r1[1] * r2[0]];
  const R = Float64Array.from([...r1, ...r2, ...r3]);
  const rotation = new Float64Array(3);
  matrixToAxisAngleInto(R, 0, rotation, 0);
  const cam = Float64Array.of(s, m1[3] / s - root[0], m2[3] / s - root[1]);
  if (![...rotation, ...cam].every(Number.isFinite)) return null;
  return { rotation, cam };
}

function solve4(A: Float64Array, b: Float64Array): Float64Array | null {
  const M = Array.from({ length: 4 }, (_, i) => [A[4 * i], A[4 * i + 1], A[4 * i + 2], A[4 * i + 3], b[i]]);
  for (let k = 0; k < 4; k++) {
    let piv = k;
    for (let r = k + 1; r < 4; r++) if (Math.abs(M[r][k]) > Math.abs(M[piv][k])) piv = r;
    [M[k], M[piv]] = [M[piv], M[k]];
    if (Math.abs(M[k][k]) < 1e-300) return null;
    for (let r = 0; r < 4; r++) {
      if (r === k) continue;
      const f = M[r][k] / M[k][k];
      for (let c = k; c < 5; c++) M[r][c] -= f * M[k][c];
    }
  }
  return Float64Array.from(M.map((row, k) => row[4] / row[k]));
}

/** Points as [x, y] pairs → flat. */
export function flatPoints(points: readonly Point[]): Float64Array {
  const out = new Float64Array(points.length * 2);
  points.forEach((p, i) => { out[2 * i] = p[0]; out[2 * i + 1] = p[1]; });
  return out;
}
