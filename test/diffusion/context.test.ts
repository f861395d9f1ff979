import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WindowAggregator, contextWindows, gatherFrames } from '../../src/kernel/diffusion/context';
import { MagicPortraitError } from '../../src/kernel/errors';

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

test('reference windows: 12 frames, overlap 1, closed loop (spec §7.7 examples)', () => {
  assert.deepEqual(contextWindows(12), [range(0, 12)]);
  assert.deepEqual(contextWindows(5), [range(0, 5)]);
  assert.deepEqual(contextWindows(24), [range(0, 12), range(11, 23), [22, 23, ...range(0, 10)]]);
  const w100 = contextWindows(100);
  assert.equal(w100.length, 10);
  assert.deepEqual(w100.map((w) => w[0]), range(0, 10).map((i) => 11 * i));
  assert.deepEqual(w100[9], [99, ...range(0, 11)]);
  const w220 = contextWindows(220);
  assert.equal(w220.length, 20);
  assert.deepEqual(w220[19], [...range(209, 220), 0]);
  for (const F of [13, 23, 24, 25, 37, 100, 220])
    for (const w of contextWindows(F)) assert.equal(new Set(w).size, 12, `F=${F}: a window repeats a frame`);
  // open loop: the last start must leave room for the overlap
  assert.equal(contextWindows(23).length, 3);
  assert.deepEqual(contextWindows(23, { closedLoop: false }), [range(0, 12), range(11, 23)]);
  assert.throws(() => contextWindows(40, { size: 33 }), /32/);
  assert.throws(() => contextWindows(0), MagicPortraitError);
  assert.throws(() => contextWindows(20, { overlap: 12 }), MagicPortraitError);
});

test('every frame is covered for any length', () => {
  for (let F = 1; F <= 80; F++) {
    const seen = new Uint8Array(F);
    for (const w of contextWindows(F)) for (const i of w) seen[i] = 1;
    assert.ok(seen.every((v) => v === 1), `F=${F}`);
  }
});

/** A "model" that works frame by frame: window aggregation must give exactly the direct per-frame result. */
function perFrameModel(x: Float32Array, frameSize: number): Float32Array {
  return x.map((v, i) => Math.fround(Math.sin(3 * v) + (i % frameSize) * 0.01));
}

test('aggregation equals a direct computation when every window sees the same per-frame input', () => {
  const frameSize = 7;
  for (const F of [1, 12, 13, 24, 35, 100]) {
    const x = Float32Array.from({ length: F * frameSize }, (_, i) => Math.cos(i * 0.37));
    const direct = perFrameModel(x, frameSize);
    const agg = new WindowAggregator(F, frameSize);
    for (const w of contextWindows(F)) agg.add(w, perFrameModel(gatherFrames(x, frameSize, w), frameSize));
    const avg = agg.average();
    // frames in 1 or 2 windows average exactly; (a+a+a)/3 may be one ulp off in float32
    for (let i = 0; i < avg.length; i++) assert.ok(Math.abs(avg[i]! - direct[i]!) <= 2.5e-7 * Math.abs(direct[i]!) + 1e-30, `F=${F} i=${i}`);
    const counts = [...agg.count];
    if (F > 12) assert.ok(counts.includes(2), 'overlap frames are counted twice');
  }
});

test('aggregation averages different window predictions uniformly', () => {
  const F = 24;
  const agg = new WindowAggregator(F, 1);
  const ws = contextWindows(F);
  ws.forEach((w, k) => agg.add(w, new Float32Array(w.length).fill(k + 1)));
  const avg = agg.average();
  assert.equal(avg[0], (1 + 3) / 2); // frame 0: windows 0 and 2
  assert.equal(avg[5], 2); // windows 0 and 2 (which wraps over 0..9)
  assert.equal(avg[10], 1);
  assert.equal(avg[11], (1 + 2) / 2);
  assert.equal(avg[22], (2 + 3) / 2);
  assert.equal(avg[23], 3);
  assert.throws(() => new WindowAggregator(3, 1).average(), /no context window/);
});
