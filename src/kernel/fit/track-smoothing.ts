/**
 * A finished track's post-processing: gap-filled raw series → smoothed series (smooth.ts filters), the per-frame
 * 68-landmark NME of the smoothed parameters, and the jitter report. Cheap (no perception, no fitting), shared by
 * the studio tracker (track.ts) and the reference estimator (reference.ts), and usable on its own to re-smooth.
 */
import type { FlameModelData } from '../flame/types';
import { createDemoHead } from '../flame/demo-head';
import { invertAffine3, transformPoints } from './crop-projection';
import { buildFitRig, type FitRig } from './fit-rig';
import { FitProblem, type FrameState, type FrameTargets } from './problem';
import { DEFAULT_WEIGHTS, makeTerms } from './solve';
import { diffVariance, smoothSeries, type SmoothingOptions } from './smooth';
import type { FlameTrack, JitterGroup, JitterReport, TrackSeries } from './types';

const DEFAULT_SMOOTHING: SmoothingOptions = { method: 'filtfilt', poseHz: 3, expressionHz: 3.5, cameraHz: 5 };

export function smoothingOf(s: number | SmoothingOptions | false | undefined): SmoothingOptions {
  if (s === false) return { method: 'none' };
  if (typeof s === 'number') return s > 0 ? { method: 'filtfilt', poseHz: s, expressionHz: s, cameraHz: s } : { method: 'none' };
  if (!s) return DEFAULT_SMOOTHING;
  if (s.method === 'filtfilt') return { ...DEFAULT_SMOOTHING, ...s };
  return s;
}

/** Model landmarks (68, image pixels) for a state and crop transform. */
export function trackLandmarks(rig: FitRig, state: FrameState, tform: ArrayLike<number>): Float64Array {
  const dummy: FrameTargets = { lm: new Float64Array(136), lmW: new Float64Array(68), dense: null, denseW: null };
  const p = new FitProblem(rig, null, [dummy], rig.fixedShape ? [] : new Float64Array(rig.numShape), [state],
    { shapeFree: false, expressionFree: false, poseFree: new Uint8Array(3 * rig.numJoints), camFree: false }, makeTerms(rig.numJoints, DEFAULT_WEIGHTS));
  return transformPoints(invertAffine3(tform), p.project(0).points.subarray(0, 136));
}

export function nmeOf(fitted: Float64Array, lm: ArrayLike<number>, iod: number): number {
  let s = 0, n = 0;
  for (let i = 0; i < 68; i++) {
    const d = Math.hypot(fitted[2 * i] - lm[2 * i], fitted[2 * i + 1] - lm[2 * i + 1]);
    if (Number.isFinite(d)) { s += d; n++; }
  }
  return n && iod > 0 ? s / n / iod : NaN;
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
