import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { decodeImage, readImage, sniffImageFormat, toRGB, type Image } from '../../src/kernel/io/image';
import { encodePng } from '../../src/kernel/io/png';
import { MagicPortraitError } from '../../src/kernel/errors';

const data = join(__dirname, '..', '..', '..', 'shared', 'data');

function gradient(w: number, h: number, channels: 3 | 4): Image {
  const d = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < channels; c++) d[(y * w + x) * channels + c] = (x * 7 + y * 13 + c * 50) & 255;
  return { width: w, height: h, channels, data: d };
}

test('PNG round-trips exactly (RGB and RGBA)', () => {
  for (const ch of [3, 4] as const) {
    const img = gradient(37, 21, ch);
    const bytes = encodePng(img);
    assert.equal(sniffImageFormat(bytes), 'png');
    const back = decodeImage(bytes, { keepAlpha: true });
    assert.equal(back.channels, ch);
    assert.deepEqual([back.width, back.height], [37, 21]);
    assert.deepEqual(back.data, img.data);
    const rgb = decodeImage(bytes);
    assert.equal(rgb.channels, 3);
    assert.deepEqual(rgb.data, toRGB(img).data);
  }
});

test('JPEG decodes to RGB close to what was encoded', () => {
  const img = gradient(64, 48, 4);
  const enc = jpeg.encode({ width: 64, height: 48, data: Buffer.from(img.data) }, 95);
  const back = decodeImage(new Uint8Array(enc.data));
  assert.equal(back.channels, 3);
  let err = 0;
  for (let i = 0; i < 64 * 48; i++) err += Math.abs(back.data[i * 3]! - img.data[i * 4]!);
  assert.ok(err / (64 * 48) < 6, `mean abs error ${err / (64 * 48)}`);
});

test('real portraits decode with their true size', () => {
  const boy = readImage(join(data, 'magicportrait', 'boy.jpeg'));
  assert.deepEqual([boy.width, boy.height, boy.channels], [736, 736, 3]);
  assert.equal(boy.data.length, 736 * 736 * 3);
});

test('corrupt and non-image files give a clear MagicPortraitError naming the file', () => {
  const boy = readFileSync(join(data, 'magicportrait', 'boy.jpeg'));
  assert.throws(() => decodeImage(new TextEncoder().encode('hello, not an image'), { name: 'notes.txt' }), (e: Error) => e instanceof MagicPortraitError && /notes\.txt.*not a JPEG or PNG/.test(e.message));
  assert.throws(() => decodeImage(boy.subarray(0, 600), { name: 'cut.jpg' }), (e: Error) => e instanceof MagicPortraitError && /cut\.jpg/.test(e.message));
  const png = encodePng(gradient(8, 8, 3));
  assert.throws(() => decodeImage(png.subarray(0, 40), { name: 'cut.png' }), (e: Error) => e instanceof MagicPortraitError && /cut\.png/.test(e.message));
  assert.throws(() => readImage('/nonexistent/face.png'), (e: Error) => e instanceof MagicPortraitError && /face\.png/.test(e.message));
});
