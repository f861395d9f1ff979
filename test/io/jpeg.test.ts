/** The reference pipeline's JPEG round trip (quality 75, 4:2:0) against Pillow on libjpeg (golden/jpeg_reference.py). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeImage } from '../../src/kernel/io/image';
import { decodeJpegLibjpeg, encodeJpegLibjpeg, jpegRoundTrip, libjpegQuantTable } from '../../src/kernel/io/jpeg-libjpeg';
import { MagicPortraitError } from '../../src/kernel/errors';
import { readFixture } from './helpers';

const CASES = ['depth', 'normal', 'render', 'odd-noisy'];
const png = (name: string) => decodeImage(readFixture(`jpeg/${name}`), { name });

function compare(a: Uint8Array, b: Uint8Array) {
  assert.equal(a.length, b.length);
  let equal = 0, max = 0, over1 = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d === 0) equal++;
    if (d > 1) over1++;
    if (d > max) max = d;
  }
  return { equalPct: (100 * equal) / a.length, max, over1 };
}

for (const name of CASES) {
  test(`JPEG q75 4:2:0 '${name}': our encoder writes Pillow's bytes; the round trip decodes to Pillow's pixels`, async () => {
    const input = png(`${name}.input.png`);
    const pilJpeg = readFixture(`jpeg/${name}.pil.jpg`);
    const pilDecoded = png(`${name}.pil.png`);
    const ours = encodeJpegLibjpeg(input);
    assert.equal(ours.length, pilJpeg.length, 'same file size');
    assert.ok(Buffer.from(ours).equals(Buffer.from(pilJpeg)), 'byte-identical to Pillow');
    const rt = await jpegRoundTrip(input);
    assert.equal(rt.width, input.width);
    assert.equal(rt.height, input.height);
    const c = compare(rt.data, pilDecoded.data);
    console.log(`# ${name} ${input.width}×${input.height}: round trip vs Pillow ${c.equalPct.toFixed(4)} % of values equal, max |Δ| ${c.max}`);
    assert.ok(c.equalPct >= 99.9, `${c.equalPct} % equal`);
    assert.equal(c.over1, 0, 'none off by more than 1');
    // the lossy step is real: the maps change
    assert.ok(compare(rt.data, input.data).equalPct < 99);
  });
}

test('libjpeg-turbo decoding of Pillow files equals Pillow exactly; jpeg-js (decodeImage) does not', async () => {
  for (const name of CASES) {
    const bytes = readFixture(`jpeg/${name}.pil.jpg`);
    const want = png(`${name}.pil.png`).data;
    assert.deepEqual(compare((await decodeJpegLibjpeg(bytes)).data, want), { equalPct: 100, max: 0, over1: 0 });
    const js = compare(decodeImage(bytes).data, want);
    console.log(`# ${name}: jpeg-js decode vs Pillow: ${js.equalPct.toFixed(2)} % equal, max |Δ| ${js.max}`);
  }
});

test('quantisation tables: libjpeg quality scaling (q75 halves Annex K; q50 is Annex K; clamped to 1…255)', () => {
  const k = Int32Array.of(16, 11, 10, 255 * 2, 1);
  assert.deepEqual(Array.from(libjpegQuantTable(k, 75)), [8, 6, 5, 255, 1]);
  assert.deepEqual(Array.from(libjpegQuantTable(k, 50)), [16, 11, 10, 255, 1]);
  assert.deepEqual(Array.from(libjpegQuantTable(k, 10)), [80, 55, 50, 255, 5]);
});

test('JPEG errors: a truncated file and a non-RGB image are MagicPortraitErrors naming the input', async () => {
  const bytes = readFixture('jpeg/depth.pil.jpg');
  await assert.rejects(decodeJpegLibjpeg(bytes.subarray(0, 20), 'frame_0001.jpg'), (e: unknown) => e instanceof MagicPortraitError && /frame_0001\.jpg/.test(e.message));
  assert.throws(() => encodeJpegLibjpeg({ width: 0, height: 4, channels: 3, data: new Uint8Array(0) }), MagicPortraitError);
});
