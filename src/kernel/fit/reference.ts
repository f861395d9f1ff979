// The official estimator (`preset: 'reference'`): the guidance parameters exactly as render_and_transfer.py takes them
// (reference-pipeline.md §1, §2.2, §3, §4), where the 'studio' preset fits landmarks with our optimiser, smooths the
// track with filtfilt and refines albedo and light photometrically.
//
//   reference portrait   DECA's shape, tex (albedo), light and camera, at DECA's crop of the 68 landmarks (§1.2, with
//                        scikit-image's 512 round trip); no optimisation, no photometric refinement (fit.ts)
//   driving video        stage A's crop from the FIRST frame's face box, reused for every frame (§1.1 video mode),
//                        each crop through a quality-75 JPEG as crop_process.py saves it; per frame, raw: DECA's global
//                        rotation pose[0:3] and SMIRK's expression (50) and jaw (§3 merge); no smoothing, no gap filling
//                        (a frame without a face is encoded from the whole frame, as the reference's fallbacks do)
//
// It needs FLAME (2020, the render's topology, texture space and landmark embedding) and the DECA and SMIRK encoders
// imported from the user's checkpoints (a Model Manager bundle holds all three). Our detectors stand in for the
// reference's: BlazeFace for insightface SCRFD (stage A box), face-api's 68 points for face_alignment's FAN, MediaPipe
// face mesh 468 for FaceLandmarker 478; the crop *rules* are the reference's, the boxes differ slightly (README).

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import type { Image } from '../io/image';
import { jpegRoundTrip } from '../io/jpeg-libjpeg';
import { probeVideo, readFrames, type ReadFramesOptions, type VideoFrame } from '../io/video';
import type { FlameModelData } from '../flame/types';
import { loadFlame } from '../flame/model-files';
import { detectFaces, type Box } from '../perception/detect';
import { landmarks468, landmarks68 } from '../perception/landmarks';
import { generationCropCorners, transformationFromPoints, GENERATION_BOX_512, skimageIdentityResize } from '../perception/crops';
import { invertAffine, warpImage, type Affine } from '../perception/warp';
import { DECA_ENCODER_FILE } from '../perception/deca-encoder';
import { SMIRK_ENCODER_FILE } from '../perception/smirk-encoder';
import { throwIfCancelled, type TaskOptions } from '../task';
import { decaCropTform } from './crop-projection';
import { defaultEncoderDir, openDecaSmirk } from './encoder-init';
import { buildFitRig } from './fit-rig';
import { smoothTrack, trackLandmarks } from './track-smoothing';
import { type FlameTrack, type TrackFrameInfo, type TrackSeries } from './types';

/** DECA's code sizes (§2.2): the reference uses 100 shape and 50 expression components. */
export const REFERENCE_NUM_SHAPE = 100;
export const REFERENCE_NUM_EXPRESSION = 50;

export interface ReferenceModels {
  /** FLAME (kind 'flame'), loaded from `flameDir` when not given. */
  model: FlameModelData;
  /** The folder holding deca_e_flame.onnx and smirk_encoder.onnx (directly, or in deca/ and smirk/). */
  encoderDir: string;
}

export interface ReferenceModelOptions {
  /** A model bundle from the Model Manager (its flame/, deca/ and smirk/ steps). */
  bundle?: string;
  /** FLAME, already loaded (mp.flame.load), instead of the bundle's flame/. */
  model?: FlameModelData;
  /** The imported encoders, instead of the bundle's deca/ and smirk/. */
  encoderDir?: string;
}

const FLAME_FILES: { name: string; alternatives: string[]; why: string }[] = [
  { name: 'generic_model.pkl', alternatives: ['generic_model.pkl', 'generic_model.npz'], why: 'the FLAME 2020 model' },
  { name: 'landmark_embedding.npy', alternatives: ['landmark_embedding.npy', 'landmark_embedding.npz'], why: "DECA's landmark embedding" },
  { name: 'FLAME_texture.npz', alternatives: ['FLAME_texture.npz'], why: 'the texture space of the render map' },
  { name: 'head_template.obj', alternatives: ['head_template.obj'], why: "the UV layout of the render map" },
];

/**
 * What the 'reference' preset needs that is missing, one line each (empty when everything is there): FLAME with its
 * four files, DECA's and SMIRK's imported encoder graphs.
 */
export function missingReferenceModels(o: ReferenceModelOptions): string[] {
  const missing: string[] = [];
  const bundle = o.bundle ? resolve(o.bundle) : null;
  if (o.model) {
    if (o.model.kind !== 'flame') missing.push(`FLAME: the model given is the ${o.model.name}, not FLAME 2020 (load it with mp.flame.load(folder), or import it with the Model Manager)`);
    else {
      if (!o.model.texture) missing.push('FLAME: FLAME_texture.npz (the texture space of the render map) was not loaded');
      if (!o.model.uv) missing.push('FLAME: head_template.obj (the UV layout of the render map) was not loaded');
    }
  } else if (!bundle) missing.push('FLAME: no model bundle and no FLAME model given (import FLAME 2020 with the Model Manager, or pass `model: mp.flame.load(folder)`)');
  else
    for (const f of FLAME_FILES)
      if (!f.alternatives.some((a) => existsSync(join(bundle, 'flame', a)))) missing.push(`FLAME: ${join(bundle, 'flame', f.name)} (${f.why})`);
  const encDir = o.encoderDir ? resolve(o.encoderDir) : bundle ?? defaultEncoderDir();
  const find = (file: string, sub: string) => [join(encDir, file), join(encDir, sub, file)].some((p) => existsSync(p));
  if (!find(DECA_ENCODER_FILE, 'deca')) missing.push(`DECA: ${join(encDir, bundle && !o.encoderDir ? 'deca' : '', DECA_ENCODER_FILE)} (import deca_model.tar with the Model Manager, or: magicportrait import-deca deca_model.tar --out ${encDir})`);
  if (!find(SMIRK_ENCODER_FILE, 'smirk')) missing.push(`SMIRK: ${join(encDir, bundle && !o.encoderDir ? 'smirk' : '', SMIRK_ENCODER_FILE)} (import SMIRK_em1.pt with the Model Manager, or: magicportrait import-smirk SMIRK_em1.pt --out ${encDir})`);
  return missing;
}

/** Resolves FLAME and the encoder folder for the 'reference' preset, or throws listing exactly what is missing. */
export async function referenceModels(o: ReferenceModelOptions): Promise<ReferenceModels> {
  const missing = missingReferenceModels(o);
  if (missing.length)
    throw new MagicPortraitError(`The 'reference' preset reproduces the official estimator, which needs FLAME, DECA and SMIRK. Missing:\n  ${missing.join('\n  ')}`, 'missing-file');
  const bundle = o.bundle ? resolve(o.bundle) : null;
  const model = o.model ?? (await loadFlame(join(bundle!, 'flame')));
  return { model, encoderDir: o.encoderDir ? resolve(o.encoderDir) : bundle ?? defaultEncoderDir() };
}

// ------------------------------------------------------------------------------------------------------------------
// Stage A in video mode: the first frame's box, one transform for every frame

export interface FirstFrameCrop {
  /** The face box detected on the first frame (BlazeFace; insightface in the reference). */
  box: Box;
  /** 2×3 map from frame pixels to the 512 crop (cv2.warpAffine's M), from `box` by §1.1's rule. */
  matrix: Affine;
  corners: [number, number][];
}

/** §1.1 crop transform from a face box (square of side 1.5 × box width onto [80, 432]²). */
export function firstFrameCrop(box: Box): FirstFrameCrop {
  const corners = generationCropCorners(box) as [number, number][];
  return { box, matrix: transformationFromPoints(corners, GENERATION_BOX_512), corners };
}

/** One frame through the first frame's transform (bilinear, zero border: cv2.warpAffine INTER_LINEAR). */
export function applyCrop(frame: Image, crop: FirstFrameCrop): Image {
  return warpImage(frame, invertAffine(crop.matrix), 512, 512);
}

// ------------------------------------------------------------------------------------------------------------------
// The reference track

export interface ReferenceTrackOptions extends ReferenceModelOptions, TaskOptions {
  /** Frame selection when `source` is a path. */
  read?: ReadFramesOptions;
  /** Frame rate for frame iterators (default 25; a path's own rate otherwise). */
  fps?: number;
  /** Total for `onProgress` when `source` is an iterator. */
  frameCount?: number;
  /** Save each crop through a quality-75 JPEG as crop_process.py does for `.jpg` frames (default true). */
  jpegCrops?: boolean;
  /** Called with every 512 crop and its raw parameters (e.g. to keep the crops for a display). */
  onFrame?: (frame: TrackFrameInfo, crop: Image) => void | Promise<void>;
}

export interface ReferenceTrackExtras {
  preset: 'reference';
  /** The first frame's crop (its box and transform), applied to every frame. */
  crop: FirstFrameCrop;
  /** DECA's shape code of every frame (unused by the alignment: the shape comes from the reference image). */
  frameShapes: Float64Array;
}

/**
 * The official estimator over a driving video (see the header). Returns a FlameTrack in the 512 crop's coordinates
 * whose raw and "smoothed" series are the same raw encoder outputs (no smoothing), plus the crop it used.
 */
export async function trackReference(
  source: string | AsyncIterable<Image | VideoFrame> | Iterable<Image | VideoFrame>, options: ReferenceTrackOptions = {},
): Promise<FlameTrack & ReferenceTrackExtras> {
  const t0 = performance.now();
  const { model, encoderDir } = await referenceModels(options);
  const enc = await openDecaSmirk(encoderDir);
  const path = typeof source === 'string' ? source : null;
  let fps = options.fps ?? 25;
  let total = options.frameCount ?? 0;
  let frames: AsyncIterable<Image | VideoFrame> | Iterable<Image | VideoFrame>;
  if (path) {
    const info = probeVideo(path);
    const step = Math.max(1, Math.floor(options.read?.step ?? 1));
    fps = info.fps / step;
    total = Math.min(Math.ceil(info.frameCount / step), options.read?.maxFrames ?? Infinity);
    frames = readFrames(path, options.read);
  } else frames = source as Exclude<typeof source, string>;
  const J = model.numJoints;
  const nE = REFERENCE_NUM_EXPRESSION;
  const jaw = model.jointNames.indexOf('jaw');
  if (jaw < 0) throw new MagicPortraitError(`The ${model.name} has no 'jaw' joint.`, 'bad-model');
  const rig = buildFitRig(model, { numShape: REFERENCE_NUM_SHAPE, numExpression: nE, fixedShape: new Float64Array(REFERENCE_NUM_SHAPE) });
  const E: number[] = [], P: number[] = [], C: number[] = [], TF: number[] = [], det: number[] = [], iods: number[] = [], shapes: number[] = [];
  const infos: TrackFrameInfo[] = [];
  let crop: FirstFrameCrop | null = null;
  let perceptionMs = 0, encodeMs = 0;
  let n = 0;
  for await (const f of frames as AsyncIterable<Image | VideoFrame>) {
    throwIfCancelled(options.signal, 'reference estimator');
    const index = 'index' in f && typeof f.index === 'number' ? f.index : n;
    const frame = 'image' in f ? f.image : (f as Image);
    if (!crop) {
      const face = (await detectFaces(frame))[0];
      if (!face) throw new MagicPortraitError(`No face on the first frame${path ? ` of ${path}` : ''} (frame ${index}): the reference crops every frame with the first frame's box.`, 'no-face');
      crop = firstFrameCrop(face.box);
    }
    const tp = performance.now();
    let image = applyCrop(frame, crop);
    if (options.jpegCrops !== false) image = await jpegRoundTrip(image);
    // per frame, as get_image_dict (FAN's SFD + 68 points) and SMIRK (MediaPipe) do on the saved crop
    const face = (await detectFaces(image))[0] ?? null;
    const flags: string[] = [];
    let lm: Float64Array, mesh: Float32Array | null = null;
    if (face) {
      lm = Float64Array.from((await landmarks68(image, face)).points.flat());
      mesh = (await landmarks468(image, face)).points;
    } else {
      // get_image_dict without a face: the whole image as the box; SMIRK without a face: the whole frame resized
      lm = new Float64Array(136);
      for (let p = 1; p < 68; p += 2) { lm[2 * p] = image.width - 1; lm[2 * p + 1] = image.height - 1; }
      flags.push('no-face: whole-frame crops (as the reference)');
    }
    const T = Float64Array.from(decaCropTform(lm, 68));
    perceptionMs += performance.now() - tp;
    const te = performance.now();
    const r = await enc.run(image, T, mesh, skimageIdentityResize(image));
    encodeMs += performance.now() - te;
    if (!r.smirkCropFromMesh && face) flags.push('smirk-whole-frame');
    const pose = new Float64Array(3 * J);
    for (let c = 0; c < 3; c++) {
      pose[c] = r.deca.pose[c]!;
      pose[3 * jaw + c] = r.smirk.jaw[c]!;
    }
    const expression = Float64Array.from(r.smirk.expression);
    const cam = Float64Array.from(r.deca.cam);
    E.push(...expression);
    P.push(...pose);
    C.push(...cam);
    TF.push(...T);
    shapes.push(...r.deca.shape);
    for (let i = 0; i < 136; i++) det.push(face ? lm[i]! : NaN);
    const iod = face ? Math.hypot(lm[72]! - lm[90]!, lm[73]! - lm[91]!) : NaN; // outer eye corners, as fit.ts
    iods.push(iod);
    const fitted = trackLandmarks(rig, { expression, pose, cam }, T);
    let s = 0, k = 0;
    for (let i = 0; i < 68 && face; i++) {
      const d = Math.hypot(fitted[2 * i]! - lm[2 * i]!, fitted[2 * i + 1]! - lm[2 * i + 1]!);
      if (Number.isFinite(d)) { s += d; k++; }
    }
    const nme = k && iod > 0 ? s / k / iod : NaN;
    const info: TrackFrameInfo = { index, status: 'tracked', nme, nmeSmoothed: nme, quality: !face ? 'failed' : nme <= 0.05 ? 'good' : nme <= 0.08 ? 'fair' : 'poor', flags, start: 'none' };
    infos.push(info);
    await options.onFrame?.(info, image);
    n++;
    options.onProgress?.(n, Math.max(n, total));
  }
  const F = infos.length;
  if (!F || !crop) throw new MagicPortraitError(`The reference estimator got no frames${path ? ` from ${path}` : ''}.`, 'bad-argument');
  const raw: TrackSeries = { expression: Float64Array.from(E), pose: Float64Array.from(P), cam: Float64Array.from(C), tform: Float64Array.from(TF) };
  const copy = (s: TrackSeries): TrackSeries => ({ expression: s.expression.slice(), pose: s.pose.slice(), cam: s.cam.slice(), tform: s.tform.slice() });
  const base: FlameTrack = {
    modelName: model.name, modelKind: model.kind, source: path, fps, width: 512, height: 512, numFrames: F, numExpression: nE, numJoints: J,
    shape: new Float64Array(REFERENCE_NUM_SHAPE), shapeSource: 'given', frames: infos, raw, smoothed: copy(raw), smoothing: { method: 'none' },
    detected: Float32Array.from(det), interOcular: Float64Array.from(iods),
    jitter: { groups: [], perParameter: [], nmeRaw: NaN, nmeSmoothed: NaN, nmeIncrease: NaN },
    timing: { frames: F, perceptionMs: perceptionMs / F, fitMs: encodeMs / F, shapeMs: 0, totalMs: 0 },
  };
  // jitter and NME report without smoothing ('none' copies the raw series)
  const reported = smoothTrack(base, false, model, rig);
  reported.smoothed = copy(raw);
  reported.timing.totalMs = performance.now() - t0;
  return { ...reported, preset: 'reference', crop, frameShapes: Float64Array.from(shapes) };
}

/** True for a track made by the 'reference' preset. */
export function isReferenceTrack(t: FlameTrack): t is FlameTrack & ReferenceTrackExtras {
  return (t as Partial<ReferenceTrackExtras>).preset === 'reference';
}
