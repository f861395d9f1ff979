/** Shared helpers of the GGE tests: golden fixtures, the synthetic frames of gge_reference.py, comparisons. */
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import type { GuidanceImage } from '../../src/kernel/gge/run';

export const FIXTURES = join(__dirname, 'fixtures');

export interface GoldenCase {
  name: string;
  height: number;
  width: number;
  seeds: number[];
  queries: number[];
  full: boolean;
  grid: [number, number];
  stats: {
    feature: { mean: number; std: number; min: number; max: number; meanAbs: number };
    rows_argmax?: number[][][];
    rows_max?: number[][][];
  };
}

export interface Golden {
  weights: { file: string; pthSha256: string; pthBytes: number };
  forbidden: { file: string; global: string };
  cases: GoldenCase[];
  array(name: string): Float32Array | Int32Array;
  shape(name: string): number[];
}

let cached: Golden | undefined;

export function loadGolden(): Golden {
  if (cached) return cached;
  const meta = JSON.parse(readFileSync(join(FIXTURES, 'gge_golden.json'), 'utf8'));
  const bin = gunzipSync(readFileSync(join(FIXTURES, 'gge_golden.bin.gz')));
  const buf = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const arrays = meta.arrays as Record<string, { offset: number; length: number; shape: number[]; dtype: string }>;
  cached = {
    weights: meta.weights,
    forbidden: meta.forbidden,
    cases: meta.cases,
    array(name) {
      const e = arrays[name];
      if (!e) throw new Error(`golden array ${name} not found`);
      return e.dtype === 'int32' ? new Int32Array(buf, e.offset, e.length) : new Float32Array(buf, e.offset, e.length);
    },
    shape: (name) => arrays[name]!.shape,
  };
  return cached;
}

/** The uncompressed fixture .pth bytes (torch.save zip format). */
export function fixturePth(): Uint8Array {
  return gunzipSync(readFileSync(join(FIXTURES, 'gge_weights.pth.gz')));
}

/** synth_frame of gge_reference.py: uint8 RGB (H, W, 3), integer arithmetic only. */
export function synthFrame(h: number, w: number, seed: number): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  const cy = Math.floor((h * (40 + 7 * seed)) / 100);
  const cx = Math.floor((w * (55 - 5 * seed)) / 100);
  const ry = Math.max(Math.floor((h * 35) / 100), 1);
  const rx = Math.max(Math.floor((w * 30) / 100), 1);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const inside = ((y - cy) * rx) ** 2 + ((x - cx) * ry) ** 2 <= (rx * ry) ** 2;
      for (let c = 0; c < 3; c++) {
        const v = (x * (3 + c + seed) + y * (5 + 2 * c) + ((x * y) >> (4 + c)) + 37 * seed + 71 * c) % 256;
        out[(y * w + x) * 3 + c] = inside ? v : v >> 2;
      }
    }
  return out;
}

export function synthImage(h: number, w: number, seed: number): GuidanceImage {
  return { width: w, height: h, channels: 3, pixels: synthFrame(h, w, seed) };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Writes a .safetensors file (F32 or F16 from float32 values): lets tests make modified checkpoints. */
export function writeSafetensors(
  path: string,
  entries: readonly [string, { shape: readonly number[]; data: Float32Array }][],
  dtype: 'F32' | 'F16' = 'F32',
): void {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const [key, { shape, data }] of entries) {
    let bytes: Uint8Array;
    if (dtype === 'F32') bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    else {
      const h = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) h[i] = toHalf(data[i]!);
      bytes = new Uint8Array(h.buffer);
    }
    header[key] = { dtype, shape, data_offsets: [off, off + bytes.length] };
    parts.push(bytes);
    off += bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...parts]));
}

/** float32 → IEEE half bits, round to nearest even (normal range; tests only). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values (weights here are far from the subnormal range or exactly 0)
  if (exp >= 31) return sign | 0x7c00;
  let h = (exp << 10) | (mant >>> 13);
  mant &= 0x1fff;
  if (mant > 0x1000 || (mant === 0x1000 && h & 1)) h++;
  return sign | h;
}
