/**
 * mp.fit.portrait and mp.fit.track as cached stages: a second call with the same inputs (equal content, new objects)
 * is a stage-cache hit that computes nothing and returns what the first computed; a changed input or option
 * recomputes; `cache: false` bypasses the cache; calls that cannot be keyed (an init hook, an onFrame callback, a
 * frame iterator) always compute.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead } from '../../src/kernel/flame';
import { fitPortrait, trackDriving } from '../../src/kernel/pipeline/fit';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { MIME, type MimeBundle } from '../../src/shared/outputs';
import { randomParams, renderLandmarks, syntheticVideo } from '../fit/synthetic';

const model = createDemoHead();
const tmp = mkdtempSync(join(tmpdir(), 'mp-fit-stage-'));
const cache = new StageCache(join(tmp, 'stages'));
const shown: MimeBundle[] = [];
const progressShown = () => shown.filter((b) => MIME.progress in b).length;

before(() => {
  setStageCache(cache);
  setCurrentRun({ ...detachedContext(tmp), emitDisplay: (b) => shown.push(b), updateDisplay: (b) => shown.push(b) });
});
after(() => {
  setCurrentRun(null);
  rmSync(tmp, { recursive: true, force: true });
});

/** A portrait as landmarks (no image: the fit is quick), a fresh object each time. */
function portrait(shiftPx = 0) {
  const { lm68, mesh468 } = renderLandmarks(model, randomParams(model, 3, 20));
  return { width: 512, height: 512, landmarks68: lm68.map((v) => v + shiftPx), mesh468: Float32Array.from(mesh468) };
}

test('mp.fit.portrait: a repeated call is a cache hit equal to the computed fit; a changed input or option recomputes; cache: false bypasses', async () => {
  const misses = () => cache.stats.misses;
  const hits = () => cache.stats.hits;
  const a = await fitPortrait(portrait(), { model });
  assert.equal(misses(), 1);
  assert.ok(a.nme < 0.05, `nme ${a.nme}`);

  const b = await fitPortrait(portrait(), { model });
  assert.deepEqual([misses(), hits()], [1, 1], 'equal content in new objects: a hit, nothing computed');
  assert.notEqual(b, a);
  assert.deepEqual(b, a, 'the cached fit is the computed one (typed arrays and all)');
  assert.ok(b.shape instanceof Float64Array);

  await fitPortrait(portrait(), { model, maxIterations: 3 });
  assert.equal(misses(), 2, 'another option recomputes');
  const shifted = await fitPortrait(portrait(1), { model });
  assert.equal(misses(), 3, 'another input recomputes');
  assert.notDeepEqual(Array.from(shifted.landmarks), Array.from(a.landmarks));

  const before = { ...cache.stats };
  const c = await fitPortrait(portrait(), { model, cache: false });
  assert.deepEqual(cache.stats, before, 'cache: false neither reads nor writes the cache');
  assert.deepEqual(Array.from(c.shape), Array.from(a.shape), 'the fitter is deterministic: computed again, the same fit');

  let called = 0;
  await fitPortrait(portrait(), { model, init: () => { called++; return null; } });
  assert.equal(called, 1, 'an init hook is a callback: the call is not cached');
  assert.deepEqual(cache.stats, before);
});

test('mp.fit.track: a repeated call is a hit (no progress bar, nothing computed) equal to the computed track; changes recompute; cache: false bypasses', async () => {
  const { frames, truth } = syntheticVideo(model, 12, { noisePx: 1 });
  const opts = { model, fps: 25, shape: truth[0]!.shape };
  const start = { ...cache.stats };
  const bars0 = progressShown();
  const a = await trackDriving(frames, opts);
  assert.equal(cache.stats.misses, start.misses + 1);
  const bars1 = progressShown();
  assert.ok(bars1 > bars0, 'computing shows the progress bar');

  const again = syntheticVideo(model, 12, { noisePx: 1 }).frames;
  const b = await trackDriving(again, { ...opts, frameCount: 12, shape: Float64Array.from(truth[0]!.shape) });
  assert.equal(cache.stats.hits, start.hits + 1, 'same frames, same shape; frameCount only sizes a progress bar');
  assert.equal(progressShown(), bars1, 'a hit computes nothing (no progress bar)');
  assert.deepEqual(b, a, 'the cached track is the computed one');

  await trackDriving(frames, { ...opts, smoothing: 2 });
  assert.equal(cache.stats.misses, start.misses + 2, 'another smoothing recomputes');
  await trackDriving(frames, { ...opts, fps: 30 });
  assert.equal(cache.stats.misses, start.misses + 3, 'another frame rate recomputes');
  await trackDriving(syntheticVideo(model, 12, { noisePx: 1, seed: 5 }).frames, opts);
  assert.equal(cache.stats.misses, start.misses + 4, 'other frames recompute');

  const before = { ...cache.stats };
  const c = await trackDriving(frames, { ...opts, cache: false });
  assert.deepEqual(cache.stats, before, 'cache: false bypasses');
  assert.deepEqual(Array.from(c.smoothed.pose), Array.from(a.smoothed.pose));
  const seen: number[] = [];
  await trackDriving(frames, { ...opts, onFrame: (f) => void seen.push(f.index) });
  assert.equal(seen.length, 12, 'onFrame sees every frame: such a call is never a hit');
  await trackDriving((function* () { yield* frames; })(), opts);
  assert.deepEqual(cache.stats, before, 'neither an onFrame call nor a frame iterator touches the cache');
});

test('mp.fit.portrait of a photo: the cache keeps the fit without its photo-sized overlay and a hit draws it again, pixel for pixel', async () => {
  const { lm68, mesh468 } = renderLandmarks(model, randomParams(model, 4, 20));
  const S = 512;
  const data = Uint8Array.from({ length: S * S * 3 }, (_, i) => (i * 13) & 255);
  const input = () => ({ image: { width: S, height: S, channels: 3 as const, data: Uint8Array.from(data) }, landmarks68: Float64Array.from(lm68), mesh468: Float32Array.from(mesh468) });
  const a = await fitPortrait(input(), { model, photometric: false });
  assert.ok(a.overlay && a.overlay.width === S, 'the computed fit has its overlay');
  const { hits, misses } = cache.stats;
  const b = await fitPortrait(input(), { model, photometric: false });
  assert.deepEqual([cache.stats.hits, cache.stats.misses], [hits + 1, misses]);
  assert.deepEqual(b, a, 'the overlay drawn again equals the computed one');
  const newest = cache.entries().sort((x, y) => y.usedAt - x.usedAt)[0]!;
  assert.ok(newest.bytes < (S * S * 3) / 4, `the stored fit is ${newest.bytes} bytes: no overlay in it`);
  const none = await fitPortrait(input(), { model, photometric: false, overlay: false });
  assert.equal(none.overlay, null);
});
