/**
 * The `mp` object cells use: every pipeline stage and helper, as plain functions over typed data. The kernel
 * installs it as a global; Node programs can import it directly.
 */
import { checkCancelled, currentRun, newProgress } from './runtime/context';
import { FrameSequenceDisplay, type FrameTrack, type RgbImage } from './runtime/frames';
import { stageCache, type StageSpec } from './pipeline/cache';
import { CancelledError } from './errors';
import * as flame from './flame';
import * as fit from './fit';

export const VERSION = '0.1.0';

/** Resolves after `ms`, or rejects at once with CancelledError when the cell is interrupted. */
function sleep(ms: number): Promise<void> {
  const signal = currentRun().signal;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new CancelledError('cell'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new CancelledError('cell'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export const mp = {
  version: VERSION,
  /** Live progress bar in the running cell: `const p = mp.progress('Rendering', n); p.tick(); p.finish()`. */
  progress: newProgress,
  /** Throws CancelledError if the user interrupted the cell; call between units of work. */
  checkCancelled,
  /** The running cell's AbortSignal. */
  get signal(): AbortSignal {
    return currentRun().signal;
  },
  sleep,
  /** Runs `compute` once per distinct (stage, inputs, options) and caches the result on disk. */
  cached<T>(stage: StageSpec, inputs: unknown, options: unknown, compute: () => Promise<T> | T): Promise<T> {
    return stageCache().run(stage, inputs, options, compute);
  },
  get cache() {
    return stageCache();
  },
  /** A frame-sequence output for the scrubber: `display(mp.frames([{ name: 'driving', frames }]))`. */
  frames(tracks: FrameTrack[], options: { title?: string; fps?: number; label?: string } = {}) {
    return new FrameSequenceDisplay(tracks, options);
  },
  /** FLAME: the built-in demo head, FLAME 2020 files, the forward model, and the 3D viewer. */
  flame: {
    /** The built-in demo head (same structure as FLAME; not FLAME). */
    demoHead: flame.createDemoHead,
    /** Loads FLAME 2020 / DECA files from a folder (generic_model.pkl, landmark_embedding.npy, FLAME_texture.npz, head_template.obj). */
    load: flame.loadFlame,
    prepare: flame.prepareFlame,
    forward: flame.flameForward,
    /** The interactive three.js view with jaw / pose / expression sliders. */
    view: (model: flame.FlameModelData, options: flame.MeshViewOptions = {}) => new flame.MeshView(model, options),
  },
  /** Model fitting: a portrait, a driving video, and the structured alignment of the two (reference-pipeline.md §4). */
  fit: {
    /** Fits the model (demo head by default) to one portrait: shape, expression, pose, DECA camera + crop, albedo, SH light. */
    portrait: fit.fitFlame,
    /** Tracks a driving video (path or frames): per-frame expression / pose / camera, identity fixed, smoothed. */
    track: fit.trackFlame,
    /** Re-smooths a finished track with other settings (no re-fitting). */
    smooth: fit.smoothTrack,
    /** Eq. (1): reference shape / albedo / light / camera / crop with the driving rotation, expression and jaw. */
    align: fit.align,
    /** Display: the fit overlay (input and overlay images). */
    overlay: fit.fitOverlayView,
    /** Display: parameter curves over time, raw vs smoothed, and the per-frame landmark error. */
    plot: fit.trackPlot,
    /** Display: the aligned sequence beside the driving frames in the frame scrubber. */
    view: fit.alignedView,
    /** The demo head's MediaPipe correspondence; loaders for generated tables and FLAME's mediapipe_landmark_embedding.npz. */
    dense: { demo: fit.defaultDenseCorrespondence, load: fit.loadDenseCorrespondence, loadFlameEmbedding: fit.loadMediapipeEmbedding },
  },
};

export type Mp = typeof mp;
export type { RgbImage };
