/** The hash-generated I3D weights of golden/i3d_reference.py (see its header), shared by the I3D and FVD tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../../src/kernel/io/image';
import { stateDictFromArrays, type StateDict } from '../../src/kernel/metrics/nets/blocks';
import { fixtures } from './helpers';

export interface I3dGolden {
  keys: [string, number[]][];
  clips: Record<string, { frames: number; width: number; height: number; rgb: string }>;
  /** `<clip>/<variant>` → 400 logits. */
  features: Record<string, number[]>;
}

let golden: I3dGolden | null = null;
export function i3dGolden(): I3dGolden {
  return (golden ??= JSON.parse(readFileSync(join(fixtures, 'i3d_golden.json'), 'utf8')) as I3dGolden);
}

function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(key, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** value(i) = (fmix32(i·0x9E3779B1 + FNV-1a(key)) / 2³² · 2 − 1) · scale + offset, per the key's role. */
export function i3dTensorFor(key: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  let scale = 0.1, offset = 0;
  if (key.endsWith('.conv3d.weight')) scale = Math.sqrt(6 / (n / shape[0]!));
  else if (key.endsWith('.bn.weight')) offset = 1;
  else if (key.endsWith('.bn.running_var')) [scale, offset] = [0.2, 1];
  const seed = fnv1a(key);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    out[i] = (((x >>> 0) / 4294967296) * 2 - 1) * scale + offset;
  }
  return out;
}

let sd: StateDict | null = null;
/** The full-size state dict (12.7 M values), built once per process. */
export function i3dStateDict(): StateDict {
  return (sd ??= stateDictFromArrays(i3dGolden().keys.map(([k, s]) => [k, { shape: s, data: i3dTensorFor(k, s) }] as const)));
}

/** The frames of a golden clip. */
export function goldenClip(name: string): Image[] {
  const c = i3dGolden().clips[name]!;
  const bytes = new Uint8Array(Buffer.from(c.rgb, 'base64'));
  const n = c.width * c.height * 3;
  return Array.from({ length: c.frames }, (_, f) => ({ width: c.width, height: c.height, channels: 3 as const, data: bytes.slice(f * n, (f + 1) * n) }));
}
