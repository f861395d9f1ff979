import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { encodePng, readPng, writePng } from '../../src/kernel/io/png';
import type { AnyImage, ImageChannels } from '../../src/kernel/io/image';
import { MagicPortraitError } from '../../src/kernel/errors';

/** Content at every byte value and both signs of the Sub filter's difference (wrap-around included). */
function pattern(w: number, h: number, channels: ImageChannels): AnyImage {
  const data = new Uint8Array(w * h * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 97 + ((i * i) >> 3)) & 255;
  return { width: w, height: h, channels, data };
}

test('encodePng: grey, RGB and RGBA decode to the same pixels in an independent decoder (pngjs)', () => {
  for (const ch of [1, 3, 4] as const)
    for (const photo of [false, true]) {
      const img = pattern(23, 17, ch);
      const png = PNG.sync.read(Buffer.from(encodePng(img, { photo })));
      assert.deepEqual([png.width, png.height], [23, 17]);
      for (let i = 0; i < 23 * 17; i++) {
        const rgba = ch === 1 ? [img.data[i]!, img.data[i]!, img.data[i]!, 255] : [img.data[ch * i]!, img.data[ch * i + 1]!, img.data[ch * i + 2]!, ch === 4 ? img.data[4 * i + 3]! : 255];
        const got = [...png.data.subarray(4 * i, 4 * i + 4)];
        if (got.join() !== rgba.join()) assert.fail(`${ch} channel(s), photo ${photo}: pixel ${i} is ${got} ≠ ${rgba}`);
      }
    }
});

test('readPng keeps grey images grey and drops alpha; the bytes depend only on the pixels', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-png-'));
  try {
    for (const ch of [1, 3, 4] as const) {
      const img = pattern(9, 31, ch);
      const file = join(dir, `${ch}.png`);
      writePng(file, img);
      const back = readPng(file);
      assert.equal(back.channels, ch === 1 ? 1 : 3);
      const C = back.channels;
      for (let i = 0; i < 9 * 31; i++) for (let c = 0; c < C; c++) assert.equal(back.data[C * i + c], img.data[ch * i + c]);
      assert.deepEqual(encodePng(img), encodePng({ ...img, data: img.data.slice() }));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('encodePng and readPng refuse bad input with a MagicPortraitError naming it', () => {
  assert.throws(() => encodePng({ width: 4, height: 4, channels: 3, data: new Uint8Array(47) }), (e: Error) => e instanceof MagicPortraitError && /4×4×3 does not match 47 bytes/.test(e.message));
  assert.throws(() => encodePng({ width: 4, height: 4, channels: 2 as 1, data: new Uint8Array(32) }), MagicPortraitError);
  assert.throws(() => readPng('/nonexistent/map.png'), (e: Error) => e instanceof MagicPortraitError && /map\.png/.test(e.message));
});
