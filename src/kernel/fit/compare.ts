// What the studio estimator changes against the official one, per driving frame: the global head rotation (geodesic
// angle between the two rotations), the jaw rotation (same) and the expression (L2 of the coefficient difference over
// the components both share; only meaningful when both tracks use the same head model). Its display (the three
// curves and the two series of head angles) is TrackComparison in pipeline/fit-display.ts.

import { MagicPortraitError } from '../errors';
import { rodriguesInto } from '../flame/rotations';
import { headAngles } from './frame-targets';
import type { FlameTrack } from './types';

export interface TrackDifference {
  /** Seconds of each compared frame. */
  time: number[];
  /** Geodesic angle (degrees) between the global rotations, and between the jaw rotations. */
  rotationDeg: number[];
  jawDeg: number[];
  /** ‖ψ_a − ψ_b‖ over the shared components, or null when the tracks use different head models. */
  expression: number[] | null;
  summary: { rotationDeg: number; jawDeg: number; expression: number | null };
}

function geodesicDeg(a: ArrayLike<number>, b: ArrayLike<number>, ia: number, ib: number): number {
  const Ra = new Float64Array(9), Rb = new Float64Array(9);
  rodriguesInto(a[ia]!, a[ia + 1]!, a[ia + 2]!, Ra, 0);
  rodriguesInto(b[ib]!, b[ib + 1]!, b[ib + 2]!, Rb, 0);
  // trace(Raᵀ Rb) = 1 + 2 cos θ
  let tr = 0;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) tr += Ra[3 * r + c]! * Rb[3 * r + c]!;
  return (Math.acos(Math.min(1, Math.max(-1, (tr - 1) / 2))) * 180) / Math.PI;
}

/** Per-frame differences of two tracks of the same video (matched by frame index; the studio series is `smoothed`). */
export function trackDifference(studio: FlameTrack, reference: FlameTrack): TrackDifference {
  const pos = new Map(reference.frames.map((f, t) => [f.index, t]));
  const jawA = studio.numJoints > 2 ? 6 : -1, jawB = reference.numJoints > 2 ? 6 : -1;
  const sameModel = studio.modelName === reference.modelName;
  const nE = Math.min(studio.numExpression, reference.numExpression);
  const out: TrackDifference = { time: [], rotationDeg: [], jawDeg: [], expression: sameModel ? [] : null, summary: { rotationDeg: 0, jawDeg: 0, expression: null } };
  studio.frames.forEach((f, t) => {
    const u = pos.get(f.index);
    if (u === undefined) return;
    const pa = studio.smoothed.pose, pb = reference.raw.pose;
    out.time.push(f.index / studio.fps);
    out.rotationDeg.push(geodesicDeg(pa, pb, t * 3 * studio.numJoints, u * 3 * reference.numJoints));
    out.jawDeg.push(jawA >= 0 && jawB >= 0 ? geodesicDeg(pa, pb, t * 3 * studio.numJoints + jawA, u * 3 * reference.numJoints + jawB) : NaN);
    if (out.expression) {
      let s = 0;
      for (let k = 0; k < nE; k++) s += (studio.smoothed.expression[t * studio.numExpression + k]! - reference.raw.expression[u * reference.numExpression + k]!) ** 2;
      out.expression.push(Math.sqrt(s));
    }
  });
  if (!out.time.length) throw new MagicPortraitError('trackDifference: the two tracks share no frame index', 'bad-argument');
  const mean = (a: number[]) => a.filter(Number.isFinite).reduce((x, y) => x + y, 0) / Math.max(1, a.filter(Number.isFinite).length);
  out.summary = { rotationDeg: mean(out.rotationDeg), jawDeg: mean(out.jawDeg), expression: out.expression ? mean(out.expression) : null };
  return out;
}
