import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDemoHead } from '../../src/kernel/flame';
import { rodriguesInto } from '../../src/kernel/flame/rotations';
import { fitFlame } from '../../src/kernel/fit/fit';
import { trackFlame } from '../../src/kernel/fit/track';
import { align, alignedFrame } from '../../src/kernel/fit/align';
import { randomParams, renderLandmarks, syntheticVideo } from './synthetic';

const model = createDemoHead();

async function setup() {
  const ref = randomParams(model, 21, 15);
  const { lm68, mesh468 } = renderLandmarks(model, ref);
  const reference = await fitFlame({ width: 512, height: 512, landmarks68: lm68, mesh468 }, { model });
  const { frames } = syntheticVideo(model, 12, { noisePx: 0.5, lost: [5], seed: 4 });
  const track = await trackFlame(frames, { model, fps: 25 });
  return { reference, track };
}
const fixture = setup();

test('align (reference code, §4.2): shape/albedo/light/camera/tform from the reference; rotation, expression, jaw from each frame; neck/eyes zero', async () => {
  const { reference, track } = await fixture;
  const seq = align(reference, track);
  assert.equal(seq.numFrames, track.numFrames);
  assert.equal(seq.variant, 'reference code (§4.2)');
  assert.deepEqual(seq.provenance, {
    shape: 'reference', albedo: 'reference', light: 'reference', camera: 'reference', tform: 'reference',
    globalRotation: 'driving', expression: 'driving', jaw: 'driving', neck: 'zero', eyes: 'zero',
  });
  assert.deepEqual(Array.from(seq.shape), Array.from(reference.shape));
  assert.notDeepEqual(Array.from(seq.shape), Array.from(track.shape), 'not the driving identity');
  const nE = seq.numExpression;
  for (let i = 0; i < seq.numFrames; i++) {
    const f = alignedFrame(seq, i);
    assert.deepEqual(Array.from(f.cam), Array.from(reference.cam));
    assert.deepEqual(Array.from(f.tform), Array.from(reference.tform));
    assert.deepEqual(Array.from(f.expression), Array.from(track.smoothed.expression.subarray(i * nE, (i + 1) * nE)));
    const drv = track.smoothed.pose.subarray(i * 15, (i + 1) * 15);
    assert.deepEqual(Array.from(f.pose.subarray(0, 3)), Array.from(drv.subarray(0, 3)));
    assert.deepEqual(Array.from(f.pose.subarray(6, 9)), Array.from(drv.subarray(6, 9)));
    assert.ok(f.pose.subarray(3, 6).every((v) => v === 0) && f.pose.subarray(9).every((v) => v === 0));
    assert.equal(seq.drivingFrames[i], track.frames[i]!.index);
  }
  assert.equal(seq.width, 512);
  // raw series on request
  const raw = align(reference, track, { series: 'raw' });
  assert.deepEqual(Array.from(raw.expression), Array.from(track.raw.expression));
});

test('align ablations do what their names say', async () => {
  const { reference, track } = await fixture;
  const drvCam = align(reference, track, { camera: 'driving' });
  assert.deepEqual(Array.from(drvCam.cam), Array.from(track.smoothed.cam));
  assert.deepEqual(Array.from(drvCam.tform), Array.from(track.smoothed.tform));
  assert.match(drvCam.variant, /driving camera/);
  const noExpr = align(reference, track, { expression: 'reference', jaw: 'reference' });
  for (let i = 0; i < noExpr.numFrames; i++) {
    assert.deepEqual(Array.from(alignedFrame(noExpr, i).expression), Array.from(reference.expression));
    assert.deepEqual(Array.from(alignedFrame(noExpr, i).pose.subarray(6, 9)), Array.from(reference.pose.subarray(6, 9)));
  }
  const rel = align(reference, track, { rotation: 'relative', expression: 'relative', transferNeck: true, transferEyes: true });
  assert.match(rel.variant, /relative rotation.*relative expression.*neck transferred.*eyes transferred/);
  // at the first tracked frame, the relative rotation is the reference's own rotation and the expression the reference's
  const first = track.frames.findIndex((f) => f.status === 'tracked');
  const f0 = alignedFrame(rel, first);
  const A = new Float64Array(9), B = new Float64Array(9);
  rodriguesInto(f0.pose[0]!, f0.pose[1]!, f0.pose[2]!, A);
  rodriguesInto(reference.pose[0]!, reference.pose[1]!, reference.pose[2]!, B);
  for (let k = 0; k < 9; k++) assert.ok(Math.abs(A[k]! - B[k]!) < 1e-9);
  for (let k = 0; k < rel.numExpression; k++) assert.ok(Math.abs(f0.expression[k]! - reference.expression[k]!) < 1e-12);
  // frame ranges; mismatched models are refused
  assert.equal(align(reference, track, { frames: [2, 7] }).numFrames, 5);
  assert.throws(() => align({ ...reference, modelName: 'FLAME 2020' }, track), /same model/);
  assert.throws(() => align(reference, track, { frames: [4, 4] }), /empty/);
});
