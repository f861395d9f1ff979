import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  angle2matrix, batchEuler2Axis, batchMatrixToAxisAngle, batchMatrixToEulerXYZ, batchRodrigues, matrix2angle,
  rodriguesInto,
} from '../../src/kernel/flame/rotations';
import { loadExpected, maxAbsDiff } from './helpers';

test('Rodrigues matches the numpy reference (incl. zero, tiny, π and > 2π angles)', async () => {
  const ex = await loadExpected();
  const R = batchRodrigues(ex.f64('rot_aa'));
  assert.ok(maxAbsDiff(R, ex.f64('rot_R')) < 1e-12, `max diff ${maxAbsDiff(R, ex.f64('rot_R'))}`);
});

test('Rodrigues of a zero vector is exactly the identity', () => {
  const R = new Float64Array(9);
  rodriguesInto(0, 0, 0, R);
  assert.deepEqual(Array.from(R), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
});

test('Rodrigues adds 1e-8 per component before the norm (visible on tiny vectors)', () => {
  // for r = (ε,0,0) with ε ≪ 1e-8 the angle is ≈ √3·1e-8 and k = r/θ is far from unit length
  const R = new Float64Array(9);
  rodriguesInto(1e-12, 0, 0, R);
  const theta = Math.sqrt((1e-12 + 1e-8) ** 2 + 2e-16);
  const kx = 1e-12 / theta;
  assert.ok(Math.abs(R[7] - Math.sin(theta) * kx) < 1e-20);
});

test('DECA euler → axis-angle (quaternion path) and angle2matrix match the reference', async () => {
  const ex = await loadExpected();
  const aa = batchEuler2Axis(ex.f64('euler_xyz'));
  assert.ok(maxAbsDiff(aa, ex.f64('euler_axis')) < 1e-12);
  assert.ok(maxAbsDiff(batchRodrigues(aa), ex.f64('euler_R')) < 1e-12);
  assert.ok(maxAbsDiff(angle2matrix(ex.f64('angle_deg')), ex.f64('angle_R')) < 1e-12);
});

test('round trips: axis-angle → matrix → axis-angle, Euler ↔ matrix ↔ axis-angle', async () => {
  const ex = await loadExpected();
  const aa = ex.f64('rot_aa');
  const n = aa.length / 3;
  const R = batchRodrigues(aa);
  const back = batchMatrixToAxisAngle(R) as Float64Array;
  const R2 = batchRodrigues(back);
  // the same rotation (axis-angle itself is only unique up to 2π wraps and the sign at π). FLAME's Rodrigues is
  // exact only up to its 1e-8 offset (θ = ‖r + 1e-8‖ while k = r/θ), so matrices agree to a few 1e-8.
  assert.ok(maxAbsDiff(R, R2) < 1e-7, `rotation diff ${maxAbsDiff(R, R2)}`);
  for (let i = 0; i < n; i++) {
    const a = Math.hypot(aa[3 * i], aa[3 * i + 1], aa[3 * i + 2]);
    const b = Math.hypot(back[3 * i], back[3 * i + 1], back[3 * i + 2]);
    assert.ok(b <= Math.PI + 1e-9);
    if (a > 1e-6 && a < Math.PI - 1e-3) assert.ok(maxAbsDiff(aa.subarray(3 * i, 3 * i + 3), back.subarray(3 * i, 3 * i + 3)) < 1e-7);
  }
  // XYZ Euler (R = Rx·Ry·Rz) through DECA's quaternion path and back
  const eul = Float64Array.from([0.3, -0.7, 1.1, -2.0, 0.2, 0.05, 0, 0, 0, 0.1, 1.2, -3.0]);
  const Re = batchRodrigues(batchEuler2Axis(eul));
  assert.ok(maxAbsDiff(batchMatrixToEulerXYZ(Re), eul) < 1e-7);
  // degrees Euler of angle2matrix (Rz·Ry·Rx) and back
  const deg = Float64Array.from([10, 20, 30, -80, 45, 170, 0, 0, 0, 33, -89, 12]);
  assert.ok(maxAbsDiff(matrix2angle(angle2matrix(deg)), deg) < 1e-9);
  // angle2matrix agrees with Rodrigues for single-axis rotations
  const Rz = angle2matrix([0, 0, 60]);
  assert.ok(maxAbsDiff(Rz, batchRodrigues([0, 0, Math.PI / 3])) < 1e-8);
});
