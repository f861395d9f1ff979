// trackFlame: the model fitted to every frame of a driving video (or any frame stream).
//
// * Streaming: frames are decoded, perceived (trackFaces: detection in the previous face's region, 68 + 468 points),
//   fitted and dropped one at a time; only per-frame parameters and 68 detected points are kept (small).
// * Identity: held fixed, from `shape` (e.g. the reference portrait's fit) or fitted once, jointly, over the first
//   `shapeFrames` frames with a face (one Levenberg–Marquardt over shared shape + per-frame expression/pose/camera;
//   those few frames are buffered, then fitted again with the shape fixed like every other frame).
// * Warm start: each frame starts from the previous one's expression, pose and camera (no rigid stage); after a lost
//   frame, or when the warm-started fit is poor, the cold start (fit.ts) is used (and the better result kept).
// * Lost frames (no face, or a failed fit): parameters interpolated linearly between the neighbouring tracked frames,
//   held at the ends; flagged 'interpolated' / 'held'.
// * Smoothing (smooth.ts): zero-phase forward–backward Butterworth by default, separate cutoffs for head pose, jaw +
//   expression, and camera + crop transform; one-euro (causal) or none on request. The crop transform is smoothed
//   through its scale and offset. Raw and smoothed series are both returned, with a jitter report: per-parameter
//   variance of the frame-to-frame differences before/after, and the 68-landmark NME before/after.
// * Progress and cancellation between frames through `{ signal, onProgress }` (the stage, pipeline/fit.ts, shows the
//   bar and passes the cell's interrupt).

import type { Image } from '../io/image';
import { probeVideo, readFrames, type ReadFramesOptions, type VideoFrame } from '../io/video';
import type { FlameModelData } from '../flame/types';
import { createDemoHead } from '../flame/demo-head';
import { trackFaces, type TrackedFrame, type TrackOptions } from '../perception/track';
import { throwIfCancelled, type TaskOptions } from '../task';
import { MagicPortraitError } from '../errors';
import { decaCropTform } from './crop-projection';
import { buildFitRig, type FitRig } from './fit-rig';
import { defaultDenseCorrespondence, type DenseCorrespondence } from './dense';
import { type FrameState, type FrameTargets } from './problem';
import { coldStart, DEFAULT_WEIGHTS, poseFreeMask, solveFrames, zeroState, type FitWeights } from './solve';
import { denseRigPoints, fitRigFor, frameTargets, headAngles, interOcular, landmarkWeights, MIN_FACE_PX, qualityOf } from './frame-targets';
import { fillGaps, type SmoothingOptions } from './smooth';
import { trackReference } from './reference';
import { type EstimatorPreset } from './types';
import type { FlameTrack, TrackFrameInfo, TrackFrameState, TrackSeries } from './types';
import { jitterReport, nmeOf, smoothTrack, smoothingOf, trackLandmarks } from './track-smoothing';

export interface TrackFlameOptions extends TaskOptions {
  /**
   * 'studio' (default): landmark fits with warm starts, gap filling and filtfilt smoothing (this file).
   * 'reference': the official estimator (reference.ts): the first frame's 512 crop for every frame, DECA's global
   * rotation and SMIRK's expression + jaw per frame, raw. Needs FLAME + DECA + SMIRK (`bundle`, or `model` and
   * `encoderDir`).
   */
  preset?: EstimatorPreset;
  /** A model bundle (Model Manager) with flame/, deca/ and smirk/ (the 'reference' preset). */
  bundle?: string;
  /** The imported encoders (the 'reference' preset), instead of the bundle's. */
  encoderDir?: string;
  model?: FlameModelData;
  /** Fixed identity: shape coefficients or a fit that has them (the reference portrait's). */
  shape?: ArrayLike<number> | { shape: ArrayLike<number> };
  /** Without `shape`: frames (with a face, from the start) fitted jointly for the identity (default 8). */
  shapeFrames?: number;
  /** Smoothing: a number = filtfilt cutoff in Hz for everything, an options object, or false/'none' for none. Default filtfilt (pose 3 Hz, jaw/expression 3.5 Hz, camera + crop 5 Hz: chosen on driving.mp4 / d0.mp4 for ≥ 60% less jitter at ≤ 5% more landmark error). */
  smoothing?: number | SmoothingOptions | false;
  dense?: DenseCorrespondence | null | false;
  weights?: Partial<FitWeights>;
  numExpression?: number;
  fitNeck?: boolean;
  fitEyes?: boolean;
  /** LM iterations per warm-started frame (default 12). */
  maxIterations?: number;
  /** Frame selection when `source` is a path. */
  read?: ReadFramesOptions;
  /** Frame rate for frame iterators (default 25; a path's own rate otherwise). */
  fps?: number;
  /** Total for `onProgress` when `source` is an iterator. */
  frameCount?: number;
  /** Called for every frame after its fit (e.g. to draw overlays while the image is at hand). */
  onFrame?: (frame: TrackFrameInfo, image: Image, state: TrackFrameState) => void | Promise<void>;
  /** Passed to trackFaces. */
  detect?: Omit<TrackOptions, 'landmarks'>;
}

/**
 * Below this fraction of frames with a fitted face a track warns that its guidance is mostly guessed (interpolated
 * or held frames); with no such frame at all it fails. Documented in the README.
 */
export const MIN_TRACKED_FRACTION = 0.5;

interface Pending {
  index: number;
  image: Image;
  lm: Float64Array;
  targets: FrameTargets;
  tform: Float64Array;
  iod: number;
  flags: string[];
}

function flatLm(points: readonly [number, number][]): Float64Array {
  const out = new Float64Array(136);
  points.forEach((p, i) => { out[2 * i] = p[0]; out[2 * i + 1] = p[1]; });
  return out;
}

/** Tracks a video file or a frame stream (see the header of this file). */
export async function trackFlame(
  source: string | AsyncIterable<Image | VideoFrame | TrackedFrame> | Iterable<Image | VideoFrame | TrackedFrame>, options: TrackFlameOptions = {},
): Promise<FlameTrack> {
  const preset = options.preset ?? 'studio';
  if (preset === 'reference') {
    if (typeof source !== 'string' && !(Symbol.asyncIterator in source) && !(Symbol.iterator in source)) throw new MagicPortraitError('trackFlame: give a video path or frames', 'bad-argument');
    return trackReference(source as string | AsyncIterable<Image | VideoFrame> | Iterable<Image | VideoFrame>, {
      bundle: options.bundle, model: options.model, encoderDir: options.encoderDir, read: options.read, fps: options.fps, frameCount: options.frameCount,
      ...(options.signal ? { signal: options.signal } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  }
  if (preset !== 'studio') throw new MagicPortraitError(`trackFlame: preset must be 'studio' or 'reference', got '${String(preset)}'`, 'bad-argument');
  const t0 = performance.now();
  const model = options.model ?? createDemoHead();
  const smoothing = smoothingOf(options.smoothing);
  const { frames, fps, total, path, name, warnings } = openSource(source, options);
  // step 2: every frame perceived and fitted as it arrives
  const tracker = new FrameTracker(model, options, total);
  let last = performance.now();
  for await (const tf of perceive(frames, { ...options.detect, landmarks: tracker.useDense ? ['468', '68'] : ['68'] })) {
    tracker.perceptionMs += performance.now() - last;
    throwIfCancelled(options.signal, 'tracking');
    await tracker.add(tf);
    last = performance.now();
  }
  await tracker.fitIdentity();
  checkCoverage(tracker.infos, name, warnings);
  // step 4: gaps filled, the record assembled, then smoothed
  const { base, infos } = tracker;
  const F = infos.length, J = base.numJoints, nE = base.numExpression;
  const shape = tracker.shape ?? new Float64Array(base.numShape);
  const rig = tracker.rig ?? buildFitRig(model, { numShape: base.numShape, numExpression: nE, fixedShape: shape });
  const raw = tracker.series();
  const valid = fillTrackGaps(raw, infos, nE, J);
  const track: FlameTrack = {
    modelName: model.name, modelKind: model.kind, source: path, fps, width: tracker.width, height: tracker.height, numFrames: F, numExpression: nE, numJoints: J,
    shape, shapeSource: tracker.givenShape ? 'given' : 'fitted', frames: infos, raw, smoothed: raw, smoothing,
    detected: Float32Array.from(tracker.detected), interOcular: Float64Array.from(tracker.iods), jitter: jitterReport(raw, raw, nE, J, valid, model),
    timing: { frames: F, perceptionMs: tracker.perceptionMs / F, fitMs: tracker.fitMs / F, shapeMs: tracker.shapeMs, totalMs: 0 },
    warnings,
  };
  const out = smoothTrack(track, smoothing, model, rig);
  out.timing.totalMs = performance.now() - t0;
  return out;
}

/**
 * Step 2: the per-frame fits of one track. Frames arrive one at a time (`add`); until the identity is known (given,
 * or fitted jointly over the first `shapeFrames` frames with a face: `fitIdentity`) they are buffered. Each fitted
 * frame starts warm from the previous one, cold after a lost frame or a poor warm fit; only small per-frame records
 * are kept.
 */
class FrameTracker {
  readonly base: FitRig;
  readonly useDense: boolean;
  readonly givenShape: ArrayLike<number> | null;
  shape: Float64Array | null;
  rig: FitRig | null;
  readonly infos: TrackFrameInfo[] = [];
  readonly detected: number[] = [];
  readonly iods: number[] = [];
  width = 0;
  height = 0;
  perceptionMs = 0;
  fitMs = 0;
  shapeMs = 0;
  private readonly w: FitWeights;
  private readonly dense: DenseCorrespondence | null;
  private readonly poseFree: ReturnType<typeof poseFreeMask>;
  private readonly shapeFrames: number;
  private readonly E: number[] = [];
  private readonly P: number[] = [];
  private readonly C: number[] = [];
  private readonly TF: number[] = [];
  private prev: FrameState | null = null;
  private readonly pending: Pending[] = [];

  constructor(private readonly model: FlameModelData, private readonly options: TrackFlameOptions, private readonly total: number) {
    this.w = { ...DEFAULT_WEIGHTS, ...options.weights };
    this.dense = options.dense === false || options.dense === null ? null : (options.dense ?? defaultDenseCorrespondence(model));
    this.useDense = !!this.dense && this.w.dense > 0;
    this.base = fitRigFor(model, undefined, options.numExpression);
    if (!this.base.static51) throw new MagicPortraitError(`The ${model.name} has no landmark embedding: it cannot be tracked.`, 'bad-model');
    this.poseFree = poseFreeMask(this.base.numJoints, { neck: options.fitNeck, eyes: options.fitEyes });
    const s = options.shape;
    this.givenShape = s ? ('shape' in (s as object) && !ArrayBuffer.isView(s) && !Array.isArray(s) ? (s as { shape: ArrayLike<number> }).shape : (s as ArrayLike<number>)) : null;
    const given = this.givenShape;
    this.shape = given ? Float64Array.from({ length: this.base.numShape }, (_, i) => Number(given[i] ?? 0)) : null;
    this.rig = this.shape ? this.rigWith(this.shape) : null;
    this.shapeFrames = Math.max(1, options.shapeFrames ?? 8);
  }

  private rigWith(shape: Float64Array): FitRig {
    return buildFitRig(this.model, { numShape: this.base.numShape, numExpression: this.base.numExpression, fixedShape: shape });
  }

  /** The raw per-frame series recorded so far. */
  series(): TrackSeries {
    return { expression: Float64Array.from(this.E), pose: Float64Array.from(this.P), cam: Float64Array.from(this.C), tform: Float64Array.from(this.TF) };
  }

  /** One perceived frame: a lost one is recorded at once, one with a face is fitted (or buffered for the identity). */
  async add(tf: TrackedFrame): Promise<void> {
    const image = tf.image;
    this.width = image.width;
    this.height = image.height;
    if (!tf.face || !tf.landmarks68) return this.lost(tf.index, image, 'no-face');
    const lm = flatLm(tf.landmarks68.points);
    const { weights: lmW, outside } = landmarkWeights(lm, this.width, this.height, this.w);
    const flags: string[] = [];
    if (outside >= 7) flags.push('partially-out-of-frame');
    if (tf.face.box.x2 - tf.face.box.x1 < MIN_FACE_PX) flags.push('face-too-small');
    let T: Float64Array;
    try {
      T = decaCropTform(lm, 68, lmW);
    } catch {
      return this.lost(tf.index, image, 'degenerate-landmarks');
    }
    const targets = frameTargets(lm, lmW, tf.mesh?.points ?? null, this.useDense ? this.dense : null, T, this.w, this.width, this.height, tf.mesh?.score ?? 1);
    const pd: Pending = { index: tf.index, image, lm, targets, tform: T, iod: interOcular(lm), flags };
    if (this.rig) return this.fitFrame(pd);
    this.pending.push(pd);
    if (this.pending.length >= this.shapeFrames) await this.fitIdentity();
  }

  /** A frame with no usable face: recorded as lost (the identity comes from the frames buffered so far, so that at
   * most shapeFrames images are ever held). */
  private async lost(index: number, image: Image, flag: string): Promise<void> {
    if (!this.rig) await this.fitIdentity();
    this.prev = null;
    await this.record(index, image, null, null, null, { status: 'interpolated', nme: NaN, quality: 'failed', flags: [flag], start: 'none' }, NaN);
  }

  private async record(index: number, image: Image, state: FrameState | null, tform: Float64Array | null, lm: Float64Array | null, info: Omit<TrackFrameInfo, 'index' | 'nmeSmoothed'>, iod: number): Promise<void> {
    const full: TrackFrameInfo = { index, nmeSmoothed: NaN, ...info };
    this.infos.push(full);
    const s = state ?? zeroState(this.base);
    const T = tform ?? Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
    this.E.push(...s.expression); this.P.push(...s.pose); this.C.push(...s.cam); this.TF.push(...T);
    for (let i = 0; i < 136; i++) this.detected.push(lm ? lm[i]! : NaN);
    this.iods.push(iod);
    if (this.options.onFrame) await this.options.onFrame(full, image, { expression: s.expression, pose: s.pose, cam: s.cam, tform: T });
    this.options.onProgress?.(this.infos.length, Math.max(this.infos.length, this.total));
  }

  /** The better of a warm start (from the previous frame) and, when that is poor, a cold start. */
  private fitOne(pd: Pending): { state: FrameState; nme: number; start: 'warm' | 'cold' } {
    const r = this.rig!;
    const denseRig = this.useDense ? denseRigPoints(r, this.dense!) : null;
    const t = performance.now();
    const tryFit = (init: FrameState, cold: boolean) => {
      const res = solveFrames(r, denseRig, [pd.targets], [], [init], {
        weights: this.w, poseFree: this.poseFree, shapeFree: false, rigidIterations: cold ? 10 : 0, maxIterations: cold ? 40 : (this.options.maxIterations ?? 12), tolerance: 1e-5,
      });
      const st = res.states[0]!;
      return { state: st, nme: nmeOf(trackLandmarks(r, st, pd.tform), pd.lm, pd.iod) };
    };
    let best: { state: FrameState; nme: number; start: 'warm' | 'cold' };
    if (this.prev) {
      const warm = tryFit(this.prev, false);
      best = { ...warm, start: 'warm' };
      if (!(warm.nme <= 0.08)) {
        const cold = tryFit(coldStart(r, [], pd.targets), true);
        if (cold.nme < warm.nme) best = { ...cold, start: 'cold' };
      }
    } else best = { ...tryFit(coldStart(r, [], pd.targets), true), start: 'cold' };
    this.fitMs += performance.now() - t;
    return best;
  }

  /** A frame fitted with the identity fixed, guarded against non-finite values, judged and recorded. */
  private async fitFrame(pd: Pending): Promise<void> {
    const { state, nme, start } = this.fitOne(pd);
    const flags = [...pd.flags];
    for (const a of [state.expression, state.pose, state.cam]) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) { a[i] = 0; flags.includes('non-finite-guarded') || flags.push('non-finite-guarded'); }
    if (!(state.cam[0]! > 0)) state.cam[0] = 1;
    const ang = headAngles(state.pose);
    if (Math.abs(ang.yaw) > 55 || Math.abs(ang.pitch) > 40 || Math.abs(ang.roll) > 45) flags.push('extreme-pose');
    const quality = qualityOf(nme, flags);
    const ok = quality !== 'failed' && nme < 0.25;
    this.prev = ok ? state : null;
    await this.record(pd.index, pd.image, state, pd.tform, pd.lm, { status: ok ? 'tracked' : 'interpolated', nme: ok ? nme : NaN, quality, flags, start }, pd.iod);
  }

  /** Joint identity fit over the buffered frames (shared shape), then each of them fitted with the shape fixed. */
  async fitIdentity(): Promise<void> {
    if (this.rig || !this.pending.length) return;
    const { base, w, poseFree } = this;
    const t = performance.now();
    const denseRig = this.useDense ? denseRigPoints(base, this.dense!) : null;
    const zero = new Float64Array(base.numShape);
    const inits = this.pending.map((pd) => solveFrames(base, denseRig, [pd.targets], zero, [coldStart(base, zero, pd.targets)],
      { weights: w, poseFree: poseFreeMask(base.numJoints), shapeFree: false, rigidIterations: 10, maxIterations: 0 }).states[0]!);
    const res = solveFrames(base, denseRig, this.pending.map((p) => p.targets), zero, inits, { weights: w, poseFree, shapeFree: true, rigidIterations: 0, maxIterations: 40 });
    this.shape = Float64Array.from(res.shape, (v) => (Number.isFinite(v) ? v : 0));
    this.rig = this.rigWith(this.shape);
    this.shapeMs += performance.now() - t;
    for (const pd of this.pending.splice(0)) await this.fitFrame(pd);
  }
}

/** Step 1: the frames of a path (probed: rate, count, truncation) or of a stream, and how to name them in messages. */
function openSource(source: string | AsyncIterable<Image | VideoFrame | TrackedFrame> | Iterable<Image | VideoFrame | TrackedFrame>, options: TrackFlameOptions) {
  const path = typeof source === 'string' ? source : null;
  const warnings: string[] = [];
  const name = path ? `'${path}'` : 'the frames';
  if (!path) return { frames: source as Exclude<typeof source, string>, fps: options.fps ?? 25, total: options.frameCount ?? 0, path, name, warnings };
  const info = probeVideo(path);
  if (info.truncated) warnings.push(info.truncated.message);
  const step = Math.max(1, Math.floor(options.read?.step ?? 1));
  return { frames: readFrames(path, options.read), fps: info.fps / step, total: Math.min(Math.ceil(info.frameCount / step), options.read?.maxFrames ?? Infinity), path, name, warnings };
}

/** Step 3: fails when no frame could be tracked; warns when fewer than MIN_TRACKED_FRACTION of them were. */
function checkCoverage(infos: readonly TrackFrameInfo[], name: string, warnings: string[]): void {
  const F = infos.length;
  if (!F) throw new MagicPortraitError('trackFlame: the source has no frames', 'bad-argument');
  const tracked = infos.filter((f) => f.status === 'tracked').length;
  if (!tracked) {
    const none = infos.filter((f) => f.flags.includes('no-face')).length;
    throw new MagicPortraitError(
      `No face could be tracked in ${name}: ${none === F ? `no face was found in any of its ${F} frames` : `${none} of ${F} frames have no face and the fits of the others failed`}. ` +
        'Use a video that shows a face (roughly frontal, not tiny) in most frames.',
      'no-face',
    );
  }
  if (tracked < MIN_TRACKED_FRACTION * F)
    warnings.push(`Only ${tracked} of the ${F} frames of ${name} (${((100 * tracked) / F).toFixed(0)}%) have a face that could be fitted; the other frames are ` +
      `interpolated or held from their neighbours, so their motion (and guidance) is guessed. Check track.frames[i].status and flags.`);
}

/** Step 4: the lost frames' parameters interpolated between tracked neighbours (held at the ends), their status set. */
function fillTrackGaps(raw: TrackSeries, infos: TrackFrameInfo[], nE: number, J: number): number[] {
  const valid = infos.map((f) => (f.status === 'tracked' ? 1 : 0));
  const st = fillGaps(raw.expression, nE, valid);
  fillGaps(raw.pose, 3 * J, valid);
  fillGaps(raw.cam, 3, valid);
  fillGaps(raw.tform, 9, valid);
  st.forEach((s, i) => { if (s !== 'ok') infos[i]!.status = s; });
  return valid;
}

async function* perceive(frames: AsyncIterable<Image | VideoFrame | TrackedFrame> | Iterable<Image | VideoFrame | TrackedFrame>, opts: TrackOptions): AsyncGenerator<TrackedFrame> {
  const it = (frames as AsyncIterable<Image | VideoFrame | TrackedFrame>)[Symbol.asyncIterator]
    ? (frames as AsyncIterable<Image | VideoFrame | TrackedFrame>)[Symbol.asyncIterator]()
    : (async function* () { yield* frames as Iterable<Image | VideoFrame | TrackedFrame>; })();
  const first = await it.next();
  if (first.done) return;
  const rest = { [Symbol.asyncIterator]: () => it };
  if ('face' in first.value && 'source' in first.value) {
    yield first.value as TrackedFrame;
    for await (const f of rest) yield f as TrackedFrame;
    return;
  }
  async function* all(): AsyncGenerator<Image | VideoFrame> {
    yield first.value as Image | VideoFrame;
    for await (const f of rest) yield f as Image | VideoFrame;
  }
  yield* trackFaces(all(), opts);
}
