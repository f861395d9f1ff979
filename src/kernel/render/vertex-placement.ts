// Placing FLAME vertices on the image the way DECA does (reference-pipeline.md §2.6 and §1.4).
//
// Every operation is rounded to float32 in the reference's order (Math.fround after each step), so the placed
// vertices are bit-identical to the reference's float32 tensors. These are per-vertex costs (5023 points), not
// per-pixel ones.

const f = Math.fround;

/** DECA's 224-pixel crop; `transform_points` scales crop NDC by this (the 224-versus-223 quirk, §1.4). */
export const DECA_CROP_SIZE = 224;

/**
 * `batch_orth_proj` followed by DECA's negation of y and z (§2.6): `x' = s(x + tx)`, `y' = -s(y + ty)`,
 * `z' = -s z`. The result is DECA's `trans_verts` in the 224-crop NDC: +x right, +y down, smaller z nearer.
 *
 * @param points world points, `n*3` (FLAME metres, +y up, +z toward the viewer); float64 input is rounded to
 *   float32 first, as the reference's tensors are float32
 * @param cam `[s, tx, ty]`
 */
export function orthProject(points: Float32Array | Float64Array, cam: ArrayLike<number>, out?: Float32Array): Float32Array {
  const n = points.length / 3;
  const o = out ?? new Float32Array(points.length);
  const s = f(cam[0]), tx = f(cam[1]), ty = f(cam[2]);
  for (let i = 0; i < n; i++) {
    const k = 3 * i;
    o[k] = f(s * f(f(points[k]) + tx));
    o[k + 1] = -f(s * f(f(points[k + 1]) + ty));
    o[k + 2] = -f(s * f(points[k + 2]));
  }
  return o;
}

/**
 * `transform_points` (§1.4): crop NDC → crop pixels `(x·0.5 + 0.5)·224` → `[u v 1]·tform` → image NDC
 * `u/width·2 − 1`. z passes through unchanged.
 *
 * @param points `n*3` crop-NDC points (DECA `trans_verts`)
 * @param tform the reference's `code['tform']`, i.e. `(T⁻¹)ᵀ` as 9 numbers, row-major, where `T` maps original-image
 *   pixels to 224-crop pixels. Use {@link tformFromCrop} to build it from `T`.
 */
export function placeInImage(
  points: Float32Array | Float64Array,
  tform: ArrayLike<number>,
  width: number,
  height: number,
  out?: Float32Array,
  cropSize = DECA_CROP_SIZE,
): Float32Array {
  if (tform.length !== 9) throw new RangeError(`tform must have 9 entries (3×3), got ${tform.length}`);
  const n = points.length / 3;
  const o = out ?? new Float32Array(points.length);
  const t00 = f(tform[0]), t01 = f(tform[1]), t10 = f(tform[3]), t11 = f(tform[4]), t20 = f(tform[6]), t21 = f(tform[7]);
  const c = f(cropSize), w = f(width), h = f(height);
  for (let i = 0; i < n; i++) {
    const k = 3 * i;
    const u = f(f(f(f(points[k]) * 0.5) + 0.5) * c);
    const v = f(f(f(f(points[k + 1]) * 0.5) + 0.5) * c);
    const uo = f(f(f(u * t00) + f(v * t10)) + t20);
    const vo = f(f(f(u * t01) + f(v * t11)) + t21);
    o[k] = f(f(f(uo / w) * 2) - 1);
    o[k + 1] = f(f(f(vo / h) * 2) - 1);
    o[k + 2] = f(points[k + 2]);
  }
  return o;
}

/** `(T⁻¹)ᵀ` as float32, row-major, from the 3×3 row-major crop similarity `T` (§1.2 step 5). */
export function tformFromCrop(T: ArrayLike<number>): Float32Array {
  if (T.length !== 9) throw new RangeError(`T must have 9 entries (3×3), got ${T.length}`);
  const [a, b, c, d, e, g, h, i, j] = Array.from(T);
  const A = e * j - g * i, B = -(d * j - g * h), C = d * i - e * h;
  const det = a * A + b * B + c * C;
  if (!(Math.abs(det) > 0)) throw new RangeError('the crop transform T is singular');
  // inverse = adj / det; adj[r][c] = cofactor[c][r]; we want inverse transposed = cofactor / det
  const cof = [
    A, B, C,
    -(b * j - c * i), a * j - c * h, -(a * i - b * h),
    b * g - c * e, -(a * g - c * d), a * e - b * d,
  ];
  return Float32Array.from(cof, (x) => x / det);
}

/**
 * The similarity `T` of §1.2 step 5 (original-image pixels → 224-crop pixels) for a square crop box of side `size`
 * centred at `(cx, cy)`: `k = 223/size`, `T = [[k,0,−k(cx−size/2)],[0,k,−k(cy−size/2)],[0,0,1]]`.
 */
export function decaCropSimilarity(cx: number, cy: number, size: number): Float64Array {
  const k = 223 / size;
  return Float64Array.of(k, 0, -k * (cx - size / 2), 0, k, -k * (cy - size / 2), 0, 0, 1);
}
