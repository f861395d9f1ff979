/**
 * Still images: decode JPEG / PNG into a plain RGB(A) byte image (PNG encoding: png.ts). jpeg-js and pngjs (pure JS); JPEGs
 * larger than JPEG_JS_MAX_PIXELS (phone and camera photos: 12–48 MP) are decoded by ffmpeg's libavcodec, which the
 * kernel already runs for video: jpeg-js needs several bytes of working memory per pixel and refuses them
 * ("maxMemoryUsageInMB limit exceeded"), and raising its limit would only make it slower.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { MagicPortraitError } from '../errors';
import { locateFfmpeg } from './ffmpeg';

/** JPEGs with more pixels than this go to ffmpeg (jpeg-js handles the rest, as before). */
export const JPEG_JS_MAX_PIXELS = 16e6;

/** Width and height from a JPEG's first start-of-frame marker (null when there is none). */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } | null {
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) { i++; continue; }
    const m = bytes[i + 1]!;
    if (m === 0xff) { i++; continue; }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
    const len = (bytes[i + 2]! << 8) | bytes[i + 3]!;
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc)
      return { height: (bytes[i + 5]! << 8) | bytes[i + 6]!, width: (bytes[i + 7]! << 8) | bytes[i + 8]! };
    i += 2 + len;
  }
  return null;
}

/** Decodes a JPEG with ffmpeg into RGB bytes. */
function decodeJpegWithFfmpeg(bytes: Uint8Array, width: number, height: number, name: string): Uint8Array {
  const r = spawnSync(locateFfmpeg().path, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'image2pipe', '-c:v', 'mjpeg', '-i', 'pipe:0', '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { input: bytes, maxBuffer: width * height * 3 + 1024 * 1024 });
  const out = r.stdout as Buffer | null;
  if (r.status !== 0 || !out || out.length !== width * height * 3)
    throw new MagicPortraitError(`${name} could not be decoded as JPEG (${width}×${height}): ${String(r.stderr ?? r.error?.message ?? '').trim().split('\n').pop() || `ffmpeg exit ${r.status}`}`, 'bad-file');
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export type ImageChannels = 1 | 3 | 4;

/**
 * The kernel's one image type: 8-bit, rows top to bottom, channels interleaved — 1 (grey), 3 (RGB) or 4 (RGBA).
 * `Image` is a colour image (what the decoders return, what drawing and the networks take), `Image<1>` a mask or a
 * grey map, `AnyImage` any of them (displays, video frames, PNG files).
 */
export interface Image<C extends ImageChannels = 3 | 4> {
  width: number;
  height: number;
  channels: C;
  data: Uint8Array;
}

export type AnyImage = Image<ImageChannels>;

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
  if (format === 'jpeg') {
    const size = jpegSize(bytes);
    if (size && size.width * size.height > JPEG_JS_MAX_PIXELS) {
      if (size.width * size.height > maxPixels)
        throw new MagicPortraitError(`${name} is ${size.width}×${size.height}, larger than the ${maxPixels / 1e6} MP limit.`, 'bad-file');
      return { width: size.width, height: size.height, channels: 3, data: decodeJpegWithFfmpeg(bytes, size.width, size.height, name) };
    }
  }
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
