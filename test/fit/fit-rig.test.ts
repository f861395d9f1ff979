import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDemoHead, prepareFlame, flameForward } from '../../src/kernel/flame';
import { buildFitRig, evalRigPoints, PoseState, rodriguesJacobian } from '../../src/kernel/fit/fit-rig';
import { rodriguesInto } from '../../src/kernel/flame/rotations';
import { rng } from './helpers';
import { FitProblem } from '../../src/kernel/fit/problem';
import { makeTerms, DEFAULT_WEIGHTS, poseFreeMask } from '../../src/kernel/fit/solve';

const model = createDemoHead();

function randomParams(seed: number) {
  const r = rng(seed);
  const shape = Float64Array.from({ length: model.numShape }, () => (r() - 0.5) * 2);
  const expression = Float64Array.from({ length: model.numExpression }, () => (r() - 0.3) * 0.8);
  const pose = Float64Array.from({ length: 15 }, () => (r() - 0.5) * 0.6);
  pose[6] = 0.25;
  return { shape, expression, pose };
}

test('rig points equal flameForward landmarks (static 51 and the chosen contour row), free and fixed shape', () => {
  const prep = prepareFlame(model, { dtype: 'float64', backend: 'js' });
  for (const seed of [1, 2, 3]) {
    const { shape, expression, pose } = randomParams(seed);
    const ref = flameForward(prep, { batchSize: 1, shape, expression, pose });
    for (const fixed of [false, true]) {
      const rig = buildFitRig(model, fixed ? { fixedShape: shape } : {});
      const st = new PoseState(rig);
      st.update(shape, expression, pose, null);
      assert.equal(st.contourRow, ref.contourIndex[0]);
      const out = new Float64Array(68 * 3);
      const scratch = new Float64Array(3 * rig.K);
      evalRigPoints(rig.contourRow(st.contourRow), st, out, 0, null, 0, null, scratch);
      evalRigPoints(rig.static51!, st, out, 17 * 3, null, 0, null, scratch);
      let m = 0;
      for (let i = 0; i < 68 * 3; i++) m = Math.max(m, Math.abs(out[i] - ref.landmarks2d![i]));
      assert.ok(m < 1e-9, `max diff ${m}`);
    }
  }
});

test('Rodrigues Jacobian matches central differences (incl. near zero)', () => {
  const out = new Float64Array(27);
  for (const r of [[0.3, -0.2, 0.5], [1e-7, 0, 2e-7], [0, 0, 0], [2.5, 0.1, -0.3]]) {
    rodriguesJacobian(r[0], r[1], r[2], out);
    for (let i = 0; i < 3; i++) {
      const h = 1e-6;
      const a = new Float64Array(9), b = new Float64Array(9);
      const rp = [...r], rm = [...r];
      rp[i] += h; rm[i] -= h;
      rodriguesInto(rp[0], rp[1], rp[2], a);
      rodriguesInto(rm[0], rm[1], rm[2], b);
      for (let k = 0; k < 9; k++) assert.ok(Math.abs((a[k] - b[k]) / (2 * h) - out[9 * i + k]) < 1e-6, `r=${r} i=${i} k=${k}`);
    }
  }
});

test('rig Jacobian (linear coefficients and all 15 pose components) matches central differences', () => {
  const rig = buildFitRig(model);
  const { shape, expression, pose } = randomParams(7);
  const pts = rig.static51!;
  const L = rig.numLinear, NC = L + 15;
  const free = new Uint8Array(15).fill(1);
  const st = new PoseState(rig);
  st.update(shape, expression, pose, { poseFree: free, linear: true });
  const jac = new Float64Array(pts.count * 3 * NC);
  const base = new Float64Array(pts.count * 3);
  const scratch = new Float64Array(3 * rig.K);
  evalRigPoints(pts, st, base, 0, jac, 0, free, scratch);
  const at = (s: Float64Array, e: Float64Array, p: Float64Array) => {
    const st2 = new PoseState(rig);
    st2.update(s, e, p, null);
    const o = new Float64Array(pts.count * 3);
    evalRigPoints(pts, st2, o, 0, null, 0, null, scratch);
    return o;
  };
  let worst = 0;
  for (let col = 0; col < NC; col++) {
    const h = 1e-6;
    const sp = shape.slice(), ep = expression.slice(), pp = pose.slice();
    const sm = shape.slice(), em = expression.slice(), pm = pose.slice();
    if (col < rig.numShape) { sp[col] += h; sm[col] -= h; } else if (col < L) { ep[col - rig.numShape] += h; em[col - rig.numShape] -= h; } else { pp[col - L] += h; pm[col - L] -= h; }
    const a = at(sp, ep, pp), b = at(sm, em, pm);
    for (let p = 0; p < pts.count; p++) for (let c = 0; c < 3; c++) {
      const fd = (a[3 * p + c] - b[3 * p + c]) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - jac[(p * 3 + c) * NC + col]));
    }
  }
  assert.ok(worst < 1e-7, `worst Jacobian error ${worst}`);
});

test('the normal equations the solver builds equal JᵀJ + priors of the dense weighted Jacobian', async () => {
  const rig = buildFitRig(model);
  const { shape, expression, pose } = randomParams(3);
  pose[7] = 0.1; pose[8] = -0.1; // inside the jaw limits (no limit penalty in H)
  const r = rng(4);
  const lm = Float64Array.from({ length: 136 }, () => 60 + 100 * r());
  const frame = { lm, lmW: new Float64Array(68).fill(1), dense: null, denseW: null };
  const terms = makeTerms(5, { ...DEFAULT_WEIGHTS, huber: 30 });
  const p = new FitProblem(rig, null, [frame], shape, [{ expression, pose, cam: Float64Array.of(9, 0.01, 0.02) }],
    { shapeFree: true, expressionFree: true, poseFree: poseFreeMask(5), camFree: true }, terms);
  const x = p.pack();
  const n = p.n;
  const H = new Float64Array(n * n), g = new Float64Array(n);
  p.build(x, H, g);
  const { J, r: res, m } = p.denseJacobian(x);
  let worst = 0, scale = 0;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += J[i * n + a]! * J[i * n + b]!;
      const prior = a === b ? (a < rig.numShape ? terms.shapePrior : a < rig.numLinear ? terms.expressionPrior : 0) : 0;
      worst = Math.max(worst, Math.abs(H[a * n + b]! - (s + prior + (a === b && a >= rig.numLinear && a < n - 3 ? terms.posePrior[[0, 1, 2, 6, 7, 8][a - rig.numLinear]!]! : 0))));
      scale = Math.max(scale, Math.abs(H[a * n + b]!));
    }
  }
  assert.ok(worst / scale < 1e-6, `H mismatch ${worst / scale}`);
  let gw = 0;
  for (let a = 0; a < n; a++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += J[i * n + a]! * res[i]!;
    const xa = x[a]!;
    const prior = a < rig.numShape ? terms.shapePrior * xa : a < rig.numLinear ? terms.expressionPrior * xa : a < n - 3 ? terms.posePrior[[0, 1, 2, 6, 7, 8][a - rig.numLinear]!]! * xa : 0;
    gw = Math.max(gw, Math.abs(g[a]! - s - prior) / (Math.abs(g[a]!) + 1));
  }
  assert.ok(gw < 1e-6, `g mismatch ${gw}`);
});
