/**
 * Re-posing a FLAME-structured rig in the renderer, so sliders feel instant: expression blendshapes, Rodrigues
 * rotations and linear blend skinning over the joint tree (pose correctives are left to the kernel's full forward).
 */
import type { RigArrays as Rig } from '../../src/shared/rig';
export type { Rig };

export function rodrigues(r: ArrayLike<number>, out: Float64Array, o = 0): void {
  const x = r[0]! + 1e-8, y = r[1]! + 1e-8, z = r[2]! + 1e-8;
  const t = Math.hypot(x, y, z);
  const kx = r[0]! / t, ky = r[1]! / t, kz = r[2]! / t;
  const s = Math.sin(t), c = 1 - Math.cos(t);
  out[o] = 1 + c * (-kz * kz - ky * ky);
  out[o + 1] = -s * kz + c * kx * ky;
  out[o + 2] = s * ky + c * kx * kz;
  out[o + 3] = s * kz + c * kx * ky;
  out[o + 4] = 1 + c * (-kz * kz - kx * kx);
  out[o + 5] = -s * kx + c * ky * kz;
  out[o + 6] = -s * ky + c * kx * kz;
  out[o + 7] = s * kx + c * ky * kz;
  out[o + 8] = 1 + c * (-ky * ky - kx * kx);
}

/** pose: J×3 axis-angle; expr: up to K coefficients. Writes N×3 vertices into `out`. */
export function poseRig(rig: Rig, expr: ArrayLike<number>, pose: ArrayLike<number>, out: Float32Array): void {
  const n = rig.base.length / 3;
  const J = rig.parents.length;
  out.set(rig.base);
  for (let k = 0; k < Math.min(expr.length, rig.exprCount); k++) {
    const c = expr[k]!;
    if (c === 0) continue;
    const off = k * n * 3;
    for (let i = 0; i < n * 3; i++) out[i]! += c * rig.exprBasis[off + i]!;
  }
  // World transforms G_j = G_parent · [R_j | J_j − J_parent], then A_j = G_j with translation t − R·J_j.
  const R = new Float64Array(9 * J);
  for (let j = 0; j < J; j++) rodrigues([pose[3 * j]!, pose[3 * j + 1]!, pose[3 * j + 2]!], R, 9 * j);
  const G = new Float64Array(12 * J);
  for (let j = 0; j < J; j++) {
    const p = rig.parents[j]!;
    const t = [0, 1, 2].map((a) => rig.joints[3 * j + a]! - (p >= 0 ? rig.joints[3 * p + a]! : 0));
    if (p < 0) {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) G[12 * j + 4 * a + b] = R[9 * j + 3 * a + b]!;
        G[12 * j + 4 * a + 3] = t[a]!;
      }
    } else {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) {
          let s = 0;
          for (let c = 0; c < 3; c++) s += G[12 * p + 4 * a + c]! * R[9 * j + 3 * c + b]!;
          G[12 * j + 4 * a + b] = s;
        }
        let s = G[12 * p + 4 * a + 3]!;
        for (let c = 0; c < 3; c++) s += G[12 * p + 4 * a + c]! * t[c]!;
        G[12 * j + 4 * a + 3] = s;
      }
    }
  }
  for (let j = 0; j < J; j++)
    for (let a = 0; a < 3; a++) {
      let s = 0;
      for (let c = 0; c < 3; c++) s += G[12 * j + 4 * a + c]! * rig.joints[3 * j + c]!;
      G[12 * j + 4 * a + 3]! -= s;
    }
  const T = new Float64Array(12);
  for (let i = 0; i < n; i++) {
    T.fill(0);
    for (let j = 0; j < J; j++) {
      const w = rig.weights[i * J + j]!;
      if (w === 0) continue;
      for (let e = 0; e < 12; e++) T[e]! += w * G[12 * j + e]!;
    }
    const x = out[3 * i]!, y = out[3 * i + 1]!, z = out[3 * i + 2]!;
    out[3 * i] = T[0]! * x + T[1]! * y + T[2]! * z + T[3]!;
    out[3 * i + 1] = T[4]! * x + T[5]! * y + T[6]! * z + T[7]!;
    out[3 * i + 2] = T[8]! * x + T[9]! * y + T[10]! * z + T[11]!;
  }
}
