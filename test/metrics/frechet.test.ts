import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openNpz, toFloat64 } from '../../src/kernel/io';
import { frechetDistance, frechetDistanceFromFeatures, gaussianStats, traceSqrtProduct } from '../../src/kernel/metrics/frechet';
import { matmul, symmetricEigen } from '../../src/kernel/metrics/linalg';
import { fixtures, rng } from './helpers';

const load = async () => {
  const npz = await openNpz(join(fixtures, 'frechet.npz'));
  const get = async (k: string) => {
    const a = await npz.get(k);
    return { shape: a.shape, data: toFloat64(a) };
  };
  return { npz, get };
};

test('symmetric eigen-decomposition matches numpy eigvalsh and reconstructs A = V Λ Vᵀ', async () => {
  const { npz, get } = await load();
  for (let k = 0; k < 4; k++) {
    const a = await get(`eig${k}_a`);
    const expected = (await get(`eig${k}_values`)).data;
    const n = a.shape[0]!;
    const { values, V } = symmetricEigen(a.data, n);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(values[i]! - expected[i]!) < 1e-12, `eig${k}[${i}]: ${values[i]} vs ${expected[i]}`);
    // reconstruction and orthogonality
    const VL = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) VL[i * n + j] = V![i * n + j]! * values[j]!;
    const Vt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Vt[j * n + i] = V![i * n + j]!;
    const R = matmul(VL, Vt, n, n, n);
    const I = matmul(Vt, V!, n, n, n);
    for (let i = 0; i < n * n; i++) {
      assert.ok(Math.abs(R[i]! - a.data[i]!) < 1e-12, `eig${k}: reconstruction`);
      assert.ok(Math.abs(I[i]! - (i % (n + 1) === 0 ? 1 : 0)) < 1e-12, `eig${k}: orthogonality`);
    }
    // values-only path agrees
    const only = symmetricEigen(a.data, n, false).values;
    for (let i = 0; i < n; i++) assert.ok(Math.abs(only[i]! - values[i]!) < 1e-12);
  }
  await npz.close();
});

test('Fréchet distance matches scipy (pytorch-fid sqrtm formula and the exact eigenvalue form) by every route', async () => {
  const { npz, get } = await load();
  for (let k = 0; k < 4; k++) {
    const f1 = await get(`case${k}_f1`);
    const f2 = await get(`case${k}_f2`);
    const sqrtm = (await get(`case${k}_sqrtm`)).data[0]!;
    const exact = (await get(`case${k}_exact`)).data[0]!;
    const [n1, d] = f1.shape as [number, number];
    const n2 = f2.shape[0]!;
    const s1 = gaussianStats(f1.data, n1, d);
    const s2 = gaussianStats(f2.data, n2, d);
    const routes = {
      eigen: frechetDistance(s1, s2, 'eigen'),
      cholesky: frechetDistance(s1, s2, 'cholesky'),
      samples: frechetDistanceFromFeatures(f1.data, n1, f2.data, n2, d, 'samples'),
      auto: frechetDistanceFromFeatures(f1.data, n1, f2.data, n2, d),
    };
    for (const [name, v] of Object.entries(routes)) {
      assert.ok(Math.abs(v - exact) <= 1e-8 * Math.max(1, exact), `case${k} ${name}: ${v} vs exact ${exact}`);
      // scipy's sqrtm is itself only accurate to ~1e-7 on the rank-deficient cases
      assert.ok(Math.abs(v - sqrtm) <= 1e-6 * Math.max(1, sqrtm), `case${k} ${name}: ${v} vs sqrtm ${sqrtm}`);
    }
  }
  await npz.close();
});

test('Fréchet distance invariants: zero for the same set, symmetric, translation shows in the mean term', () => {
  const r = rng(3);
  const n = 30, d = 6;
  const f = Float64Array.from({ length: n * d }, () => r() * 2 - 1);
  const g = Float64Array.from({ length: n * d }, () => r() * 3 - 1);
  assert.ok(Math.abs(frechetDistanceFromFeatures(f, n, f, n, d)) < 1e-10);
  const ab = frechetDistanceFromFeatures(f, n, g, n, d);
  const ba = frechetDistanceFromFeatures(g, n, f, n, d);
  assert.ok(Math.abs(ab - ba) < 1e-10);
  const shifted = Float64Array.from(f, (v, i) => v + (i % d === 2 ? 0.5 : 0));
  assert.ok(Math.abs(frechetDistanceFromFeatures(f, n, shifted, n, d) - 0.25) < 1e-10);
  // traceSqrtProduct of Σ with itself is Tr Σ
  const s = gaussianStats(f, n, d);
  let tr = 0;
  for (let i = 0; i < d; i++) tr += s.sigma[i * d + i]!;
  assert.ok(Math.abs(traceSqrtProduct(s.sigma, s.sigma, d, 'eigen') - tr) < 1e-12);
  assert.throws(() => frechetDistanceFromFeatures(f, 1, g, n, d), /at least 2/);
});
