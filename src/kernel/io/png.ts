/**
 * PNG: the kernel's one encoder, and a reader that keeps grey images grey (decodeImage in image.ts reads any PNG or
 * JPEG as colour).
 *
 * The encoder is a small deterministic one on Node's zlib rather than pngjs's: pngjs filters rows in JavaScript and
 * tries every filter per row (~20 ms for a 512² photo), and data preparation writes five PNGs per frame. One fixed
 * filter (Sub, the fastest to compute and good on photos and on the maps' flat regions) and zlib level 1 are 3–6×
 * faster for files ~10 % larger, and the bytes depend only on the pixels, so the same frame always gives the same
 * file (and the same artifact hash).
 */
import { constants, crc32, deflateSync } from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { PNG } from 'pngjs';
import { MagicPortraitError } from '../errors';
import type { AnyImage, Image } from './image';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
/** PNG colour type per channel count: grey, RGB, RGBA. */
const COLOUR_TYPE = { 1: 0, 3: 2, 4: 6 } as const;

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)) >>> 0);
  return out;
}

/**
 * Encodes an 8-bit grey, RGB or RGBA image as PNG: filter Sub on every row, zlib level 1; `photo`: zlib's run-length
 * strategy (a third faster on camera frames for ~3 % more bytes; on the maps' flat regions plain level 1 wins).
 */
export function encodePng(image: AnyImage, options: { photo?: boolean } = {}): Uint8Array {
  const { width: W, height: H, channels: C, data } = image;
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0) || !(C in COLOUR_TYPE) || data.length !== W * H * C)
    throw new MagicPortraitError(`encodePng: ${W}×${H}×${C} does not match ${data.length} bytes`, 'bad-image');
  const stride = W * C;
  const raw = new Uint8Array((stride + 1) * H);
  for (let y = 0; y < H; y++) {
    const o = y * (stride + 1), r = y * stride;
    raw[o] = 1; // Sub: each byte minus the same channel of the pixel to its left
    for (let i = 0; i < C; i++) raw[o + 1 + i] = data[r + i]!;
    for (let i = C; i < stride; i++) raw[o + 1 + i] = (data[r + i]! - data[r + i - C]!) & 255;
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, W);
  dv.setUint32(4, H);
  ihdr[8] = 8;
  ihdr[9] = COLOUR_TYPE[C];
  const parts = [SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, options.photo ? { level: 1, strategy: constants.Z_RLE } : { level: 1 })), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function writePng(path: string, image: AnyImage, options: { photo?: boolean } = {}): void {
  writeFileSync(path, encodePng(image, options));
}

/**
 * Reads an 8-bit PNG as grey (colour types 0 and 4, alpha dropped) or RGB (2, 3, 6, alpha dropped). Errors name the
 * file.
 */
export function readPng(path: string): Image<1 | 3> {
  let png: PNG;
  try {
    png = PNG.sync.read(readFileSync(path));
  } catch (e) {
    throw new MagicPortraitError(`Cannot read ${basename(path)} as a PNG (${path}): ${(e as Error).message}`, 'bad-file');
  }
  const { width, height } = png;
  const colorType = (png as unknown as { colorType?: number }).colorType ?? 6;
  const grey = colorType === 0 || colorType === 4;
  const C = grey ? 1 : 3;
  const data = new Uint8Array(width * height * C);
  for (let i = 0, n = width * height; i < n; i++) for (let c = 0; c < C; c++) data[C * i + c] = png.data[4 * i + c]!;
  return { width, height, channels: C, data };
}
