// Rotation conventions of FLAME/DECA (reference-pipeline.md §2.3 step 4, §2.7). All matrices are 3×3 row-major,
// 9 numbers each; batched functions take flat arrays (n×3 vectors, n×9 matrices) and an optional output array.

/** Anything indexable with numbers: a typed array or a plain array. */
export type NumArray = ArrayLike<number> & { [i: number]: number };

/**
 * Rodrigues exactly as FLAME's `batch_rodrigues`: θ = ‖r + 1e-8‖ with 1e-8 added to each component before the
 * norm, k = r/θ using the original r, K = [k]×, R = I + sin θ·K + (1 − cos θ)·K². r = 0 gives exactly I.
 * Writes 9 values at out[o..o+8].
 */
export function rodriguesInto(rx: number, ry: number, rz: number, out: NumArray, o = 0): void {
  const ax = rx + 1e-8;
  const ay = ry + 1e-8;
  const az = rz + 1e-8;
  const theta = Math.sqrt(ax * ax + ay * ay + az * az);
  const kx = rx / theta;
  const ky = ry / theta;
  const kz = rz / theta;
  const s = Math.sin(theta);
  const c1 = 1 - Math.cos(theta);
  // K² = k kᵀ − (k·k) I (k is not exactly unit length here, so the full form is kept).
  const kk = kx * kx + ky * ky + kz * kz;
  out[o] = 1 + c1 * (kx * kx - kk);
  out[o + 1] = -s * kz + c1 * kx * ky;
  out[o + 2] = s * ky + c1 * kx * kz;
  out[o + 3] = s * kz + c1 * kx * ky;
  out[o + 4] = 1 + c1 * (ky * ky - kk);
  out[o + 5] = -s * kx + c1 * ky * kz;
  out[o + 6] = -s * ky + c1 * kx * kz;
  out[o + 7] = s * kx + c1 * ky * kz;
  out[o + 8] = 1 + c1 * (kz * kz - kk);
}

/** n axis-angle vectors (n×3) → n rotation matrices (n×9). */
export function batchRodrigues(aa: ArrayLike<number>, n = aa.length / 3, out: NumArray = new Float64Array(n * 9)): NumArray {
  for (let i = 0; i < n; i++) rodriguesInto(aa[3 * i], aa[3 * i + 1], aa[3 * i + 2], out, 9 * i);
  return out;
}

/** Rotation matrix → unit quaternion (w, x, y, z) with w ≥ 0 (Shepperd's method, robust at every angle). */
export function matrixToQuaternionInto(R: ArrayLike<number>, o: number, out: NumArray, oo = 0): void {
  const m00 = R[o], m01 = R[o + 1], m02 = R[o + 2];
  const m10 = R[o + 3], m11 = R[o + 4], m12 = R[o + 5];
  const m20 = R[o + 6], m21 = R[o + 7], m22 = R[o + 8];
  const tr = m00 + m11 + m22;
  let w: number, x: number, y: number, z: number;
  if (tr >= m00 && tr >= m11 && tr >= m22) {
    const s = 2 * Math.sqrt(Math.max(1 + tr, 0));
    w = s / 4; x = (m21 - m12) / s; y = (m02 - m20) / s; z = (m10 - m01) / s;
  } else if (m00 >= m11 && m00 >= m22) {
    const s = 2 * Math.sqrt(Math.max(1 + m00 - m11 - m22, 0));
    w = (m21 - m12) / s; x = s / 4; y = (m01 + m10) / s; z = (m02 + m20) / s;
  } else if (m11 >= m22) {
    const s = 2 * Math.sqrt(Math.max(1 + m11 - m00 - m22, 0));
    w = (m02 - m20) / s; x = (m01 + m10) / s; y = s / 4; z = (m12 + m21) / s;
  } else {
    const s = 2 * Math.sqrt(Math.max(1 + m22 - m00 - m11, 0));
    w = (m10 - m01) / s; x = (m02 + m20) / s; y = (m12 + m21) / s; z = s / 4;
  }
  const sign = w < 0 ? -1 : 1;
  const norm = sign / Math.sqrt(w * w + x * x + y * y + z * z);
  out[oo] = w * norm; out[oo + 1] = x * norm; out[oo + 2] = y * norm; out[oo + 3] = z * norm;
}

/** Rotation matrix (9 values at R[o]) → axis-angle with angle in [0, π]. Inverse of Rodrigues up to 2π wrapping. */
export function matrixToAxisAngleInto(R: ArrayLike<number>, o: number, out: NumArray, oo = 0): void {
  const q = [0, 0, 0, 0];
  matrixToQuaternionInto(R, o, q);
  const [w, x, y, z] = q;
  const sv = Math.sqrt(x * x + y * y + z * z);
  const angle = 2 * Math.atan2(sv, w);
  const k = sv > 1e-12 ? angle / sv : 2 / w; // small angles: angle/sin(angle/2) → 2
  out[oo] = x * k; out[oo + 1] = y * k; out[oo + 2] = z * k;
}

/** n rotation matrices (n×9) → n axis-angle vectors (n×3). */
export function batchMatrixToAxisAngle(R: ArrayLike<number>, n = R.length / 9, out: NumArray = new Float64Array(n * 3)): NumArray {
  for (let i = 0; i < n; i++) matrixToAxisAngleInto(R, 9 * i, out, 3 * i);
  return out;
}

/**
 * DECA's `euler_to_quaternion`: XYZ Euler angles in radians → quaternion (w, x, y, z) of q = qx·qy·qz, i.e. the
 * rotation R = Rx·Ry·Rz.
 */
export function eulerToQuaternionInto(ex: number, ey: number, ez: number, out: NumArray, oo = 0): void {
  const cx = Math.cos(ex / 2), sx = Math.sin(ex / 2);
  const cy = Math.cos(ey / 2), sy = Math.sin(ey / 2);
  const cz = Math.cos(ez / 2), sz = Math.sin(ez / 2);
  out[oo] = cx * cy * cz - sx * sy * sz;
  out[oo + 1] = sx * cy * cz + cx * sy * sz;
  out[oo + 2] = cx * sy * cz - sx * cy * sz;
  out[oo + 3] = cx * cy * sz + sx * sy * cz;
}

/**
 * The torchgeometry `quaternion_to_angle_axis` used by DECA: half angle from atan2, folded to the w ≥ 0 hemisphere
 * (so |angle| ≤ π), axis-angle = v · 2·half/‖v‖, and 2·v when ‖v‖ = 0.
 */
export function quaternionToAxisAngleInto(q: ArrayLike<number>, o: number, out: NumArray, oo = 0): void {
  const w = q[o], x = q[o + 1], y = q[o + 2], z = q[o + 3];
  const s2 = x * x + y * y + z * z;
  const s = Math.sqrt(s2);
  const half = w < 0 ? Math.atan2(-s, -w) : Math.atan2(s, w);
  const k = s2 > 0 ? (2 * half) / s : 2;
  out[oo] = x * k; out[oo + 1] = y * k; out[oo + 2] = z * k;
}

/** DECA's `batch_euler2axis` (jaw_type 'euler', inactive in MagicPortrait): n×3 XYZ radians → n×3 axis-angle. */
export function batchEuler2Axis(euler: ArrayLike<number>, n = euler.length / 3, out: NumArray = new Float64Array(n * 3)): NumArray {
  const q = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    eulerToQuaternionInto(euler[3 * i], euler[3 * i + 1], euler[3 * i + 2], q);
    quaternionToAxisAngleInto(q, 0, out, 3 * i);
  }
  return out;
}

/** Inverse of the XYZ convention above: R = Rx·Ry·Rz → (x, y, z) radians, y ∈ [−π/2, π/2]. */
export function batchMatrixToEulerXYZ(R: ArrayLike<number>, n = R.length / 9, out: NumArray = new Float64Array(n * 3)): NumArray {
  for (let i = 0; i < n; i++) {
    const o = 9 * i;
    out[3 * i] = Math.atan2(-R[o + 5], R[o + 8]);
    out[3 * i + 1] = Math.atan2(R[o + 2], Math.hypot(R[o + 5], R[o + 8]));
    out[3 * i + 2] = Math.atan2(-R[o + 1], R[o]);
  }
  return out;
}

/**
 * DECA's `util.angle2matrix`: Euler angles in degrees (x pitch, y yaw, z roll) → Rz·Ry·Rx, per element.
 * (The original stacks along the wrong axis for batches > 1; that unused-path bug is not reproduced.)
 */
export function angle2matrix(deg: ArrayLike<number>, n = deg.length / 3, out: NumArray = new Float64Array(n * 9)): NumArray {
  const d2r = Math.PI / 180;
  for (let i = 0; i < n; i++) {
    const x = deg[3 * i] * d2r, y = deg[3 * i + 1] * d2r, z = deg[3 * i + 2] * d2r;
    const cx = Math.cos(x), sx = Math.sin(x), cy = Math.cos(y), sy = Math.sin(y), cz = Math.cos(z), sz = Math.sin(z);
    const o = 9 * i;
    out[o] = cz * cy; out[o + 1] = cz * sy * sx - sz * cx; out[o + 2] = cz * sy * cx + sz * sx;
    out[o + 3] = sz * cy; out[o + 4] = sz * sy * sx + cz * cx; out[o + 5] = sz * sy * cx - cz * sx;
    out[o + 6] = -sy; out[o + 7] = cy * sx; out[o + 8] = cy * cx;
  }
  return out;
}

/** Inverse of `angle2matrix`: Rz·Ry·Rx → degrees (x, y, z), y ∈ [−90, 90]. */
export function matrix2angle(R: ArrayLike<number>, n = R.length / 9, out: NumArray = new Float64Array(n * 3)): NumArray {
  const r2d = 180 / Math.PI;
  for (let i = 0; i < n; i++) {
    const o = 9 * i;
    out[3 * i] = Math.atan2(R[o + 7], R[o + 8]) * r2d;
    out[3 * i + 1] = Math.atan2(-R[o + 6], Math.hypot(R[o], R[o + 3])) * r2d;
    out[3 * i + 2] = Math.atan2(R[o + 3], R[o]) * r2d;
  }
  return out;
}

/** C = A·B for 3×3 row-major matrices at offsets (C must not alias A or B). */
export function mul3Into(A: ArrayLike<number>, a: number, B: ArrayLike<number>, b: number, C: NumArray, c: number): void {
  for (let i = 0; i < 3; i++) {
    const ai0 = A[a + 3 * i], ai1 = A[a + 3 * i + 1], ai2 = A[a + 3 * i + 2];
    C[c + 3 * i] = ai0 * B[b] + ai1 * B[b + 3] + ai2 * B[b + 6];
    C[c + 3 * i + 1] = ai0 * B[b + 1] + ai1 * B[b + 4] + ai2 * B[b + 7];
    C[c + 3 * i + 2] = ai0 * B[b + 2] + ai1 * B[b + 5] + ai2 * B[b + 8];
  }
}
