/**
 * The data the fitting area hands on: a portrait fit, a track of a driving video, the aligned sequence of the two and
 * the crop they are placed in — plain records of typed arrays, no behaviour, so every module of the area (and every
 * consumer) can import them without importing each other.
 */
import type { FlameModelData } from '../flame/types';
import type { Image } from '../io/image';
import type { Box, Face } from '../perception/detect';
import type { Affine } from '../perception/warp';
import type { PhotometricResult } from './photometric';
import type { SmoothingOptions } from './smooth';

/** 'studio' (our optimiser) or 'reference' (the official DECA + SMIRK estimator, reference.ts). */
export type EstimatorPreset = 'studio' | 'reference';

// ---- portrait fit (fit.ts)

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

/** The face a fit used, among those detected in the photo. */
export interface FitFaceChoice {
  /** Box in image pixels. */
  box: Box;
  score: number;
  /** Index among the detected faces, largest first, and how many were detected. */
  index: number;
  count: number;
}

export type FitQuality = 'good' | 'fair' | 'poor' | 'failed';

export interface FlameFit {
  /** Which estimator made it: 'studio' (our optimiser) or 'reference' (DECA + SMIRK raw). */
  preset: EstimatorPreset;
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
  /** The detected face that was fitted (absent when landmarks were given without a detection). */
  face?: FitFaceChoice;
  /** Things the user should know, in words (e.g. which of several faces was fitted and how to choose another). */
  warnings?: string[];
}

// ---- track (track.ts, reference.ts)

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
  /** What the user should know about the source, in words: a truncated file, few frames with a face. */
  warnings?: string[];
}

// ---- crop and alignment (crop.ts, align.ts)

export interface PortraitCrop {
  /** Photo pixels → crop pixels (2×3, pixel-centre coordinates). */
  matrix: Affine;
  /** Crop pixels → photo pixels. */
  inverse: Affine;
  /** Side of the (square) crop. */
  size: number;
  /** The photo the crop was made from. */
  source: { width: number; height: number };
  /** The face box (photo pixels) that placed the crop. */
  box: Box;
}

export interface AlignOptions {
  /**
   * 'reference': the official run — both inputs from the 'reference' estimator (raw DECA + SMIRK), the raw series, the
   * code's parameter sources (no ablation). 'studio' (default): any fit and track, the options below.
   */
  preset?: EstimatorPreset;
  /** Which series of the track: 'smoothed' (default) or 'raw'. */
  series?: 'smoothed' | 'raw';
  /** 'reference' (the code): the reference's camera and crop. Ablation 'driving': each frame's own camera and crop (the head keeps the driving video's translation and scale, in the driving frame's coordinates). */
  camera?: 'reference' | 'driving';
  /** 'absolute' (the code): the driving rotation replaces the reference's. Ablation 'relative': R_ref · R_first⁻¹ · R_t (the driving motion applied on top of the reference head's own pose). */
  rotation?: 'absolute' | 'relative';
  /** 'driving' (the code). Ablations: 'relative' (ψ_ref + ψ_t − ψ_first), 'reference' (no expression transfer: the reference's own expression). */
  expression?: 'driving' | 'relative' | 'reference';
  /** 'driving' (the code) or ablation 'reference' (the reference's own jaw). */
  jaw?: 'driving' | 'reference';
  /** Ablations: take the neck / eye rotations from the driving frames instead of zeros (the code keeps them at zero). */
  transferNeck?: boolean;
  transferEyes?: boolean;
  /** Frame range of the track [start, end) (default all). */
  frames?: [number, number];
}

export type ParamSource = 'reference' | 'driving' | 'zero' | 'reference+driving';

export interface AlignedSequence {
  modelName: string;
  modelKind: FlameFit['modelKind'];
  /** Human-readable variant: 'reference code (§4.2)' or the list of ablations. */
  variant: string;
  options: Required<Omit<AlignOptions, 'frames' | 'preset'>>;
  numFrames: number;
  fps: number;
  /** Size of the image the renders are placed in (the reference image's; 512×512 in the reference pipeline). */
  width: number;
  height: number;
  /** Shared identity and appearance (from the reference). */
  shape: Float64Array;
  albedo: Float64Array | null;
  light: Float64Array | null;
  /** Per frame: F × numExpression, F × 3J, F × 3 (DECA cam), F × 9 (crop transform T), F × 9 (DECA's (T⁻¹)ᵀ). */
  expression: Float64Array;
  pose: Float64Array;
  cam: Float64Array;
  tform: Float64Array;
  decaTform: Float64Array;
  /** Driving frame index per aligned frame, and the driving video (when the track came from a file). */
  drivingFrames: Int32Array;
  drivingSource: string | null;
  /** Where each parameter came from. */
  provenance: Record<'shape' | 'albedo' | 'light' | 'camera' | 'tform' | 'globalRotation' | 'expression' | 'jaw' | 'neck' | 'eyes', ParamSource>;
  numExpression: number;
  numJoints: number;
  /** The reference photo's 512² generation crop (§1.1; from the face the reference fit used), where the method needs
   * a square frame: `mp.renderGuidance`, `mp.preview` and `mp.sample` move a non-square photo's sequence into it. */
  crop?: PortraitCrop | null;
  /** 'photo' (default): the renders are placed in the reference photo; 'crop': in `crop` (alignedInCrop). */
  placedIn?: 'photo' | 'crop';
}
