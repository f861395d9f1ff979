/**
 * The clip crop of the reference preparation (reference-pipeline.md §1.1, training-reference.md §7): the face is
 * detected once, on the first frame (here: the first frame where a face is found), and one similarity maps a square
 * of 1.5 × the face box onto [80, 432]² of a 512² canvas; the same warp (bilinear, zero border) is applied to every
 * frame. Two bugs of the official script are not copied: its box side uses the width twice
 * (`max(x2 − x1, x2 − x1)`; here `max(width, height)`), and its "largest face" key has an operator-precedence error
 * (`(x2 − x1)·y2 − y1`; here the box area). Our detector is BlazeFace, not insightface's antelopev2, so boxes differ
 * slightly; the rule is the reference's.
 */
import type { Image } from '../io/image';
import { boxArea, type Box, type Face } from '../perception/detect';
import { GENERATION_BOX_512, transformationFromPoints } from '../perception/crops';
import { invertAffine, warpImage, type Affine } from '../perception/warp';
import type { Point } from '../perception/detect';

export const CROP_SIZE = 512;
export const CROP_RULE = 'first frame with a face: largest box by area, square of side 1.5·max(w, h) → [80, 432]² of 512² (similarity, bilinear, zero border)';

/** The face the crop is made from: the largest box by area (the reference's intent). */
export function largestFace(faces: readonly Face[]): Face | null {
  let best: Face | null = null;
  for (const f of faces) if (!best || boxArea(f.box) > boxArea(best.box)) best = f;
  return best;
}

/** The four source corners (x−,y−), (x−,y+), (x+,y+), (x+,y−) of the crop square: half-side 0.75·max(w, h). */
export function clipCropCorners(box: Box): Point[] {
  const side = Math.max(box.x2 - box.x1, box.y2 - box.y1);
  const cx = (box.x1 + box.x2) / 2, cy = (box.y1 + box.y2) / 2, h = 0.75 * side;
  return [[cx - h, cy - h], [cx - h, cy + h], [cx + h, cy + h], [cx + h, cy - h]];
}

export interface ClipCrop {
  /** Source pixels → 512 crop pixels (the `M` of cv2.warpAffine). */
  matrix: Affine;
  inverse: Affine;
  box: Box;
}

export function clipCrop(box: Box): ClipCrop {
  const matrix = transformationFromPoints(clipCropCorners(box), GENERATION_BOX_512);
  return { matrix, inverse: invertAffine(matrix), box };
}

/**
 * `warpImage(src, inv, size, size)` (perception/warp.ts: bilinear, zero outside, float32 then rounded), byte for byte,
 * without its float image: when the map has no rotation (inv[1] = inv[3] = 0, as the clip crop's similarity of two
 * axis-aligned squares is) every row samples the same source columns with the same weights and every pixel of a row
 * the same source rows, so those are computed once, with warpImage's own arithmetic (the same running sums, the same
 * products in the same order). Other maps go through warpImage itself.
 */
export function cropFrame(src: Image, inv: Affine, size = CROP_SIZE): Image {
  const [a, b, c, d, e, f] = inv;
  if (b !== 0 || d !== 0) return warpImage(src, inv, size, size);
  const { width: W, height: H, channels: C, data } = src;
  const out = new Uint8Array(size * size * 3);
  const X0 = new Int32Array(size), FX = new Float64Array(size);
  let sx = b * 0 + c;
  for (let x = 0; x < size; x++, sx += a) {
    X0[x] = Math.floor(sx);
    FX[x] = sx - X0[x]!;
  }
  const fr = Math.fround;
  // a bilinear mix of bytes stays within [0, 255] (warpImage clamps anyway; rounding cannot leave the range)
  const q8 = (v: number) => Math.round(fr(v));
  for (let y = 0; y < size; y++) {
    const sy = e * y + f;
    const y0 = Math.floor(sy), fy = sy - y0;
    let o = 3 * y * size;
    for (let x = 0; x < size; x++, o += 3) {
      const x0 = X0[x]!, fx = FX[x]!;
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
          const xx = x0 + (k & 1), yy = y0 + (k >> 1);
          if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
          const w = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);
          const p = (yy * W + xx) * C;
          r += data[p]! * w;
          g += data[p + 1]! * w;
          bl += data[p + 2]! * w;
        }
      }
      // warpToTensor stores r·1 + 0 in a Float32Array, warpImage rounds and clamps that
      out[o] = q8(r * 1 + 0);
      out[o + 1] = q8(g * 1 + 0);
      out[o + 2] = q8(bl * 1 + 0);
    }
  }
  return { width: size, height: size, channels: 3, data: out };
}
