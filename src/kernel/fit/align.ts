// Structured face alignment (paper Eq. 1; reference-pipeline.md §4), with the parameter sources of the code (§4.2):
//
//   parameter                     source
//   shape, albedo, SH light        the reference (identity) fit
//   camera [s, tx, ty], tform      the reference fit: every frame is placed in the reference's crop / 512 image
//   global rotation pose[0:3]      each driving frame (DECA's E_flame in the reference code)
//   expression, jaw pose[3:6]      each driving frame (SMIRK in the reference code)
//   neck, eyes                     zeros
//   driving translation and scale  discarded
//
// Here the driving values come from trackFlame (our landmark fits stand in for DECA / SMIRK until those encoders are
// ported: the sources are the same, the estimator differs). Ablation variants are options, each named for what it
// changes; the default is the reference code.

import { MagicPortraitError } from '../errors';
import { mul3Into, rodriguesInto, matrixToAxisAngleInto } from '../flame/rotations';
import { decaTform } from '../flame/orthographic';
import type { FlameFit, FlameTrack, AlignOptions, AlignedSequence } from './types';
import { portraitCropOfFit } from './crop';
import { type PortraitCrop } from './types';
import { isReferenceTrack } from './reference';

function describe(o: Required<Omit<AlignOptions, 'frames' | 'preset'>>): string {
  const abl: string[] = [];
  if (o.camera === 'driving') abl.push('driving camera and crop');
  if (o.rotation === 'relative') abl.push('relative rotation');
  if (o.expression === 'relative') abl.push('relative expression');
  if (o.expression === 'reference') abl.push('no expression transfer');
  if (o.jaw === 'reference') abl.push('no jaw transfer');
  if (o.transferNeck) abl.push('neck transferred');
  if (o.transferEyes) abl.push('eyes transferred');
  return abl.length ? `ablation: ${abl.join(', ')}` : 'reference code (§4.2)';
}

/** Builds the per-frame parameters of the guidance renders (see the header). */
export function align(reference: FlameFit, track: FlameTrack, options: AlignOptions = {}): AlignedSequence {
  if (options.preset === 'reference') {
    const ablations = (['series', 'camera', 'rotation', 'expression', 'jaw', 'transferNeck', 'transferEyes'] as const).filter((k) => options[k] !== undefined);
    if (ablations.length) throw new MagicPortraitError(`align: the 'reference' preset is the official alignment; it takes no ${ablations.join(', ')} option`, 'bad-argument');
    const wrong = [reference.preset !== 'reference' ? "the portrait fit (use mp.fit.portrait(image, { preset: 'reference', … }))" : '', !isReferenceTrack(track) ? "the track (use mp.fit.track(video, { preset: 'reference', … }))" : ''].filter(Boolean);
    if (wrong.length) throw new MagicPortraitError(`align: the 'reference' preset needs inputs from the reference estimator; not so for ${wrong.join(' and ')}`, 'bad-argument');
    const seq = align(reference, track, { series: 'raw', frames: options.frames });
    return { ...seq, variant: 'official estimator: DECA + SMIRK raw (§4.2)' };
  }
  if (options.preset !== undefined && options.preset !== 'studio') throw new MagicPortraitError(`align: preset must be 'studio' or 'reference', got '${String(options.preset)}'`, 'bad-argument');
  const o: Required<Omit<AlignOptions, 'frames' | 'preset'>> = {
    series: options.series ?? 'smoothed', camera: options.camera ?? 'reference', rotation: options.rotation ?? 'absolute',
    expression: options.expression ?? 'driving', jaw: options.jaw ?? 'driving', transferNeck: options.transferNeck ?? false,
    transferEyes: options.transferEyes ?? false,
  };
  if (reference.modelName !== track.modelName) {
    throw new MagicPortraitError(`align: the reference was fitted with the ${reference.modelName}, the track with the ${track.modelName}; use the same model`, 'bad-argument');
  }
  const J = track.numJoints;
  if (reference.pose.length !== 3 * J) throw new MagicPortraitError(`align: the reference has ${reference.pose.length / 3} joints, the track ${J}`, 'bad-argument');
  const nE = track.numExpression;
  if (reference.expression.length !== nE) {
    throw new MagicPortraitError(`align: the reference has ${reference.expression.length} expression components, the track ${nE}; fit both with the same numExpression`, 'bad-argument');
  }
  const s = o.series === 'raw' ? track.raw : track.smoothed;
  const [f0, f1] = options.frames ?? [0, track.numFrames];
  const a = Math.max(0, Math.min(track.numFrames, Math.floor(f0))), b = Math.max(a, Math.min(track.numFrames, Math.floor(f1)));
  const F = b - a;
  if (!F) throw new MagicPortraitError('align: the frame range is empty', 'bad-argument');
  const expression = new Float64Array(F * nE), pose = new Float64Array(F * 3 * J), cam = new Float64Array(F * 3);
  const tform = new Float64Array(F * 9), dt = new Float64Array(F * 9), drivingFrames = new Int32Array(F);
  // the first driving frame (for the relative variants): the first tracked frame of the range
  let first = a;
  for (let t = a; t < b; t++) if (track.frames[t].status === 'tracked') { first = t; break; }
  const Rref = new Float64Array(9), R0 = new Float64Array(9), Rt = new Float64Array(9), tmp = new Float64Array(9), R = new Float64Array(9);
  rodriguesInto(reference.pose[0], reference.pose[1], reference.pose[2], Rref, 0);
  rodriguesInto(s.pose[first * 3 * J], s.pose[first * 3 * J + 1], s.pose[first * 3 * J + 2], R0, 0);
  const R0t = Float64Array.of(R0[0], R0[3], R0[6], R0[1], R0[4], R0[7], R0[2], R0[5], R0[8]);
  for (let i = 0; i < F; i++) {
    const t = a + i;
    drivingFrames[i] = track.frames[t].index;
    // expression
    for (let k = 0; k < nE; k++) {
      const drv = s.expression[t * nE + k];
      expression[i * nE + k] = o.expression === 'driving' ? drv
        : o.expression === 'relative' ? reference.expression[k] + drv - s.expression[first * nE + k] : reference.expression[k];
    }
    // pose: global, neck, jaw, eyes
    const p = i * 3 * J, q = t * 3 * J;
    if (o.rotation === 'absolute') for (let c = 0; c < 3; c++) pose[p + c] = s.pose[q + c];
    else {
      rodriguesInto(s.pose[q], s.pose[q + 1], s.pose[q + 2], Rt, 0);
      mul3Into(R0t, 0, Rt, 0, tmp, 0);
      mul3Into(Rref, 0, tmp, 0, R, 0);
      matrixToAxisAngleInto(R, 0, pose, p);
    }
    if (J > 1 && o.transferNeck) for (let c = 3; c < 6; c++) pose[p + c] = s.pose[q + c];
    if (J > 2) for (let c = 6; c < 9; c++) pose[p + c] = o.jaw === 'driving' ? s.pose[q + c] : reference.pose[c];
    if (o.transferEyes) for (let c = 9; c < 3 * J; c++) pose[p + c] = s.pose[q + c];
    // camera and crop
    if (o.camera === 'reference') {
      cam.set(reference.cam, 3 * i);
      tform.set(reference.tform, 9 * i);
    } else {
      cam.set(s.cam.subarray(3 * t, 3 * t + 3), 3 * i);
      tform.set(s.tform.subarray(9 * t, 9 * t + 9), 9 * i);
    }
    dt.set(decaTform(tform.subarray(9 * i, 9 * i + 9)), 9 * i);
  }
  for (const arr of [expression, pose, cam, tform, dt]) for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i])) arr[i] = 0;
  const size = o.camera === 'reference' ? reference.imageSize : { width: track.width, height: track.height };
  return {
    modelName: reference.modelName, modelKind: reference.modelKind, variant: describe(o), options: o, numFrames: F, fps: track.fps,
    width: size.width, height: size.height, shape: Float64Array.from(reference.shape),
    albedo: reference.albedo ? Float64Array.from(reference.albedo) : null, light: reference.light ? Float64Array.from(reference.light) : null,
    expression, pose, cam, tform, decaTform: dt, drivingFrames, drivingSource: track.source,
    provenance: {
      shape: 'reference', albedo: 'reference', light: 'reference',
      camera: o.camera === 'reference' ? 'reference' : 'driving', tform: o.camera === 'reference' ? 'reference' : 'driving',
      globalRotation: o.rotation === 'absolute' ? 'driving' : 'reference+driving',
      expression: o.expression === 'driving' ? 'driving' : o.expression === 'relative' ? 'reference+driving' : 'reference',
      jaw: o.jaw === 'driving' ? 'driving' : 'reference',
      neck: o.transferNeck ? 'driving' : 'zero', eyes: o.transferEyes ? 'driving' : 'zero',
    },
    numExpression: nE, numJoints: J,
    crop: o.camera === 'reference' ? cropOf(reference) : null, placedIn: 'photo',
  };
}

function cropOf(fit: FlameFit): PortraitCrop | null {
  try {
    return portraitCropOfFit(fit);
  } catch {
    return null;
  }
}

/** The FLAME parameters of aligned frame i (views into the sequence). */
export function alignedFrame(seq: AlignedSequence, i: number): { shape: Float64Array; expression: Float64Array; pose: Float64Array; cam: Float64Array; tform: Float64Array } {
  const nE = seq.numExpression, J = seq.numJoints;
  return {
    shape: seq.shape, expression: seq.expression.subarray(i * nE, (i + 1) * nE), pose: seq.pose.subarray(i * 3 * J, (i + 1) * 3 * J),
    cam: seq.cam.subarray(3 * i, 3 * i + 3), tform: seq.tform.subarray(9 * i, 9 * i + 9),
  };
}
