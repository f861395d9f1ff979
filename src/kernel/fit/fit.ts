// fitFlame: a FLAME-structured model (the demo head by default) fitted to one portrait.
//
// 1. Perception: the largest face (BlazeFace), its 68 landmarks (face-api) and 468 mesh points (MediaPipe), unless
//    given. Landmarks outside the image are kept with a low weight (the networks extrapolate them) and flagged.
// 2. DECA's crop transform T from the 68 landmarks (reference-pipeline.md §1.2): every residual is measured in that
//    224 crop, and the camera [s, tx, ty] is DECA's for that crop (§2.6), so shape / expression / pose / camera / tform
//    are in the reference's frame (when the image is the 512×512 reference crop, exactly the frame render_and_transfer
//    places its renders in, §1.4).
// 3. Initialisation: an encoder start (`encoder: 'deca+smirk'`, the reference's DECA + SMIRK codes from the imported
//    graphs, encoder-init.ts), the pluggable hook (`init`), or the geometric cold start (affine camera on the 51 inner
//    landmarks → nearest rotation, then a rigid Levenberg–Marquardt stage).
// 4. Levenberg–Marquardt on the 68 landmarks (dynamic contour re-selected from the yaw at every evaluation, as FLAME
//    does) + the dense MediaPipe correspondence, with L2 priors on shape and expression, soft pose limits, Huber loss.
// 5. Photometric refinement when the model has a texture space (photometric.ts): albedo coefficients and 9×3 SH light.
// 6. Report: per-landmark residuals, NME (mean 68-point error / outer-eye-corner distance of the detection), quality
//    flag and flags, an overlay image. Never NaN: non-finite inputs are refused or dropped, non-finite solver states
//    fall back to the last finite one, and every returned number is checked (flag 'non-finite-guarded').

import { MagicPortraitError } from '../errors';
import type { Image } from '../io/image';
import type { FlameModelData } from '../flame/types';
import { createDemoHead } from '../flame/demo-head';
import { matrix2angle, rodriguesInto } from '../flame/rotations';
import { detectFaces, type Face, type Point } from '../perception/detect';
import { landmarks468, landmarks68, type Landmarks68, type Mesh468 } from '../perception/landmarks';
import { decaTform } from '../flame/camera';
import { decaCropTform, invertAffine3, transformPoints } from './camera';
import { buildFitRig, type FitRig, type RigPoints } from './rig';
import { defaultDenseCorrespondence, type DenseCorrespondence } from './dense';
import type { FrameState, FrameTargets } from './problem';
import { coldStart, contourRowSearch, DEFAULT_WEIGHTS, poseFreeMask, solveFrames, type FitWeights } from './solve';
import { faceRegion, photometricFit, type PhotometricResult } from './photometric';
import { drawFitOverlay } from './draw';
import { openDecaSmirk, type FitEncoder } from './encoder-init';

/** What an encoder initialiser (DECA, SMIRK, …) may provide; missing fields come from the geometric cold start. */
export interface FitInitialGuess {
  shape?: ArrayLike<number>;
  expression?: ArrayLike<number>;
  /** J × 3 axis-angle, or DECA's 6 values [global, jaw]. */
  pose?: ArrayLike<number>;
  /** DECA camera [s, tx, ty] for the crop `tform` given in the context. */
  cam?: ArrayLike<number>;
  /** Albedo coefficients and SH light (DECA's tex, light), used as the photometric start. */
  albedo?: ArrayLike<number>;
  light?: ArrayLike<number>;
}

export interface FitInitContext {
  model: FlameModelData;
  image: Image | null;
  face: Face | null;
  /** 68 × 2 image pixels. */
  landmarks68: Float64Array;
  /** 468 × 3 image pixels (x, y, z), or null. */
  mesh468: Float32Array | null;
  /** DECA crop transform T (image pixels → 224 crop pixels, 3×3 row-major) that cam must refer to. */
  tform: Float64Array;
}

/** Encoder-based initialiser hook: return a guess (any subset), or null to use the geometric cold start. */
export type FitInitialiser = (ctx: FitInitContext) => Promise<FitInitialGuess | null> | FitInitialGuess | null;

/** Landmarks-only input (no perception), e.g. for synthetic tests or landmarks from elsewhere. */
export interface FitLandmarkInput {
  image?: Image;
  /** Image size when there is no image. */
  width?: number;
  height?: number;
  face?: Face;
  /** 68 iBUG points in image pixels. */
  landmarks68?: Landmarks68 | readonly Point[] | ArrayLike<number>;
  /** MediaPipe 468 points (x, y, z per point, image pixels), or the Mesh468. */
  mesh468?: Mesh468 | ArrayLike<number> | null;
  /** For messages. */
  name?: string;
}

export type FitInput = Image | FitLandmarkInput;

export interface FitFlameOptions {
  /** The model; default the built-in demo head. */
  model?: FlameModelData;
  /** Encoder initialiser hook (any guess; see FitInitialGuess). */
  init?: FitInitialiser;
  /** Start from the reference's encoders: 'deca+smirk' = DECA's code with SMIRK's expression and jaw (needs the image). */
  encoder?: FitEncoder;
  /** Folder with the imported encoders (deca_e_flame.onnx, smirk_encoder.onnx); default defaultEncoderDir(). */
  encoderDir?: string;
  /** Dense correspondence for the 468 points: default the model's built-in table; false/null: 68 landmarks only. */
  dense?: DenseCorrespondence | null | false;
  /** Hold this shape fixed (e.g. from a reference fit). */
  shape?: ArrayLike<number>;
  /** Components used; default all (FLAME: DECA's 100 shape / 50 expression). */
  numShape?: number;
  numExpression?: number;
  weights?: Partial<FitWeights>;
  /** Also fit the neck / eye rotations (DECA keeps them at zero; default false). */
  fitNeck?: boolean;
  fitEyes?: boolean;
  /** Photometric refinement (albedo + SH light) when the model has a texture space and there is an image; default true. */
  photometric?: boolean;
  /** Draw the overlay image (default true when there is an image). */
  overlay?: boolean;
  maxIterations?: number;
  /** Try the neighbouring jaw-contour rows after the solve (default true; see solve.ts contourRowSearch). */
  contourSearch?: boolean;
}

export type FitQuality = 'good' | 'fair' | 'poor' | 'failed';

export interface FlameFit {
  modelName: string;
  modelKind: FlameModelData['kind'];
  /** Shape (numShape), expression (numExpression), pose (J × 3 axis-angle: global, neck, jaw, eyes). */
  shape: Float64Array;
  expression: Float64Array;
  pose: Float64Array;
  /** DECA's pose code [global (3), jaw (3)]. */
  pose6: Float64Array;
  /** DECA's orthographic camera [s, tx, ty] for the crop `tform`. */
  cam: Float64Array;
  /** DECA crop transform T: image pixels → 224 crop pixels (3×3 row-major); decaTform = (T⁻¹)ᵀ as code['tform']. */
  tform: Float64Array;
  decaTform: Float64Array;
  imageSize: { width: number; height: number };
  /** Albedo coefficients and SH light (9 × 3, row-major: band k, colour c), or null without a texture space. */
  albedo: Float64Array | null;
  light: Float64Array | null;
  photometric: PhotometricResult['report'] | null;
  /** 68 × 2 image pixels: the model's landmarks and the detections; per-landmark distance (px). A landmark that was not
   * detected (non-finite input) has detectedMask 0, its detection set to the model's point and residual 0. */
  landmarks: Float64Array;
  detected: Float64Array;
  detectedMask: Uint8Array;
  residuals: Float64Array;
  /** Dense points (model vs detection, image px) for the table's MediaPipe indices, when used. */
  dense: { mpIndex: Int32Array; fitted: Float64Array; detected: Float64Array; residuals: Float64Array } | null;
  /** Mean 68-point error / inter-ocular distance (outer eye corners of the detection). */
  nme: number;
  /** Same over the 51 inner landmarks (no jaw contour). */
  nmeInner: number;
  interOcular: number;
  /** Head angles in degrees (pitch x, yaw y, roll z; DECA's angle2matrix convention of the global rotation). */
  angles: { pitch: number; yaw: number; roll: number };
  quality: FitQuality;
  flags: string[];
  solver: { iterations: number; status: string; cost: number; ms: { perception: number; init: number; solve: number; photometric: number; total: number } };
  overlay: Image | null;
}

/** Faces narrower than this (detection box, pixels) or with a smaller inter-ocular distance are flagged too small: the
 * 68-point network sees them upsampled ×2.5 or more and its landmarks get unreliable. */
export const MIN_FACE_PX = 44;
export const MIN_IOD_PX = 20;

const rigCache = new WeakMap<FlameModelData, Map<string, FitRig>>();

/** A cached rig for a model and component counts (free shape). */
export function fitRigFor(model: FlameModelData, numShape?: number, numExpression?: number): FitRig {
  let m = rigCache.get(model);
  if (!m) { m = new Map(); rigCache.set(model, m); }
  const key = `${numShape ?? '-'}/${numExpression ?? '-'}`;
  let r = m.get(key);
  if (!r) { r = buildFitRig(model, { numShape, numExpression }); m.set(key, r); }
  return r;
}

const denseRigCache = new WeakMap<FitRig, Map<DenseCorrespondence, RigPoints>>();
export function denseRigPoints(rig: FitRig, dense: DenseCorrespondence): RigPoints {
  let m = denseRigCache.get(rig);
  if (!m) { m = new Map(); denseRigCache.set(rig, m); }
  let p = m.get(dense);
  if (!p) { p = rig.points(dense.faces, dense.bary); m.set(dense, p); }
  return p;
}

function isImage(x: FitInput): x is Image {
  return (x as Image).data instanceof Uint8Array && typeof (x as Image).channels === 'number';
}

function flat68(l: Landmarks68 | readonly Point[] | ArrayLike<number>): Float64Array {
  if ('points' in (l as Landmarks68)) return flat68((l as Landmarks68).points);
  const a = l as ArrayLike<number> | readonly Point[];
  if (a.length === 68 && Array.isArray(a[0])) {
    const out = new Float64Array(136);
    (a as readonly Point[]).forEach((p, i) => { out[2 * i] = p[0]; out[2 * i + 1] = p[1]; });
    return out;
  }
  if (a.length !== 136) throw new MagicPortraitError(`landmarks68 needs 68 points, got ${a.length} values`, 'bad-argument');
  return Float64Array.from(a as ArrayLike<number>);
}

function meshPoints(m: Mesh468 | ArrayLike<number> | null | undefined): Float32Array | null {
  if (!m) return null;
  const a = 'points' in (m as Mesh468) ? (m as Mesh468).points : Float32Array.from(m as ArrayLike<number>);
  if (a.length !== 468 * 3) throw new MagicPortraitError(`mesh468 needs 468 × 3 values, got ${a.length}`, 'bad-argument');
  return a;
}

/** Per-landmark weights: contour / inner, non-finite dropped, points outside the image down-weighted. */
export function landmarkWeights(lm: Float64Array, width: number, height: number, w: FitWeights): { weights: Float64Array; outside: number; missing: number } {
  const weights = new Float64Array(68);
  let outside = 0, missing = 0;
  for (let i = 0; i < 68; i++) {
    const x = lm[2 * i], y = lm[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) { missing++; continue; }
    let v = i < 17 ? w.contour : w.landmarks;
    if (x < 0 || y < 0 || x > width - 1 || y > height - 1) { outside++; v *= 0.2; }
    weights[i] = v;
  }
  return { weights, outside, missing };
}

/** Builds the crop-pixel targets of one frame. */
export function frameTargets(
  lm: Float64Array, lmW: Float64Array, mesh: Float32Array | null, dense: DenseCorrespondence | null, T: Float64Array,
  w: FitWeights, width: number, height: number, meshScore = 1,
): FrameTargets {
  const cropLm = transformPoints(T, lm);
  for (let i = 0; i < 136; i++) if (!Number.isFinite(cropLm[i])) cropLm[i] = 0;
  if (!mesh || !dense || !(w.dense > 0)) return { lm: cropLm, lmW, dense: null, denseW: null };
  const n = dense.mpIndex.length;
  const d = new Float64Array(2 * n), dw = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const k = dense.mpIndex[p];
    const x = mesh[3 * k], y = mesh[3 * k + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    d[2 * p] = T[0] * x + T[1] * y + T[2];
    d[2 * p + 1] = T[3] * x + T[4] * y + T[5];
    let v = w.dense * dense.weights[p] * Math.min(1, Math.max(0, meshScore));
    if (x < 0 || y < 0 || x > width - 1 || y > height - 1) v *= 0.2;
    dw[p] = v;
  }
  return { lm: cropLm, lmW, dense: d, denseW: dw };
}

/** Inter-ocular distance: outer eye corners (iBUG 37 and 46, 0-based 36 and 45). */
export function interOcular(lm: ArrayLike<number>): number {
  return Math.hypot(lm[72] - lm[90], lm[73] - lm[91]);
}

/** Global rotation (axis-angle) → pitch / yaw / roll degrees (angle2matrix convention: R = Rz·Ry·Rx). */
export function headAngles(pose: ArrayLike<number>): { pitch: number; yaw: number; roll: number } {
  const R = new Float64Array(9);
  rodriguesInto(pose[0], pose[1], pose[2], R, 0);
  const a = matrix2angle(R, 1);
  return { pitch: a[0], yaw: a[1], roll: a[2] };
}

function finite(a: Float64Array, flags: string[], what: string): Float64Array {
  let bad = false;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) { a[i] = 0; bad = true; }
  if (bad && !flags.includes('non-finite-guarded')) flags.push('non-finite-guarded');
  if (bad) flags.push(`non-finite ${what} replaced by 0`);
  return a;
}

/** Quality from the NME and the flags. */
export function qualityOf(nme: number, flags: readonly string[]): FitQuality {
  if (!Number.isFinite(nme) || flags.includes('non-finite-guarded') || flags.includes('no-landmarks')) return 'failed';
  let q: FitQuality = nme <= 0.05 ? 'good' : nme <= 0.08 ? 'fair' : 'poor';
  const severe = ['face-too-small', 'partially-out-of-frame', 'extreme-pose'];
  if (flags.some((f) => severe.includes(f))) q = q === 'good' || q === 'fair' ? 'poor' : q;
  return q;
}

export interface ResolvedFitInput {
  image: Image | null;
  width: number;
  height: number;
  face: Face | null;
  lm: Float64Array;
  mesh: Float32Array | null;
  meshScore: number;
  name: string;
  ms: number;
}

/** Perception for fitFlame (or the given landmarks). */
export async function resolveInput(input: FitInput, needMesh: boolean): Promise<ResolvedFitInput> {
  const t0 = performance.now();
  const li: FitLandmarkInput = isImage(input) ? { image: input } : input;
  const image = li.image ?? null;
  const width = image?.width ?? li.width ?? 0, height = image?.height ?? li.height ?? 0;
  const name = li.name ?? 'the image';
  if (!(width > 0 && height > 0)) throw new MagicPortraitError(`fitFlame: ${name} has no size (pass an image, or width and height with the landmarks)`, 'bad-argument');
  let face = li.face ?? null;
  let lm: Float64Array;
  let mesh = meshPoints(li.mesh468);
  let meshScore = li.mesh468 && 'score' in (li.mesh468 as Mesh468) ? (li.mesh468 as Mesh468).score : 1;
  if (li.landmarks68) lm = flat68(li.landmarks68);
  else {
    if (!image) throw new MagicPortraitError('fitFlame: give an image or 68 landmarks', 'bad-argument');
    if (!face) {
      const faces = await detectFaces(image);
      face = faces[0] ?? null;
      if (!face) throw new MagicPortraitError(`No face found in ${name} (${width}×${height}): nothing to fit.`, 'no-face');
    }
    lm = flat68(await landmarks68(image, face));
    if (needMesh && !mesh) {
      const m = await landmarks468(image, face);
      mesh = m.points;
      meshScore = m.score;
    }
  }
  return { image, width, height, face, lm, mesh, meshScore, name, ms: performance.now() - t0 };
}

/** Fits the model to one portrait (see the header of this file). */
export async function fitFlame(input: FitInput, options: FitFlameOptions = {}): Promise<FlameFit> {
  const t0 = performance.now();
  const model = options.model ?? createDemoHead();
  const w: FitWeights = { ...DEFAULT_WEIGHTS, ...options.weights };
  const dense = options.dense === false || options.dense === null ? null : (options.dense ?? defaultDenseCorrespondence(model));
  if (options.encoder !== undefined && options.encoder !== 'deca+smirk') throw new MagicPortraitError(`fitFlame: unknown encoder '${String(options.encoder)}' (supported: 'deca+smirk')`, 'bad-argument');
  if (options.encoder && options.init) throw new MagicPortraitError('fitFlame: give either an encoder or an init hook, not both', 'bad-argument');
  // open the encoders first: a missing import fails before any perception work
  const encoders = options.encoder ? await openDecaSmirk(options.encoderDir) : null;
  const inp = await resolveInput(input, (!!dense && w.dense > 0) || !!encoders);
  if (encoders && !inp.image) throw new MagicPortraitError(`fitFlame: the '${options.encoder}' start runs encoders on the image; ${inp.name} has landmarks only`, 'bad-argument');
  const flags: string[] = [];
  const { weights: lmW, outside, missing } = landmarkWeights(inp.lm, inp.width, inp.height, w);
  if (missing > 0) flags.push('missing-landmarks');
  if (68 - missing < 20) {
    throw new MagicPortraitError(`fitFlame: only ${68 - missing} of the 68 landmarks of ${inp.name} are finite`, 'bad-argument');
  }
  if (outside >= 7) flags.push('partially-out-of-frame');
  if (inp.face && inp.face.box.x2 - inp.face.box.x1 < MIN_FACE_PX) flags.push('face-too-small');
  let T: Float64Array;
  try {
    T = decaCropTform(inp.lm, 68, lmW);
  } catch {
    throw new MagicPortraitError(`fitFlame: the landmarks of ${inp.name} span no area; nothing to fit`, 'bad-argument');
  }
  const iod = interOcular(inp.lm);
  if (!(iod >= MIN_IOD_PX)) flags.includes('face-too-small') || flags.push('face-too-small');

  const fixedShape = options.shape ? Float64Array.from(options.shape) : null;
  const rig = fixedShape ? buildFitRig(model, { numShape: options.numShape ?? fixedShape.length, numExpression: options.numExpression, fixedShape })
    : fitRigFor(model, options.numShape, options.numExpression);
  if (!rig.static51) throw new MagicPortraitError(`The ${model.name} has no landmark embedding: it cannot be fitted to landmarks.`, 'bad-model');
  const denseRig = dense ? denseRigPoints(rig, dense) : null;
  const frame = frameTargets(inp.lm, lmW, inp.mesh, dense, T, w, inp.width, inp.height, inp.meshScore);

  // initialisation
  const tInit = performance.now();
  let shape: Float64Array = new Float64Array(rig.numShape);
  let guess: FitInitialGuess | null = null;
  if (encoders) guess = (await encoders.run(inp.image!, T, inp.mesh)).guess;
  else if (options.init) {
    guess = await options.init({ model, image: inp.image, face: inp.face, landmarks68: inp.lm, mesh468: inp.mesh, tform: T });
  }
  // an initialiser's guess is used only where it is complete and finite (a bad encoder output cannot poison the fit)
  const ok = (a: ArrayLike<number> | undefined, n: number) => !!a && a.length >= n && Array.from(a).slice(0, n).every(Number.isFinite);
  if (guess && !ok(guess.shape, rig.numShape) && guess.shape) flags.push('init-shape-ignored');
  if (guess && ok(guess.shape, rig.numShape) && rig.numShape) for (let i = 0; i < rig.numShape; i++) shape[i] = guess.shape![i];
  let state: FrameState = coldStart(rig, shape, frame);
  const poseOk = !!guess?.pose && (guess.pose.length === 6 ? ok(guess.pose, 6) : ok(guess.pose, state.pose.length));
  const camOk = ok(guess?.cam, 3) && guess!.cam![0] > 0;
  if (guess && ok(guess.expression, rig.numExpression)) for (let i = 0; i < rig.numExpression; i++) state.expression[i] = guess.expression![i];
  if (poseOk && camOk) {
    const p = guess!.pose!;
    if (p.length === 6) { for (let i = 0; i < 3; i++) { state.pose[i] = p[i]; state.pose[6 + i] = p[3 + i]; } }
    else for (let i = 0; i < state.pose.length; i++) state.pose[i] = p[i];
    state.cam.set(Array.from(guess!.cam!).slice(0, 3));
  } else if (guess && (guess.pose || guess.cam)) flags.push('init-pose-ignored');
  const solveOpts = {
    weights: w, poseFree: poseFreeMask(rig.numJoints, { neck: options.fitNeck, eyes: options.fitEyes }), shapeFree: !fixedShape,
    rigidIterations: poseOk && camOk ? 0 : 10, maxIterations: options.maxIterations ?? 60,
  };
  if (poseOk && camOk) {
    // A guessed head pose + camera is kept only when it reprojects the landmarks at least as well as the geometric
    // start with the same shape, expression and jaw: a poor encoder camera (e.g. weights from another model) would
    // otherwise trap the solve far from the face.
    const startCost = (st: FrameState) => solveFrames(rig, denseRig, [frame], shape, [st], { ...solveOpts, rigidIterations: 0, maxIterations: 0 }).lm.initialCost;
    const geometric = coldStart(rig, shape, frame, state);
    if (startCost(geometric) < startCost(state)) {
      state = geometric;
      solveOpts.rigidIterations = 10;
      flags.push('init-pose-replaced');
    }
  }
  const initMs = performance.now() - tInit;

  const tSolve = performance.now();
  let res = solveFrames(rig, denseRig, [frame], shape, [state], solveOpts);
  if (options.contourSearch !== false) res = contourRowSearch(rig, denseRig, frame, res, { ...solveOpts, maxIterations: 30 });
  const solveMs = performance.now() - tSolve;
  shape = fixedShape ? Float64Array.from(fixedShape) : finite(res.shape, flags, 'shape');
  state = res.states[0];
  finite(state.expression, flags, 'expression');
  finite(state.pose, flags, 'pose');
  if (!(state.cam[0] > 0) || !state.cam.every(Number.isFinite)) { flags.push('non-finite-guarded'); state.cam.set([1, 0, 0]); }

  // report
  const proj = res.problem.project(0);
  const Tinv = invertAffine3(T);
  const fitted = transformPoints(Tinv, proj.points.subarray(0, 136));
  const residuals = new Float64Array(68);
  const detected = Float64Array.from(inp.lm);
  const detectedMask = new Uint8Array(68);
  let sum = 0, sumIn = 0, nIn = 0, nAll = 0;
  for (let i = 0; i < 68; i++) {
    const d = Math.hypot(fitted[2 * i] - inp.lm[2 * i], fitted[2 * i + 1] - inp.lm[2 * i + 1]);
    if (!Number.isFinite(d)) { detected[2 * i] = fitted[2 * i]; detected[2 * i + 1] = fitted[2 * i + 1]; continue; }
    residuals[i] = d;
    detectedMask[i] = 1;
    sum += d; nAll++;
    if (i >= 17) { sumIn += d; nIn++; }
  }
  const nme = nAll && iod > 0 ? sum / nAll / iod : Infinity;
  const nmeInner = nIn && iod > 0 ? sumIn / nIn / iod : Infinity;
  let denseOut: FlameFit['dense'] = null;
  if (dense && frame.dense && inp.mesh) {
    const n = dense.mpIndex.length;
    const fit = transformPoints(Tinv, proj.points.subarray(136, 136 + 2 * n));
    const det = new Float64Array(2 * n), r = new Float64Array(n);
    for (let p = 0; p < n; p++) {
      det[2 * p] = inp.mesh[3 * dense.mpIndex[p]];
      det[2 * p + 1] = inp.mesh[3 * dense.mpIndex[p] + 1];
      r[p] = Math.hypot(fit[2 * p] - det[2 * p], fit[2 * p + 1] - det[2 * p + 1]);
      if (!Number.isFinite(r[p])) { det[2 * p] = fit[2 * p]; det[2 * p + 1] = fit[2 * p + 1]; r[p] = 0; }
    }
    denseOut = { mpIndex: dense.mpIndex, fitted: fit, detected: det, residuals: r };
  }
  const angles = headAngles(state.pose);
  if (Math.abs(angles.yaw) > 55 || Math.abs(angles.pitch) > 40 || Math.abs(angles.roll) > 45) flags.push('extreme-pose');
  if (res.lm.status === 'non-finite') flags.push('non-finite-guarded');

  // photometric refinement
  const tPh = performance.now();
  let albedo: Float64Array | null = null, light: Float64Array | null = null, phReport: FlameFit['photometric'] = null;
  if (options.photometric !== false && inp.image && model.texture && model.uv) {
    const ph = photometricFit(model, inp.image, { shape, expression: state.expression, pose: state.pose, cam: state.cam, tform: T },
      { numShape: rig.shapeCount, numExpression: rig.numExpression, albedo: guess?.albedo, light: guess?.light, region: faceRegion(inp.lm) });
    albedo = finite(ph.albedo, flags, 'albedo');
    light = finite(ph.light, flags, 'light');
    phReport = ph.report;
  }
  const phMs = performance.now() - tPh;

  const pose6 = Float64Array.of(state.pose[0], state.pose[1], state.pose[2], state.pose[6] ?? 0, state.pose[7] ?? 0, state.pose[8] ?? 0);
  const quality = qualityOf(nme, flags);
  const fitResult: FlameFit = {
    modelName: model.name, modelKind: model.kind, shape, expression: state.expression, pose: state.pose, pose6, cam: state.cam,
    tform: T, decaTform: decaTform(T), imageSize: { width: inp.width, height: inp.height }, albedo, light, photometric: phReport,
    landmarks: finite(fitted, flags, 'landmarks'), detected: finite(detected, flags, 'detections'), detectedMask, residuals, dense: denseOut, nme: Number.isFinite(nme) ? nme : 1, nmeInner: Number.isFinite(nmeInner) ? nmeInner : 1,
    interOcular: iod, angles, quality, flags,
    solver: { iterations: res.lm.iterations, status: res.lm.status, cost: res.lm.cost, ms: { perception: inp.ms, init: initMs, solve: solveMs, photometric: phMs, total: 0 } },
    overlay: null,
  };
  if (!Number.isFinite(nme)) flags.push('no-landmarks');
  if (inp.image && options.overlay !== false) fitResult.overlay = drawFitOverlay(inp.image, model, fitResult);
  fitResult.solver.ms.total = performance.now() - t0;
  return fitResult;
}

/**
 * The fit expressed for the same image resized to width × height (the reference pipeline resizes every input to
 * 512 × 512 before cropping, §1.2): the crop transform, landmarks and image size are rescaled; shape, expression, pose
 * and camera are unchanged (the crop covers the same part of the face). Only uniform scaling keeps DECA's similarity
 * crop, so the aspect ratio must be kept.
 */
export function rescaleFit(fit: FlameFit, width = 512, height = width): FlameFit {
  const sx = width / fit.imageSize.width, sy = height / fit.imageSize.height;
  if (Math.abs(sx - sy) > 1e-9 * Math.max(sx, sy)) {
    throw new MagicPortraitError(`rescaleFit: ${fit.imageSize.width}×${fit.imageSize.height} → ${width}×${height} changes the aspect ratio; DECA's crop is a similarity`, 'bad-argument');
  }
  const T = Float64Array.from(fit.tform);
  T[0] /= sx; T[1] /= sx; T[3] /= sx; T[4] /= sx; // T' = T · diag(1/s, 1/s, 1)
  const scale = (a: Float64Array) => a.map((v) => v * sx);
  return {
    ...fit, tform: T, decaTform: decaTform(T), imageSize: { width, height }, landmarks: scale(fit.landmarks), detected: scale(fit.detected),
    residuals: scale(fit.residuals), interOcular: fit.interOcular * sx, overlay: null,
    dense: fit.dense ? { ...fit.dense, fitted: scale(fit.dense.fitted), detected: scale(fit.dense.detected), residuals: scale(fit.dense.residuals) } : null,
  };
}
