import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDemoHead, loadFlame } from '../../src/kernel/flame';
import { createImage } from '../../src/kernel/io/image';
import { fitFlame, rescaleFit } from '../../src/kernel/fit/fit';
import { type FitInitContext } from '../../src/kernel/fit/types';
import { trackLandmarks } from '../../src/kernel/fit/track-smoothing';
import { buildFitRig } from '../../src/kernel/fit/fit-rig';
import { photometricSamples, solvePhotometric, SH_CONSTANTS } from '../../src/kernel/fit/photometric';
import { syntheticFlameDir } from '../flame/helpers';
import { randomParams, renderLandmarks, SYNTH_T } from './synthetic';
import { rng } from './helpers';

const demo = createDemoHead();

test('a FLAME-format model (synthetic FLAME files): DECA component counts, 68-landmark closed loop', async () => {
  const model = await loadFlame(syntheticFlameDir());
  const truth = randomParams(model, 4, 25);
  const p = { ...truth, shape: truth.shape.slice(0, 100).map((v) => v * 0.5), expression: truth.expression.slice(0, 50) };
  const { lm68 } = renderLandmarks(model, p);
  const fit = await fitFlame({ width: 512, height: 512, landmarks68: lm68 }, { model, photometric: false });
  console.log(`# synthetic FLAME files: ${fit.shape.length} shape / ${fit.expression.length} expression fitted, NME ${(100 * fit.nme).toFixed(3)}%, mean reprojection ${(fit.residuals.reduce((a, b) => a + b, 0) / 68).toFixed(3)} px, ${fit.solver.ms.solve.toFixed(0)} ms`);
  assert.equal(fit.shape.length, 100);
  assert.equal(fit.expression.length, 50);
  assert.equal(fit.dense, null, 'no MediaPipe table for this mesh');
  assert.ok(fit.residuals.reduce((a, b) => a + b, 0) / 68 < 0.5);
});

test('the encoder initialiser hook gets the crop and landmarks; its guess is where the solve starts', async () => {
  const truth = randomParams(demo, 8, 30);
  const { lm68, mesh468 } = renderLandmarks(demo, truth);
  let ctx = null as FitInitContext | null;
  const cold = await fitFlame({ width: 512, height: 512, landmarks68: lm68, mesh468 }, { model: demo, contourSearch: false, maxIterations: 0 });
  const warm = await fitFlame({ width: 512, height: 512, landmarks68: lm68, mesh468 }, {
    model: demo, contourSearch: false, maxIterations: 0,
    init: (c) => {
      ctx = c;
      // the truth's camera expressed for the fit's crop: same image projection, so cam' = f(cam, T, T')
      const k0 = SYNTH_T[0]!, k1 = c.tform[0]!;
      const s = (truth.cam[0]! * k1) / k0;
      const tx = (((112 * truth.cam[0]! * truth.cam[1]! + 112 - SYNTH_T[2]!) / k0) * k1 + c.tform[2]! - 112) / (112 * s);
      const ty = -(((-112 * truth.cam[0]! * truth.cam[2]! + 112 - SYNTH_T[5]!) / k0) * k1 + c.tform[5]! - 112) / (112 * s);
      return { shape: truth.shape, expression: truth.expression, pose: truth.pose, cam: [s, tx, ty] };
    },
  });
  assert.ok(ctx);
  assert.equal(ctx!.landmarks68.length, 136);
  assert.equal(ctx!.tform.length, 9);
  assert.ok(ctx!.mesh468);
  const px = (f: typeof cold) => f.residuals.reduce((a, b) => a + b, 0) / 68;
  console.log(`# initialiser hook, no iterations after the start: geometric cold start ${px(cold).toFixed(2)} px, exact encoder guess ${px(warm).toFixed(4)} px`);
  assert.ok(px(warm) < 0.01, `the guess (with its camera for the fit's crop) reproduces the landmarks: ${px(warm)}`);
  assert.ok(px(cold) > 10 * px(warm));
});

test('photometric solve recovers albedo coefficients and SH light from synthetic colours (closed loop)', () => {
  const truth = randomParams(demo, 2, 20);
  const geom = { ...truth, tform: SYNTH_T };
  const smp = photometricSamples(demo, createImage(512, 512), geom, { numShape: demo.numShape, numExpression: demo.numExpression });
  assert.ok(smp.N > 1000, `${smp.N} visible vertices`);
  const r = rng(3);
  const alpha = Float64Array.from({ length: smp.K }, () => (r() - 0.5) * 1.2);
  const light = new Float64Array(27);
  for (let c = 0; c < 3; c++) { light[c] = (0.9 + 0.2 * r()) / SH_CONSTANTS[0]!; for (let k = 1; k < 9; k++) light[3 * k + c] = (r() - 0.5) * 0.3; }
  for (let i = 0; i < smp.N; i++) for (let c = 0; c < 3; c++) {
    let a = smp.mean[3 * i + c]!, s = 0;
    for (let k = 0; k < smp.K; k++) a += smp.basis[(3 * i + c) * smp.K + k]! * alpha[k]!;
    for (let k = 0; k < 9; k++) s += light[3 * k + c]! * smp.Y[9 * i + k]!;
    smp.target[3 * i + c] = a * s;
  }
  const res = solvePhotometric(smp, { albedoPrior: 1e-6, iterations: 30 });
  // albedo colours at the samples (what the coefficients mean), relative to the albedo's magnitude; shading per sample
  let ea = 0, na = 0, es = 0, ns = 0;
  for (let i = 0; i < smp.N; i++) for (let c = 0; c < 3; c++) {
    let at = smp.mean[3 * i + c]!, af = at, st = 0, sf = 0;
    for (let k = 0; k < smp.K; k++) { at += smp.basis[(3 * i + c) * smp.K + k]! * alpha[k]!; af += smp.basis[(3 * i + c) * smp.K + k]! * res.albedo[k]!; }
    for (let k = 0; k < 9; k++) { st += light[3 * k + c]! * smp.Y[9 * i + k]!; sf += res.light[3 * k + c]! * smp.Y[9 * i + k]!; }
    ea += Math.abs(af - at); na += Math.abs(at); es += Math.abs(sf - st); ns += Math.abs(st);
  }
  console.log(`# photometric closed loop: ${smp.N} vertices, colour RMS ${res.report.rmse.toExponential(2)}, albedo error ${(100 * ea / na).toFixed(2)}%, shading error ${(100 * es / ns).toFixed(2)}% ` +
    `(coefficients: ${Array.from(res.albedo, (v, k) => `${v.toFixed(2)}/${alpha[k]!.toFixed(2)}`).join(' ')})`);
  assert.ok(res.report.rmse < 5e-3, `rmse ${res.report.rmse}`);
  assert.ok(ea / na < 0.03 && es / ns < 0.03);
});

test('rescaleFit: the fit of a 736² image expressed in the reference 512² frame projects to the same (scaled) landmarks', async () => {
  const truth = randomParams(demo, 12, 20);
  const { lm68 } = renderLandmarks(demo, truth);
  const big = lm68.map((v) => (v * 736) / 512);
  const fit = await fitFlame({ width: 736, height: 736, landmarks68: big }, { model: demo, dense: false });
  const r = rescaleFit(fit, 512);
  const rig = buildFitRig(demo, { fixedShape: r.shape });
  const lm = trackLandmarks(rig, r, r.tform);
  let e = 0;
  for (let i = 0; i < 136; i++) e = Math.max(e, Math.abs(lm[i]! - r.landmarks[i]!));
  assert.ok(e < 1e-6, `${e}`);
  assert.deepEqual(r.imageSize, { width: 512, height: 512 });
  assert.throws(() => rescaleFit(fit, 512, 300), /aspect/);
});
