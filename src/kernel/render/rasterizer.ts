// Z-buffered barycentric triangle rasteriser with the conventions of DECA's `Pytorch3dRasterizer`
// (pytorch3d 0.7.8 `rasterize_meshes`, reference-pipeline.md §5.2):
//
// * Vertices are in DECA NDC: +x right, +y down, z with smaller = nearer. (DECA negates x and y before calling
//   pytorch3d and pytorch3d flips both pixel axes; negating every coordinate changes no product in the edge
//   functions, so working directly in DECA NDC is exact.)
// * The pixel at row i, column j has its centre at x = (2j+1)/W − 1, y = (2i+1)/H − 1. Row 0 is the top row.
// * blur_radius 0, faces_per_pixel 1, perspective_correct false (barycentrics are screen-space, not
//   perspective-corrected), clip_barycentric_coords false, cull_backfaces false (both windings are drawn).
// * A face is skipped when any vertex has z < 1e-8, or when its signed screen area
//   `(v0−v1)×(v2−v1)` satisfies |area| ≤ 1e-8. A pixel is tested only inside the face's bounding box (inclusive).
// * Barycentrics are `w_k = edge_k / (area + 1e-8)` with `edge(p, a, b) = (p−a)×(b−a)`:
//   `w0 = edge(p, v1, v2)`, `w1 = edge(p, v2, v0)`, `w2 = edge(p, v0, v1)` and `area = edge(v2, v0, v1)`.
//   The pixel is covered only if all three `w_k > 0` (strict: a pixel centre exactly on an edge belongs to
//   neither face, a pixel centre exactly on a vertex is background).
// * The covering face with the smallest interpolated z = Σ w_k z_k wins; exact ties keep the face met first, i.e.
//   the lowest face index. (pz < 0 is rejected by pytorch3d; with every vertex z ≥ 1e-8 and every w_k > 0 it
//   cannot happen, so the inner loop does not test it.)
//
// * The barycentrics do not sum to 1: Σ w_k = area / (area + 1e-8) with the signed area, so below 1 for one
//   winding and above 1 for the other. For small faces this scales the interpolated z (and every attribute)
//   measurably, so adding a constant to every vertex z CAN change which face wins at silhouettes. DECA rasterises its depth map with z + 10 and everything else with z + 20; `altZOffset` tracks the
//   visibility of that second z in the same traversal (za = z + offset · Σw) into `altFace`.
//
// * Coverage is decided exactly as in float32: the face-skip and winding tests are float32, and the edge
//   functions are walked in float64 with a rigorous bound on the float32 rounding; the rare pixel whose float64
//   edge value lies within that bound of 0 gets the float32 inside test itself. So the cracks float32 leaves
//   between adjacent faces (a far face showing through a pixel on a shared edge) are reproduced. (The bit pattern
//   is that of the unfused float32 formula; a GPU build of pytorch3d may contract it into FMAs.)
//
// Speed: the per-frame work (both passes, occlusion tiles, span clearing, barycentric resolve) runs in the
// WebAssembly kernel, assembly/raster.ts, on buffers in this object's kernel arena (this class only lays them out
// and copies the vertices and face indices in); nothing is allocated per frame or per pixel. Per face a bounding
// box is walked row by row with incremental edge functions (one add per edge per pixel; e0 and e1 share one
// f64x2), from the first candidate pixel of the row to the last (the candidates of a row are contiguous); only
// the winning face and its z are written while rasterising, and barycentrics are resolved once per covered pixel
// afterwards (deferred), so overdraw costs a compare, not three stores. The z and alt z of a pixel are one 16-byte
// pair (the occlusion tiles take both maxima in one f64x2 operation); each row records the span of columns that
// received candidates (colLo/colHi), so clearing and every consumer touch only those spans; the barycentric
// coefficients of a face are recomputed on demand (`coefficients`) rather than tabled for all faces (consumers
// need them only for faces that won a pixel). Faces of the second winding drawn are skipped whole when occlusion
// tiles prove them hidden (see assembly/raster.ts). The kernel is bit-identical to the JavaScript implementation
// it replaced (kept as the oracle test/render/rasterizer-reference.ts, compared in test/render/rasterizer.test.ts);
// on the 9976-face head at 512×512 with alt z it takes ≈ 1.9 ms per frame where that took ≈ 2.6 ms (2-core cloud
// VM), most of it in the first pass's row walks (≈ 28 000 short rows of ≈ 4 candidate pixels). Interpolated z and
// barycentrics are float64 (the reference's are float32): the two can then differ only in near-ties of z and in
// the last bits of attributes (test/render/golden.test.ts).

import { KernelArena } from './wasm-arena';

/** Vertex indices, 3 per face. */
export type IndexArray = Int32Array | Uint32Array | Uint16Array;

const EPS = 1e-8;
/** Occlusion tiles are TILE×TILE pixels (see assembly/raster.ts `tileMaxima`). */
const TILE_SHIFT = 3;

export interface RasterResult {
  readonly width: number;
  readonly height: number;
  /** Winning face index per pixel, row-major, row 0 at the top; −1 for background. */
  readonly face: Int32Array;
  /** Barycentrics (w0, w1, w2) per pixel as float32, unclipped; 0 on background. */
  readonly bary: Float32Array;
  /** Interpolated z of the winning face per pixel (float32); −1 on background, as pytorch3d's zbuf. */
  readonly zbuf: Float32Array;
  /** Number of covered pixels. */
  readonly covered: number;
  /** Rows that can hold covered pixels (inclusive); every other row is background. Empty when rowMin > rowMax. */
  readonly rowMin: number;
  readonly rowMax: number;
  /**
   * Per row, the columns that can hold covered pixels (inclusive; colLo > colHi for a row with none): covered
   * pixels lie only inside these spans, so consumers scan them instead of whole rows.
   */
  readonly colLo: Int32Array;
  readonly colHi: Int32Array;
  /**
   * With `altZOffset`: the winning face per pixel when every vertex z is shifted by that offset (−1 on
   * background; coverage is the same as `face`). Otherwise the same array as `face`.
   */
  readonly altFace: Int32Array;
}

export interface RasterOptions {
  /** Also resolve visibility with every vertex z shifted by this amount (see the file header). */
  altZOffset?: number;
  /**
   * Fill `bary` and `zbuf` (default true). A caller that only needs `face` (and evaluates barycentrics itself
   * from `faceCoefficients`, as the guidance renderer does) can skip this pass; `bary`/`zbuf` are then stale.
   */
  resolve?: boolean;
}

/**
 * The rasteriser: a thin wrapper that lays out its buffers in a kernel arena and runs the WebAssembly kernel
 * (assembly/raster.ts) on them. Every output array is a view of the arena: it is detached when the arena's memory
 * grows (a later call with more vertices or faces, or a renderer allocating in the same arena), so read it
 * again from this object after such a call rather than keeping it.
 */
export class Rasterizer implements RasterResult {
  /**
   * The WebAssembly memory that every buffer (outputs, vertices, face indices) lives in, so that the render
   * kernel (kernel.ts) reads them in place; a GuidanceRenderer allocates its own buffers in the same arena.
   */
  readonly arena: KernelArena;
  readonly facePtr: number;
  readonly altFacePtr: number;
  readonly colLoPtr: number;
  readonly colHiPtr: number;
  private readonly zzPtr: number;
  private readonly baryPtr: number;
  private readonly zbufPtr: number;
  private readonly pxColPtr: number;
  private readonly pyRowPtr: number;
  /** byte offset of the float64 copy of the last call's vertices */
  vertsPtr = 0;
  private vertsCap = 0;
  /** int32 copy of the last call's face indices, and a byte per face for the kernel's winding table */
  private facesPtr = 0;
  private windPtr = 0;
  private facesCap = 0;
  private viewGen = -1;
  private faceView!: Int32Array;
  private altFaceView!: Int32Array;
  private colLoView!: Int32Array;
  private colHiView!: Int32Array;
  private baryView!: Float32Array;
  private zbufView!: Float32Array;
  private pxColView!: Float64Array;
  private pyRowView!: Float64Array;
  private vView: Float64Array = new Float64Array(0);
  private facesView: Int32Array = new Int32Array(0);
  private altIsFace = true;
  covered = 0;
  rowMin = 1;
  rowMax = 0;
  /** the faces of the last call (for `coefficients`) */
  private faces: IndexArray = new Int32Array(0);
  private readonly coefScratch = new Float64Array(11);

  constructor(readonly width: number, readonly height: number) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new RangeError(`raster size must be positive integers, got ${width}×${height}`);
    }
    const n = width * height;
    const tiles = (((width - 1) >> TILE_SHIFT) + 1) * (((height - 1) >> TILE_SHIFT) + 1);
    const k = (this.arena = new KernelArena(40 * n + 24 * height + 8 * width + 16 * tiles + (4 << 20)));
    this.facePtr = k.alloc(4 * n);
    this.altFacePtr = k.alloc(4 * n);
    this.colLoPtr = k.alloc(4 * height);
    this.colHiPtr = k.alloc(4 * height);
    this.zzPtr = k.alloc(16 * n);
    this.baryPtr = k.alloc(12 * n);
    this.zbufPtr = k.alloc(4 * n);
    this.pxColPtr = k.alloc(8 * width);
    this.pyRowPtr = k.alloc(8 * height);
    const tilesPtr = k.alloc(16 * tiles);
    k.exports.rasterSetup(
      width, height, this.facePtr, this.altFacePtr, this.colLoPtr, this.colHiPtr, this.zzPtr, this.baryPtr,
      this.zbufPtr, this.pxColPtr, this.pyRowPtr, tilesPtr,
    );
  }

  /** Typed-array views of the arena buffers, re-taken after the arena's memory grew. */
  private views(): void {
    const k = this.arena;
    if (this.viewGen === k.generation) return;
    const n = this.width * this.height;
    this.faceView = k.i32(this.facePtr, n);
    this.altFaceView = k.i32(this.altFacePtr, n);
    this.colLoView = k.i32(this.colLoPtr, this.height);
    this.colHiView = k.i32(this.colHiPtr, this.height);
    this.baryView = k.f32(this.baryPtr, 3 * n);
    this.zbufView = k.f32(this.zbufPtr, n);
    this.pxColView = k.f64(this.pxColPtr, this.width);
    this.pyRowView = k.f64(this.pyRowPtr, this.height);
    this.vView = k.f64(this.vertsPtr, this.vertsCap);
    this.facesView = k.i32(this.facesPtr, this.facesCap);
    this.viewGen = k.generation;
  }
  get face(): Int32Array {
    this.views();
    return this.faceView;
  }
  get altFace(): Int32Array {
    this.views();
    return this.altIsFace ? this.faceView : this.altFaceView;
  }
  get colLo(): Int32Array {
    this.views();
    return this.colLoView;
  }
  get colHi(): Int32Array {
    this.views();
    return this.colHiView;
  }
  get bary(): Float32Array {
    this.views();
    return this.baryView;
  }
  get zbuf(): Float32Array {
    this.views();
    return this.zbufView;
  }
  /** float64 copy of the last call's vertices (in the arena) */
  private get v(): Float64Array {
    this.views();
    return this.vView;
  }

  /**
   * Rasterise one mesh. The buffers of this object are overwritten (and returned as `this`).
   * @param verts `V*3` vertices in DECA NDC (see the file header)
   * @param faces `F*3` vertex indices
   */
  rasterize(verts: Float32Array | Float64Array, faces: IndexArray, options: RasterOptions = {}): RasterResult {
    const k = this.arena;
    const nf = (faces.length / 3) | 0;
    // (allocations may grow the memory: before any view is taken)
    if (this.vertsCap < verts.length) {
      this.vertsPtr = k.alloc(8 * verts.length);
      this.vertsCap = verts.length;
      this.viewGen = -1;
    }
    if (this.facesCap < 3 * nf) {
      this.facesPtr = k.alloc(12 * nf);
      this.windPtr = k.alloc(nf);
      this.facesCap = 3 * nf;
      this.viewGen = -1;
    }
    this.views();
    // (elements past verts.length keep the values of earlier calls; the kernel reads the whole copy, as the
    // JavaScript rasteriser it replaced did: a face index beyond it reads NaN)
    this.vView.set(verts);
    this.facesView.set(faces.length === 3 * nf ? faces : faces.subarray(0, 3 * nf));
    this.faces = faces;
    const altOff = options.altZOffset ?? 0;
    this.altIsFace = altOff === 0;
    const resolve = options.resolve ?? true;
    this.covered = k.exports.rasterize(this.facesPtr, nf, this.vertsPtr, this.vertsCap, this.windPtr, altOff, resolve ? 1 : 0);
    this.rowMin = k.exports.rasterRowMin();
    this.rowMax = k.exports.rasterRowMax();
    return this;
  }

  /**
   * Face `f`'s barycentric coefficients in the last `rasterize` call, 11 numbers written to `out[o..o+10]`:
   * `x0, y0, c0, a0, b0, c1, a1, b1, c2, a2, b2` with `w_k = c_k + a_k·(px − x0) + b_k·(py − y0)` (the reference's
   * `edge_k / (area + 1e-8)`, expanded about v0). Computed on demand (consumers ask only for faces that won a
   * pixel, in pixel order, and the vertices are cache-resident where a per-face table would not be).
   */
  coefficients(f: number, out: Float64Array, o: number): void {
    const v = this.v, faces = this.faces;
    const a = 3 * faces[3 * f], b = 3 * faces[3 * f + 1], c = 3 * faces[3 * f + 2];
    const x0 = v[a], y0 = v[a + 1], x1 = v[b], y1 = v[b + 1], x2 = v[c], y2 = v[c + 1];
    const ib = 1 / ((x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0) + EPS);
    out[o] = x0;
    out[o + 1] = y0;
    out[o + 2] = ((x0 - x1) * (y2 - y1) - (y0 - y1) * (x2 - x1)) * ib; // w0 at v0
    out[o + 3] = (y2 - y1) * ib;
    out[o + 4] = -(x2 - x1) * ib;
    out[o + 5] = 0; // w1 at v0 = edge(v0, v2, v0) = 0
    out[o + 6] = (y0 - y2) * ib;
    out[o + 7] = -(x0 - x2) * ib;
    out[o + 8] = 0; // w2 at v0 = edge(v0, v0, v1) = 0
    out[o + 9] = (y1 - y0) * ib;
    out[o + 10] = -(x1 - x0) * ib;
  }

  /**
   * Barycentrics of face `f` at pixel `p` (any face the last `rasterize` call processed), written to `out[0..2]`.
   * Used for `altFace` pixels whose face differs from `face`.
   */
  baryAt(f: number, p: number, out: Float64Array | Float32Array): void {
    const coef = this.coefScratch, o = 0;
    this.coefficients(f, coef, 0);
    this.views();
    const dx = this.pxColView[p % this.width] - coef[o], dy = this.pyRowView[(p / this.width) | 0] - coef[o + 1];
    out[0] = coef[o + 2] + coef[o + 3] * dx + coef[o + 4] * dy;
    out[1] = coef[o + 6] * dx + coef[o + 7] * dy;
    out[2] = coef[o + 9] * dx + coef[o + 10] * dy;
  }
}
