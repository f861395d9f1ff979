/**
 * The sampler's 'reference' preset against the official pipeline (reference-pipeline.md §7.6–§7.8,
 * pipeline_aggregation.py): frame_range as a Python slice (golden/frame_range_reference.py), default [0, 100]; a
 * guidance scale ≤ 1 turns CFG off and returns the conditional prediction summed over windows (no division by the
 * window count); the official output files. With one DDIM step from t = 999 (ᾱ = 0, ᾱ_prev = 1) the final latent is
 * exactly −v, so the tests read the combined prediction v straight off the result.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DiffusionBundle, tinyBundle } from '../../src/kernel/diffusion/bundle';
import { latentSize } from '../../src/kernel/diffusion/graph/config';
import { REFERENCE_FRAME_RANGE, releaseBundleSessions, selectFrames } from '../../src/kernel/diffusion/sample';
// through the stage (mp.sample): the official output files are the stage's
import { sampleStage as sample } from '../../src/kernel/pipeline/sample';
import { setCurrentRun } from '../../src/kernel/runtime/context';
import { MagicPortraitError } from '../../src/kernel/errors';
import type { AnyImage } from '../../src/kernel/io/image';
import { probeVideo } from '../../src/kernel/io/video';
import { FIXTURES } from './helpers';

let root: string;
let bundle: DiffusionBundle;

function image(w: number, h: number, seed: number): AnyImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.sin(i * 0.37 + seed) * 0.5 + 0.5) * 255;
  return { width: w, height: h, channels: 3, data };
}

function features(frames: number, requested?: Set<number>) {
  const a = bundle.manifest.architecture;
  const n = a.unet.blockOutChannels[0]! * latentSize(a) ** 2;
  return {
    count: frames,
    get(f: number) {
      requested?.add(f);
      return Float32Array.from({ length: n }, (_, i) => 0.3 * Math.cos(i * 0.11 + f));
    },
  };
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'mp-preset-'));
  bundle = await tinyBundle(join(root, 'tiny'));
});

after(async () => {
  await releaseBundleSessions(bundle);
  setCurrentRun(null);
  rmSync(root, { recursive: true, force: true });
});

test("frame_range: Python slice semantics as inference.py applies them (golden), [0, 100] by default with preset 'reference'", () => {
  const cases = JSON.parse(readFileSync(join(FIXTURES, 'frame_range.json'), 'utf8')) as { n: number; frame_range: [number, number] | [] | null; selected: [number, number] | null }[];
  for (const c of cases) {
    const input = { frameRange: c.frame_range as [number, number] | null, preset: 'reference' as const };
    if (c.selected === null) assert.throws(() => selectFrames(c.n, input), (e: unknown) => e instanceof MagicPortraitError && /Nothing to sample/.test(e.message), JSON.stringify(c));
    else assert.deepEqual(selectFrames(c.n, input), c.selected, JSON.stringify(c));
  }
  assert.deepEqual(REFERENCE_FRAME_RANGE, [0, 100]);
  assert.deepEqual(selectFrames(220, { preset: 'reference' }), [0, 100]);
  assert.deepEqual(selectFrames(220, {}), [0, 220], "'studio' samples every frame");
  assert.deepEqual(selectFrames(220, { preset: 'reference', frameRange: null }), [0, 220]);
  assert.deepEqual(selectFrames(220, { preset: 'reference', frameRange: [10, 50], frames: 5 }), [10, 15]);
  assert.throws(() => selectFrames(10, { frameRange: [0.5, 3] }), /two integers/);
  assert.throws(() => selectFrames(10, { preset: 'official' as 'reference' }), /preset must be/);
});

test("preset 'reference' reads only the frame range's guidance (frames 0..99 of 130) and reports it", async () => {
  const requested = new Set<number>();
  const r = await sample({ reference: image(64, 64, 1), guidance: { features: features(130, requested) }, bundle, steps: 1, preset: 'reference' }, { display: false, video: false });
  assert.equal(r.frameCount, 100);
  assert.deepEqual(r.frameRange, [0, 100]);
  assert.deepEqual([...requested].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  const off = new Set<number>();
  const r2 = await sample({ reference: image(64, 64, 1), guidance: { features: features(40, off) }, bundle, steps: 1, frameRange: [-15, -3], seed: 3 }, { display: false, video: false });
  assert.deepEqual(r2.frameRange, [25, 37]);
  assert.deepEqual([...off].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => 25 + i));
});

test('guidance scale ≤ 1 with the reference preset: conditional branch only, window predictions summed (not averaged)', async () => {
  const F = 13; // windows [0..11] and [11, 12, 0..9]: frames 0–9 and 11 are in two windows, 10 and 12 in one
  const base = { reference: image(64, 64, 2), guidance: { features: features(F) }, bundle, steps: 1, seed: 5 };
  const opts = { display: false, video: false } as const;
  const ref = await sample({ ...base, guidance: { features: features(F) }, guidanceScale: 1, preset: 'reference' }, opts);
  const studio = await sample({ ...base, guidance: { features: features(F) }, guidanceScale: 1 }, opts);
  const uncond = await sample({ ...base, guidance: { features: features(F) }, guidanceScale: 0 }, opts);
  assert.equal(ref.cfg, false);
  assert.equal(studio.cfg, true);
  assert.equal(ref.windows.length, 2);
  assert.equal(ref.timings.unetCalls, 2, 'one UNet call per window: no unconditional branch');
  assert.equal(studio.timings.unetCalls, 4);
  const lf = 4 * latentSize(bundle.manifest.architecture) ** 2;
  const count = new Array(F).fill(0);
  for (const w of ref.windows) for (const f of w) count[f]++;
  let worst = 0, scaleOfV = 0;
  for (let f = 0; f < F; f++) {
    for (let j = f * lf; j < (f + 1) * lf; j++) {
      // studio: u + 1·(c̄ − u) = c̄ (window average of the conditional branch); reference: Σ_windows c
      const want = count[f] * studio.latents[j]!;
      worst = Math.max(worst, Math.abs(ref.latents[j]! - want));
      scaleOfV = Math.max(scaleOfV, Math.abs(want));
    }
  }
  console.log(`# CFG off: |Σc − count·c̄| ≤ ${worst.toExponential(2)} (|v| up to ${scaleOfV.toFixed(3)}); frames in two windows: ${count.filter((c) => c === 2).length}`);
  assert.ok(worst <= 1e-5 * Math.max(1, scaleOfV), `sum vs count × average: ${worst}`);
  // the conditional branch sees the reference: it differs from the unconditional one (scale 0)
  let diff = 0;
  for (let j = 0; j < lf * F; j++) diff = Math.max(diff, Math.abs(studio.latents[j]! - uncond.latents[j]!));
  assert.ok(diff > 1e-4, 'the conditional prediction is not the unconditional one');
  // above 1 the reference preset is ordinary CFG: identical to studio
  const a = await sample({ ...base, guidance: { features: features(F) }, guidanceScale: 1.5, preset: 'reference' }, opts);
  const b = await sample({ ...base, guidance: { features: features(F) }, guidanceScale: 1.5 }, opts);
  assert.equal(a.cfg, true);
  assert.deepEqual(Array.from(a.latents), Array.from(b.latents));
});

test("preset 'reference' with outDir writes the official files: animation.mp4, grid.mp4 (reference | result), guidance.mp4 (+ maps)", async () => {
  const out = join(root, 'official');
  const maps = { depth: [0, 1, 2].map((i) => image(64, 64, 10 + i)), normal: [0, 1, 2].map((i) => image(64, 64, 20 + i)), render: [0, 1, 2].map((i) => image(64, 64, 30 + i)) };
  const r = await sample({ reference: image(64, 64, 3), guidance: { maps }, bundle, steps: 1, preset: 'reference', latents: new Float32Array(3 * 4 * latentSize(bundle.manifest.architecture) ** 2).fill(0.1) }, { display: false, outDir: out });
  assert.equal(r.seed, null, 'injected latents: no seed');
  assert.deepEqual(Object.keys(r.files!).sort(), ['animation', 'grid', 'guidance']);
  for (const f of ['animation.mp4', 'grid.mp4', 'guidance.mp4']) assert.ok(existsSync(join(out, f)), f);
  // make_grid(nrow=6, padding=2): n tiles of 64 → n·66 + 2 wide, 68 high
  assert.equal(probeVideo(join(out, 'grid.mp4'), { countFrames: true }).width, 2 * 66 + 2);
  assert.equal(probeVideo(join(out, 'guidance.mp4'), { countFrames: true }).width, 5 * 66 + 2);
  assert.equal(probeVideo(join(out, 'animation.mp4'), { countFrames: true }).frameCount, 3);
  await assert.rejects(sample({ reference: image(64, 64, 3), guidance: { maps }, bundle, noise: new Float32Array(1), latents: new Float32Array(1) }, { display: false, video: false }), /not both/);
});
