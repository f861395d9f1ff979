/**
 * mp.gge as a notebook stage: the demo GGE is built once into $MAGICPORTRAIT_CACHE/gge-demo and labelled, guidance
 * sequences and plain maps are accepted, the result is cached (a hit returns the same numbers and still serves
 * attention rows), progress is shown and an interrupted cell stops the run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ggeStage, demoGGE } from '../../src/kernel/pipeline/gge';
import { GuidanceSequence } from '../../src/kernel/pipeline/render-guidance';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { DISPLAY } from '../../src/kernel/runtime/display';
import { MIME, type MimeBundle } from '../../src/shared/outputs';
import { DEMO_LABEL, releaseGGE } from '../../src/kernel/gge';
import { CancelledError } from '../../src/kernel/errors';
import { synthFrame } from '../gge/helpers';

const S = 48; // grid 6×6
const tmp = mkdtempSync(join(tmpdir(), 'mp-gge-stage-'));
const prevCache = process.env.MAGICPORTRAIT_CACHE;
const cache = new StageCache(join(tmp, 'stages'));
const displays: MimeBundle[] = [];

/** A two-frame guidance sequence of synthetic 8-bit maps. */
function sequence(): GuidanceSequence {
  const frames = [0, 1].map((f) => ({ width: S, height: S, covered: S * S, depth: synthFrame(S, S, 10 + f), normal: synthFrame(S, S, 20 + f), render: synthFrame(S, S, 30 + f) }));
  return new GuidanceSequence(S, frames, 24, 'test maps');
}

before(() => {
  process.env.MAGICPORTRAIT_CACHE = tmp;
  setStageCache(cache);
  setCurrentRun({ ...detachedContext(tmp), emitDisplay: (b) => displays.push(b), updateDisplay: (b) => displays.push(b) });
});
after(async () => {
  if (prevCache === undefined) delete process.env.MAGICPORTRAIT_CACHE;
  else process.env.MAGICPORTRAIT_CACHE = prevCache;
  setCurrentRun(null);
  await releaseGGE(demoGGE());
});

test('mp.gge on a guidance sequence builds the labelled demo GGE once, shows progress, and caches the result', async () => {
  const seq = sequence();
  const a = await ggeStage(seq);
  assert.ok(existsSync(join(tmp, 'gge-demo', 'gge.json')), 'demo built into $MAGICPORTRAIT_CACHE/gge-demo');
  assert.equal(a.label, DEMO_LABEL);
  assert.equal(a.attention.label, DEMO_LABEL);
  assert.deepEqual(a.types, ['depth', 'normal', 'render']);
  assert.equal(a.sum.length, 2);
  assert.deepEqual(a.grid, { width: 6, height: 6 });
  assert.deepEqual(a.features, {}, 'per-type features are not kept by default');
  const last = displays.at(-1)![MIME.progress] as { done: number; total: number; finished: boolean };
  assert.deepEqual([last.done, last.total, last.finished], [6, 6, true]);
  assert.deepEqual(cache.stats, { hits: 0, misses: 1, corrupt: 0 });

  // Same maps given as plain 8-bit images: the same stage-cache entry.
  const b = await ggeStage(seq.maps());
  assert.equal(cache.stats.hits, 1);
  assert.deepEqual(b.sum, a.sum);
  assert.equal(b.attention.label, DEMO_LABEL);
  // a sequence that lost its class (structured clone) is still understood: same cache entry
  const c = await ggeStage(structuredClone({ size: seq.size, frames: seq.frames, fps: seq.fps }) as never);
  assert.equal(cache.stats.hits, 2);
  assert.deepEqual(c.sum, a.sum);
  // the cached result still displays and serves rows (recomputed on demand), equal to the live result's
  const bundle = (b.attention as unknown as Record<symbol, (ctx: unknown) => MimeBundle>)[DISPLAY]!({ artifacts: detachedContext(tmp).artifacts });
  assert.equal((bundle[MIME.attention] as { label: string }).label, DEMO_LABEL);
  const q = [{ x: 1, y: 4 }, { x: 5, y: 0 }];
  const [ra, rb] = [await a.attentionRows('normal', 1, q), await b.attentionRows('normal', 1, q)];
  assert.equal(rb.frame, 1);
  assert.deepEqual(rb.queries, ra.queries);
  let diff = 0;
  for (let i = 0; i < ra.rows.length; i++) diff = Math.max(diff, Math.abs(ra.rows[i]! - rb.rows[i]!));
  assert.ok(diff < 1e-5, `rows differ by ${diff}`);
});

test('an interrupted cell stops mp.gge with CancelledError; bad inputs are named', async () => {
  const ac = new AbortController();
  ac.abort();
  setCurrentRun({ ...detachedContext(tmp), signal: ac.signal, emitDisplay: () => {}, updateDisplay: () => {} });
  try {
    await assert.rejects(ggeStage(sequence(), { cache: false }), CancelledError);
  } finally {
    setCurrentRun({ ...detachedContext(tmp), emitDisplay: () => {}, updateDisplay: () => {} });
  }
  await assert.rejects(ggeStage({ depth: [{ width: S, height: S, channels: 1, data: new Uint8Array(S * S) }] }), /1 channel/);
  await assert.rejects(ggeStage(sequence(), { bundle: join(tmp, 'nope') }), /not a GGE bundle/);
});
