/**
 * Dense 468-point face mesh (MediaPipe), 68 landmarks and the 128-d face descriptor (face-api / dlib), on ONNX
 * Runtime. All points are returned in image pixels (pixel-centre coordinates).
 */
import { MagicPortraitError } from '../errors';
import { checkImage, type Image } from '../io/image';
import { ort } from '../onnx/session';
import { similarityTransform } from './crops';
import type { Box, Face, Point } from './detect';
import { modelSession } from './models';
import { jitterChip, jitterRandom } from './jitter';
import { DLIB_CHIP_LANDMARKS68, DLIB_MEAN_FACE_X, DLIB_MEAN_FACE_Y } from './templates';
import { applyAffine, continuousToCentre, invertAffine, sourceForShrink, warpToTensor, type Affine } from './warp';

/** A rotated square region of interest: centre, side (pixels) and rotation (radians, clockwise in the image). */
export interface Roi {
  cx: number;
  cy: number;
  size: number;
  angle: number;
}

/** Continuous-coordinate map from an N×N crop of `roi` (centre in pixel-centre coordinates) to the image. */
function roiToImage(roi: Roi, n: number): Affine {
  const c = Math.cos(roi.angle), s = Math.sin(roi.angle), k = roi.size / n;
  const cx = roi.cx + 0.5, cy = roi.cy + 0.5; // to continuous coordinates
  // p = centre + R·((u − n/2)·k, (v − n/2)·k)
  return [c * k, -s * k, cx - (c - s) * (n / 2) * k, s * k, c * k, cy - (s + c) * (n / 2) * k];
}

/** Samples an N×N crop of `roi`, box-filtering first when the crop shrinks the image more than 2×. */
function cropTensor(image: Image, roi: Roi, n: number, out: Float32Array, scale: number, bias: [number, number, number]): Affine {
  const toImage = roiToImage(roi, n);
  const { src, f } = sourceForShrink(image, roi.size / n);
  const toSrc: Affine = [toImage[0] / f, toImage[1] / f, toImage[2] / f, toImage[3] / f, toImage[4] / f, toImage[5] / f];
  warpToTensor(src, continuousToCentre(toSrc), n, n, out, 0, scale, bias);
  return toImage;
}

/** Maps a point in continuous crop coordinates to image pixel centres. */
function cropToImage(toImage: Affine, u: number, v: number): Point {
  const [x, y] = applyAffine(toImage, u, v);
  return [x - 0.5, y - 0.5];
}

const normAngle = (a: number) => a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));

/** MediaPipe's ROI from a detection: box centre, rotation from the eyes (keypoints 0→1), side = max(w, h)·1.5. */
export function roiFromDetection(face: Face): Roi {
  const [r, l] = face.keypoints as [Point, Point];
  const w = face.box.x2 - face.box.x1;
  const h = face.box.y2 - face.box.y1;
  return {
    cx: (face.box.x1 + face.box.x2) / 2,
    cy: (face.box.y1 + face.box.y2) / 2,
    size: Math.max(w, h) * 1.5,
    angle: normAngle(Math.atan2(l[1] - r[1], l[0] - r[0])),
  };
}

/** MediaPipe's ROI from a previous mesh (tracking): rotation from the eye corners 33→263, box of all points ·1.5. */
export function roiFromMesh(points: Float32Array): Roi {
  const angle = normAngle(Math.atan2(points[263 * 3 + 1]! - points[33 * 3 + 1]!, points[263 * 3]! - points[33 * 3]!));
  // Box in the rotated frame, as MediaPipe's landmarks-to-rect does.
  const c = Math.cos(-angle), s = Math.sin(-angle);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < 468; i++) {
    const x = points[3 * i]!, y = points[3 * i + 1]!;
    const rx = c * x - s * y, ry = s * x + c * y;
    x0 = Math.min(x0, rx);
    x1 = Math.max(x1, rx);
    y0 = Math.min(y0, ry);
    y1 = Math.max(y1, ry);
  }
  const mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
  const ci = Math.cos(angle), si = Math.sin(angle);
  return { cx: ci * mx - si * my, cy: si * mx + ci * my, size: Math.max(x1 - x0, y1 - y0) * 1.5, angle };
}

export interface Mesh468 {
  /** 468 × (x, y, z), x/y in image pixels, z in pixels at the same scale (relative depth, MediaPipe's). */
  points: Float32Array;
  /** Face presence probability from the mesh network. */
  score: number;
  roi: Roi;
}

const MESH_N = 192;

/** 468-point face mesh for a detected face (or an explicit ROI, e.g. from the previous frame's mesh). */
export async function landmarks468(image: Image, face: Face | Roi): Promise<Mesh468> {
  checkImage(image);
  const roi = 'box' in face ? roiFromDetection(face) : face;
  const input = new Float32Array(MESH_N * MESH_N * 3);
  const toImage = cropTensor(image, roi, MESH_N, input, 1 / 255, [0, 0, 0]);
  const session = await modelSession('facemesh468');
  const out = await session.run({ input: new ort.Tensor('float32', input, [1, MESH_N, MESH_N, 3]) });
  const raw = out.landmarks!.data as Float32Array;
  const flag = (out.face_flag!.data as Float32Array)[0]!;
  const points = new Float32Array(468 * 3);
  const zScale = roi.size / MESH_N;
  for (let i = 0; i < 468; i++) {
    const [x, y] = cropToImage(toImage, raw[3 * i]!, raw[3 * i + 1]!);
    points[3 * i] = x;
    points[3 * i + 1] = y;
    points[3 * i + 2] = raw[3 * i + 2]! * zScale;
  }
  return { points, score: 1 / (1 + Math.exp(-flag)), roi };
}

export interface Landmarks68 {
  /** 68 points (iBUG order) in image pixels. */
  points: Point[];
  /** The square crop the network saw. */
  crop: Roi;
}

/**
 * The square crop for the 68-point net. BlazeFace boxes are tighter than the detector boxes face-api was trained
 * with; this rule (side = 1.1·max(w, h), centre 5% of the height lower) was chosen on the shared portraits and
 * driving frames as the one whose eye/mouth/nose/chin points agree best with the 468 mesh. With a detection (not a
 * bare box), the crop is also rotated by the eye line so that tilted heads reach the network upright.
 */
export function roi68(face: Face | Box): Roi {
  const box = 'box' in face ? face.box : face;
  const w = box.x2 - box.x1;
  const h = box.y2 - box.y1;
  const angle = 'box' in face ? roiFromDetection(face).angle : 0;
  // "lower" is along the face's own down axis (−sin, cos)
  return {
    cx: (box.x1 + box.x2) / 2 - Math.sin(angle) * 0.05 * h,
    cy: (box.y1 + box.y2) / 2 + Math.cos(angle) * 0.05 * h,
    size: Math.max(w, h) * 1.1,
    angle,
  };
}

const LM_N = 112;

/** 68 landmarks for a detected face (or an explicit box). */
export async function landmarks68(image: Image, face: Face | Box): Promise<Landmarks68> {
  checkImage(image);
  const crop = roi68(face);
  const input = new Float32Array(LM_N * LM_N * 3);
  const toImage = cropTensor(image, crop, LM_N, input, 1, [0, 0, 0]);
  const session = await modelSession('landmarks68');
  const out = (await session.run({ input: new ort.Tensor('float32', input, [1, LM_N, LM_N, 3]) })).landmarks!.data as Float32Array;
  const points = Array.from({ length: 68 }, (_, i) => cropToImage(toImage, out[2 * i]! * LM_N, out[2 * i + 1]! * LM_N));
  return { points, crop };
}

export interface FaceChip {
  /** 150×150 RGB 0..255 NHWC floats, the descriptor network's input. */
  tensor: Float32Array;
  /** Map from image pixels to chip pixels. */
  matrix: Affine;
}

export const CHIP_SIZE = 150;
export const CHIP_PADDING = 0.25;
/** Changes whenever the chip alignment changes what descriptors come out (part of cache keys of embeddings). */
export const FACE_CHIP_VERSION = 2;

/**
 * dlib's `get_face_chip_details` + `extract_image_chip`. The similarity is fitted from dlib's mean face (the
 * template, in chip pixels) to landmarks 27–54 and 60–64 in the image (dlib skips the eyebrows and the lower lip);
 * the chip is then the square of side size·scale around the image of the template centre, with its corner pixels on
 * the square's corners, sampled bilinearly (from a halved copy of the image when the face is much larger than the
 * chip, as dlib's pyramid does).
 */
export function faceChip(image: Image, lm: Landmarks68 | readonly Point[], size = CHIP_SIZE, padding = CHIP_PADDING): FaceChip {
  const pts = 'points' in lm ? lm.points : lm;
  if (pts.length !== 68) throw new MagicPortraitError(`faceChip needs 68 landmarks, got ${pts.length}.`, 'bad-argument');
  const template = DLIB_CHIP_LANDMARKS68.map((i): Point => [
    ((padding + DLIB_MEAN_FACE_X[i - 17]!) / (2 * padding + 1)) * size,
    ((padding + DLIB_MEAN_FACE_Y[i - 17]!) / (2 * padding + 1)) * size,
  ]);
  const t = similarityTransform(template, DLIB_CHIP_LANDMARKS68.map((i) => pts[i]!)); // chip → image, as dlib fits it
  const scale = Math.hypot(t[0], t[3]);
  if (!(scale * size > 1) || !Number.isFinite(scale))
    throw new MagicPortraitError('faceChip: the landmarks are degenerate (the face has no extent).', 'bad-argument');
  // centered_drect(centre, size·scale, size·scale) spans size·scale − 1 pixels between its corner pixels.
  const k = (size * scale - 1) / ((size - 1) * scale);
  const h = (size - 1) / 2;
  const cx = (t[0] + t[1]) * (size / 2) + t[2], cy = (t[3] + t[4]) * (size / 2) + t[5];
  const toImage: Affine = [t[0] * k, t[1] * k, cx - (t[0] + t[1]) * k * h, t[3] * k, t[4] * k, cy - (t[3] + t[4]) * k * h];
  const { src, f } = sourceForShrink(image, scale * k);
  // pixel centres of the halved level: x_src = (x_img + 0.5)/f − 0.5
  const toSrc: Affine = [toImage[0] / f, toImage[1] / f, (toImage[2] + 0.5) / f - 0.5, toImage[3] / f, toImage[4] / f, (toImage[5] + 0.5) / f - 0.5];
  const tensor = warpToTensor(src, toSrc, size, size, new Float32Array(size * size * 3));
  return { tensor, matrix: invertAffine(toImage) };
}

/** Runs the descriptor network on a prepared chip tensor. */
export async function descriptorFromChip(chip: Float32Array): Promise<Float32Array> {
  const session = await modelSession('descriptor');
  const out = await session.run({ input: new ort.Tensor('float32', chip, [1, CHIP_SIZE, CHIP_SIZE, 3]) });
  return Float32Array.from(out.descriptor!.data as Float32Array);
}

export interface DescriptorOptions {
  /**
   * dlib's / face_recognition's `num_jitters`: with n > 1, the mean descriptor of n randomly jittered copies of the
   * chip (see `jitterChip`); n times the cost. Default 1: the chip itself.
   */
  jitters?: number;
  /** Seed of the jitters (fixed by default, so a descriptor is reproducible). */
  seed?: number;
}

/** The 128-d dlib face descriptor of a face, on a dlib-style aligned 150×150 chip (68 landmarks computed if needed). */
export async function faceDescriptor(image: Image, face: Face | Landmarks68, options: DescriptorOptions = {}): Promise<Float32Array> {
  const jitters = options.jitters ?? 1;
  if (!Number.isInteger(jitters) || jitters < 1) throw new MagicPortraitError(`jitters must be a positive integer, got ${jitters}.`, 'bad-argument');
  const lm = 'points' in face ? face : await landmarks68(image, face);
  const chip = faceChip(image, lm).tensor;
  if (jitters === 1) return descriptorFromChip(chip);
  const random = jitterRandom(options.seed ?? 0);
  const mean = new Float32Array(128);
  for (let j = 0; j < jitters; j++) {
    const d = await descriptorFromChip(jitterChip(chip, CHIP_SIZE, random));
    for (let k = 0; k < mean.length; k++) mean[k]! += d[k]! / jitters;
  }
  return mean;
}

/** Cosine similarity of two descriptors (1 = same direction). */
export function identitySimilarity(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new MagicPortraitError(`Descriptors differ in length (${a.length} vs ${b.length}).`, 'bad-argument');
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** Euclidean distance of two descriptors (dlib / face_recognition: < 0.6 is usually the same person). */
export function descriptorDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}
