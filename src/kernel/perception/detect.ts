/**
 * BlazeFace face detection on ONNX Runtime: the short-range 128×128 model and the 256×256 "back" model from the
 * BlazeFace ONNX package, with MediaPipe's SSD anchor decoding and weighted non-maximum suppression.
 */
import { MagicPortraitError } from '../errors';
import { checkImage, type Image } from '../io/image';
import { ort } from '../onnx/session';
import { modelSession } from './models';
import { continuousToCentre, sourceForShrink, warpToTensor, type Affine } from './warp';

export type Point = [number, number];

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** BlazeFace keypoint order. "Right" is the subject's right (the left side of a non-mirrored image). */
export const KEYPOINT_NAMES = ['rightEye', 'leftEye', 'noseTip', 'mouth', 'rightEarTragion', 'leftEarTragion'] as const;

export interface Face {
  /** Box in image pixels (pixel-centre coordinates). */
  box: Box;
  score: number;
  /** 6 keypoints in image pixels, in KEYPOINT_NAMES order. */
  keypoints: Point[];
  /** Which detector found it. */
  model: 'short' | 'full';
}

export interface DetectOptions {
  /**
   * 'short' (128), 'full' (256), or 'auto' (default): short first; the 256 model when short finds nothing or only
   * faces narrower than 20% of the frame.
   */
  model?: 'short' | 'full' | 'auto';
  /** Minimum detection score (default 0.5, as MediaPipe). */
  minScore?: number;
  /** IoU above which detections are merged (default 0.3, as MediaPipe). */
  iouThreshold?: number;
}

const SPECS = {
  short: { id: 'blazeface128' as const, size: 128 },
  full: { id: 'blazeface256' as const, size: 256 },
};

/** Anchor centres (normalised) for the 16×16×2 + 8×8×6 BlazeFace layout. */
function anchors(): Float32Array {
  const out = new Float32Array(896 * 2);
  let k = 0;
  for (const [cells, per] of [
    [16, 2],
    [8, 6],
  ] as const)
    for (let y = 0; y < cells; y++)
      for (let x = 0; x < cells; x++)
        for (let a = 0; a < per; a++) {
          out[k++] = (x + 0.5) / cells;
          out[k++] = (y + 0.5) / cells;
        }
  return out;
}
const ANCHORS = anchors();

interface RawDetection {
  score: number;
  /** cx, cy, w, h, then 6 keypoints (x, y): 16 values, normalised to the network input. */
  v: Float64Array;
}

function iou(a: Float64Array, b: Float64Array): number {
  const ax1 = a[0]! - a[2]! / 2, ax2 = a[0]! + a[2]! / 2, ay1 = a[1]! - a[3]! / 2, ay2 = a[1]! + a[3]! / 2;
  const bx1 = b[0]! - b[2]! / 2, bx2 = b[0]! + b[2]! / 2, by1 = b[1]! - b[3]! / 2, by2 = b[1]! + b[3]! / 2;
  const iw = Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1));
  const ih = Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const inter = iw * ih;
  const union = a[2]! * a[3]! + b[2]! * b[3]! - inter;
  return union > 0 ? inter / union : 0;
}

/** MediaPipe's weighted NMS: each kept detection is the score-weighted mean of the ones it overlaps. */
export function weightedNms(dets: RawDetection[], threshold: number): RawDetection[] {
  const rest = [...dets].sort((a, b) => b.score - a.score);
  const out: RawDetection[] = [];
  while (rest.length) {
    const top = rest[0]!;
    const keep: RawDetection[] = [];
    const others: RawDetection[] = [];
    for (const d of rest) (iou(top.v, d.v) > threshold || d === top ? keep : others).push(d);
    const v = new Float64Array(16);
    let total = 0;
    for (const d of keep) {
      total += d.score;
      for (let i = 0; i < 16; i++) v[i]! += d.v[i]! * d.score;
    }
    for (let i = 0; i < 16; i++) v[i]! /= total;
    out.push({ score: top.score, v });
    rest.length = 0;
    rest.push(...others);
  }
  return out;
}

/** Decodes raw outputs (scores [896], boxes [896×16]) into normalised detections above minScore. */
export function decodeBlazeFace(scores: Float32Array, boxes: Float32Array, inputSize: number, minScore: number): RawDetection[] {
  const out: RawDetection[] = [];
  const logit = Math.log(minScore / (1 - minScore));
  for (let i = 0; i < 896; i++) {
    const s = Math.min(100, Math.max(-100, scores[i]!));
    if (s < logit) continue;
    const ax = ANCHORS[2 * i]!, ay = ANCHORS[2 * i + 1]!;
    const v = new Float64Array(16);
    const b = i * 16;
    v[0] = ax + boxes[b]! / inputSize;
    v[1] = ay + boxes[b + 1]! / inputSize;
    v[2] = boxes[b + 2]! / inputSize;
    v[3] = boxes[b + 3]! / inputSize;
    for (let k = 0; k < 6; k++) {
      v[4 + 2 * k] = ax + boxes[b + 4 + 2 * k]! / inputSize;
      v[5 + 2 * k] = ay + boxes[b + 5 + 2 * k]! / inputSize;
    }
    out.push({ score: 1 / (1 + Math.exp(-s)), v });
  }
  return out;
}

/** A square region of the image (continuous coordinates: x0, y0 is the top-left corner) fed to the detector. */
export interface Region {
  x0: number;
  y0: number;
  side: number;
}

/** The whole image, letterboxed into a centred square (MediaPipe keeps the aspect ratio with zero padding). */
export function fullRegion(image: Image): Region {
  const side = Math.max(image.width, image.height);
  return { x0: (image.width - side) / 2, y0: (image.height - side) / 2, side };
}

/** Network input for one detector from a square region: samples with box-filter halvings first when shrinking >2×. */
function regionTensor(image: Image, region: Region, size: number): Float32Array {
  const { src, f } = sourceForShrink(image, region.side / size);
  // input u = (u_img − x0)·size/side  ⇒  u_src = u_img/f = (u·side/size + x0)/f
  const k = region.side / size / f;
  const inv: Affine = continuousToCentre([k, 0, region.x0 / f, 0, k, region.y0 / f]);
  return warpToTensor(src, inv, size, size, new Float32Array(size * size * 3), 0, 1 / 127.5, [-1, -1, -1]);
}

/** Runs one BlazeFace model on a square region of the image; boxes and keypoints come back in image pixels. */
export async function detectInRegion(
  image: Image,
  region: Region,
  which: 'short' | 'full' = 'short',
  minScore = 0.5,
  iouThreshold = 0.3,
): Promise<Face[]> {
  const { id, size } = SPECS[which];
  const session = await modelSession(id);
  const tensor = regionTensor(image, region, size);
  const out = await session.run({ 'input:0': new ort.Tensor('float32', tensor, [1, size, size, 3]) });
  const scores = new Float32Array(896);
  scores.set(out['Identity:0']!.data as Float32Array, 0);
  scores.set(out['Identity_1:0']!.data as Float32Array, 512);
  const boxes = new Float32Array(896 * 16);
  boxes.set(out['Identity_2:0']!.data as Float32Array, 0);
  boxes.set(out['Identity_3:0']!.data as Float32Array, 512 * 16);
  const dets = weightedNms(decodeBlazeFace(scores, boxes, size, minScore), iouThreshold);
  // normalised input → continuous image → pixel centres
  const px = (u: number) => region.x0 + u * region.side - 0.5;
  const py = (v: number) => region.y0 + v * region.side - 0.5;
  return dets.map(({ score, v }) => ({
    box: { x1: px(v[0]! - v[2]! / 2), y1: py(v[1]! - v[3]! / 2), x2: px(v[0]! + v[2]! / 2), y2: py(v[1]! + v[3]! / 2) },
    score,
    keypoints: Array.from({ length: 6 }, (_, k): Point => [px(v[4 + 2 * k]!), py(v[5 + 2 * k]!)]),
    model: which,
  }));
}

/** In 'auto' mode, faces narrower than this fraction of the (letterboxed) frame are also searched with the 256 model. */
export const SMALL_FACE_FRACTION = 0.2;

export const boxArea = (b: Box): number => Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);

/** Detects faces; the result is sorted by box area, largest first. */
export async function detectFaces(image: Image, options: DetectOptions = {}): Promise<Face[]> {
  checkImage(image);
  const minScore = options.minScore ?? 0.5;
  const iouT = options.iouThreshold ?? 0.3;
  const mode = options.model ?? 'auto';
  const region = fullRegion(image);
  let faces = await detectInRegion(image, region, mode === 'full' ? 'full' : 'short', minScore, iouT);
  // The short-range model is made for faces that fill a good part of the frame; for small or missed faces the
  // 256 "back" model is much better (it finds ~40 px faces in a 1600 px frame), so it takes over there.
  const largest = faces.reduce((m, f) => Math.max(m, f.box.x2 - f.box.x1), 0);
  if (mode === 'auto' && largest < SMALL_FACE_FRACTION * region.side) {
    const far = await detectInRegion(image, region, 'full', minScore, iouT);
    if (far.length) faces = far;
  }
  return faces.sort((a, b) => boxArea(b.box) - boxArea(a.box));
}

export interface SelectFaceOptions extends DetectOptions {
  /** Which face when there are several, in the largest-first order (default 0: the largest). */
  index?: number;
  /** Faces whose box is narrower than this many pixels are refused as too small (default 24). */
  minFaceSize?: number;
  /** Used in error messages (file name, frame number). */
  name?: string;
}

/** Detects faces and returns one, with clear errors for no face, an index out of range and a too-small face. */
export async function findFace(image: Image, options: SelectFaceOptions = {}): Promise<Face> {
  const name = options.name ?? 'the image';
  const faces = await detectFaces(image, options);
  if (!faces.length)
    throw new MagicPortraitError(
      `No face found in ${name} (${image.width}×${image.height}), with both the short- and full-range detectors. ` +
        'Use a photo where the face is visible, roughly frontal and not tiny.',
      'no-face',
    );
  const index = options.index ?? 0;
  const face = faces[index];
  if (!face)
    throw new MagicPortraitError(`Face index ${index} requested but ${name} has ${faces.length} face(s) (indices 0–${faces.length - 1}, largest first).`, 'bad-argument');
  const minSize = options.minFaceSize ?? 24;
  const w = face.box.x2 - face.box.x1;
  if (w < minSize)
    throw new MagicPortraitError(
      `The face in ${name} is too small: ${w.toFixed(0)} px wide, at least ${minSize} px are needed for landmarks. Use a larger or closer photo.`,
      'face-too-small',
    );
  return face;
}
