/**
 * mp.sample as a cached stage: the frames and final latents are a frame file of the stage cache; a repeated call is
 * a hit that runs no network (the videos are encoded from the cached frames), equal to the computed result; a
 * changed seed or guidance map recomputes; `cache: false` bypasses; guidance given as a feature source is not
 * cached.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DiffusionBundle, tinyBundle } from '../../src/kernel/diffusion/bundle';
import { latentSize } from '../../src/kernel/diffusion/graph/config';
import { releaseBundleSessions } from '../../src/kernel/diffusion/sample';
import { sampleStage, type SampleStageResult } from '../../src/kernel/pipeline/sample';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { MIME, type MimeBundle } from '../../src/shared/outputs';
import type { AnyImage } from '../../src/kernel/io/image';

const tmp = mkdtempSync(join(tmpdir(), 'mp-sample-stage-'));
const cache = new StageCache(join(tmp, 'stages'));
const shown: MimeBundle[] = [];
let bundle: DiffusionBundle;
/** Progress updates of the sampler (a hit shows none: it runs no network). */
const steps = () => shown.filter((b) => /step \d+\/\d+/.test((b[MIME.progress] as { label?: string } | undefined)?.label ?? '')).length;

function image(w: number, h: number, seed: number): AnyImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.sin(i * 0.37 + seed) * 0.5 + 0.5) * 255;
  return { width: w, height: h, channels: 3, data };
}
const maps = (s = 3) => ({ depth: [image(64, 64, s), image(64, 64, s + 1)], normal: [image(64, 64, 5), image(64, 64, 6)], render: [image(64, 64, 7), image(64, 64, 8)] });
const same = (a: SampleStageResult, b: SampleStageResult) => {
  assert.equal(a.frameCount, b.frameCount);
  for (let i = 0; i < a.frameCount; i++) assert.ok(Buffer.from(a.frames.get(i).data).equals(Buffer.from(b.frames.get(i).data)), `frame ${i}`);
  assert.deepEqual(Array.from(a.latents), Array.from(b.latents));
};

before(async () => {
  bundle = await tinyBundle(join(tmp, 'tiny'));
  setStageCache(cache);
  setCurrentRun({ ...detachedContext(tmp, join(tmp, 'artifacts')), emitDisplay: (b) => shown.push(b), updateDisplay: (b) => shown.push(b) });
});
after(async () => {
  await releaseBundleSessions(bundle);
  setCurrentRun(null);
  rmSync(tmp, { recursive: true, force: true });
});

test('a repeated sampling run is a hit equal to the computed one (videos from the cached frames); changes recompute; cache: false bypasses', async () => {
  const input = () => ({ reference: image(64, 64, 1), guidance: { maps: maps() }, bundle, steps: 1, seed: 1 });
  const a = await sampleStage(input(), { video: false, previewEvery: 0 });
  assert.equal(cache.stats.misses, 1);
  const ran = steps();
  assert.ok(ran > 0, 'computing shows the sampler\'s progress');

  const notes = () => shown.filter((m) => /from the stage cache/.test(String(m['text/plain'] ?? '')));
  assert.equal(notes().length, 0, 'a computed run says nothing of the cache');
  const b = await sampleStage(input(), { previewEvery: 0 });
  assert.equal(cache.stats.hits, 1, 'equal inputs in new objects: a hit');
  assert.equal(notes().length, 1, 'a hit says that its frames come from the stage cache');
  assert.ok(String(notes()[0]!['text/plain']).includes(a.providers.toString()), 'with the providers of the run that made them');
  assert.equal(steps(), ran, 'a hit runs no network');
  same(b, a);
  assert.deepEqual([b.seed, b.steps, b.frameRange, b.windows, b.timesteps, b.providers.toString()], [a.seed, a.steps, a.frameRange, a.windows, a.timesteps, a.providers.toString()]);
  assert.ok(b.video && existsSync(b.video.path) && b.grid && existsSync(b.grid.path), 'videos encoded from the cached frames');

  await sampleStage({ ...input(), seed: 2 }, { video: false, previewEvery: 0 });
  assert.equal(cache.stats.misses, 2, 'another seed recomputes');
  await sampleStage({ ...input(), guidance: { maps: maps(9) } }, { video: false, previewEvery: 0 });
  assert.equal(cache.stats.misses, 3, 'another guidance map recomputes');

  const before = { ...cache.stats };
  const c = await sampleStage(input(), { video: false, previewEvery: 0, cache: false });
  assert.deepEqual(cache.stats, before, 'cache: false bypasses');
  same(c, a);
  const n = bundle.manifest.architecture.unet.blockOutChannels[0]! * latentSize(bundle.manifest.architecture) ** 2;
  const features = [0, 1].map((f) => Float32Array.from({ length: n }, (_, i) => 0.3 * Math.cos(i * 0.11 + f)));
  await sampleStage({ reference: image(64, 64, 1), guidance: { features }, bundle, steps: 1, seed: 1 }, { video: false, previewEvery: 0 });
  assert.deepEqual(cache.stats, before, 'a feature source is not cached');
});
