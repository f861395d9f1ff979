/**
 * Still images: decode JPEG / PNG into a plain RGB(A) byte image, encode PNG. Pure JS (jpeg-js, pngjs).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { MagicPortraitError } from '../errors';

/** An 8-bit image, rows top to bottom, channels interleaved (RGB or RGBA). */
export interface Image {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
}

export type ImageFormat = 'jpeg' | 'png';

/** Guesses the format from the first bytes; null when it is neither JPEG nor PNG. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  return null;
}

export interface DecodeOptions {
  /** Keep the alpha channel of PNGs (default false: alpha is dropped, the result is RGB). */
  keepAlpha?: boolean;
  /** Name used in error messages (a file name). */
  name?: string;
  /** Refuse images with more pixels than this (default 100 MP). */
  maxPixels?: number;
}

/** Decodes JPEG or PNG bytes. Grayscale becomes RGB; alpha is dropped unless `keepAlpha`. */
export function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Image {
  const name = options.name ?? 'image';
  const maxPixels = options.maxPixels ?? 100e6;
  const format = sniffImageFormat(bytes);
  if (!format)
    throw new MagicPortraitError(`${name} is not a JPEG or PNG image (${bytes.length} bytes, unrecognised header).`, 'bad-file');
  let rgba: Uint8Array;
  let width: number;
  let height: number;
  let hasAlpha = false;
  try {
    if (format === 'jpeg') {
      const d = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxPixels / 1e6 });
      ({ width, height } = d);
      rgba = d.data;
    } else {
      const d = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      ({ width, height } = d);
      hasAlpha = Boolean((d as unknown as { alpha?: boolean }).alpha);
      rgba = new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.byteLength);
    }
  } catch (e) {
    throw new MagicPortraitError(`${name} could not be decoded as ${format.toUpperCase()}: ${(e as Error).message}`, 'bad-file');
  }
  if (!(width > 0 && height > 0) || rgba.length < width * height * 4)
    throw new MagicPortraitError(`${name} decoded to an empty or truncated ${format.toUpperCase()} image.`, 'bad-file');
  if (width * height > maxPixels)
    throw new MagicPortraitError(`${name} is ${width}×${height}, larger than the ${maxPixels / 1e6} MP limit.`, 'bad-file');
  if (options.keepAlpha && hasAlpha) return { width, height, channels: 4, data: rgba.slice(0, width * height * 4) };
  return { width, height, channels: 3, data: dropAlpha(rgba, width * height) };
}

/** Reads and decodes an image file; errors name the file. */
export function readImage(path: string, options: Omit<DecodeOptions, 'name'> = {}): Image {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MagicPortraitError(`Cannot read image ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'bad-file');
  }
  return decodeImage(bytes, { ...options, name: basename(path) });
}

function dropAlpha(rgba: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    out[i * 3] = rgba[j]!;
    out[i * 3 + 1] = rgba[j + 1]!;
    out[i * 3 + 2] = rgba[j + 2]!;
  }
  return out;
}

/** RGB view of an image (the same object when it already is RGB). */
export function toRGB(image: Image): Image {
  if (image.channels === 3) return image;
  return { width: image.width, height: image.height, channels: 3, data: dropAlpha(image.data, image.width * image.height) };
}

/** Creates a zero-filled image. */
export function createImage(width: number, height: number, channels: 3 | 4 = 3): Image {
  return { width, height, channels, data: new Uint8Array(width * height * channels) };
}

/** Encodes an RGB or RGBA image as PNG bytes. */
export function encodePng(image: Image): Uint8Array {
  checkImage(image);
  const png = new PNG({ width: image.width, height: image.height, colorType: image.channels === 4 ? 6 : 2, inputColorType: image.channels === 4 ? 6 : 2, inputHasAlpha: image.channels === 4 });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const buf = PNG.sync.write(png, { colorType: image.channels === 4 ? 6 : 2, inputColorType: image.channels === 4 ? 6 : 2, inputHasAlpha: image.channels === 4 });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function writePng(path: string, image: Image): void {
  writeFileSync(path, encodePng(image));
}

/** Throws when the fields of an Image do not agree. */
export function checkImage(image: Image): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new MagicPortraitError(`Invalid image size ${width}×${height}.`, 'bad-image');
  if (channels !== 3 && channels !== 4) throw new MagicPortraitError(`Images have 3 or 4 channels, got ${channels}.`, 'bad-image');
  if (data.length !== width * height * channels)
    throw new MagicPortraitError(
      `Image data has ${data.length} bytes, expected ${width}×${height}×${channels} = ${width * height * channels}.`,
      'bad-image',
    );
}
