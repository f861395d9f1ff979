/**
 * mp.preview as a cached stage: the frames and fill masks are a frame file of the stage cache; a repeated call is a
 * hit that warps nothing (the MP4 is encoded from the cached frames when asked for), equal frame for frame to the
 * computed preview; a changed driving frame or option recomputes; `cache: false` bypasses.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead } from '../../src/kernel/flame';
import { DEFAULT_LIGHT, demoPortrait, framingCamera, type FlameSequence } from '../../src/kernel/pipeline/render-guidance';
import { preview, type PreviewResult } from '../../src/kernel/pipeline/preview';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { MIME, type MimeBundle } from '../../src/shared/outputs';
import type { Image } from '../../src/kernel/io/image';
import { MagicPortraitError } from '../../src/kernel/errors';

const model = createDemoHead();
const J = model.numJoints, E = model.numExpression;
const tmp = mkdtempSync(join(tmpdir(), 'mp-preview-stage-'));
const cache = new StageCache(join(tmp, 'stages'));
const shown: MimeBundle[] = [];
/** Progress bars with this label (its detail may follow after ': ') that finished: one per run of the warp. */
const bars = (label: string) => shown.filter((b) => {
  const p = b[MIME.progress] as { label?: string; finished?: boolean } | undefined;
  return !!p?.finished && (p.label === label || !!p.label?.startsWith(`${label}: `));
}).length;

before(() => {
  setStageCache(cache);
  setCurrentRun({ ...detachedContext(tmp, join(tmp, 'artifacts')), emitDisplay: (b) => shown.push(b), updateDisplay: (b) => shown.push(b) });
});
after(() => {
  setCurrentRun(null);
  rmSync(tmp, { recursive: true, force: true });
});

function frame(yaw: number, jaw: number) {
  const f = { expression: new Float32Array(E), pose: new Float32Array(3 * J) };
  f.pose[1] = yaw;
  f.pose[3 * model.jointNames.indexOf('jaw')] = jaw;
  return f;
}
/** The same motion as a new object each time. */
const motion = (lastYaw = 0): FlameSequence => ({
  model, shape: new Float32Array(0), frames: [frame(0, 0.2), frame(0.3, 0), frame(lastYaw, 0.1)], cam: framingCamera(model), light: DEFAULT_LIGHT, fps: 24, label: 'test',
});
const same = (a: PreviewResult, b: PreviewResult) => {
  assert.equal(a.length, b.length);
  a.frames.forEach((f, i) => assert.ok(Buffer.from(f.data).equals(Buffer.from(b.frames[i]!.data)), `frame ${i}`));
  a.masks!.forEach((m, i) => assert.ok(Buffer.from(m.data).equals(Buffer.from(b.masks![i]!.data)), `mask ${i}`));
};

test('a repeated preview is a hit equal to the computed one (MP4 encoded from the cached frames); changes recompute; cache: false bypasses', async () => {
  const image = (await demoPortrait(model, 64)) as Image;
  const start = { ...cache.stats };
  const a = await preview({ image }, motion(), { workers: 0, video: false });
  assert.equal(cache.stats.misses, start.misses + 1);
  assert.equal(bars('Instant preview'), 1, 'computing shows the progress bar');
  assert.equal(a.video, null);

  const b = await preview({ image: { ...image, data: Uint8Array.from(image.data) } }, motion(), { workers: 2, video: true });
  assert.equal(cache.stats.hits, start.hits + 1, 'equal inputs (new objects; the worker count does not change frames): a hit');
  assert.equal(bars('Instant preview'), 1, 'a hit warps nothing');
  same(b, a);
  assert.deepEqual([b.fps, b.label, b.crop, b.timings.setupMs], [a.fps, a.label, a.crop, a.timings.setupMs]);
  assert.ok(b.video && existsSync(b.video.path), 'the MP4 is encoded from the cached frames');
  assert.equal(b.video.info.frames, 3);

  await preview({ image }, motion(), { workers: 0, video: false, region: 'head' });
  assert.equal(cache.stats.misses, start.misses + 2, 'another region recomputes');
  const c = await preview({ image }, motion(-0.3), { workers: 0, video: false });
  assert.equal(cache.stats.misses, start.misses + 3, 'another driving frame recomputes');
  assert.ok(!Buffer.from(c.frames[2]!.data).equals(Buffer.from(a.frames[2]!.data)));

  const before = { ...cache.stats };
  const d = await preview({ image }, motion(), { workers: 0, video: false, cache: false });
  assert.deepEqual(cache.stats, before, 'cache: false bypasses');
  assert.equal(bars('Instant preview'), 4);
  same(d, a);
  // malformed arguments are not keyed: the stage's own error, not one from hashing them
  await assert.rejects(preview({ image }, null as never), (e: unknown) => e instanceof MagicPortraitError && /driving motion/.test(e.message));
  assert.deepEqual(cache.stats, before);
});
