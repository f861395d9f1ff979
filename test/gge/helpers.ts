/** Shared helpers of the GGE tests: golden fixtures, the synthetic frames of gge_reference.py, comparisons. */
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import type { GuidanceImage } from '../../src/kernel/gge/run';
import { stateDictFromArrays } from '../../src/kernel/onnx/blocks';
import { ggeRequiredKeys } from '../../src/kernel/gge/model';

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

const OFF = 20; // SiLU(20 + v) ≈ 20 + v

/**
 * Hand-constructed weights that make the attention local (see attention.test.ts): with `codedImage` input, every
 * query row peaks at the query itself, in every head.
 */
export function localAttentionWeights() {
  const sd = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const { key, shape } of ggeRequiredKeys()) sd.set(key, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const set = (key: string, idx: number[], v: number) => {
    const e = sd.get(key)!;
    let flat = 0;
    for (let i = 0; i < idx.length; i++) flat = flat * e.shape[i]! + idx[i]!;
    e.data[flat] = v;
  };
  // conv_in: ch0..2 = 2·RGB − 1 at the centre; ch3 = 2·R − 1 one row below (tap (2, 1)); +20 offset.
  for (let c = 0; c < 3; c++) set('conv_in.weight', [c, c, 1, 1], 2);
  set('conv_in.weight', [3, 0, 2, 1], 2);
  for (let c = 0; c < 4; c++) set('conv_in.bias', [c], OFF - 1);
  // blocks.0..4 pass channels 0..3 through their centre tap.
  for (let b = 0; b < 5; b++) for (let c = 0; c < 4; c++) set(`blocks.${b}.weight`, [c, c, 1, 1], 1);
  // blocks.5: channels 0..3 = 20 + v, channels 4..7 = 20 − v, so GroupNorm group 0 has mean 20 and variance 1/2.
  for (let c = 0; c < 4; c++) {
    set('blocks.5.weight', [c, c, 1, 1], 1);
    set('blocks.5.weight', [c + 4, c, 1, 1], -1);
    set('blocks.5.bias', [c + 4], 2 * OFF);
  }
  const a = 'attentions.5';
  const t = `${a}.transformer_blocks.0`;
  for (let c = 0; c < 8; c++) {
    set(`${a}.norm.weight`, [c], 1);
    set(`${a}.proj_in.weight`, [c, c, 0, 0], 1);
  }
  for (let c = 0; c < 256; c++) set(`${t}.norm1.weight`, [c], 1);
  // head h reads the four codes with gain g_h: score ∝ g_h² (cos Δa + cos Δb)
  for (let h = 0; h < 8; h++)
    for (let c = 0; c < 4; c++) {
      const g = 0.3 + 0.25 * h;
      set(`${t}.attn1.to_q.weight`, [32 * h + c, c], g);
      set(`${t}.attn1.to_k.weight`, [32 * h + c, c], g);
    }
  return stateDictFromArrays(sd);
}

/** Planar [0,1] image whose 8×8 cells carry the cell's codes at the pixels the conv stack samples. */
export function codedImage(H: number, W: number) {
  const h = H / 8, w = W / 8;
  const data = new Float32Array(3 * H * W);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const a = (Math.PI * Math.floor(x / 8)) / w;
      const b = (Math.PI * Math.floor(y / 8)) / h;
      const p = y * W + x;
      data[p] = (1 + (y % 8 === 1 ? Math.sin(b) : Math.cos(a))) / 2;
      data[H * W + p] = (1 + Math.sin(a)) / 2;
      data[2 * H * W + p] = (1 + Math.cos(b)) / 2;
    }
  return { width: W, height: H, data };
}
