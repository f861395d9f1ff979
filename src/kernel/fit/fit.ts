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
import { detectFaces, type Face, type Point } from '../perception/detect';
import { landmarks468, landmarks68, type Landmarks68, type Mesh468 } from '../perception/landmarks';
import { decaTform } from '../flame/orthographic';
import { decaCropTform, invertAffine3, transformPoints } from './crop-projection';
import { buildFitRig, type FitRig } from './fit-rig';
import { defaultDenseCorrespondence, type DenseCorrespondence } from './dense';
import type { FrameState, FrameTargets } from './problem';
import { coldStart, contourRowSearch, DEFAULT_WEIGHTS, poseFreeMask, solveFrames, type FitWeights } from './solve';
import { faceRegion, photometricFit } from './photometric';
import { drawFitOverlay } from './overlay';
import { openDecaSmirk, type DecaSmirkEncoders, type FitEncoder } from './encoder-init';
import { referenceModels, REFERENCE_NUM_EXPRESSION, REFERENCE_NUM_SHAPE } from './reference';
import { type EstimatorPreset } from './types';
import { skimageIdentityResize } from '../perception/crops';
import type { FitInitialGuess, FitInitialiser, FlameFit } from './types';
import { MIN_FACE_PX, MIN_IOD_PX, denseRigPoints, fitRigFor, frameTargets, headAngles, interOcular, landmarkWeights, qualityOf } from './frame-targets';

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
  /**
   * 'studio' (default): our optimiser on the landmarks (+ dense points), then photometric albedo and light.
   * 'reference': the official estimator (reference.ts) — DECA's shape, albedo, light and camera (and SMIRK's expression
   * and jaw) taken raw from the imported encoders, nothing optimised. Needs FLAME + DECA + SMIRK (`bundle`, or `model`
   * and `encoderDir`) and says what is missing.
   */
  preset?: EstimatorPreset;
  /** A model bundle (Model Manager) with flame/, deca/ and smirk/: FLAME and the encoders of the 'reference' preset. */
  bundle?: string;
  /** The model; default the built-in demo head ('reference': FLAME from `bundle`). */
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
  /** Which detected face to fit when the photo shows several: its index, largest first (default 0, the largest). */
  face?: number;
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

function finite(a: Float64Array, flags: string[], what: string): Float64Array {
  let bad = false;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) { a[i] = 0; bad = true; }
  if (bad && !flags.includes('non-finite-guarded')) flags.push('non-finite-guarded');
  if (bad) flags.push(`non-finite ${what} replaced by 0`);
  return a;
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
  /** The detected face's index and the number of faces (when detection ran). */
  faceIndex: number;
  faceCount: number;
}

/** Perception for fitFlame (or the given landmarks). */
export async function resolveInput(input: FitInput, needMesh: boolean, faceIndex = 0): Promise<ResolvedFitInput> {
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
  let faceCount = face ? 1 : 0;
  if (li.landmarks68) lm = flat68(li.landmarks68);
  else {
    if (!image) throw new MagicPortraitError('fitFlame: give an image or 68 landmarks', 'bad-argument');
    if (!face) {
      const faces = await detectFaces(image);
      faceCount = faces.length;
      if (!faces.length) throw new MagicPortraitError(`No face found in ${name} (${width}×${height}): nothing to fit.`, 'no-face');
      if (!(Number.isInteger(faceIndex) && faceIndex >= 0 && faceIndex < faces.length))
        throw new MagicPortraitError(`fitFlame: face ${faceIndex} requested but ${name} has ${faces.length} face(s) (indices 0–${faces.length - 1}, largest first).`, 'bad-argument');
      face = faces[faceIndex]!;
    }
    lm = flat68(await landmarks68(image, face));
    if (needMesh && !mesh) {
      const m = await landmarks468(image, face);
      mesh = m.points;
      meshScore = m.score;
    }
  }
  return { image, width, height, face, lm, mesh, meshScore, name, ms: performance.now() - t0, faceIndex: li.face ? 0 : faceIndex, faceCount };
}

/** The encoders' guess for the portrait (DECA sees get_image_dict's 512 resize: a scikit-image uint8 round trip for a
 * 512² input, §1.2 step 2). */
async function encoderGuess(encoders: DecaSmirkEncoders, inp: { image: Image | null; mesh: Float32Array | null }, T: Float64Array, reference: boolean, flags: string[]): Promise<FitInitialGuess> {
  const img = inp.image!;
  const is512 = img.width === 512 && img.height === 512;
  if (reference && !is512) flags.push('reference-input-not-512');
  return (await encoders.run(img, T, inp.mesh, reference && is512 ? skimageIdentityResize(img) : undefined)).guess;
}

/**
 * The solver's start: the geometric cold start, with an initialiser's guess taken only where it is complete and
 * finite (a bad encoder output cannot poison the fit). `posed`: the guess gave a usable head pose and camera.
 */
function startFrom(guess: FitInitialGuess | null, rig: FitRig, frame: FrameTargets, reference: boolean, flags: string[]): { shape: Float64Array; state: FrameState; posed: boolean } {
  const shape = new Float64Array(rig.numShape);
  const ok = (a: ArrayLike<number> | undefined, n: number) => !!a && a.length >= n && Array.from(a).slice(0, n).every(Number.isFinite);
  if (guess && !ok(guess.shape, rig.numShape) && guess.shape) flags.push('init-shape-ignored');
  if (guess && ok(guess.shape, rig.numShape) && rig.numShape) for (let i = 0; i < rig.numShape; i++) shape[i] = guess.shape![i]!;
  const state = coldStart(rig, shape, frame);
  const poseOk = !!guess?.pose && (guess.pose.length === 6 ? ok(guess.pose, 6) : ok(guess.pose, state.pose.length));
  // the reference takes DECA's camera as it comes (a non-positive scale included)
  const camOk = ok(guess?.cam, 3) && (reference || guess!.cam![0]! > 0);
  if (guess && ok(guess.expression, rig.numExpression)) for (let i = 0; i < rig.numExpression; i++) state.expression[i] = guess.expression![i]!;
  if (poseOk && camOk) {
    const p = guess!.pose!;
    if (p.length === 6) { for (let i = 0; i < 3; i++) { state.pose[i] = p[i]!; state.pose[6 + i] = p[3 + i]!; } }
    else for (let i = 0; i < state.pose.length; i++) state.pose[i] = p[i]!;
    state.cam.set(Array.from(guess!.cam!).slice(0, 3));
  } else if (guess && (guess.pose || guess.cam)) flags.push('init-pose-ignored');
  return { shape, state, posed: poseOk && camOk };
}

/** The fitted 68 landmarks in the image against the detected ones: residuals and NME (all, and the inner 51). */
function landmarkReport(res: ReturnType<typeof solveFrames>, Tinv: Float64Array, lm: Float64Array, iod: number) {
  const proj = res.problem.project(0);
  const fitted = transformPoints(Tinv, proj.points.subarray(0, 136));
  const residuals = new Float64Array(68);
  const detected = Float64Array.from(lm);
  const detectedMask = new Uint8Array(68);
  let sum = 0, sumIn = 0, nIn = 0, nAll = 0;
  for (let i = 0; i < 68; i++) {
    const d = Math.hypot(fitted[2 * i]! - lm[2 * i]!, fitted[2 * i + 1]! - lm[2 * i + 1]!);
    if (!Number.isFinite(d)) { detected[2 * i] = fitted[2 * i]!; detected[2 * i + 1] = fitted[2 * i + 1]!; continue; }
    residuals[i] = d;
    detectedMask[i] = 1;
    sum += d; nAll++;
    if (i >= 17) { sumIn += d; nIn++; }
  }
  return { fitted, detected, detectedMask, residuals, nme: nAll && iod > 0 ? sum / nAll / iod : Infinity, nmeInner: nIn && iod > 0 ? sumIn / nIn / iod : Infinity };
}

/** The fitted dense points against the detected 468-point mesh. */
function denseReport(res: ReturnType<typeof solveFrames>, Tinv: Float64Array, dense: DenseCorrespondence, mesh: Float32Array): NonNullable<FlameFit['dense']> {
  const n = dense.mpIndex.length;
  const fit = transformPoints(Tinv, res.problem.project(0).points.subarray(136, 136 + 2 * n));
  const det = new Float64Array(2 * n), r = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    det[2 * p] = mesh[3 * dense.mpIndex[p]!]!;
    det[2 * p + 1] = mesh[3 * dense.mpIndex[p]! + 1]!;
    r[p] = Math.hypot(fit[2 * p]! - det[2 * p]!, fit[2 * p + 1]! - det[2 * p + 1]!);
    if (!Number.isFinite(r[p])) { det[2 * p] = fit[2 * p]!; det[2 * p + 1] = fit[2 * p + 1]!; r[p] = 0; }
  }
  return { mpIndex: dense.mpIndex, fitted: fit, detected: det, residuals: r };
}

/** Albedo and light fitted to the photo with the geometry fixed (photometric.ts). */
function refineAppearance(
  model: FlameModelData, image: Image, fit: { shape: Float64Array; state: FrameState; T: Float64Array; rig: FitRig; guess: FitInitialGuess | null; lm: Float64Array }, flags: string[],
): { albedo: Float64Array; light: Float64Array; report: FlameFit['photometric'] } {
  const { shape, state, T, rig, guess } = fit;
  const ph = photometricFit(model, image, { shape, expression: state.expression, pose: state.pose, cam: state.cam, tform: T },
    { numShape: rig.shapeCount, numExpression: rig.numExpression, albedo: guess?.albedo, light: guess?.light, region: faceRegion(fit.lm) });
  return { albedo: finite(ph.albedo, flags, 'albedo'), light: finite(ph.light, flags, 'light'), report: ph.report };
}

/** Fits the model to one portrait (see the header of this file). */
export async function fitFlame(input: FitInput, options: FitFlameOptions = {}): Promise<FlameFit> {
  const t0 = performance.now();
  const preset = options.preset ?? 'studio';
  if (preset !== 'studio' && preset !== 'reference') throw new MagicPortraitError(`fitFlame: preset must be 'studio' or 'reference', got '${String(preset)}'`, 'bad-argument');
  const reference = preset === 'reference';
  if (reference && (options.init || (options.encoder && options.encoder !== 'deca+smirk')))
    throw new MagicPortraitError("fitFlame: the 'reference' preset is DECA + SMIRK; it takes no init hook or other encoder", 'bad-argument');
  // the reference preset checks FLAME and both encoders first and lists everything missing
  const refModels = reference ? await referenceModels({ bundle: options.bundle, model: options.model, encoderDir: options.encoderDir }) : null;
  const model = refModels?.model ?? options.model ?? createDemoHead();
  const encoder = reference ? 'deca+smirk' : options.encoder;
  const encoderDir = refModels?.encoderDir ?? options.encoderDir ?? options.bundle;
  const w: FitWeights = { ...DEFAULT_WEIGHTS, ...options.weights };
  const dense = reference || options.dense === false || options.dense === null ? null : (options.dense ?? defaultDenseCorrespondence(model));
  if (encoder !== undefined && encoder !== 'deca+smirk') throw new MagicPortraitError(`fitFlame: unknown encoder '${String(encoder)}' (supported: 'deca+smirk')`, 'bad-argument');
  if (encoder && options.init) throw new MagicPortraitError('fitFlame: give either an encoder or an init hook, not both', 'bad-argument');
  // open the encoders first: a missing import fails before any perception work
  const encoders = encoder ? await openDecaSmirk(encoderDir) : null;
  const inp = await resolveInput(input, (!!dense && w.dense > 0) || !!encoders, options.face ?? 0);
  if (encoders && !inp.image) throw new MagicPortraitError(`fitFlame: the '${encoder}' start runs encoders on the image; ${inp.name} has landmarks only`, 'bad-argument');
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
  const numShape = options.numShape ?? (reference ? REFERENCE_NUM_SHAPE : undefined);
  const numExpression = options.numExpression ?? (reference ? REFERENCE_NUM_EXPRESSION : undefined);
  const rig = fixedShape ? buildFitRig(model, { numShape: numShape ?? fixedShape.length, numExpression, fixedShape })
    : fitRigFor(model, numShape, numExpression);
  if (!rig.static51) throw new MagicPortraitError(`The ${model.name} has no landmark embedding: it cannot be fitted to landmarks.`, 'bad-model');
  const denseRig = dense ? denseRigPoints(rig, dense) : null;
  const frame = frameTargets(inp.lm, lmW, inp.mesh, dense, T, w, inp.width, inp.height, inp.meshScore);

  // initialisation
  const tInit = performance.now();
  const guess = encoders ? await encoderGuess(encoders, inp, T, reference, flags)
    : options.init ? await options.init({ model, image: inp.image, face: inp.face, landmarks68: inp.lm, mesh468: inp.mesh, tform: T }) : null;
  const solveOpts = {
    weights: w, poseFree: poseFreeMask(rig.numJoints, { neck: options.fitNeck, eyes: options.fitEyes }), shapeFree: !fixedShape,
    rigidIterations: 10, maxIterations: reference ? 0 : (options.maxIterations ?? 60),
  };
  let { shape, state, posed } = startFrom(guess, rig, frame, reference, flags);
  if (posed) solveOpts.rigidIterations = 0;
  if (reference && !posed) throw new MagicPortraitError(`fitFlame: DECA gave a non-finite pose or camera for ${inp.name}; the 'reference' preset takes them as they are`, 'bad-model');
  if (posed && !reference) {
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
  if (options.contourSearch !== false && !reference) res = contourRowSearch(rig, denseRig, frame, res, { ...solveOpts, maxIterations: 30 });
  const solveMs = performance.now() - tSolve;
  shape = fixedShape ? Float64Array.from(fixedShape) : finite(res.shape, flags, 'shape');
  state = res.states[0];
  finite(state.expression, flags, 'expression');
  finite(state.pose, flags, 'pose');
  if ((!reference && !(state.cam[0] > 0)) || !state.cam.every(Number.isFinite)) { flags.push('non-finite-guarded'); state.cam.set([1, 0, 0]); }

  // report
  const Tinv = invertAffine3(T);
  const { fitted, detected, detectedMask, residuals, nme, nmeInner } = landmarkReport(res, Tinv, inp.lm, iod);
  const denseOut = dense && frame.dense && inp.mesh ? denseReport(res, Tinv, dense, inp.mesh) : null;
  const angles = headAngles(state.pose);
  if (Math.abs(angles.yaw) > 55 || Math.abs(angles.pitch) > 40 || Math.abs(angles.roll) > 45) flags.push('extreme-pose');
  if (res.lm.status === 'non-finite') flags.push('non-finite-guarded');

  // photometric refinement
  const tPh = performance.now();
  const { albedo, light, report: phReport } = reference
    // DECA's tex code and light, raw (the reference refines nothing)
    ? { albedo: guess?.albedo ? Float64Array.from(guess.albedo) : null, light: guess?.light ? Float64Array.from(guess.light) : null, report: null }
    : options.photometric !== false && inp.image && model.texture && model.uv
      ? refineAppearance(model, inp.image, { shape, state, T, rig, guess, lm: inp.lm }, flags)
      : { albedo: null, light: null, report: null };
  const phMs = performance.now() - tPh;

  const pose6 = Float64Array.of(state.pose[0], state.pose[1], state.pose[2], state.pose[6] ?? 0, state.pose[7] ?? 0, state.pose[8] ?? 0);
  const quality = qualityOf(nme, flags);
  const fitResult: FlameFit = {
    preset,
    modelName: model.name, modelKind: model.kind, shape, expression: state.expression, pose: state.pose, pose6, cam: state.cam,
    tform: T, decaTform: decaTform(T), imageSize: { width: inp.width, height: inp.height }, albedo, light, photometric: phReport,
    landmarks: finite(fitted, flags, 'landmarks'), detected: finite(detected, flags, 'detections'), detectedMask, residuals, dense: denseOut, nme: Number.isFinite(nme) ? nme : 1, nmeInner: Number.isFinite(nmeInner) ? nmeInner : 1,
    interOcular: iod, angles, quality, flags,
    solver: { iterations: res.lm.iterations, status: res.lm.status, cost: res.lm.cost, ms: { perception: inp.ms, init: initMs, solve: solveMs, photometric: phMs, total: 0 } },
    overlay: null,
  };
  if (!Number.isFinite(nme)) flags.push('no-landmarks');
  if (inp.face) {
    const b = inp.face.box;
    fitResult.face = { box: { ...b }, score: inp.face.score, index: inp.faceIndex, count: Math.max(1, inp.faceCount) };
    if (inp.faceCount > 1) {
      const where = `box [${[b.x1, b.y1, b.x2, b.y2].map((v) => v.toFixed(0)).join(', ')}]`;
      fitResult.warnings = [`${inp.name} shows ${inp.faceCount} faces; fitted face ${inp.faceIndex} (${inp.faceIndex === 0 ? 'the largest' : `number ${inp.faceIndex + 1} by size`}, ${where}). ` +
        `To fit another, pass { face: i } with i from 0 to ${inp.faceCount - 1}, largest first (mp.analyzeFace(image) draws them all).`];
      flags.push('several-faces');
    }
  }
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
