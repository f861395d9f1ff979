/** Shared setup for perception tests: a fresh model cache (conversion runs in the test, offline) and test data. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModelPackage } from '../../src/kernel/perception/models';

// A fresh cache per test process (the conversion itself is under test), removed at exit: converted models are ~26 MB.
if (!process.env.MAGICPORTRAIT_TEST_KEEP_CACHE) {
  const dir = mkdtempSync(join(tmpdir(), 'mp-models-'));
  process.env.MAGICPORTRAIT_CACHE = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
}

export const dataDir = join(__dirname, '..', '..', '..', 'shared', 'data');
export const PORTRAITS = ['magicportrait/boy.jpeg', 'magicportrait/boy_cropped.jpg', 'liveportrait/s1.jpg', 'liveportrait/s5.jpg', 'liveportrait/s7.jpg'];
export const DRIVING = ['magicportrait/driving.mp4', 'liveportrait/d0.mp4', 'liveportrait/d3.mp4'];

/** Why a test needing this package must be skipped ('' when it is installed). */
export function missingPackage(name: string): string | false {
  try {
    resolveModelPackage(name);
    return false;
  } catch {
    return `${name} is not installed (npm install, or MAGICPORTRAIT_MODEL_PACKAGES)`;
  }
}

export const FACE_API = '@vladmandic/face-api';
export const FACE_MESH = '@mediapipe/face_mesh';

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

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return d / Math.sqrt(na * nb);
}
