import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readImage, type Image } from '../../src/kernel/io/image';
import { readFrames } from '../../src/kernel/io/video';
import { csim, csimFrames, identityEmbedding } from '../../src/kernel/metrics/identity';
import { dataDir } from './helpers';

async function frames(rel: string, step: number, count: number): Promise<Image[]> {
  const out: Image[] = [];
  for await (const f of readFrames(join(dataDir, rel), { step, maxFrames: count })) out.push(f.image);
  return out;
}

test('CSIM of an image with itself is 1; a face-less frame gives NaN and is left out of the mean', async () => {
  const boy = readImage(join(dataDir, 'magicportrait/boy_cropped.jpg'));
  const e = (await identityEmbedding(boy))!;
  assert.equal(e.length, 128);
  assert.ok(Math.abs(csim(e, e) - 1) < 1e-6);
  const blank: Image = { width: 256, height: 256, channels: 3, data: new Uint8Array(256 * 256 * 3).fill(128) };
  const r = await csimFrames(boy, [boy, blank]);
  assert.ok(Math.abs(r.perFrame[0]! - 1) < 1e-6);
  assert.ok(Number.isNaN(r.perFrame[1]));
  assert.equal(r.facesFound, 1);
  assert.ok(Math.abs(r.mean - 1) < 1e-6);
  await assert.rejects(csimFrames(blank, [boy]), /no face found in the reference/);
});

test('CSIM separates identities: d0 frames vs a d0 reference high, d3 frames vs the same reference low', async () => {
  const [ref] = await frames('liveportrait/d0.mp4', 1, 1);
  const refE = (await identityEmbedding(ref!))!;
  const same = await csimFrames(refE, await frames('liveportrait/d0.mp4', 20, 4));
  const other = await csimFrames(refE, await frames('liveportrait/d3.mp4', 20, 4));
  assert.equal(same.facesFound, 4);
  assert.equal(other.facesFound, 4);
  assert.ok(same.mean > 0.95, `same identity ${same.mean}`);
  assert.ok(other.mean < 0.9, `other identity ${other.mean}`);
  assert.ok(Math.min(...same.perFrame) - Math.max(...other.perFrame) > 0.05, `separation ${same.perFrame} vs ${other.perFrame}`);
});
