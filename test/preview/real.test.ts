import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { missingPerception } from '../fit/helpers';
import { readImage } from '../../src/kernel/io/image';
import { createDemoHead } from '../../src/kernel/flame';
import { align, fitFlame, type FlameFit } from '../../src/kernel/fit';
import { renderGuidanceSequence, sequenceFromAligned } from '../../src/kernel/pipeline/render-guidance';
import { renderPreviewFrames, resolvePreview } from '../../src/kernel/preview';
import { dataDir, maskedPsnr, privateStageCache } from './helpers';

const skip = missingPerception();
privateStageCache();

/** An aligned sequence whose n frames all repeat the fit's own parameters (a driving track that is the reference). */
function holdStill(fit: FlameFit, n: number) {
  const J = fit.pose.length / 3, E = fit.expression.length;
  const series = { expression: new Float64Array(n * E), pose: new Float64Array(n * 3 * J), cam: new Float64Array(n * 3), tform: new Float64Array(n * 9) };
  for (let f = 0; f < n; f++) { series.pose.set(fit.pose, 3 * J * f); series.expression.set(fit.expression, E * f); series.cam.set(fit.cam, 3 * f); series.tform.set(fit.tform, 9 * f); }
  const track = {
    modelName: fit.modelName, numJoints: J, numExpression: E, numFrames: n, fps: 24, width: fit.imageSize.width, height: fit.imageSize.height, source: null,
    frames: Array.from({ length: n }, (_, index) => ({ index, status: 'tracked' })), raw: series, smoothed: series,
  };
  return align(fit, track as never);
}

test('identity on a real portrait: driven by its own fit, every frame reproduces boy_cropped.jpg (PSNR ≥ 35 dB in the face mask)', { skip }, async () => {
  const model = createDemoHead();
  const image = readImage(join(dataDir, 'magicportrait', 'boy_cropped.jpg'));
  const fit = await fitFlame(image, { model });
  const aligned = holdStill(fit, 3);
  // the face mask: the fitted head's coverage, rendered by the guidance renderer in the reference frame
  const g = await renderGuidanceSequence(sequenceFromAligned(aligned, model), { size: image.width, maps: ['mask'] });
  const cover = g.frames[0]!.mask!;
  const out = renderPreviewFrames(resolvePreview({ image, fit }, aligned, model), image, { region: 'head' });
  for (const [i, f] of out.frames.entries()) {
    const { psnr, pixels } = maskedPsnr(f, image, (p) => cover[p]! > 127);
    console.log(`# frame ${i}: PSNR ${psnr === Infinity ? '∞' : psnr.toFixed(2)} dB over ${pixels} face-mask pixels`);
    assert.ok(pixels > 0.1 * image.width * image.height);
    assert.ok(psnr >= 35, `frame ${i}: ${psnr} dB`);
  }
});
