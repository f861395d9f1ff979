import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDemoHead } from '../../src/kernel/flame';
import { trackFlame } from '../../src/kernel/fit/track';
import { trackDriving } from '../../src/kernel/pipeline/fit';
import { smoothTrack } from '../../src/kernel/fit/track-smoothing';
import { detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { MIME, type MimeBundle } from '../../src/shared/outputs';
import { CancelledError } from '../../src/kernel/errors';
import { buildFitRig, evalRigPoints, PoseState } from '../../src/kernel/fit/fit-rig';
import { syntheticVideo } from './synthetic';
import { pct } from './helpers';

const model = createDemoHead();
const N = 60;
const { frames, truth } = syntheticVideo(model, N, { noisePx: 1.5, lost: [0, 20, 21, 22, 59] });
const deg = 180 / Math.PI;

test('synthetic stream: lost frames filled and flagged, warm-started frames track the truth, smoothing beats the noise', async () => {
  const track = await trackFlame(frames, { model, fps: 25, shape: truth[0]!.shape });
  assert.equal(track.numFrames, N);
  assert.deepEqual(track.frames.map((f) => f.index), Array.from({ length: N }, (_, i) => i));
  assert.equal(track.frames[0]!.status, 'held');
  assert.equal(track.frames[59]!.status, 'held');
  for (const i of [20, 21, 22]) assert.equal(track.frames[i]!.status, 'interpolated');
  assert.equal(track.frames.filter((f) => f.status === 'tracked').length, N - 5);
  assert.ok(track.frames.filter((f) => f.start === 'warm').length >= N - 10, 'frames after a tracked one start warm');
  for (const s of [track.raw, track.smoothed]) for (const a of Object.values(s)) assert.ok((a as Float64Array).every(Number.isFinite));
  // yaw and jaw vs the truth, raw and smoothed (tracked frames)
  const err = (series: Float64Array, c: number) => {
    let s = 0, n = 0;
    track.frames.forEach((f, t) => { if (f.status === 'tracked') { s += (series[t * 15 + c]! - truth[t]!.pose[c]!) ** 2; n++; } });
    return Math.sqrt(s / n) * deg;
  };
  const yawRaw = err(track.raw.pose, 1), yawSm = err(track.smoothed.pose, 1), jawRaw = err(track.raw.pose, 6), jawSm = err(track.smoothed.pose, 6);
  // interpolated frames land near the truth too (smooth motion)
  const gap = Math.max(...[20, 21, 22].map((t) => Math.abs(track.smoothed.pose[t * 15 + 1]! - truth[t]!.pose[1]!) * deg));
  console.log(`# synthetic (σ 1.5 px): yaw RMS error raw ${yawRaw.toFixed(2)}° → smoothed ${yawSm.toFixed(2)}°, jaw ${jawRaw.toFixed(2)}° → ${jawSm.toFixed(2)}°, ` +
    `filled gap error ≤ ${gap.toFixed(2)}°; jitter pose −${pct(track.jitter.groups.find((g) => g.name === 'pose (global + jaw)')!.reduction, 0)}, ` +
    `expression −${pct(track.jitter.groups.find((g) => g.name === 'expression')!.reduction, 0)}; fit ${track.timing.fitMs.toFixed(1)} ms/frame`);
  assert.ok(yawRaw < 2 && yawSm < yawRaw, `yaw ${yawRaw} → ${yawSm}`);
  assert.ok(jawSm < jawRaw + 0.05, `jaw ${jawRaw} → ${jawSm}`);
  assert.ok(gap < 3, `gap ${gap}`);
  // re-smoothing: none leaves raw, a lower cutoff smooths more
  const none = smoothTrack(track, false, model);
  assert.deepEqual(Array.from(none.smoothed.pose), Array.from(track.raw.pose));
  const strong = smoothTrack(track, 1.5, model);
  const red = (t: typeof track) => t.jitter.groups.find((g) => g.name === 'expression')!.reduction;
  assert.ok(red(strong) > red(track) && red(track) > 0.5);
});

test('identity fitted jointly over the first frames (no shape given): neutral landmarks within 2 mm of the truth', async () => {
  const track = await trackFlame(frames.slice(0, 30), { model, fps: 25, shapeFrames: 8 });
  assert.equal(track.shapeSource, 'fitted');
  const rig = buildFitRig(model);
  const neutral = (shape: ArrayLike<number>) => {
    const st = new PoseState(rig);
    st.update(shape, new Float64Array(rig.numExpression), new Float64Array(15), null);
    const out = new Float64Array(51 * 3);
    evalRigPoints(rig.static51!, st, out, 0, null, 0, null, new Float64Array(3 * rig.K));
    return out;
  };
  const a = neutral(track.shape), b = neutral(truth[0]!.shape);
  let e = 0;
  for (let i = 0; i < 51; i++) e += Math.hypot(a[3 * i]! - b[3 * i]!, a[3 * i + 1]! - b[3 * i + 1]!, a[3 * i + 2]! - b[3 * i + 2]!) / 51;
  console.log(`# joint identity over 8 noisy frames: mean neutral-landmark error ${(1000 * e).toFixed(2)} mm; identity solve ${track.timing.shapeMs.toFixed(0)} ms`);
  assert.ok(e < 0.002, `${e * 1000} mm`);
});

test('the stage (mp.fit.track): progress bar in the running cell, the cell\'s interrupt stops it between frames, frames handed over in order', async () => {
  const bundles: MimeBundle[] = [];
  const ac = new AbortController();
  const ctx = { ...detachedContext(), signal: ac.signal, emitDisplay: (b: MimeBundle) => bundles.push(b), updateDisplay: (b: MimeBundle) => bundles.push(b) };
  setCurrentRun(ctx);
  try {
    const seen: number[] = [];
    await trackDriving(frames.slice(0, 12), { model, fps: 25, frameCount: 12, shape: truth[0]!.shape, onFrame: (f) => { seen.push(f.index); } });
    assert.deepEqual(seen, Array.from({ length: 12 }, (_, i) => i));
    const last = bundles.filter((b) => MIME.progress in b).pop()!;
    assert.equal((last[MIME.progress] as { done: number }).done, 12);
    let n = 0;
    await assert.rejects(trackDriving(frames, { model, fps: 25, shape: truth[0]!.shape, onFrame: () => { if (++n === 5) ac.abort(); } }), CancelledError);
    assert.ok(n >= 5 && n <= 6, `stopped after ${n} frames`);
  } finally {
    setCurrentRun(null);
  }
});

test('the tracker itself is pure: progress through onProgress, cancellation through signal, no cell needed', async () => {
  const reports: [number, number][] = [];
  await trackFlame(frames.slice(0, 6), { model, fps: 25, frameCount: 6, shape: truth[0]!.shape, onProgress: (d, t) => reports.push([d, t]) });
  assert.deepEqual(reports, [1, 2, 3, 4, 5, 6].map((d) => [d, 6]));
  const ac = new AbortController();
  let n = 0;
  await assert.rejects(trackFlame(frames, { model, fps: 25, shape: truth[0]!.shape, signal: ac.signal, onFrame: () => { if (++n === 3) ac.abort(); } }), CancelledError);
  assert.ok(n >= 3 && n <= 4, `stopped after ${n} frames`);
});
