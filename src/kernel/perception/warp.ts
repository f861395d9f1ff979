/**
 * Affine resampling of byte images into network input tensors and crops. Points use pixel-centre coordinates
 * (x = column, y = row, the centre of pixel (0,0) is (0,0)), as OpenCV and scikit-image do.
 */
import type { Image } from '../io/image';

/** x' = a·x + b·y + c, y' = d·x + e·y + f. */
export type Affine = [number, number, number, number, number, number];
/** A 3×3 homogeneous matrix, row-major rows (like scikit-image's `tform.params`). */
export type Matrix3 = [[number, number, number], [number, number, number], [number, number, number]];

export const identityAffine = (): Affine => [1, 0, 0, 0, 1, 0];

export function invertAffine(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (!det) throw new Error('singular affine transform');
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/** (m2 ∘ m1)(p) = m2(m1(p)). */
export function composeAffine(m2: Affine, m1: Affine): Affine {
  const [a, b, c, d, e, f] = m1;
  const [A, B, C, D, E, F] = m2;
  return [A * a + B * d, A * b + B * e, A * c + B * f + C, D * a + E * d, D * b + E * e, D * c + E * f + F];
}

export function applyAffine(m: Affine, x: number, y: number): [number, number] {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

export const affineToMatrix3 = (m: Affine): Matrix3 => [
  [m[0], m[1], m[2]],
  [m[3], m[4], m[5]],
  [0, 0, 1],
];
export const matrix3ToAffine = (m: Matrix3): Affine => [m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2]];

/**
 * Converts a map between *continuous* coordinates (pixel i spans [i, i+1)) to the same map in pixel-centre
 * coordinates.
 */
export function continuousToCentre(m: Affine): Affine {
  return [m[0], m[1], m[2] + 0.5 * (m[0] + m[1]) - 0.5, m[3], m[4], m[5] + 0.5 * (m[3] + m[4]) - 0.5];
}

/**
 * Bilinear warp into a float NHWC tensor: out[y][x][c] = sample(src, inv(x, y))[c] · scale + bias[c]. Taps outside the
 * image count as 0 (before scale/bias), like cv2.warpAffine with a zero border and scikit-image's cval=0.
 * `inv` maps output pixel centres to source pixel centres. Writes RGB (the alpha channel is skipped).
 */
export function warpToTensor(
  src: Image,
  inv: Affine,
  outW: number,
  outH: number,
  out: Float32Array,
  offset = 0,
  scale = 1,
  bias: readonly [number, number, number] = [0, 0, 0],
): Float32Array {
  const { width: W, height: H, channels: C, data } = src;
  const [a, b, c, d, e, f] = inv;
  const b0 = bias[0], b1 = bias[1], b2 = bias[2];
  let o = offset;
  for (let y = 0; y < outH; y++) {
    let sx = b * y + c;
    let sy = e * y + f;
    for (let x = 0; x < outW; x++, sx += a, sy += d, o += 3) {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      let r = 0, g = 0, bl = 0;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < W && y0 + 1 < H) {
        const p = (y0 * W + x0) * C;
        const q = p + W * C;
        const w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
        r = data[p]! * w00 + data[p + C]! * w01 + data[q]! * w10 + data[q + C]! * w11;
        g = data[p + 1]! * w00 + data[p + C + 1]! * w01 + data[q + 1]! * w10 + data[q + C + 1]! * w11;
        bl = data[p + 2]! * w00 + data[p + C + 2]! * w01 + data[q + 2]! * w10 + data[q + C + 2]! * w11;
      } else if (x0 >= -1 && y0 >= -1 && x0 < W && y0 < H) {
        for (let k = 0; k < 4; k++) {
          const xx = x0 + (k & 1);
          const yy = y0 + (k >> 1);
          if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
          const w = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);
          const p = (yy * W + xx) * C;
          r += data[p]! * w;
          g += data[p + 1]! * w;
          bl += data[p + 2]! * w;
        }
      }
      out[o] = r * scale + b0;
      out[o + 1] = g * scale + b1;
      out[o + 2] = bl * scale + b2;
    }
  }
  return out;
}

/** Bilinear warp into a new RGB byte image (values rounded), zero outside the source. */
export function warpImage(src: Image, inv: Affine, outW: number, outH: number): Image {
  const t = warpToTensor(src, inv, outW, outH, new Float32Array(outW * outH * 3));
  const data = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) data[i] = Math.min(255, Math.max(0, Math.round(t[i]!)));
  return { width: outW, height: outH, channels: 3, data };
}

/** Halves an image with 2×2 box averaging (odd last row/column dropped); used before strong downscaling. */
export function halveImage(src: Image): Image {
  const W = src.width >> 1, H = src.height >> 1, C = src.channels, sw = src.width;
  const out = new Uint8Array(W * H * 3);
  const d = src.data;
  const row = sw * C;
  let o = 0;
  for (let y = 0; y < H; y++) {
    let p = 2 * y * row;
    for (let x = 0; x < W; x++, p += 2 * C, o += 3) {
      const q = p + row;
      out[o] = (d[p]! + d[p + C]! + d[q]! + d[q + C]! + 2) >> 2;
      out[o + 1] = (d[p + 1]! + d[p + C + 1]! + d[q + 1]! + d[q + C + 1]! + 2) >> 2;
      out[o + 2] = (d[p + 2]! + d[p + C + 2]! + d[q + 2]! + d[q + C + 2]! + 2) >> 2;
    }
  }
  return { width: W, height: H, channels: 3, data: out };
}

const pyramids = new WeakMap<Uint8Array, Image[]>();

/**
 * The source to sample for a crop that shrinks the image by `shrink` (source pixels per output pixel): the image
 * itself, or a 2×2-box-halved level (cached per image, so several crops of one frame halve it once) such that the
 * remaining bilinear step shrinks by at most 2. Returns the level and its factor f (level pixel = f image pixels).
 */
export function sourceForShrink(image: Image, shrink: number): { src: Image; f: number } {
  let levels = pyramids.get(image.data);
  let src = image;
  let f = 1;
  let i = 0;
  while (shrink / f > 2 && src.width >= 4 && src.height >= 4) {
    if (!levels) pyramids.set(image.data, (levels = []));
    src = levels[i] ??= halveImage(src);
    f *= 2;
    i++;
  }
  return { src, f };
}
