/** Shared setup for metrics tests: test data, frame decoding and small image helpers. */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Image } from '../../src/kernel/io/image';
import { readFrames } from '../../src/kernel/io/video';

export const dataDir = join(__dirname, '..', '..', '..', 'shared', 'data');
export const fixtures = join(__dirname, 'fixtures');

/** The first `count` frames of a video (or the single frame of a still image), decoded by ffmpeg. */
export async function decodeFrames(rel: string, count: number): Promise<Image[]> {
  const out: Image[] = [];
  for await (const f of readFrames(join(dataDir, rel), { maxFrames: count })) out.push(f.image);
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A rows×cols window of an RGB image starting at (y, x). */
export function cropImage(im: Image, y: number, x: number, h: number, w: number): Image {
  const data = new Uint8Array(h * w * 3);
  for (let r = 0; r < h; r++) data.set(im.data.subarray(((y + r) * im.width + x) * 3, ((y + r) * im.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, channels: 3, data };
}

/** Deterministic pseudo-random numbers in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
