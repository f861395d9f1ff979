/**
 * Crops as the reference pipeline makes them (reference-pipeline.md §1): the 512×512 generation crop, DECA's and
 * SMIRK's 224 encoder crops, each with its transform as data. Our detectors differ from the reference's, so the
 * crops differ slightly; the rules (scale factors, sizes, transforms, interpolation, rounding) are the reference's.
 */
import type { Image } from '../io/image';
import type { Box, Point } from './detect';
import { continuousToCentre, invertAffine, matrix3ToAffine, warpImage, warpToTensor, type Affine, type Matrix3 } from './warp';

/**
 * The orthogonal-Procrustes similarity of the reference's `transformation_from_points` (float64): centre both sets,
 * divide each by its scalar std over all coordinates, R from the SVD of P1ᵀP2 (a reflection when that is optimal,
 * as numpy's SVD gives), affine [ (s2/s1)·R | c2 − (s2/s1)·R·c1 ] mapping points1 → points2.
 */
export function transformationFromPoints(points1: readonly Point[], points2: readonly Point[]): Affine {
  const n = points1.length;
  if (n !== points2.length || n < 2) throw new Error('transformationFromPoints: need two point sets of equal size ≥ 2');
  const mean = (p: readonly Point[]) => p.reduce((m, q) => [m[0] + q[0] / n, m[1] + q[1] / n], [0, 0] as Point);
  const c1 = mean(points1);
  const c2 = mean(points2);
  const std = (p: readonly Point[], c: Point) => Math.sqrt(p.reduce((s, q) => s + (q[0] - c[0]) ** 2 + (q[1] - c[1]) ** 2, 0) / (2 * n));
  const s1 = std(points1, c1);
  const s2 = std(points2, c2);
  // M = P1ᵀ P2 (2×2)
  let a = 0, b = 0, c = 0, d = 0;
  for (let i = 0; i < n; i++) {
    const x1 = (points1[i]![0] - c1[0]) / s1, y1 = (points1[i]![1] - c1[1]) / s1;
    const x2 = (points2[i]![0] - c2[0]) / s2, y2 = (points2[i]![1] - c2[1]) / s2;
    a += x1 * x2;
    b += x1 * y2;
    c += y1 * x2;
    d += y1 * y2;
  }
  // Orthogonal polar factor Q = U·Vᵀ of M; R = Qᵀ.
  let q: [number, number, number, number];
  if (a * d - b * c >= 0) {
    const t = Math.atan2(c - b, a + d);
    q = [Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)];
  } else {
    const t = Math.atan2(b + c, a - d);
    q = [Math.cos(t), Math.sin(t), Math.sin(t), -Math.cos(t)];
  }
  const k = s2 / s1;
  const r = [q[0] * k, q[2] * k, q[1] * k, q[3] * k]; // k·Qᵀ
  return [r[0]!, r[1]!, c2[0] - (r[0]! * c1[0] + r[1]! * c1[1]), r[2]!, r[3]!, c2[1] - (r[2]! * c1[0] + r[3]! * c1[1])];
}

/** Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping src → dst (Umeyama). */
export function similarityTransform(src: readonly Point[], dst: readonly Point[]): Affine {
  const n = src.length;
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i]![0] / n;
    sy += src[i]![1] / n;
    dx += dst[i]![0] / n;
    dy += dst[i]![1] / n;
  }
  let a = 0, b = 0, varS = 0;
  for (let i = 0; i < n; i++) {
    const px = src[i]![0] - sx, py = src[i]![1] - sy, qx = dst[i]![0] - dx, qy = dst[i]![1] - dy;
    a += px * qx + py * qy;
    b += px * qy - py * qx;
    varS += px * px + py * py;
  }
  const cos = a / varS, sin = b / varS; // scale·cosθ, scale·sinθ
  return [cos, -sin, dx - (cos * sx - sin * sy), sin, cos, dy - (sin * sx + cos * sy)];
}

export interface GenerationCrop {
  /** 512×512 RGB crop. */
  image: Image;
  /** 2×3 map from source-image pixels to crop pixels (the `M` passed to cv2.warpAffine). */
  matrix: Affine;
  /** The four source corners used (order (x−,y−), (x−,y+), (x+,y+), (x+,y−)). */
  corners: Point[];
}

/** Target square of the 512 crop (`mean_box_lm4p_512`). */
export const GENERATION_BOX_512: readonly Point[] = [
  [80, 80],
  [80, 432],
  [432, 432],
  [432, 80],
];

/** §1.1 crop square: side = x2 − x1 (the box height is ignored, as the reference does), half = 0.75·side. */
export function generationCropCorners(box: Box): Point[] {
  const side = box.x2 - box.x1;
  const cx = (box.x1 + box.x2) / 2;
  const cy = (box.y1 + box.y2) / 2;
  const h = 0.75 * side;
  return [
    [cx - h, cy - h],
    [cx - h, cy + h],
    [cx + h, cy + h],
    [cx + h, cy - h],
  ];
}

/** §1.1: the 512×512 generation crop from a face box (bilinear, zero border, as cv2.warpAffine). */
export function generationCrop(image: Image, box: Box): GenerationCrop {
  const corners = generationCropCorners(box);
  const matrix = transformationFromPoints(corners, GENERATION_BOX_512);
  return { image: warpImage(image, invertAffine(matrix), 512, 512), matrix, corners };
}

/** §1.2/§1.3 `tform`: axis-aligned similarity from the square (cx ± size/2, cy ± size/2) to [0, 223]². */
export function encoderTform(cx: number, cy: number, size: number): Matrix3 {
  const k = 223 / size;
  return [
    [k, 0, -k * (cx - size / 2)],
    [0, k, -k * (cy - size / 2)],
    [0, 0, 1],
  ];
}

export interface EncoderCrop {
  /** (3, 224, 224) RGB float32 in [0, 1], channel-major, no normalisation. */
  image: Float32Array;
  /** 3×3 map from source pixels (x = column, y = row) to crop pixels. */
  tform: Matrix3;
  centre: Point;
  size: number;
}

function bounds(points: readonly Point[]): [number, number, number, number] {
  let l = Infinity, r = -Infinity, t = Infinity, b = -Infinity;
  for (const [x, y] of points) {
    if (x < l) l = x;
    if (x > r) r = x;
    if (y < t) t = y;
    if (y > b) b = y;
  }
  return [l, r, t, b];
}

function hwcToChw(t: Float32Array, n: number): Float32Array {
  const out = new Float32Array(t.length);
  for (let i = 0; i < n; i++) {
    out[i] = t[3 * i]!;
    out[n + i] = t[3 * i + 1]!;
    out[2 * n + i] = t[3 * i + 2]!;
  }
  return out;
}

/**
 * scikit-image's uint8 → float → uint8 round trip that `get_image_dict` applies to an image that is already
 * 512×512 (`trunc(v·(1/255)·255)`): 24 byte values become v − 1.
 */
export function skimageIdentityResize(image: Image): Image {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.trunc(v * (1 / 255) * 255);
  const data = new Uint8Array(image.width * image.height * 3);
  const C = image.channels;
  for (let i = 0, n = image.width * image.height; i < n; i++)
    for (let c = 0; c < 3; c++) data[3 * i + c] = lut[image.data[C * i + c]!]!;
  return { width: image.width, height: image.height, channels: 3, data };
}

/** scikit-image `warp(image, T.inverse, output_shape=(224,224))` sampled into HWC floats (before clipping). */
function warp224(image: Image, tform: Matrix3, scale: number): Float32Array {
  return warpToTensor(image, invertAffine(matrix3ToAffine(tform)), 224, 224, new Float32Array(224 * 224 * 3), 0, scale);
}

/**
 * §1.2 DECA crop from 68 landmarks on the 512-pixel image: box from the landmarks, old_size = mean side · 1.1,
 * size = int(old_size · 1.3); returns image/255 warped into 224×224 (bilinear, zero outside, clipped to the input
 * range including the zero fill).
 */
export function decaCrop(image512: Image, landmarks68: readonly Point[]): EncoderCrop {
  const [l, r, t, b] = bounds(landmarks68);
  const oldSize = ((r - l + (b - t)) / 2) * 1.1;
  const centre: Point = [(l + r) / 2, (t + b) / 2];
  const size = Math.trunc(oldSize * 1.3);
  const tform = encoderTform(centre[0], centre[1], size);
  return { image: decaCropAt(image512, tform), tform, centre, size };
}

/**
 * §1.2 step 6 for a given crop transform (source pixels → 224 crop pixels): image/255 warped into (3, 224, 224)
 * (bilinear, zero outside, clipped to the input range including the zero fill, as scikit-image does).
 */
export function decaCropAt(image: Image, tform: Matrix3): Float32Array {
  const hwc = warp224(image, tform, 1 / 255);
  // scikit-image clips to [min(image, cval), max(image, cval)]; for bytes with cval 0 that is [0, max/255].
  let hi = 0;
  const C = image.channels;
  for (let i = 0; i < image.data.length; i++) if (i % C < 3 && image.data[i]! > hi) hi = image.data[i]!;
  hi /= 255;
  for (let i = 0; i < hwc.length; i++) hwc[i] = Math.min(hi, Math.max(0, hwc[i]!));
  return hwcToChw(hwc, 224 * 224);
}

/**
 * §1.3 SMIRK crop from the dense landmarks (MediaPipe 478 in the reference; our 468 share the same extent):
 * old_size = mean side, size = int(old_size · 1.4); bilinear warp in 0..255, truncated to uint8, then /255.
 * Without landmarks, the whole frame resized to 224×224 (the reference's fallback) and a null tform.
 */
export function smirkCrop(image: Image, landmarks: readonly Point[] | null): EncoderCrop | (Omit<EncoderCrop, 'tform'> & { tform: null }) {
  if (!landmarks || !landmarks.length) {
    // cv2.resize bilinear: half-pixel centres.
    const inv = continuousToCentre([image.width / 224, 0, 0, 0, image.height / 224, 0]);
    const hwc = warpToTensor(image, inv, 224, 224, new Float32Array(224 * 224 * 3));
    for (let i = 0; i < hwc.length; i++) hwc[i] = Math.round(Math.min(255, Math.max(0, hwc[i]!))) / 255;
    return { image: hwcToChw(hwc, 224 * 224), tform: null, centre: [image.width / 2, image.height / 2], size: Math.max(image.width, image.height) };
  }
  const [l, r, t, b] = bounds(landmarks);
  const oldSize = (r - l + (b - t)) / 2;
  const centre: Point = [(l + r) / 2, (t + b) / 2];
  const size = Math.trunc(oldSize * 1.4);
  const tform = encoderTform(centre[0], centre[1], size);
  const hwc = warp224(image, tform, 1);
  for (let i = 0; i < hwc.length; i++) hwc[i] = Math.trunc(Math.min(255, Math.max(0, hwc[i]!))) / 255;
  return { image: hwcToChw(hwc, 224 * 224), tform, centre, size };
}

