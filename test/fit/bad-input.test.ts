import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dataDir, missingPerception, pct, rng } from './helpers';
import { createImage, readImage } from '../../src/kernel/io/image';
import { sourceForShrink, warpImage } from '../../src/kernel/perception/warp';
import { createDemoHead } from '../../src/kernel/flame';
import { fitFlame } from '../../src/kernel/fit/fit';
import { type FlameFit } from '../../src/kernel/fit/types';
import { MagicPortraitError } from '../../src/kernel/errors';
import { randomParams, renderLandmarks } from './synthetic';

const skip = missingPerception();
const model = createDemoHead();

function allFinite(fit: FlameFit): void {
  for (const [k, a] of Object.entries({ shape: fit.shape, expression: fit.expression, pose: fit.pose, cam: fit.cam, tform: fit.tform, landmarks: fit.landmarks, residuals: fit.residuals })) {
    assert.ok(a.every(Number.isFinite), `${k} has a non-finite value`);
  }
  assert.ok(Number.isFinite(fit.nme) && Number.isFinite(fit.nmeInner));
  if (fit.albedo) assert.ok(fit.albedo.every(Number.isFinite) && fit.light!.every(Number.isFinite));
}

const report = (what: string, fit: FlameFit) =>
  console.log(`# ${what}: NME ${pct(fit.nme)}, quality ${fit.quality}, flags [${fit.flags.join(', ')}], yaw/pitch/roll ${fit.angles.yaw.toFixed(1)}/${fit.angles.pitch.toFixed(1)}/${fit.angles.roll.toFixed(1)}°, max residual ${Math.max(...fit.residuals).toFixed(1)} px`);

test('real images made hard: too small, half out of the frame, rotated 90° → residuals, a flag, no NaN', { skip }, async () => {
  const img = readImage(join(dataDir, 'magicportrait', 'boy_cropped.jpg'));
  // too small: the portrait shrunk to 12% in a 512 frame (face ≈ 33 px wide)
  const { src, f } = sourceForShrink(img, 1 / 0.12);
  const k = 1 / 0.12 / f;
  const small = await fitFlame(warpImage(src, [k, 0, -200 * k, 0, k, -150 * k], 512, 512), { model });
  report('face 12% size', small);
  allFinite(small);
  assert.ok(small.flags.includes('face-too-small'));
  assert.equal(small.quality, 'poor');
  // half out of the frame: shifted 250 px left
  const half = await fitFlame(warpImage(img, [1, 0, 250, 0, 1, 0], 512, 512), { model });
  report('shifted half out of frame', half);
  allFinite(half);
  assert.ok(half.flags.includes('partially-out-of-frame'));
  assert.notEqual(half.quality, 'good');
  // rotated 90°
  const rot = await fitFlame(warpImage(img, [0, -1, 512, 1, 0, 0], 512, 512), { model });
  report('rotated 90°', rot);
  allFinite(rot);
  assert.ok(rot.flags.includes('extreme-pose'));
  assert.ok(Math.abs(Math.abs(rot.angles.roll) - 90) < 20, `roll ${rot.angles.roll}`);
});

test('no face / degenerate / non-finite landmarks: clear errors or flags, never NaN', async () => {
  if (!skip) {
    await assert.rejects(fitFlame(createImage(256, 256), { model }), (e: unknown) => e instanceof MagicPortraitError && e.code === 'no-face');
  }
  const truth = randomParams(model, 3, 20);
  const { lm68, mesh468 } = renderLandmarks(model, truth);
  // some landmarks missing
  const holes = Float64Array.from(lm68);
  const r = rng(9);
  for (let i = 0; i < 10; i++) { const p = Math.floor(r() * 68); holes[2 * p] = NaN; holes[2 * p + 1] = NaN; }
  const fit = await fitFlame({ width: 512, height: 512, landmarks68: holes, mesh468 }, { model });
  allFinite(fit);
  assert.ok(fit.flags.includes('missing-landmarks'));
  assert.ok(fit.nme < 0.02, `NME with holes ${fit.nme}`);
  // all missing, all equal
  await assert.rejects(fitFlame({ width: 512, height: 512, landmarks68: new Float64Array(136).fill(NaN) }, { model }), MagicPortraitError);
  await assert.rejects(fitFlame({ width: 512, height: 512, landmarks68: new Float64Array(136).fill(100) }, { model }), MagicPortraitError);
  // an initialiser that returns garbage is survived
  const g = await fitFlame({ width: 512, height: 512, landmarks68: lm68, mesh468 }, {
    model, init: () => ({ shape: [NaN, Infinity], expression: new Float64Array(25).fill(NaN), pose: new Float64Array(15).fill(NaN), cam: [NaN, 0, 0] }),
  });
  allFinite(g);
  assert.ok(g.nme < 0.02, `NME after a garbage init ${g.nme}`);
});

test('extreme pose (synthetic yaw 75°, beyond the contour table): finite fit, flagged', async () => {
  const truth = randomParams(model, 5, 0);
  truth.pose[1] = (75 * Math.PI) / 180;
  const { lm68, mesh468 } = renderLandmarks(model, truth);
  const fit = await fitFlame({ width: 512, height: 512, landmarks68: lm68, mesh468 }, { model });
  report('synthetic yaw 75°', fit);
  allFinite(fit);
  assert.ok(fit.flags.includes('extreme-pose'));
  assert.ok(Math.abs(fit.angles.yaw - 75) < 10, `yaw ${fit.angles.yaw}`);
});
