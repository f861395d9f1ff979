/** Synthetic landmark "renders" of a FLAME-structured model with known parameters (closed-loop tests). */
import type { FlameModelData } from '../../src/kernel/flame/types';
import { buildFitRig, evalRigPoints, PoseState } from '../../src/kernel/fit/fit-rig';
import { defaultDenseCorrespondence } from '../../src/kernel/fit/dense';
import { encoderTform } from '../../src/kernel/perception/crops';
import { rng } from './helpers';

export interface TruthParams {
  shape: Float64Array;
  expression: Float64Array;
  pose: Float64Array;
  cam: Float64Array;
}

/** A fixed crop placement of the synthetic image: the 224 crop of a 300-pixel square at the centre of 512². */
export const SYNTH_T = (() => { const T = encoderTform(256, 256, 300); return Float64Array.from([...T[0]!, ...T[1]!, ...T[2]!]); })();

/** Random plausible parameters: identity ±1.5, a few active expressions, yaw up to ±maxYaw°, pitch ±20°, roll ±15°, jaw 0–17°. */
export function randomParams(model: FlameModelData, seed: number, maxYawDeg = 40): TruthParams {
  const r = rng(seed);
  const g = () => { let s = 0; for (let i = 0; i < 6; i++) s += r(); return (s - 3) / Math.sqrt(0.5); };
  const d = Math.PI / 180;
  const shape = Float64Array.from({ length: model.numShape }, () => Math.max(-1.5, Math.min(1.5, 0.6 * g())));
  const expression = Float64Array.from({ length: model.numExpression }, () => (r() < 0.3 ? 0.8 * r() : 0));
  const pose = new Float64Array(3 * model.numJoints);
  pose[0] = (r() * 2 - 1) * 20 * d;
  pose[1] = (r() * 2 - 1) * maxYawDeg * d;
  pose[2] = (r() * 2 - 1) * 15 * d;
  if (model.numJoints > 2) { pose[6] = r() * 0.3; pose[7] = (r() * 2 - 1) * 0.02; pose[8] = (r() * 2 - 1) * 0.02; }
  const cam = Float64Array.of(8 + 3 * r(), (r() * 2 - 1) * 0.02, (r() * 2 - 1) * 0.02);
  return { shape, expression, pose, cam };
}

/** The 68 landmarks and the MediaPipe points of the model's dense table (468 × 3, NaN where not in the table), image pixels. */
export function renderLandmarks(model: FlameModelData, p: TruthParams, T = SYNTH_T): { lm68: Float64Array; mesh468: Float32Array } {
  const rig = buildFitRig(model, { numShape: p.shape.length, numExpression: p.expression.length });
  const st = new PoseState(rig);
  st.update(p.shape, p.expression, p.pose, null);
  const scratch = new Float64Array(3 * rig.K);
  const w68 = new Float64Array(68 * 3);
  evalRigPoints(rig.contourRow(st.contourRow), st, w68, 0, null, 0, null, scratch);
  evalRigPoints(rig.static51!, st, w68, 51, null, 0, null, scratch);
  const dense = defaultDenseCorrespondence(model);
  const mesh468 = new Float32Array(468 * 3).fill(NaN);
  const Ti = invert(T);
  const toImage = (X: number, Y: number): [number, number] => {
    const u = 112 * p.cam[0] * (X + p.cam[1]) + 112, v = -112 * p.cam[0] * (Y + p.cam[2]) + 112;
    return [Ti[0] * u + Ti[1] * v + Ti[2], Ti[3] * u + Ti[4] * v + Ti[5]];
  };
  const lm68 = new Float64Array(136);
  for (let i = 0; i < 68; i++) { const [x, y] = toImage(w68[3 * i]!, w68[3 * i + 1]!); lm68[2 * i] = x; lm68[2 * i + 1] = y; }
  if (dense) {
    const wd = new Float64Array(dense.mpIndex.length * 3);
    evalRigPoints(rig.points(dense.faces, dense.bary), st, wd, 0, null, 0, null, scratch);
    for (let k = 0; k < dense.mpIndex.length; k++) {
      const [x, y] = toImage(wd[3 * k]!, wd[3 * k + 1]!);
      const m = dense.mpIndex[k]!;
      mesh468[3 * m] = x; mesh468[3 * m + 1] = y; mesh468[3 * m + 2] = 0;
    }
  }
  return { lm68, mesh468 };
}

function invert(T: ArrayLike<number>): number[] {
  const a = T[0]!, b = T[1]!, c = T[2]!, d = T[3]!, e = T[4]!, f = T[5]!;
  const det = a * e - b * d;
  return [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det];
}

import type { TrackedFrame } from '../../src/kernel/perception/track';

/**
 * A synthetic perceived video: the model with a smooth trajectory (yaw sweep, jaw and smile oscillating), landmarks
 * with Gaussian noise (σ px), some frames lost. Returns the frames (as trackFaces would yield them) and the truth.
 */
export function syntheticVideo(model: FlameModelData, n: number, opts: { noisePx?: number; lost?: number[]; seed?: number; fps?: number } = {}): { frames: TrackedFrame[]; truth: TruthParams[] } {
  const r = rng(opts.seed ?? 11);
  const gauss = () => { let s = 0; for (let i = 0; i < 6; i++) s += r(); return (s - 3) / Math.sqrt(0.5); };
  const base = randomParams(model, opts.seed ?? 11, 0);
  base.expression.fill(0);
  const fps = opts.fps ?? 25;
  const smile = model.expressionNames?.smile ?? 1;
  const frames: TrackedFrame[] = [], truth: TruthParams[] = [];
  const sigma = opts.noisePx ?? 1;
  for (let t = 0; t < n; t++) {
    const time = t / fps;
    const p: TruthParams = { shape: base.shape, expression: Float64Array.from(base.expression), pose: Float64Array.from(base.pose), cam: Float64Array.from(base.cam) };
    p.pose[0] = 0.1 * Math.sin(2 * Math.PI * 0.3 * time);
    p.pose[1] = 0.45 * Math.sin(2 * Math.PI * 0.2 * time);
    p.pose[6] = 0.12 + 0.1 * Math.sin(2 * Math.PI * 1.1 * time);
    p.expression[smile] = 0.4 + 0.3 * Math.sin(2 * Math.PI * 0.5 * time);
    truth.push(p);
    const image = { width: 512, height: 512, channels: 3 as const, data: new Uint8Array(0) };
    if (opts.lost?.includes(t)) { frames.push({ index: t, image, face: null, source: 'none' }); continue; }
    const { lm68, mesh468 } = renderLandmarks(model, p);
    for (let i = 0; i < lm68.length; i++) lm68[i]! += sigma * gauss();
    for (let i = 0; i < mesh468.length; i++) if (i % 3 !== 2) mesh468[i]! += sigma * gauss();
    let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    for (let i = 0; i < 68; i++) { x1 = Math.min(x1, lm68[2 * i]!); x2 = Math.max(x2, lm68[2 * i]!); y1 = Math.min(y1, lm68[2 * i + 1]!); y2 = Math.max(y2, lm68[2 * i + 1]!); }
    const points = Array.from({ length: 68 }, (_, i) => [lm68[2 * i]!, lm68[2 * i + 1]!] as [number, number]);
    const roi = { cx: (x1 + x2) / 2, cy: (y1 + y2) / 2, size: x2 - x1, angle: 0 };
    frames.push({
      index: t, image, source: 'tracked',
      face: { box: { x1, y1, x2, y2 }, score: 0.9, keypoints: [points[36]!, points[45]!, points[30]!, points[62]!, points[0]!, points[16]!], model: 'short' },
      landmarks68: { points, crop: roi },
      mesh: { points: mesh468, score: 1, roi },
    });
  }
  return { frames, truth };
}
