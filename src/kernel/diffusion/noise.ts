/**
 * The initial latent noise (reference-pipeline.md §7.9).
 *
 * The reference draws it with one `torch.randn` on a CUDA generator seeded 42. PyTorch's CUDA Philox stream depends
 * on the GPU's launch grid, so those exact values cannot be regenerated anywhere else; a parity run must inject the
 * reference's latent (a .npy, `loadNoiseNpy`).
 *
 * Our own seeded generator reproduces PyTorch's *CPU* generator instead, i.e.
 * `torch.randn(shape, generator=torch.Generator().manual_seed(seed))` for tensors of at least 16 values:
 *   - MT19937 (32-bit Mersenne Twister, standard `init_genrand` seeding);
 *   - each uniform is the low 24 bits of one 32-bit draw times 2^−24, in [0, 1);
 *   - all n uniforms are drawn first, then Box–Muller on blocks of 16: for j < 8,
 *     u1 = 1 − U[j], u2 = U[j+8], r = √(−2 ln u1), z[j] = r cos 2πu2, z[j+8] = r sin 2πu2;
 *   - when n is not a multiple of 16, the last 16 values are re-drawn (16 fresh uniforms) and transformed again.
 * The transcendental functions run in float64 here and in float32 (SIMD) in PyTorch, so values agree to ~1e-6,
 * not bit for bit. This makes a seed mean the same noise in a CPU PyTorch reference run and here.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { MagicPortraitError } from '../errors';
import { parseNpy } from '../io/npy';
import { toFloat32 } from '../io/ndarray';

/** MT19937 producing 32-bit unsigned integers. */
export class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  nextUint32(): number {
    const mt = this.mt;
    if (this.index >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A float32 uniform in [0, 1) from 24 random bits. */
  nextUniform24(): number {
    return (this.nextUint32() & 0xffffff) * 2 ** -24;
  }
}

function boxMuller16(d: Float32Array, o: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = Math.fround(1 - d[o + j]!);
    const u2 = d[o + j + 8]!;
    const r = Math.sqrt(-2 * Math.log(u1));
    const th = 2 * Math.PI * u2;
    d[o + j] = r * Math.cos(th);
    d[o + j + 8] = r * Math.sin(th);
  }
}

/** Standard normal values in PyTorch's CPU-generator order (see the module comment); n ≥ 16. */
export function torchCpuRandn(n: number, seed: number): Float32Array {
  if (!Number.isInteger(n) || n < 16)
    throw new MagicPortraitError(`The seeded generator needs at least 16 values (PyTorch uses another algorithm below that), got ${n}.`, 'bad-argument');
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new MagicPortraitError(`Seed must be an integer in 0..2^32−1, got ${seed}.`, 'bad-argument');
  const g = new Mt19937(seed);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = g.nextUniform24();
  for (let o = 0; o + 16 <= n; o += 16) boxMuller16(d, o);
  if (n % 16 !== 0) {
    const o = n - 16;
    for (let i = 0; i < 16; i++) d[o + i] = g.nextUniform24();
    boxMuller16(d, o);
  }
  return d;
}

/**
 * (1, C, F, H, W) in PyTorch order → frame-major (F, C, H, W), the layout the sampler uses (frames are the batch
 * axis of every graph).
 */
export function channelsFirstToFrameMajor(src: Float32Array, c: number, frames: number, hw: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let ch = 0; ch < c; ch++)
    for (let fr = 0; fr < frames; fr++) out.set(src.subarray((ch * frames + fr) * hw, (ch * frames + fr + 1) * hw), (fr * c + ch) * hw);
  return out;
}

/** The initial latent (frame-major F×C×H×W) the reference would draw with `torch.randn((1,C,F,H,W))` on a CPU generator. */
export function seededLatentNoise(seed: number, frames: number, channels: number, height: number, width: number): Float32Array {
  const hw = height * width;
  return channelsFirstToFrameMajor(torchCpuRandn(channels * frames * hw, seed), channels, frames, hw);
}

/**
 * Reads an injected initial latent from a .npy: (1, C, F, H, W) or (C, F, H, W) in the reference's layout, or
 * (F, C, H, W) frame-major when `frameMajor` is set. Returns frame-major float32.
 */
export function loadNoiseNpy(path: string, expect: { frames: number; channels: number; height: number; width: number }, frameMajor = false): Float32Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MagicPortraitError(`Cannot read the noise file ${path}: ${(e as Error).message}`, 'bad-file');
  }
  const a = parseNpy(bytes, { file: basename(path) });
  const s = a.shape;
  const { frames, channels, height, width } = expect;
  const want = frameMajor ? [frames, channels, height, width] : [1, channels, frames, height, width];
  const shape = !frameMajor && s.length === 4 ? [1, ...s] : s;
  if (shape.length !== want.length || shape.some((d, i) => d !== want[i]))
    throw new MagicPortraitError(
      `${basename(path)} has shape (${s.join(', ')}); the initial latent for ${frames} frames must be (${want.join(', ')})` +
        (frameMajor ? ' (frame-major)' : ' (the reference layout 1×C×F×H×W)') + '.',
      'bad-shape',
    );
  const data = toFloat32(a);
  return frameMajor ? data : channelsFirstToFrameMajor(data, channels, frames, height * width);
}
