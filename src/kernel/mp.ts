/**
 * The `mp` object cells use: a table of names, each with its one-line doc, of the stages (pipeline/) and helpers,
 * plain functions over typed data; no logic lives here. The kernel installs it as a global; Node programs can import
 * it directly.
 */
import { checkCancelled, newProgress } from './runtime/context';
import { stageCache } from './pipeline/cache';
import * as flame from './flame';
import * as metrics from './metrics';
import * as perception from './perception';
import * as diffusion from './diffusion';
import { analyzeFace, loadImage, loadImageAsPillow, resolvePath, trackVideoFaces, videoFrames } from './pipeline/face';
import { demoDrivingSequence, demoPortrait, framingCamera, renderGuidanceStage } from './pipeline/render-guidance';
import { demoGGE, ggeStage } from './pipeline/gge';
import { demoModelStage, tinyBundleStage } from './pipeline/demo-model';
import { trainStages } from './pipeline/train';
import { compositeVideo } from './pipeline/composite';
import { demoDrivingVideo } from './pipeline/demo-video';
import * as fit from './fit';
import { preview } from './pipeline/preview';
import { fitPortrait, missingReferenceModels, trackDriving } from './pipeline/fit';
import { alignedView, compareTracks, fitOverlayView, trackPlot } from './pipeline/fit-display';
import { meshView } from './pipeline/mesh-view';
import { paperTable } from './pipeline/paper-table';
import { sampleStage } from './pipeline/sample';
import { loadI3d, loadInception, loadLpips, metricsStage, readFlameFile } from './pipeline/metrics';
import { cached, cellSignal, framesDisplay, providerTable, sleep } from './pipeline/cell';
import { dataStages } from './pipeline/data';
import { jpegRoundTrip } from './io/jpeg-libjpeg';
import { REFERENCE_FRAME_RANGE } from './diffusion/sample';

import { VERSION } from './version';
export { VERSION };

export const mp = {
  version: VERSION,
  /** Live progress bar in the running cell: `const p = mp.progress('Rendering', n); p.tick(); p.finish()`. */
  progress: newProgress,
  /** Throws CancelledError if the user interrupted the cell; call between units of work. */
  checkCancelled,
  /** The running cell's AbortSignal. */
  get signal(): AbortSignal {
    return cellSignal();
  },
  sleep,
  /** Runs `compute` once per distinct (stage, inputs, options) and caches the result on disk. */
  cached,
  get cache() {
    return stageCache();
  },
  /** A frame-sequence output for the scrubber: `display(mp.frames([{ name: 'driving', frames }]))`. */
  frames: framesDisplay,
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
  renderGuidance: renderGuidanceStage,
  /** The first frames of a video as images (for displays beside the guidance; long videos stream elsewhere). */
  videoFrames,
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
    /**
     * The trained demo model (training/demo-model/: the small config trained on synthetic demo-head data — not
     * MagicPortrait's weights; labelled so wherever its output shows), imported once into the cache through the
     * normal importer. `.gge`: its trained guidance encoders (`mp.gge(maps, { bundle: 'demo-model' })`).
     */
    demo: demoModelStage,
    /** The tiny bundle: the full architecture at small widths with untrained demo weights (built once, cached). */
    tiny: tinyBundleStage,
    load: diffusion.loadBundle,
    /** The demo Geometric Guidance Encoder (untrained, seeded), built once into the cache. */
    demoGGE,
  },
  /**
   * Samples a video with the diffusion stack (reference UNet, GGE guidance, motion modules, DDIM). `guidance` may be
   * a `mp.renderGuidance` result itself (its maps are read frame by frame); when it was rendered in a photo's 512²
   * generation crop, a `reference` given as that photo is cropped the same way.
   */
  sample: sampleStage,
  /**
   * Pastes results made in a photo's 512² generation crop (a sampled video, a preview: `result`, `result.video`,
   * frames) back into the photo with a feathered border: `await mp.composite(photo, result, guidance.crop)`. The
   * MP4 is at the photo's size, at most `maxSide` (1280) pixels on its longer side.
   */
  composite: compositeVideo,
  /** The ONNX Runtime execution providers here: which are ready, what the others miss (a table in the cell). */
  providers: providerTable,
  /** FLAME: the built-in demo head, FLAME 2020 files, the forward model, and the 3D viewer. */
  flame: {
    /** The built-in demo head (same structure as FLAME; not FLAME). */
    demoHead: flame.createDemoHead,
    /** Loads FLAME 2020 / DECA files from a folder (generic_model.pkl, landmark_embedding.npy, FLAME_texture.npz, head_template.obj). */
    load: flame.loadFlame,
    prepare: flame.prepareFlame,
    forward: flame.flameForward,
    /** The interactive three.js view with jaw / pose / expression sliders. */
    view: meshView,
  },
  /**
   * `await mp.metrics(generated, target, { reference, lpips, flame, maxFrames })` → a MetricsReport (display it), plus
   * the individual metrics: `mp.metrics.psnr(a, b)`, `.ssim`, `.lpips({ linear, backbone })`, `.csim`, `.apd`, `.aed`,
   * `.frechet(f1, n1, f2, n2, dim)`, and `.paper` (Table I with its citation).
   */
  metrics: Object.assign(metricsStage, {
    psnr: metrics.psnr,
    ssim: metrics.ssim,
    /** Loads LPIPS from the user's weights: { linear: 'alex.pth', backbone: 'alexnet-owt-7be5be79.pth' }. */
    lpips: loadLpips,
    /** Loads the FID Inception-v3 feature network from pytorch-fid's weights. */
    inception: loadInception,
    /** Loads the FVD I3D network from pytorch-i3d weights (i3d_pretrained_400.pt). */
    i3d: loadI3d,
    csim: metrics.csimFrames,
    identity: metrics.identityEmbedding,
    apd: metrics.apd,
    aed: metrics.aed,
    readFlame: readFlameFile,
    frechet: metrics.frechetDistanceFromFeatures,
    /** Raw evaluation (no display, no progress). */
    evaluate: metrics.evaluate,
    /** The paper's Table I (data + citation); `paperTables` has Tables I–III. */
    paper: metrics.PAPER_TABLE_I,
    paperTables: metrics.PAPER_TABLES,
    /** Displays the paper's Table I, II or III (cited, with the metric-network note), reports as its first rows. */
    paperTable,
  }),
  /**
   * Training data in the trainer's layout: `mp.data.prepare({ videos, out, maxFrames, workers })` (real clips),
   * `mp.data.synth({ out, identities, clips, frames, size, seed })` (synthetic demo head), `mp.data.open(dir)` →
   * `.browse(clip)`, `.qualityPlot()`, `.summary()`; `mp.data.merge`, `mp.data.rerender`, `mp.data.crossReenactment`.
   */
  data: dataStages,
  /**
   * Training from a cell: `await mp.train({ data, run, config: 'tiny', set: { 'stage1.steps': 40 } })` runs
   * `python -m training all …` as a child process with a live loss curve and validation frames; Interrupt saves a
   * resumable state (run again to resume). `await mp.train.import(run)` → a bundle for `mp.sample` / `mp.gge`.
   */
  train: trainStages,
  /**
   * Reproducing the official run (README, "Reproducing the official run"): what the 'reference' preset still needs,
   * the official frame range, the maps' JPEG round trip, and the first-frame crop rule.
   */
  reference: {
    /** What of FLAME / DECA / SMIRK the 'reference' preset is missing (empty when all is there): `{ bundle }` or `{ model, encoderDir }`. */
    missing: missingReferenceModels,
    /** The official config's frame_range, [0, 100]. */
    frameRange: REFERENCE_FRAME_RANGE,
    /** An image through Pillow's quality-75, 4:2:0 JPEG and back (how the official pipeline stores the maps). */
    jpegRoundTrip,
    /** Reads an image as Pillow does (JPEG decoded by libjpeg-turbo; `mp.image` uses jpeg-js, whose chroma differs). */
    image: loadImageAsPillow,
    /** Stage A's crop transform from a face box (the first frame's, for a whole video). */
    firstFrameCrop: fit.firstFrameCrop,
  },
  /** Model fitting: a portrait, a driving video, and the structured alignment of the two (reference-pipeline.md §4). */
  fit: {
    /**
     * Fits the model (demo head by default) to one portrait: shape, expression, pose, DECA camera + crop, albedo, SH
     * light. A photo with several faces fits the largest and says so (`{ face: i }` picks another, largest first).
     */
    portrait: fitPortrait,
    /**
     * Tracks a driving video (path or frames): per-frame expression / pose / camera, identity fixed, smoothed. Fails
     * when no frame has a face; warns (in the cell and `track.warnings`) below `MIN_TRACKED_FRACTION` of frames with
     * a face, and for a truncated file.
     */
    track: trackDriving,
    /** Re-smooths a finished track with other settings (no re-fitting). */
    smooth: fit.smoothTrack,
    /** Eq. (1): reference shape / albedo / light / camera / crop with the driving rotation, expression and jaw. */
    align: fit.align,
    /** Display: the fit overlay (input and overlay images). */
    overlay: fitOverlayView,
    /** Display: parameter curves over time, raw vs smoothed, and the per-frame landmark error. */
    plot: trackPlot,
    /** Display: the aligned sequence beside the driving frames in the frame scrubber. */
    view: alignedView,
    /** Display: per-frame rotation / jaw / expression differences of a studio track against a 'reference' one. */
    compare: compareTracks,
    /** The demo head's MediaPipe correspondence; loaders for generated tables and FLAME's mediapipe_landmark_embedding.npz. */
    dense: { demo: fit.defaultDenseCorrespondence, load: fit.loadDenseCorrespondence, loadFlameEmbedding: fit.loadMediapipeEmbedding },
  },
};

export type Mp = typeof mp;
/** The image type cells and programs pass around (io/image.ts). */
export type { AnyImage as RgbImage } from './io/image';
