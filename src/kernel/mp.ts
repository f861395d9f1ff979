/**
 * The `mp` object cells use: every pipeline stage and helper, as plain functions over typed data. The kernel
 * installs it as a global; Node programs can import it directly.
 */
import { checkCancelled, currentRun, newProgress } from './runtime/context';
import { FrameSequenceDisplay, type FrameTrack, type RgbImage } from './runtime/frames';
import { stageCache, type StageSpec } from './pipeline/cache';
import { CancelledError, MagicPortraitError } from './errors';
import * as flame from './flame';
import * as metrics from './metrics';
import { probeVideo } from './io/video';
import * as perception from './perception';
import * as diffusion from './diffusion';
import { analyzeFace, loadImage, resolvePath, trackVideoFaces } from './pipeline/face';
import { demoDrivingSequence, demoPortrait, framingCamera, isAlignedSequence, renderGuidanceSequence, sequenceFromAligned, type FlameSequence, type GuidanceOptions } from './pipeline/guidance';
import { readFrames } from './io/video';
import { demoGGE, ggeStage } from './pipeline/gge';
import { demoDrivingVideo } from './pipeline/demo-video';
import { join } from 'node:path';
import { homedir } from 'node:os';
import * as fit from './fit';
import { preview } from './preview';

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

/** Relative file paths in cells resolve against the notebook's folder. */
function cellPath<T>(p: T): T {
  return (typeof p === 'string' ? resolvePath(p) : p) as T;
}

export interface MpMetricsOptions extends Omit<metrics.EvaluateOptions, 'onFrame' | 'fid' | 'fvd'> {
  /** FID feature network, or the path of pytorch-fid's Inception weights (pt_inception-2015-12-05-*.pth). */
  fid?: metrics.FeatureNetwork | string;
  /** FVD clip network, or the path of pytorch-i3d InceptionI3d(400) weights (i3d_pretrained_400.pt). */
  fvd?: metrics.ClipFeatureNetwork | string;
  /** Title of the display. */
  title?: string;
  /** Transcribed rows of the paper's Table I to plot beside this run (see metrics/paper.ts). */
  paperRows?: metrics.PaperRow[];
}

/** A frame source, or a video output of another stage (`result.video`, `mp.demo.drivingVideo(...)`): its MP4 file. */
type VideoLike = metrics.FrameSource | { readonly path: string };

function videoPath(v: VideoLike): metrics.FrameSource {
  if (v && typeof v === 'object' && !Array.isArray(v) && 'path' in v && typeof v.path === 'string' && !('data' in v)) return v.path;
  return v as metrics.FrameSource;
}

/**
 * Metrics of a generated video against its target and the reference identity, with a plotly display: per-frame
 * curves, the summary table and bars beside the paper's Table I. `target` null (or mode 'cross'): CSIM / APD / AED only.
 */
async function runMetrics(generatedInput: VideoLike, targetInput: VideoLike | null, options: MpMetricsOptions = {}): Promise<metrics.MetricsReport> {
  const generated = videoPath(generatedInput);
  const target = targetInput === null ? null : videoPath(targetInput);
  const { title, paperRows, ...rest } = options;
  const ref = rest.reference;
  const { fid: fidOption, fvd: fvdOption, ...evalRest } = rest;
  const opts: metrics.EvaluateOptions = { ...evalRest, ...(typeof fidOption === 'object' ? { fid: fidOption } : {}), ...(typeof fvdOption === 'object' ? { fvd: fvdOption } : {}), reference: ref && typeof ref === 'object' && 'video' in ref ? { ...ref, video: cellPath(ref.video) } : cellPath(ref) };
  if (rest.flame) opts.flame = { generated: cellPath(rest.flame.generated), driving: cellPath(rest.flame.driving) };
  if (rest.lpips && !(rest.lpips instanceof metrics.Lpips))
    opts.lpips = { ...rest.lpips, linear: cellPath(rest.lpips.linear), ...(rest.lpips.backbone ? { backbone: cellPath(rest.lpips.backbone) } : {}) };
  let ownFid: metrics.InceptionFeatures | null = null;
  let ownFvd: metrics.I3dFeatures | null = null;
  try {
    if (typeof fidOption === 'string') opts.fid = ownFid = await metrics.InceptionFeatures.load(cellPath(fidOption));
    if (typeof fvdOption === 'string') opts.fvd = ownFvd = await metrics.I3dFeatures.load(cellPath(fvdOption));
  } catch (e) {
    if (ownFid) await ownFid.dispose();
    throw e;
  }
  const gen = cellPath(generated);
  let total = options.maxFrames ?? 0;
  if (typeof gen === 'string' && /\.(mp4|mov|mkv|webm|avi)$/i.test(gen)) {
    const n = Math.ceil(probeVideo(gen, { countFrames: false }).frameCount / Math.max(1, options.step ?? 1));
    total = total ? Math.min(total, n) : n;
  }
  const progress = newProgress('Metrics', Math.max(1, total), 'frames');
  try {
    const result = await metrics.evaluate(gen, target === null ? null : cellPath(target), { ...opts, onFrame: (n) => progress.update(n) });
    progress.finish();
    return new metrics.MetricsReport(result, { title, paperRows });
  } catch (e) {
    progress.finish((e as Error).message);
    throw e;
  } finally {
    if (ownFid) await ownFid.dispose();
    if (ownFvd) await ownFvd.dispose();
  }
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
  /** Reads a JPEG/PNG (relative paths resolve against the notebook's folder). `display(img)` shows it. */
  image: loadImage,
  /** Resolves a path against the notebook's folder. */
  path: resolvePath,
  /** Detection, 468 + 68 landmarks, descriptor and the reference crops of a portrait; displays the overlay. */
  analyzeFace,
  /** Face detection only: every face, largest first (MediaPipe BlazeFace on ONNX Runtime). */
  detect: perception.detectFaces,
  /** Streams a video through face tracking and 68 landmarks; displays a frame strip with the landmarks. */
  trackFaces: trackVideoFaces,
  /**
   * The 128-d dlib descriptor of a face (a detection or its 68 landmarks) on a dlib-aligned chip;
   * `{ jitters: n }` averages n jittered chips as dlib's `num_jitters` does.
   */
  faceDescriptor: perception.faceDescriptor,
  /** Identity similarity (cosine of dlib descriptors; the paper's CSIM). */
  identitySimilarity: perception.identitySimilarity,
  /** Euclidean distance of dlib descriptors (same person < 0.6 in dlib's convention). */
  descriptorDistance: perception.descriptorDistance,
  /** Converts the npm-shipped face models to ONNX into the cache (runs on first use anyway). */
  prepareFaceModels: perception.prepareModels,
  /** Depth / normal / shaded-render guidance maps of a FLAME sequence, with the reference's conventions. */
  renderGuidance(sequence: FlameSequence | fit.AlignedSequence, options: GuidanceOptions & { model?: flame.FlameModelData } = {}) {
    const { model, ...rest } = options;
    if (!isAlignedSequence(sequence)) return renderGuidanceSequence(sequence, rest);
    // Renders are placed with the reference's crop transform, i.e. in the reference image's own pixel frame.
    if ((rest.size !== undefined && rest.size !== sequence.width) || sequence.width !== sequence.height)
      throw new MagicPortraitError(`An aligned sequence renders at its reference image size (${sequence.width}×${sequence.height}); resize the maps afterwards if you need another size.`, 'bad-argument');
    return renderGuidanceSequence(sequenceFromAligned(sequence, model), { ...rest, size: sequence.width });
  },
  /** The first frames of a video as images (for displays beside the guidance; long videos stream elsewhere). */
  async videoFrames(path: string, options: { maxFrames?: number; width?: number; height?: number } = {}) {
    const out: RgbImage[] = [];
    for await (const f of readFrames(resolvePath(path), { maxFrames: options.maxFrames ?? 48, ...(options.width ? { width: options.width } : {}), ...(options.height ? { height: options.height } : {}) })) out.push(f.image);
    return out;
  },
  /**
   * The Geometric Guidance Encoder over guidance maps (a `mp.renderGuidance` sequence or { depth, normal, render }
   * frames): per-type features, their sum and the attention data. `bundle`: a GGE bundle folder, or 'demo'
   * (default: untrained demo weights, built once into the cache). Cached; `display(enc.attention)` opens the
   * attention explorer.
   */
  gge: ggeStage,
  /**
   * Instant preview on the CPU: the reference portrait warped through its fitted 3D face, frame by frame, following
   * `mp.fit.align(...)` (reference `{ image, fit }`) or a FlameSequence (reference `{ image }`: its neutral head).
   * Frames, fill masks (regions the reference never saw) and an H.264 MP4 (`preview.video`); `display(preview)` shows
   * the scrubber, beside `{ driving, guidance }` when given.
   */
  preview,
  /** Built-in demo inputs that need no files. */
  demo: {
    /** Synthetic driving motion of the demo head (jaw, smile, blink, head turns). */
    drivingSequence: demoDrivingSequence,
    /** The neutral demo head rendered as a portrait (for the reference slot when no photo is given). */
    portrait: demoPortrait,
    /** A camera framing a model's face in the 224 crop. */
    framingCamera,
    /** The demo motion rendered as a driving video of the demo head (frames + MP4): the quickstart's ground truth. */
    drivingVideo: demoDrivingVideo,
  },
  /** Model bundles for sampling. */
  bundle: {
    /** The tiny bundle: the full architecture at small widths with untrained demo weights (built once, cached). */
    tiny: (dir?: string) => diffusion.tinyBundle(dir ?? join(process.env.MAGICPORTRAIT_CACHE ?? join(homedir(), '.cache', 'magicportrait'), 'bundles', 'tiny')),
    load: diffusion.loadBundle,
    /** The demo Geometric Guidance Encoder (untrained, seeded), built once into the cache. */
    demoGGE: () => demoGGE(),
  },
  /** Samples a video with the diffusion stack (reference UNet, GGE guidance, motion modules, DDIM). */
  sample: diffusion.sample,
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
  /**
   * `await mp.metrics(generated, target, { reference, lpips, flame, maxFrames })` → a MetricsReport (display it), plus
   * the individual metrics: `mp.metrics.psnr(a, b)`, `.ssim`, `.lpips({ linear, backbone })`, `.csim`, `.apd`, `.aed`,
   * `.frechet(f1, n1, f2, n2, dim)`, and `.paper` (Table I with its citation).
   */
  metrics: Object.assign(runMetrics, {
    psnr: metrics.psnr,
    ssim: metrics.ssim,
    /** Loads LPIPS from the user's weights: { linear: 'alex.pth', backbone: 'alexnet-owt-7be5be79.pth' }. */
    lpips: (w: metrics.LpipsWeights) => metrics.Lpips.load({ ...w, linear: cellPath(w.linear), ...(w.backbone ? { backbone: cellPath(w.backbone) } : {}) }),
    /** Loads the FID Inception-v3 feature network from pytorch-fid's weights. */
    inception: (path: string) => metrics.InceptionFeatures.load(cellPath(path)),
    /** Loads the FVD I3D network from pytorch-i3d weights (i3d_pretrained_400.pt). */
    i3d: (path: string, options?: metrics.I3dOptions) => metrics.I3dFeatures.load(cellPath(path), options),
    csim: metrics.csimFrames,
    identity: metrics.identityEmbedding,
    apd: metrics.apd,
    aed: metrics.aed,
    readFlame: (path: string) => metrics.readFlameSequence(cellPath(path)),
    frechet: metrics.frechetDistanceFromFeatures,
    /** Raw evaluation (no display, no progress). */
    evaluate: metrics.evaluate,
    paper: metrics.PAPER_TABLE_I,
  }),
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
