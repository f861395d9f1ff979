/**
 * mp.metrics as a cached stage: with file inputs a repeated evaluation is answered by the kernel's stage cache (keyed
 * by the files' bytes), equal to the computed one; `cache: false` computes again and leaves the cache untouched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricsStage } from '../../src/kernel/pipeline/metrics';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { dataDir } from '../metrics/helpers';

const tmp = mkdtempSync(join(tmpdir(), 'mp-metrics-stage-'));
const cache = new StageCache(join(tmp, 'stages'));
const D = (rel: string) => join(dataDir, rel);

before(() => setStageCache(cache));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('a repeated mp.metrics on the same files is a stage-cache hit equal to the computed result; cache: false bypasses', async () => {
  const args = [D('liveportrait/d0.mp4'), D('liveportrait/d3.mp4'), { reference: D('liveportrait/s1.jpg'), maxFrames: 2, step: 5 }] as const;
  const a = await metricsStage(args[0], args[1], { ...args[2] });
  assert.ok(cache.stats.misses > 0 && cache.stats.hits === 0, `first run computes (${JSON.stringify(cache.stats)})`);
  const misses = cache.stats.misses;
  const b = await metricsStage(args[0], args[1], { ...args[2] });
  assert.equal(cache.stats.misses, misses, 'nothing computed again');
  assert.equal(cache.stats.hits, misses, 'every cached part answered');
  assert.deepEqual(b.summary, a.summary);
  assert.deepEqual(b.perFrame, a.perFrame);
  assert.ok(Number.isFinite(a.summary.psnr!) && a.summary.csim! > 0, 'real figures');

  const stats = { ...cache.stats };
  const c = await metricsStage(args[0], args[1], { ...args[2], cache: false });
  assert.deepEqual(cache.stats, stats, 'cache: false leaves the cache alone');
  assert.deepEqual(c.summary, a.summary);
  await metricsStage(args[0], args[1], { ...args[2], step: 4 });
  assert.ok(cache.stats.misses > stats.misses, 'another frame selection computes');
});
