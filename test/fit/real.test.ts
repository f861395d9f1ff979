import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dataDir, missingPerception, pct, stats } from './helpers';
import { readImage } from '../../src/kernel/io/image';
import { readFrames } from '../../src/kernel/io/video';
import { trackFaces, type TrackedFrame } from '../../src/kernel/perception/track';
import { createDemoHead } from '../../src/kernel/flame';
import { fitFlame } from '../../src/kernel/fit/fit';
import { trackFlame } from '../../src/kernel/fit/track';
import { type FlameTrack } from '../../src/kernel/fit/types';

const skip = missingPerception();
const model = createDemoHead();

// Perception (detection + 68 + 468 per frame) runs once per video for the whole file; the images are dropped.
const perceived = new Map<string, Promise<TrackedFrame[]>>();
function perceive(file: string): Promise<TrackedFrame[]> {
  let p = perceived.get(file);
  if (!p) {
    p = (async () => {
      const out: TrackedFrame[] = [];
      for await (const tf of trackFaces(readFrames(join(dataDir, file)), { landmarks: ['468', '68'] })) {
        out.push({ ...tf, image: { width: tf.image.width, height: tf.image.height, channels: 3, data: new Uint8Array(0) } });
      }
      return out;
    })();
    perceived.set(file, p);
  }
  return p;
}
const tracks = new Map<string, Promise<FlameTrack>>();
function track(file: string, fps: number): Promise<FlameTrack> {
  let t = tracks.get(file);
  if (!t) { t = perceive(file).then((frames) => trackFlame(frames, { model, fps })); tracks.set(file, t); }
  return t;
}

test('portraits: 68-landmark NME of the fitted demo head ≤ 6% (boy.jpeg, boy_cropped.jpg)', { skip }, async () => {
  for (const f of ['magicportrait/boy.jpeg', 'magicportrait/boy_cropped.jpg']) {
    const img = readImage(join(dataDir, f));
    const fit = await fitFlame(img, { model });
    console.log(`# ${f} (${img.width}×${img.height}): NME ${pct(fit.nme)} (inner 51: ${pct(fit.nmeInner)}), dense mean error ` +
      `${fit.dense ? (fit.dense.residuals.reduce((a, b) => a + b, 0) / fit.dense.residuals.length / fit.interOcular * 100).toFixed(2) + '%' : '—'}, quality ${fit.quality}, ` +
      `yaw/pitch/roll ${fit.angles.yaw.toFixed(1)}/${fit.angles.pitch.toFixed(1)}/${fit.angles.roll.toFixed(1)}°, cam [${Array.from(fit.cam).map((v) => v.toFixed(3)).join(', ')}], ` +
      `photometric median error ${fit.photometric?.medianError.toFixed(3)} (mean albedo ${fit.photometric?.medianErrorMeanAlbedo.toFixed(3)}), ${fit.solver.ms.total.toFixed(0)} ms`);
    assert.ok(fit.nme <= 0.06, `${f}: NME ${fit.nme}`);
    assert.equal(fit.quality, 'good');
    // DECA's frame: the crop transform puts the landmarks inside the 224 crop; every number is finite
    for (let i = 0; i < 68; i++) {
      const u = fit.tform[0]! * fit.detected[2 * i]! + fit.tform[2]!, v = fit.tform[4]! * fit.detected[2 * i + 1]! + fit.tform[5]!;
      assert.ok(u > 0 && u < 224 && v > 0 && v < 224);
    }
    for (const a of [fit.shape, fit.expression, fit.pose, fit.cam, fit.tform, fit.albedo!, fit.light!]) assert.ok(a.every(Number.isFinite));
    assert.ok(fit.photometric!.medianError < fit.photometric!.medianErrorMeanAlbedo, 'albedo fit improves on the mean albedo');
    assert.ok(fit.overlay && fit.overlay.width === img.width);
  }
});

for (const [file, fps] of [['magicportrait/driving.mp4', 24], ['liveportrait/d0.mp4', 25]] as const) {
  test(`${file}: every frame tracked, mean 68-landmark NME ≤ 6%`, { skip }, async () => {
    const t = await track(file, fps);
    const s = stats(t.frames.map((f) => f.nme));
    const tracked = t.frames.filter((f) => f.status === 'tracked').length;
    console.log(`# ${file}: ${t.numFrames} frames, ${tracked} tracked; NME mean ${pct(s.mean)}, median ${pct(s.median)}, p95 ${pct(s.p95)}, max ${pct(s.max)}; ` +
      `smoothed mean ${pct(t.jitter.nmeSmoothed)}; fit ${t.timing.fitMs.toFixed(1)} ms/frame, identity from ${t.shapeSource} frames in ${t.timing.shapeMs.toFixed(0)} ms`);
    assert.equal(t.numFrames, file.includes('driving') ? 220 : 78);
    assert.equal(tracked, t.numFrames);
    assert.ok(s.mean <= 0.06, `mean NME ${s.mean}`);
  });
}

test('smoothing on driving.mp4: pose and expression jitter −≥ 50%, landmark error +≤ 10%', { skip }, async () => {
  const t = await track('magicportrait/driving.mp4', 24);
  const g = (n: string) => t.jitter.groups.find((x) => x.name === n)!;
  for (const x of t.jitter.groups) console.log(`# jitter ${x.name}: ${x.raw.toExponential(2)} → ${x.smoothed.toExponential(2)} (−${pct(x.reduction, 0)})`);
  console.log(`# NME raw ${pct(t.jitter.nmeRaw)} → smoothed ${pct(t.jitter.nmeSmoothed)} (+${pct(t.jitter.nmeIncrease, 1)}), smoothing ${JSON.stringify(t.smoothing)}`);
  assert.ok(g('pose (global + jaw)').reduction >= 0.5);
  assert.ok(g('expression').reduction >= 0.5);
  assert.ok(t.jitter.nmeIncrease <= 0.1);
});
