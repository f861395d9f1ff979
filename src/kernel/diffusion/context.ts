/**
 * Long-video context windows and the aggregation of overlapping window predictions (reference-pipeline.md §7.7).
 *
 * The reference calls its "uniform" context scheduler with step 0 every time (so the windows never shift between
 * denoising steps), 12 frames, stride 1, overlap 1 and closed loop: windows start every 12 − 1 = 11 frames while the
 * start is < F, and wrap around the end of the video. F ≤ 12 is one window of all frames. Each frame's prediction is
 * the plain average over the windows that contain it. Temporal positions inside a window are 0…size−1 whatever the
 * absolute frame index, so a window may hold at most 32 frames (the motion modules' positional-encoding length).
 */
import { MagicPortraitError } from '../errors';

export interface ContextOptions {
  /** Frames per window (reference 12; at most `maxFrames`). */
  size: number;
  /** Frames shared by consecutive windows (reference 1). */
  overlap: number;
  /** Number of dilation levels (reference 1: windows of consecutive frames only). */
  stride: number;
  /** Wrap windows around the end of the video (reference true). */
  closedLoop: boolean;
}

export const REFERENCE_CONTEXT: Readonly<ContextOptions> = Object.freeze({ size: 12, overlap: 1, stride: 1, closedLoop: true });

/** Positional-encoding length of the motion modules: the longest window the denoising UNet accepts. */
export const MAX_WINDOW_FRAMES = 32;

/**
 * The context windows for a video of `frames` frames: each a list of frame indices in window order. With the
 * reference options: F = 24 gives [0..11], [11..22], [22, 23, 0..9].
 */
export function contextWindows(frames: number, options: Partial<ContextOptions> = {}, maxFrames = MAX_WINDOW_FRAMES): number[][] {
  const o = { ...REFERENCE_CONTEXT, ...options };
  if (!Number.isInteger(frames) || frames < 1) throw new MagicPortraitError(`Context windows need at least one frame, got ${frames}.`, 'bad-argument');
  if (!Number.isInteger(o.size) || o.size < 1 || o.size > maxFrames)
    throw new MagicPortraitError(
      `Context window size must be 1..${maxFrames} frames (the motion modules' positional encoding has ${maxFrames} positions), got ${o.size}.`,
      'bad-argument',
    );
  if (!Number.isInteger(o.overlap) || o.overlap < 0 || o.overlap >= o.size)
    throw new MagicPortraitError(`Context overlap must be 0..${o.size - 1} frames, got ${o.overlap}.`, 'bad-argument');
  if (!Number.isInteger(o.stride) || o.stride < 1) throw new MagicPortraitError(`Context stride must be ≥ 1, got ${o.stride}.`, 'bad-argument');
  if (frames <= o.size) return [Array.from({ length: frames }, (_, i) => i)];
  const out: number[][] = [];
  // step 0 of the scheduler: no offset (ordered_halving(0) = 0)
  const levels = Math.min(o.stride, Math.ceil(Math.log2(frames / o.size)) + 1);
  for (let level = 0; level < levels; level++) {
    const dil = 1 << level;
    const end = frames + (o.closedLoop ? 0 : -o.overlap);
    for (let start = 0; start < end; start += o.size * dil - o.overlap) {
      const w: number[] = [];
      for (let k = 0; k < o.size; k++) w.push((start + k * dil) % frames);
      out.push(w);
    }
  }
  return out;
}

/**
 * Sums per-frame predictions of overlapping windows and averages them: `add` each window's (window frames × frame
 * size) output, then `average` (float32 accumulation in window order and a float32 division, as the reference).
 */
export class WindowAggregator {
  readonly sum: Float32Array;
  readonly count: Uint16Array;

  constructor(
    readonly frames: number,
    /** Values per frame (channels·height·width). */
    readonly frameSize: number,
  ) {
    this.sum = new Float32Array(frames * frameSize);
    this.count = new Uint16Array(frames);
  }

  reset(): void {
    this.sum.fill(0);
    this.count.fill(0);
  }

  /** Adds a window's prediction, laid out frame-major: `pred[k·frameSize + j]` belongs to frame `window[k]`. */
  add(window: readonly number[], pred: Float32Array): void {
    const n = this.frameSize;
    if (pred.length !== window.length * n)
      throw new MagicPortraitError(`Window prediction has ${pred.length} values, expected ${window.length}×${n}.`, 'bad-argument');
    for (let k = 0; k < window.length; k++) {
      const fr = window[k]!;
      const dst = fr * n;
      const src = k * n;
      for (let j = 0; j < n; j++) this.sum[dst + j] += pred[src + j]!;
      this.count[fr]!++;
    }
  }

  /** The per-frame average (frames × frameSize). Throws when a frame was never covered. */
  average(out = new Float32Array(this.sum.length)): Float32Array {
    const n = this.frameSize;
    for (let fr = 0; fr < this.frames; fr++) {
      const c = this.count[fr]!;
      if (c === 0) throw new MagicPortraitError(`Frame ${fr} is in no context window.`, 'internal');
      for (let j = fr * n; j < (fr + 1) * n; j++) out[j] = Math.fround(this.sum[j]! / c);
    }
    return out;
  }
}

/** Copies the window's frames out of a frame-major array (frames × frameSize) into `out` (window × frameSize). */
export function gatherFrames(src: Float32Array, frameSize: number, window: readonly number[], out = new Float32Array(window.length * frameSize)): Float32Array {
  for (let k = 0; k < window.length; k++) out.set(src.subarray(window[k]! * frameSize, (window[k]! + 1) * frameSize), k * frameSize);
  return out;
}
