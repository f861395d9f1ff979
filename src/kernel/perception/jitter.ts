/**
 * dlib's `jitter_image` for face chips (face_recognition's `num_jitters`): a copy of the chip slightly shifted
 * (±2% of its side), zoomed in (the face fills 97–100% of the chip), rotated (±3°) and, half the time, mirrored.
 * Averaging the descriptors of such copies makes the descriptor less sensitive to the exact alignment.
 */
import { warpToTensor, type Affine } from './warp';

/** Small deterministic PRNG (mulberry32): the same seed gives the same jitters on every platform. */
export function jitterRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One jittered copy of an N×N RGB chip tensor (0..255 floats, NHWC), drawn with `random` as dlib draws it. */
export function jitterChip(chip: Float32Array, n: number, random: () => number): Float32Array {
  const range = (a: number, b: number) => a + (b - a) * random();
  const inner = n - 6; // dlib: shrink_rect(get_rect(img), 3)
  const tx = Math.round(range(-0.02, 0.02) * inner);
  const ty = Math.round(range(-0.02, 0.02) * inner);
  const box = Math.floor(inner / range(0.97, 0.99999));
  const angle = (range(-3, 3) * Math.PI) / 180;
  const flip = random() > 0.5;
  // dlib samples chips as bytes
  const data = new Uint8Array(chip.length);
  for (let i = 0; i < chip.length; i++) data[i] = Math.min(255, Math.max(0, Math.round(chip[i]!)));
  // Output pixel u ↦ crop centre + R·k·(u − h), the crop's corner pixels on the output's corner pixels.
  const h = (n - 1) / 2, k = (box - 1) / (n - 1), c = Math.cos(angle) * k, s = Math.sin(angle) * k, m = flip ? -1 : 1;
  const cx = h + tx, cy = h + ty;
  const inv: Affine = [c * m, -s, cx - (c * m - s) * h, s * m, c, cy - (s * m + c) * h];
  return warpToTensor({ width: n, height: n, channels: 3, data }, inv, n, n, new Float32Array(n * n * 3));
}
