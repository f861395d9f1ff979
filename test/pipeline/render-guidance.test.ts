import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead } from '../../src/kernel/flame';
import { StageCache, setStageCache, stageCache } from '../../src/kernel/pipeline/cache';
import { demoDrivingSequence, demoPortrait, renderGuidanceSequence } from '../../src/kernel/pipeline/render-guidance';

test('guidance maps of the demo motion: one per frame, the head moves, and a re-run is a cache hit', async () => {
  setStageCache(new StageCache(mkdtempSync(join(tmpdir(), 'mp-guid-'))));
  const head = createDemoHead();
  const seq = demoDrivingSequence(head, { frames: 6 });
  const a = await renderGuidanceSequence(seq, { size: 128 });
  assert.equal(a.length, 6);
  const maps = a.maps();
  for (const k of ['depth', 'normal', 'render'] as const) {
    assert.equal(maps[k].length, 6);
    assert.equal(maps[k][0]!.data.length, 128 * 128 * 3);
  }
  // The head is drawn (covered pixels) and frames differ as it turns and opens the jaw.
  assert.ok(a.frames.every((f) => f.covered > 0.1 * 128 * 128 && f.covered < 0.9 * 128 * 128));
  assert.notDeepEqual(maps.depth[0]!.data, maps.depth[2]!.data);
  const stats = { ...stageCache().stats };
  const b = await renderGuidanceSequence(seq, { size: 128 });
  assert.equal(stageCache().stats.hits, stats.hits + 1);
  assert.deepEqual(b.maps().render[3]!.data, maps.render[3]!.data);
  // A different size is a different entry.
  await renderGuidanceSequence(seq, { size: 64 });
  assert.equal(stageCache().stats.misses, stats.misses + 1);
});

test('the demo portrait is the neutral head over a backdrop, with no empty or saturated frame', async () => {
  const img = await demoPortrait(createDemoHead(), 128);
  assert.equal(img.data.length, 128 * 128 * 3);
  let mean = 0;
  for (const v of img.data) mean += v;
  mean /= img.data.length;
  assert.ok(mean > 60 && mean < 220, `mean ${mean}`);
  // Corners are backdrop (grey), the centre is the face (not grey).
  const px = (x: number, y: number) => Array.from(img.data.subarray(3 * (y * 128 + x), 3 * (y * 128 + x) + 3));
  const [r, g, b] = px(2, 2);
  assert.ok(r === g && g === b);
  const [cr, cg, cb] = px(64, 60);
  assert.ok(!(cr === cg && cg === cb));
});
