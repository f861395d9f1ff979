import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DDIMScheduler, REFERENCE_SCHEDULER, applyGuidance, linspaceF32 } from '../../src/kernel/diffusion/scheduler';
import { MagicPortraitError } from '../../src/kernel/errors';
import { f32, f64, maxAbsDiff, npz } from './helpers';

// reference-pipeline.md §7.5: ᾱ at the 20 trailing timesteps (float64 reference values)
const SPEC_TABLE: [number, number][] = [
  [999, 0], [949, 0.0002014478], [899, 0.0010373955], [849, 0.0029920018], [799, 0.0067744995],
  [749, 0.0133681844], [699, 0.0240623042], [649, 0.0404493635], [599, 0.0643681223], [549, 0.0977743914],
  [499, 0.1425293828], [449, 0.2001095823], [399, 0.271261859], [349, 0.3556494796], [299, 0.4515534692],
  [249, 0.5557028563], [199, 0.6633010528], [149, 0.7682911767], [99, 0.8638624672], [49, 0.943150315],
];

test('reference schedule: 20 trailing timesteps and ᾱ equal the spec table to 1e-7', () => {
  const s = new DDIMScheduler();
  assert.equal(s.config.betaSchedule, 'linear', 'the effective reference schedule is linear, not scaled_linear (§10.5)');
  const ts = [...s.setTimesteps(20)];
  assert.deepEqual(ts, SPEC_TABLE.map(([t]) => t));
  for (const [t, abar] of SPEC_TABLE) {
    // the exact schedule is the table (which is printed to 10 decimals)
    assert.ok(Math.abs(s.alphasCumprod64[t]! - abar) <= 1e-10, `exact ᾱ[${t}] = ${s.alphasCumprod64[t]}, spec ${abar}`);
    // the float32 schedule the steps use drifts by up to 2.7e-7 near ᾱ → 1: that is the library's own float32
    // rounding (the torch float32 schedule drifts the same way; compared in the next test)
    const got = s.alphaBar(t);
    assert.ok(Math.abs(got - abar) <= 3e-7, `ᾱ[${t}] = ${got}, spec ${abar}`);
  }
  assert.equal(s.alphaBar(999), 0, 'zero terminal SNR: ᾱ_999 is exactly 0');
  assert.equal(s.alphaBar(-1), 1, 'set_alpha_to_one');
  assert.equal(s.prevTimestep(49), -1);
});

test('schedule matches float32 torch ops (±1 ulp betas) and the float64 schedule to 5e-7', async () => {
  const z = await npz('scheduler.npz');
  const s = new DDIMScheduler();
  const betasTorch = await f32(z, 'betas_f32');
  const betas = linspaceF32(REFERENCE_SCHEDULER.betaStart, REFERENCE_SCHEDULER.betaEnd, 1000);
  // torch.linspace is vectorised: which betas land one ulp off depends on the CPU's vector width
  assert.ok(maxAbsDiff(betas, betasTorch) <= 1e-9, `betas differ from torch.linspace(float32) by ${maxAbsDiff(betas, betasTorch)}`);
  const dTorch = maxAbsDiff(s.alphasCumprod, await f32(z, 'alphas_cumprod_f32'));
  assert.ok(dTorch <= 1.2e-7, `ᾱ differ from the torch float32 schedule by ${dTorch}`);
  assert.ok(maxAbsDiff(s.alphasCumprod, await f64(z, 'alphas_cumprod_f64')) < 5e-7);
  assert.ok(maxAbsDiff(s.alphasCumprod64, await f64(z, 'alphas_cumprod_f64')) < 1e-12);
  await z.close();
});

test('one DDIM v-prediction step (η = 0) equals the independent numpy step', async () => {
  const z = await npz('scheduler.npz');
  const s = new DDIMScheduler();
  s.setTimesteps(20);
  const ts = await f64(z, 'step_t');
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    const x = await f32(z, `step${i}_x`);
    const v = await f32(z, `step${i}_v`);
    const { prevSample, predOriginalSample } = s.step(v, t, x);
    // float32 arithmetic vs float64 maths from the same float32 inputs: a few float32 ulps
    const ePrev = maxAbsDiff(prevSample, await f64(z, `step${i}_prev`));
    const eX0 = maxAbsDiff(predOriginalSample, await f64(z, `step${i}_x0`));
    assert.ok(ePrev < 2e-6 && eX0 < 2e-6, `t=${t}: |Δprev| ${ePrev}, |Δx0| ${eX0}`);
  }
  // at t = 999 (ᾱ = 0) the prediction of x0 is −v exactly
  const x = Float32Array.of(0.3, -1.2);
  const v = Float32Array.of(0.5, 2);
  assert.deepEqual([...s.step(v, 999, x).predOriginalSample], [-0.5, -2]);
  await z.close();
});

test('classifier-free guidance in float32 equals torch', async () => {
  const z = await npz('scheduler.npz');
  const out = applyGuidance(await f32(z, 'cfg_vu'), await f32(z, 'cfg_vc'), 3.5);
  assert.equal(maxAbsDiff(out, await f32(z, 'cfg_out')), 0);
  await z.close();
});

test('bad configurations fail loudly', () => {
  assert.throws(() => new DDIMScheduler({ eta: 0.5 }), MagicPortraitError);
  assert.throws(() => new DDIMScheduler({ predictionType: 'epsilon' }), /zero-terminal-SNR/);
  assert.throws(() => new DDIMScheduler().setTimesteps(0), MagicPortraitError);
  assert.throws(() => new DDIMScheduler().step(new Float32Array(1), 999, new Float32Array(1)), /setTimesteps/);
});
