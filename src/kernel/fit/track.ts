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
// * Progress bar and cancellation between frames (runtime/context).

import type { Image } from '../io/image';
import { probeVideo, readFrames, type ReadFramesOptions, type VideoFrame } from '../io/video';
import type { FlameModelData } from '../flame/types';
import { createDemoHead } from '../flame/demo-head';
import { trackFaces, type TrackedFrame, type TrackOptions } from '../perception/track';
import { checkCancelled, newProgress } from '../runtime/context';
import type { Progress } from '../runtime/progress';
import { MagicPortraitError } from '../errors';
import { decaCropTform, invertAffine3, transformPoints } from './camera';
import { buildFitRig, type FitRig } from './rig';
import { defaultDenseCorrespondence, type DenseCorrespondence } from './dense';
import { FitProblem, type FrameState, type FrameTargets } from './problem';
import { coldStart, DEFAULT_WEIGHTS, makeTerms, poseFreeMask, solveFrames, zeroState, type FitWeights } from './solve';
import { denseRigPoints, fitRigFor, frameTargets, headAngles, interOcular, landmarkWeights, MIN_FACE_PX, qualityOf, type FitQuality } from './fit';
import { diffVariance, fillGaps, smoothSeries, type SmoothingOptions } from './smooth';

export interface TrackFlameOptions {
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
  /** Total for the progress bar when `source` is an iterator. */
  frameCount?: number;
  /** Show a progress bar (default true). */
  progress?: boolean;
  /** Called for every frame after its fit (e.g. to draw overlays while the image is at hand). */
  onFrame?: (frame: TrackFrameInfo, image: Image, state: TrackFrameState) => void | Promise<void>;
  /** Passed to trackFaces. */
  detect?: Omit<TrackOptions, 'landmarks'>;
}

export interface TrackFrameState {
  expression: Float64Array;
  pose: Float64Array;
  cam: Float64Array;
  tform: Float64Array;
}

export interface TrackFrameInfo {
  /** Frame index in the source. */
  index: number;
  /** 'tracked' (fitted), 'interpolated' / 'held' (lost frame filled from neighbours). */
  status: 'tracked' | 'interpolated' | 'held';
  /** 68-landmark NME of the raw and the smoothed parameters (NaN for lost frames). */
  nme: number;
  nmeSmoothed: number;
  quality: FitQuality;
  flags: string[];
  /** How the fit started: from the previous frame or cold. */
  start: 'warm' | 'cold' | 'none';
}

export interface TrackSeries {
  /** F × numExpression, F × 3J, F × 3, F × 9 (crop transforms T, image → crop pixels). */
  expression: Float64Array;
  pose: Float64Array;
  cam: Float64Array;
  tform: Float64Array;
}

export interface JitterGroup {
  name: string;
  /** Sum over the group's parameters of the variance of frame-to-frame differences. */
  raw: number;
  smoothed: number;
  /** 1 − smoothed / raw. */
  reduction: number;
}

export interface JitterReport {
  groups: JitterGroup[];
  perParameter: { name: string; raw: number; smoothed: number }[];
  /** Mean 68-landmark NME over tracked frames, raw and smoothed, and the relative increase. */
  nmeRaw: number;
  nmeSmoothed: number;
  nmeIncrease: number;
}

export interface FlameTrack {
  modelName: string;
  modelKind: FlameModelData['kind'];
  /** The video path, when tracking a file (displays re-read it). */
  source: string | null;
  fps: number;
  width: number;
  height: number;
  numFrames: number;
  numExpression: number;
  numJoints: number;
  shape: Float64Array;
  shapeSource: 'given' | 'fitted';
  frames: TrackFrameInfo[];
  raw: TrackSeries;
  smoothed: TrackSeries;
  smoothing: SmoothingOptions;
  /** F × 136 detected 68 landmarks (image pixels; NaN for frames without a face) and their inter-ocular distances. */
  detected: Float32Array;
  interOcular: Float64Array;
  jitter: JitterReport;
  timing: { frames: number; perceptionMs: number; fitMs: number; shapeMs: number; totalMs: number };
}

const DEFAULT_SMOOTHING: SmoothingOptions = { method: 'filtfilt', poseHz: 3, expressionHz: 3.5, cameraHz: 5 };

function smoothingOf(s: TrackFlameOptions['smoothing']): SmoothingOptions {
  if (s === false) return { method: 'none' };
  if (typeof s === 'number') return s > 0 ? { method: 'filtfilt', poseHz: s, expressionHz: s, cameraHz: s } : { method: 'none' };
  if (!s) return DEFAULT_SMOOTHING;
  if (s.method === 'filtfilt') return { ...DEFAULT_SMOOTHING, ...s };
  return s;
}

interface Pending {
  index: number;
  image: Image;
  lm: Float64Array;
  targets: FrameTargets;
  tform: Float64Array;
  iod: number;
  flags: string[];
}

/** Model landmarks (68, image pixels) for a state and crop transform. */
export function trackLandmarks(rig: FitRig, state: FrameState, tform: ArrayLike<number>): Float64Array {
  const dummy: FrameTargets = { lm: new Float64Array(136), lmW: new Float64Array(68), dense: null, denseW: null };
  const p = new FitProblem(rig, null, [dummy], rig.fixedShape ? [] : new Float64Array(rig.numShape), [state],
    { shapeFree: false, expressionFree: false, poseFree: new Uint8Array(3 * rig.numJoints), camFree: false }, makeTerms(rig.numJoints, DEFAULT_WEIGHTS));
  return transformPoints(invertAffine3(tform), p.project(0).points.subarray(0, 136));
}

function nmeOf(fitted: Float64Array, lm: ArrayLike<number>, iod: number): number {
  let s = 0, n = 0;
  for (let i = 0; i < 68; i++) {
    const d = Math.hypot(fitted[2 * i] - lm[2 * i], fitted[2 * i + 1] - lm[2 * i + 1]);
    if (Number.isFinite(d)) { s += d; n++; }
  }
  return n && iod > 0 ? s / n / iod : NaN;
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
  const t0 = performance.now();
  const model = options.model ?? createDemoHead();
  const w: FitWeights = { ...DEFAULT_WEIGHTS, ...options.weights };
  const dense = options.dense === false || options.dense === null ? null : (options.dense ?? defaultDenseCorrespondence(model));
  const useDense = !!dense && w.dense > 0;
  const smoothing = smoothingOf(options.smoothing);
  let fps = options.fps ?? 25;
  let total = options.frameCount ?? 0;
  let frames: AsyncIterable<Image | VideoFrame | TrackedFrame> | Iterable<Image | VideoFrame | TrackedFrame>;
  const path = typeof source === 'string' ? source : null;
  if (path) {
    const info = probeVideo(path);
    fps = info.fps / Math.max(1, Math.floor(options.read?.step ?? 1));
    const step = Math.max(1, Math.floor(options.read?.step ?? 1));
    total = Math.min(Math.ceil(info.frameCount / step), options.read?.maxFrames ?? Infinity);
    frames = readFrames(path, options.read);
  } else frames = source as Exclude<typeof source, string>;

  const base = fitRigFor(model, undefined, options.numExpression);
  if (!base.static51) throw new MagicPortraitError(`The ${model.name} has no landmark embedding: it cannot be tracked.`, 'bad-model');
  const J = base.numJoints, nE = base.numExpression;
  const poseFree = poseFreeMask(J, { neck: options.fitNeck, eyes: options.fitEyes });
  const givenShape = options.shape ? ('shape' in (options.shape as object) && !ArrayBuffer.isView(options.shape) && !Array.isArray(options.shape)
    ? (options.shape as { shape: ArrayLike<number> }).shape : (options.shape as ArrayLike<number>)) : null;
  let shape: Float64Array | null = givenShape ? Float64Array.from({ length: base.numShape }, (_, i) => Number(givenShape[i] ?? 0)) : null;
  let rig: FitRig | null = shape ? buildFitRig(model, { numShape: base.numShape, numExpression: nE, fixedShape: shape }) : null;
  const shapeFrames = Math.max(1, options.shapeFrames ?? 8);

  // per-frame records (small)
  const indices: number[] = [];
  const infos: TrackFrameInfo[] = [];
  const E: number[] = [], P: number[] = [], C: number[] = [], TF: number[] = [];
  const det: number[] = [];
  const iods: number[] = [];
  let width = 0, height = 0;
  let prev: FrameState | null = null;
  let perceptionMs = 0, fitMs = 0, shapeMs = 0;
  const pending: Pending[] = [];
  const progress: Progress | null = options.progress === false ? null : newProgress('Tracking FLAME', Math.max(1, total), 'frames');

  const record = async (index: number, image: Image, state: FrameState | null, tform: Float64Array | null, lm: Float64Array | null, info: Omit<TrackFrameInfo, 'index' | 'nmeSmoothed'>, iod: number) => {
    indices.push(index);
    const full: TrackFrameInfo = { index, nmeSmoothed: NaN, ...info };
    infos.push(full);
    const s = state ?? zeroState(base);
    E.push(...s.expression); P.push(...s.pose); C.push(...s.cam);
    TF.push(...(tform ?? Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1)));
    for (let i = 0; i < 136; i++) det.push(lm ? lm[i] : NaN);
    iods.push(iod);
    if (options.onFrame) await options.onFrame(full, image, { expression: s.expression, pose: s.pose, cam: s.cam, tform: tform ?? Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1) });
    progress?.tick();
  };

  const fitOne = (pd: Pending): { state: FrameState; nme: number; start: 'warm' | 'cold' } => {
    const r = rig!;
    const denseRig = useDense ? denseRigPoints(r, dense!) : null;
    const t = performance.now();
    const tryFit = (init: FrameState, cold: boolean) => {
      const res = solveFrames(r, denseRig, [pd.targets], [], [init], {
        weights: w, poseFree, shapeFree: false, rigidIterations: cold ? 10 : 0, maxIterations: cold ? 40 : (options.maxIterations ?? 12), tolerance: 1e-5,
      });
      const st = res.states[0];
      const nme = nmeOf(trackLandmarks(r, st, pd.tform), pd.lm, pd.iod);
      return { state: st, nme };
    };
    let best: { state: FrameState; nme: number; start: 'warm' | 'cold' };
    if (prev) {
      const warm = tryFit(prev, false);
      best = { ...warm, start: 'warm' };
      if (!(warm.nme <= 0.08)) {
        const cold = tryFit(coldStart(r, [], pd.targets), true);
        if (cold.nme < warm.nme) best = { ...cold, start: 'cold' };
      }
    } else best = { ...tryFit(coldStart(r, [], pd.targets), true), start: 'cold' };
    fitMs += performance.now() - t;
    return best;
  };

  const processPending = async (pd: Pending) => {
    const { state, nme, start } = fitOne(pd);
    const flags = [...pd.flags];
    for (const a of [state.expression, state.pose, state.cam]) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) { a[i] = 0; flags.includes('non-finite-guarded') || flags.push('non-finite-guarded'); }
    if (!(state.cam[0] > 0)) state.cam[0] = 1;
    const ang = headAngles(state.pose);
    if (Math.abs(ang.yaw) > 55 || Math.abs(ang.pitch) > 40 || Math.abs(ang.roll) > 45) flags.push('extreme-pose');
    const quality = qualityOf(nme, flags);
    const ok = quality !== 'failed' && nme < 0.25;
    prev = ok ? state : null;
    await record(pd.index, pd.image, state, pd.tform, pd.lm, { status: ok ? 'tracked' : 'interpolated', nme: ok ? nme : NaN, quality, flags, start }, pd.iod);
  };

  /** Joint identity fit over the buffered frames (shared shape), then each of them fitted with the shape fixed. */
  const flushPending = async (): Promise<void> => {
    if (!pending.length) return;
    const t = performance.now();
    const denseRig = useDense ? denseRigPoints(base, dense!) : null;
    const zero = new Float64Array(base.numShape);
    const inits = pending.map((pd) => solveFrames(base, denseRig, [pd.targets], zero, [coldStart(base, zero, pd.targets)],
      { weights: w, poseFree: poseFreeMask(J), shapeFree: false, rigidIterations: 10, maxIterations: 0 }).states[0]);
    const res = solveFrames(base, denseRig, pending.map((p) => p.targets), zero, inits, { weights: w, poseFree, shapeFree: true, rigidIterations: 0, maxIterations: 40 });
    shape = Float64Array.from(res.shape, (v) => (Number.isFinite(v) ? v : 0));
    rig = buildFitRig(model, { numShape: base.numShape, numExpression: nE, fixedShape: shape });
    shapeMs += performance.now() - t;
    for (const pd of pending.splice(0)) await processPending(pd);
  };

  try {
    let last = performance.now();
    for await (const tf of perceive(frames, { ...options.detect, landmarks: useDense ? ['468', '68'] : ['68'] })) {
      perceptionMs += performance.now() - last;
      checkCancelled('tracking');
      const image = tf.image;
      width = image.width;
      height = image.height;
      if (!tf.face || !tf.landmarks68) {
        // the identity comes from the frames buffered so far (so that at most shapeFrames images are ever held)
        if (!rig) await flushPending();
        prev = null;
        await record(tf.index, image, null, null, null, { status: 'interpolated', nme: NaN, quality: 'failed', flags: ['no-face'], start: 'none' }, NaN);
        last = performance.now();
        continue;
      }
      const lm = flatLm(tf.landmarks68.points);
      const { weights: lmW, outside } = landmarkWeights(lm, width, height, w);
      const flags: string[] = [];
      if (outside >= 7) flags.push('partially-out-of-frame');
      if (tf.face.box.x2 - tf.face.box.x1 < MIN_FACE_PX) flags.push('face-too-small');
      let T: Float64Array;
      try {
        T = decaCropTform(lm, 68, lmW);
      } catch {
        if (!rig) await flushPending();
        prev = null;
        await record(tf.index, image, null, null, null, { status: 'interpolated', nme: NaN, quality: 'failed', flags: ['degenerate-landmarks'], start: 'none' }, NaN);
        last = performance.now();
        continue;
      }
      const targets = frameTargets(lm, lmW, tf.mesh?.points ?? null, useDense ? dense : null, T, w, width, height, tf.mesh?.score ?? 1);
      const pd: Pending = { index: tf.index, image, lm, targets, tform: T, iod: interOcular(lm), flags };
      if (!rig) {
        pending.push(pd);
        if (pending.length >= shapeFrames) await flushPending();
      } else await processPending(pd);
      last = performance.now();
    }
    if (!rig) await flushPending();
  } catch (e) {
    progress?.finish((e as Error).message);
    throw e;
  }
  progress?.finish();

  const F = infos.length;
  if (!F) throw new MagicPortraitError('trackFlame: the source has no frames', 'bad-argument');
  if (!shape || !rig) { shape = new Float64Array(base.numShape); rig = buildFitRig(model, { numShape: base.numShape, numExpression: nE, fixedShape: shape }); }
  const raw: TrackSeries = { expression: Float64Array.from(E), pose: Float64Array.from(P), cam: Float64Array.from(C), tform: Float64Array.from(TF) };
  // gap filling
  const valid = infos.map((f) => (f.status === 'tracked' ? 1 : 0));
  const st = fillGaps(raw.expression, nE, valid);
  fillGaps(raw.pose, 3 * J, valid);
  fillGaps(raw.cam, 3, valid);
  fillGaps(raw.tform, 9, valid);
  st.forEach((s, i) => { if (s !== 'ok') infos[i].status = s; });
  const track: FlameTrack = {
    modelName: model.name, modelKind: model.kind, source: path, fps, width, height, numFrames: F, numExpression: nE, numJoints: J,
    shape, shapeSource: givenShape ? 'given' : 'fitted', frames: infos, raw, smoothed: raw, smoothing, detected: Float32Array.from(det),
    interOcular: Float64Array.from(iods), jitter: jitterReport(raw, raw, nE, J, valid, model),
    timing: { frames: F, perceptionMs: perceptionMs / F, fitMs: fitMs / F, shapeMs, totalMs: 0 },
  };
  const out = smoothTrack(track, smoothing, model, rig);
  out.timing.totalMs = performance.now() - t0;
  return out;
}

/** Perception for frames that are not perceived yet (TrackedFrame items pass through). */
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

/**
 * (Re-)smooths a track: gap-filled raw series → smoothed series, per-frame NME of the smoothed parameters, jitter
 * report. Cheap (no perception, no fitting): use it to try other smoothing settings on a finished track.
 */
export function smoothTrack(track: FlameTrack, smoothing: number | SmoothingOptions | false, model?: FlameModelData, rig?: FitRig): FlameTrack {
  const m = model ?? createDemoHead();
  const sm = smoothingOf(smoothing);
  const F = track.numFrames, nE = track.numExpression, J = track.numJoints, fps = track.fps, raw = track.raw;
  const r = rig ?? buildFitRig(m, { numShape: track.shape.length, numExpression: nE, fixedShape: track.shape });
  const infos = track.frames.map((f) => ({ ...f, flags: [...f.flags] }));
  const valid = infos.map((f) => (f.status === 'tracked' ? 1 : 0));
  // the crop transform through its scale and offsets
  const hz = (k: 'poseHz' | 'expressionHz' | 'cameraHz', def: number) => (sm.method === 'filtfilt' ? (sm[k] ?? def) : def);
  const kxy = new Float64Array(F * 3);
  for (let t = 0; t < F; t++) { kxy[3 * t] = raw.tform[9 * t]; kxy[3 * t + 1] = raw.tform[9 * t + 2]; kxy[3 * t + 2] = raw.tform[9 * t + 5]; }
  const kxyS = smoothSeries(kxy, 3, fps, hz('cameraHz', 3), sm);
  const tformS = new Float64Array(F * 9);
  for (let t = 0; t < F; t++) tformS.set([kxyS[3 * t], 0, kxyS[3 * t + 1], 0, kxyS[3 * t], kxyS[3 * t + 2], 0, 0, 1], 9 * t);
  const smoothed: TrackSeries = {
    expression: smoothSeries(raw.expression, nE, fps, hz('expressionHz', 5), sm),
    pose: smoothPose(raw.pose, J, fps, hz('poseHz', 4), hz('expressionHz', 5), sm),
    cam: smoothSeries(raw.cam, 3, fps, hz('cameraHz', 3), sm),
    tform: tformS,
  };
  let sumR = 0, sumS = 0, n = 0;
  for (let t = 0; t < F; t++) {
    if (infos[t].status !== 'tracked') continue;
    const s: FrameState = { expression: smoothed.expression.subarray(t * nE, (t + 1) * nE), pose: smoothed.pose.subarray(t * 3 * J, (t + 1) * 3 * J), cam: smoothed.cam.subarray(3 * t, 3 * t + 3) };
    const lm = track.detected.subarray(136 * t, 136 * (t + 1));
    infos[t].nmeSmoothed = nmeOf(trackLandmarks(r, s, smoothed.tform.subarray(9 * t, 9 * t + 9)), lm, track.interOcular[t]);
    if (Number.isFinite(infos[t].nme) && Number.isFinite(infos[t].nmeSmoothed)) { sumR += infos[t].nme; sumS += infos[t].nmeSmoothed; n++; }
  }
  const jitter = jitterReport(raw, smoothed, nE, J, valid, m);
  jitter.nmeRaw = n ? sumR / n : NaN;
  jitter.nmeSmoothed = n ? sumS / n : NaN;
  jitter.nmeIncrease = n ? sumS / sumR - 1 : NaN;
  return { ...track, frames: infos, smoothed, smoothing: sm, jitter };
}

/** Head pose (global, neck) and eyes at the pose cutoff, the jaw at the expression cutoff. */
function smoothPose(pose: Float64Array, J: number, fps: number, poseHz: number, jawHz: number, method: SmoothingOptions): Float64Array {
  const a = smoothSeries(pose, 3 * J, fps, poseHz, method);
  if (J < 3) return a;
  const b = smoothSeries(pose, 3 * J, fps, jawHz, method);
  for (let t = 0; t < pose.length / (3 * J); t++) for (let c = 6; c < 9; c++) a[t * 3 * J + c] = b[t * 3 * J + c];
  return a;
}

const POSE_NAMES = ['global', 'neck', 'jaw', 'eye_left', 'eye_right'];

/** Jitter (variance of frame-to-frame differences) per parameter and group, raw vs smoothed, over tracked frames. */
export function jitterReport(raw: TrackSeries, sm: TrackSeries, nE: number, J: number, valid: ArrayLike<number>, model?: FlameModelData): JitterReport {
  const names: string[] = [];
  const rawV: number[] = [], smV: number[] = [];
  const add = (series: [Float64Array, Float64Array], d: number, label: (i: number) => string) => {
    const r = diffVariance(series[0], d, valid), s = diffVariance(series[1], d, valid);
    for (let i = 0; i < d; i++) { names.push(label(i)); rawV.push(r[i]); smV.push(s[i]); }
  };
  const exprName = (i: number) => Object.entries(model?.expressionNames ?? {}).find(([, k]) => k === i)?.[0] ?? `expression ${i + 1}`;
  add([raw.pose, sm.pose], 3 * J, (i) => `${POSE_NAMES[Math.floor(i / 3)] ?? `joint ${Math.floor(i / 3)}`} ${'xyz'[i % 3]}`);
  add([raw.expression, sm.expression], nE, exprName);
  add([raw.cam, sm.cam], 3, (i) => ['cam s', 'cam tx', 'cam ty'][i]);
  const group = (name: string, ids: number[]): JitterGroup => {
    const r = ids.reduce((s, i) => s + rawV[i], 0), s = ids.reduce((a, i) => a + smV[i], 0);
    return { name, raw: r, smoothed: s, reduction: r > 0 ? 1 - s / r : 0 };
  };
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const groups = [
    group('head rotation (global)', range(0, 3)),
    ...(J > 2 ? [group('jaw', range(6, 9))] : []),
    group('pose (global + jaw)', J > 2 ? [0, 1, 2, 6, 7, 8] : [0, 1, 2]),
    group('expression', range(3 * J, 3 * J + nE)),
    group('camera', range(3 * J + nE, 3 * J + nE + 3)),
  ];
  return { groups, perParameter: names.map((name, i) => ({ name, raw: rawV[i], smoothed: smV[i] })), nmeRaw: NaN, nmeSmoothed: NaN, nmeIncrease: NaN };
}
