// ORACLE FOR TESTS ONLY: the previous implementation of src/kernel/render/rasterizer.ts (plain JavaScript, before
// the rasteriser moved into the WebAssembly kernel, assembly/raster.ts), kept verbatim except that its buffers are
// ordinary typed arrays instead of kernel-arena views. test/render/rasterizer.test.ts checks that the kernel gives
// bit-identical results. Its header comment is that of the file it was copied from.
//
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
// Speed: float64 on preallocated typed arrays, no allocation per frame or per pixel; per face a bounding box
// walked row by row with incremental edge functions (one add per edge per pixel), from the first candidate pixel
// of the row to the last (the candidates of a row are contiguous); only the winning face and its z are written
// while rasterising, and barycentrics are resolved once per covered pixel afterwards (deferred), so overdraw
// costs a compare, not three stores. The z and alt z of a pixel share a cache line; each row records the span of
// columns that received candidates (colLo/colHi), so clearing and every consumer touch only those spans; the
// barycentric coefficients of a face are recomputed on demand (`coefficients`) rather than tabled for all faces
// (consumers need them only for faces that won a pixel). Faces of the second winding drawn are skipped whole when
// occlusion tiles prove them hidden (see `rasterize`). Interpolated z and barycentrics are float64 (the
// reference's are float32): the two can then differ only in near-ties of z and in the last bits of attributes
// (test/render/golden.test.ts).

/** Vertex indices, 3 per face. */
export type IndexArray = Int32Array | Uint32Array | Uint16Array;

const EPS = 1e-8;
/** Relative bound used to find pixels whose float32 inside test could differ from the float64 one. */
const TOL = 2 ** -20;
/** pytorch3d's kEpsilon as the float32 it is. */
const EPS32 = Math.fround(1e-8);
const f32 = Math.fround;
/** Occlusion tiles are TILE×TILE pixels (see `tileMaxima`). */
const TILE_SHIFT = 3;

/** float32 `edge(p, a, b) = (p − a) × (b − a)` with the reference's operation order (no fused multiply-add). */
function edge32(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  return f32(f32(f32(px - ax) * f32(by - ay)) - f32(f32(py - ay) * f32(bx - ax)));
}

/**
 * The reference's inside test in float32: all three `w_k = edge_k / (area + 1e-8) > 0`. Used only for the rare
 * pixels where a float64 edge value is within float32 rounding of 0, so that coverage (including the cracks
 * float32 leaves between adjacent faces) is decided exactly as the reference decides it.
 */
function inside32(px: number, py: number, x0: number, y0: number, x1: number, y1: number, x2: number, y2: number, area32: number): boolean {
  return f32(edge32(px, py, x1, y1, x2, y2) / area32) > 0 &&
    f32(edge32(px, py, x2, y2, x0, y0) / area32) > 0 &&
    f32(edge32(px, py, x0, y0, x1, y1) / area32) > 0;
}

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

export class ReferenceRasterizer implements RasterResult {
  private vertsCap = 0;
  readonly bary: Float32Array;
  readonly zbuf: Float32Array;
  private readonly faceView: Int32Array;
  private readonly altFaceView: Int32Array;
  private readonly colLoView: Int32Array;
  private readonly colHiView: Int32Array;
  private vView: Float64Array = new Float64Array(0);
  private altIsFace = true;
  covered = 0;
  rowMin = 1;
  rowMax = 0;
  /** float64 z of the current winner, then the alt z of the alt winner: `(z, za)` per pixel, in one cache line */
  private readonly zz: Float64Array;
  /** the faces of the last call (for `coefficients`) */
  private faces: IndexArray = new Int32Array(0);
  private readonly coefScratch = new Float64Array(11);
  /** per occlusion tile, the largest z (and alt z) held by its pixels after the first pass; Infinity if any is empty */
  private readonly tileMax: Float64Array;
  private readonly tileAltMax: Float64Array;
  private readonly tilesX: number;
  /** the winding drawn first (+1: positive signed area); the one that won more pixels in the last call */
  private firstWinding = 1;
  private readonly pxCol: Float64Array;
  private readonly pyRow: Float64Array;
  /** per face, from the first pass: its winding (±1), or 0 if the reference skips it (so the second pass tests nothing else) */
  private winding = new Int8Array(0);
  private resolved = true;
  /** spans written by the last call (colLo/colHi of rows rowMin..rowMax); everything else is still clear */
  private dirtyMin = 0;
  private dirtyMax: number;

  constructor(readonly width: number, readonly height: number) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new RangeError(`raster size must be positive integers, got ${width}×${height}`);
    }
    const n = width * height;
    this.faceView = new Int32Array(n);
    this.altFaceView = new Int32Array(n);
    this.colLoView = new Int32Array(height);
    this.colHiView = new Int32Array(height);
    this.bary = new Float32Array(3 * n);
    this.zbuf = new Float32Array(n);
    this.zz = new Float64Array(2 * n);
    this.colLo.fill(0);
    this.colHi.fill(width - 1);
    this.tilesX = ((width - 1) >> TILE_SHIFT) + 1;
    this.tileMax = new Float64Array(this.tilesX * (((height - 1) >> TILE_SHIFT) + 1));
    this.tileAltMax = new Float64Array(this.tileMax.length);
    this.pxCol = new Float64Array(width);
    this.pyRow = new Float64Array(height);
    for (let j = 0; j < width; j++) this.pxCol[j] = (2 * j + 1) / width - 1;
    for (let i = 0; i < height; i++) this.pyRow[i] = (2 * i + 1) / height - 1;
    this.dirtyMax = height - 1; // first call clears everything (whole-row spans)
  }

  /** (the arena version re-took its views here) */
  private views(): void {}
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
  /** float64 copy of the last call's vertices */
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
    const W = this.width, H = this.height;
    if (this.vertsCap < verts.length) {
      // (may grow the memory: before any view is taken)
      this.vView = new Float64Array(verts.length);
      this.vertsCap = verts.length;
    }
    this.views();
    const face = this.faceView, zz = this.zz, pxCol = this.pxCol, pyRow = this.pyRow;
    const colLo = this.colLoView, colHi = this.colHiView;
    const altOff = options.altZOffset ?? 0;
    const alt = altOff !== 0;
    const altFace = this.altFaceView;
    this.clearSpans();
    this.altIsFace = !alt;
    const v = this.vView;
    for (let k = 0; k < verts.length; k++) v[k] = verts[k];
    const nf = (faces.length / 3) | 0;
    this.faces = faces;
    const hw = W / 2, hh = H / 2;
    const dx = 2 / W;
    let rowLo = H, rowHi = -1;
    let covered = 0;
    const tileMax = this.tileMax, tileAltMax = this.tileAltMax, tilesX = this.tilesX;
    let wins0 = 0, wins1 = 0;
    if (this.winding.length < nf) this.winding = new Int8Array(nf);
    const wind = this.winding;

    // Two passes: the faces of one winding (normally those facing the camera), then the others, which are mostly
    // hidden behind the first and skipped whole when every occlusion tile under their box already holds nearer z
    // (and alt z) than any of their pixels could. Wins compare (z, face index), so the result is the one-pass,
    // face-order result exactly (ties keep the lowest face index either way).
    for (let pass = 0; pass < 2; pass++) {
      const winding = pass === 0 ? this.firstWinding : -this.firstWinding;
      if (pass === 1) this.tileMaxima(rowLo, rowHi, alt);
      let wins = 0;
      for (let f = 0; f < nf; f++) {
        if (pass === 1 && wind[f] !== winding) continue;
        const a = 3 * faces[3 * f], b = 3 * faces[3 * f + 1], c = 3 * faces[3 * f + 2];
        const z0 = v[a + 2], z1 = v[b + 2], z2 = v[c + 2];
        const x0 = v[a], y0 = v[a + 1], x1 = v[b], y1 = v[b + 1], x2 = v[c], y2 = v[c + 1];
        const area32 = f32(edge32(x2, y2, x0, y0, x1, y1) + EPS32);
        const areaB = (x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0) + EPS;
        if (pass === 0) {
          wind[f] = 0;
          if (z0 < EPS32 || z1 < EPS32 || z2 < EPS32) continue;
          // the skip and sign decisions in float32, exactly as the reference makes them
          const faceArea32 = edge32(x0, y0, x1, y1, x2, y2);
          if (faceArea32 <= EPS32 && faceArea32 >= -EPS32) continue;
          if (area32 === 0) continue;
          if (areaB === 0 || (areaB > 0) !== (area32 > 0)) continue; // (only for areas of ~1e-8, already skipped)
          wind[f] = areaB > 0 ? 1 : -1;
          if (wind[f] !== winding) continue;
        }

        // bounding box → inclusive pixel ranges, decided with the exact pixel-centre coordinates
        const xmin = x0 < x1 ? (x0 < x2 ? x0 : x2) : x1 < x2 ? x1 : x2;
        const xmax = x0 > x1 ? (x0 > x2 ? x0 : x2) : x1 > x2 ? x1 : x2;
        const ymin = y0 < y1 ? (y0 < y2 ? y0 : y2) : y1 < y2 ? y1 : y2;
        const ymax = y0 > y1 ? (y0 > y2 ? y0 : y2) : y1 > y2 ? y1 : y2;
        let jA = Math.ceil((xmin + 1) * hw - 0.5);
        let jB = Math.floor((xmax + 1) * hw - 0.5);
        let iA = Math.ceil((ymin + 1) * hh - 0.5);
        let iB = Math.floor((ymax + 1) * hh - 0.5);
        if (jA < 0) jA = 0;
        if (jB > W - 1) jB = W - 1;
        if (iA < 0) iA = 0;
        if (iB > H - 1) iB = H - 1;
        if (jA > jB + 1 || iA > iB + 1) continue;
        if (jA <= W - 1) {
          while (jA > 0 && pxCol[jA - 1] >= xmin) jA--;
          while (jA <= jB && pxCol[jA] < xmin) jA++;
        }
        if (jB >= 0) {
          while (jB < W - 1 && pxCol[jB + 1] <= xmax) jB++;
          while (jB >= jA && pxCol[jB] > xmax) jB--;
        }
        if (iA <= H - 1) {
          while (iA > 0 && pyRow[iA - 1] >= ymin) iA--;
          while (iA <= iB && pyRow[iA] < ymin) iA++;
        }
        if (iB >= 0) {
          while (iB < H - 1 && pyRow[iB + 1] <= ymax) iB++;
          while (iB >= iA && pyRow[iB] > ymax) iB--;
        }
        if (jA > jB || iA > iB) continue;

        // edge functions times sign(area): covered ⇔ all three > 0; w_k = e_k / |area|
        const s = areaB > 0 ? 1 : -1;
        const A0 = s * (y2 - y1), B0 = s * (x2 - x1);
        const A1 = s * (y0 - y2), B1 = s * (x0 - x2);
        const A2 = s * (y1 - y0), B2 = s * (x1 - x0);
        const sx0 = A0 * dx, sx1 = A1 * dx, sx2 = A2 * dx;
        const inv = 1 / (areaB * s);
        const sigOff = altOff * ((areaB - EPS) / areaB); // offset · Σ w_k
        const pxA = pxCol[jA];
        const dzx = (sx0 * z0 + sx1 * z1 + sx2 * z2) * inv;
        // Bounds on |float64 edge − float32 edge| over the box (generous: 2^-20 relative to the products): pixels
        // with every edge value above its bound are inside in both, below minus it outside in both; the rest
        // (rare) are decided by the float32 test itself.
        const mx = xmax - xmin + 4 / W, my = ymax - ymin + 4 / H;
        const d0 = (mx * Math.abs(A0) + my * Math.abs(B0)) * TOL, d1 = (mx * Math.abs(A1) + my * Math.abs(B1)) * TOL;
        const d2 = (mx * Math.abs(A2) + my * Math.abs(B2)) * TOL;
        const n0 = -d0, n1 = -d1, n2 = -d2;
        if (pass === 1) {
          // z = Σ e_k z_k / |area| ≥ Σw · min z, less what edge values down to −d_k (float32-decided pixels) and
          // rounding can take off; skip the face if every tile under its box is already nearer than that
          const zmin = z0 < z1 ? (z0 < z2 ? z0 : z2) : z1 < z2 ? z1 : z2;
          const zmax = z0 > z1 ? (z0 > z2 ? z0 : z2) : z1 > z2 ? z1 : z2;
          const zLow = ((areaB - EPS) / areaB) * zmin - (d0 + d1 + d2) * inv * zmax - 1e-9 * (zmax + 1);
          const zaLow = zLow + sigOff - 1e-9 * (Math.abs(zLow) + Math.abs(sigOff) + 1);
          let near = -Infinity, nearAlt = -Infinity;
          for (let ti = iA >> TILE_SHIFT, tEnd = iB >> TILE_SHIFT; ti <= tEnd; ti++) {
            for (let t = ti * tilesX + (jA >> TILE_SHIFT), te = ti * tilesX + (jB >> TILE_SHIFT); t <= te; t++) {
              if (tileMax[t] > near) near = tileMax[t];
              if (tileAltMax[t] > nearAlt) nearAlt = tileAltMax[t];
            }
          }
          if (zLow > near && (!alt || zaLow > nearAlt)) continue;
        }
        let hit = false;
        for (let i = iA; i <= iB; i++) {
          const py = pyRow[i];
          let e0 = (pxA - x1) * A0 - (py - y1) * B0;
          let e1 = (pxA - x2) * A1 - (py - y2) * B1;
          let e2 = (pxA - x0) * A2 - (py - y0) * B2;
          let p = i * W + jA;
          const end = i * W + jB;
          // the candidate pixels of a row are contiguous (each edge sequence is monotone): skip to the first ...
          while (p <= end && !(e0 > n0 && e1 > n1 && e2 > n2)) {
            e0 += sx0;
            e1 += sx1;
            e2 += sx2;
            p++;
          }
          if (p > end) continue;
          // ... and stop after the last one
          let z = (e0 * z0 + e1 * z1 + e2 * z2) * inv;
          hit = true;
          const first = p - i * W;
          do {
            if ((e0 > d0 && e1 > d1 && e2 > d2) || inside32(pxCol[p - i * W], py, x0, y0, x1, y1, x2, y2, area32)) {
              if (z < zz[2 * p] || (z === zz[2 * p] && f < face[p])) {
                if (face[p] < 0) covered++;
                zz[2 * p] = z;
                face[p] = f;
                wins++;
              }
              if (alt) {
                const za = z + sigOff;
                if (za < zz[2 * p + 1] || (za === zz[2 * p + 1] && f < altFace[p])) {
                  zz[2 * p + 1] = za;
                  altFace[p] = f;
                }
              }
            }
            e0 += sx0;
            e1 += sx1;
            e2 += sx2;
            z += dzx;
            p++;
          } while (p <= end && e0 > n0 && e1 > n1 && e2 > n2);
          // the candidates first .. p−1 − i·W widen the row's span (a superset of its covered pixels)
          if (first < colLo[i]) colLo[i] = first;
          if (p - 1 - i * W > colHi[i]) colHi[i] = p - 1 - i * W;
        }
        if (hit) {
          if (iA < rowLo) rowLo = iA;
          if (iB > rowHi) rowHi = iB;
        }
      }
      if (pass === 0) wins0 = wins;
      else wins1 = wins;
    }
    if (wins1 > wins0) this.firstWinding = -this.firstWinding;

    this.rowMin = rowLo;
    this.rowMax = rowHi;
    this.dirtyMin = rowLo;
    this.dirtyMax = rowHi;
    this.covered = covered;
    this.resolved = options.resolve ?? true;
    if (this.resolved) this.resolve();
    return this;
  }

  /**
   * Occlusion tiles after the first pass: per tile the largest z (and alt z) of its pixels, Infinity where any
   * pixel is still empty. z only decreases afterwards, so these stay upper bounds for the second pass.
   */
  private tileMaxima(rowLo: number, rowHi: number, alt: boolean): void {
    const W = this.width, H = this.height, zz = this.zz, colLo = this.colLo, colHi = this.colHi;
    const tileMax = this.tileMax, tileAltMax = this.tileAltMax, tilesX = this.tilesX, T = 1 << TILE_SHIFT;
    // a tile with any pixel outside the row spans (or the rows drawn) holds an empty pixel: Infinity
    tileMax.fill(Infinity);
    tileAltMax.fill(Infinity);
    if (rowLo > rowHi) return;
    for (let ti = rowLo >> TILE_SHIFT, tEnd = rowHi >> TILE_SHIFT; ti <= tEnd; ti++) {
      const i0 = ti << TILE_SHIFT, i1 = Math.min(i0 + T, H) - 1;
      if (i0 < rowLo || i1 > rowHi) continue;
      // the columns inside every span of the tile's rows
      let lo = 0, hi = W - 1;
      for (let i = i0; i <= i1; i++) {
        if (colLo[i] > lo) lo = colLo[i];
        if (colHi[i] < hi) hi = colHi[i];
      }
      for (let tj = lo >> TILE_SHIFT, tjEnd = hi >> TILE_SHIFT; tj <= tjEnd; tj++) {
        const j0 = tj << TILE_SHIFT, j1 = Math.min(j0 + T, W) - 1;
        if (j0 < lo || j1 > hi) continue;
        let m = -Infinity, ma = alt ? -Infinity : Infinity;
        // (an empty pixel holds Infinity in both: the tile's maxima are Infinity, stop there)
        scan: for (let i = i0; i <= i1; i++) {
          for (let p = i * W + j0, pe = i * W + j1; p <= pe; p++) {
            const z = zz[2 * p];
            if (z === Infinity) {
              m = ma = Infinity;
              break scan;
            }
            if (z > m) m = z;
            if (alt && zz[2 * p + 1] > ma) ma = zz[2 * p + 1];
          }
        }
        tileMax[ti * tilesX + tj] = m;
        tileAltMax[ti * tilesX + tj] = ma;
      }
    }
  }

  /** Barycentrics and zbuf of the winning faces, once per covered pixel (float32, as the reference stores them). */
  private resolve(): void {
    const W = this.width;
    const face = this.face, bary = this.bary, zbuf = this.zbuf, zz = this.zz, coef = this.coefScratch;
    const pxCol = this.pxCol, pyRow = this.pyRow;
    const o = 0;
    for (let i = this.rowMin; i <= this.rowMax; i++) {
      const py = pyRow[i];
      let cf = -1;
      for (let j = this.colLo[i], p = i * W + j, end = this.colHi[i]; j <= end; j++, p++) {
        const f = face[p];
        if (f < 0) continue;
        if (f !== cf) this.coefficients((cf = f), coef, 0);
        const dx = pxCol[j] - coef[o], dy = py - coef[o + 1];
        bary[3 * p] = coef[o + 2] + coef[o + 3] * dx + coef[o + 4] * dy;
        bary[3 * p + 1] = coef[o + 6] * dx + coef[o + 7] * dy;
        bary[3 * p + 2] = coef[o + 9] * dx + coef[o + 10] * dy;
        zbuf[p] = zz[2 * p];
      }
    }
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
    const dx = this.pxCol[p % this.width] - coef[o], dy = this.pyRow[(p / this.width) | 0] - coef[o + 1];
    out[0] = coef[o + 2] + coef[o + 3] * dx + coef[o + 4] * dy;
    out[1] = coef[o + 6] * dx + coef[o + 7] * dy;
    out[2] = coef[o + 9] * dx + coef[o + 10] * dy;
  }

  /** Reset what the last call wrote (its row spans) and mark every span empty. */
  private clearSpans(): void {
    this.views();
    const W = this.width, colLo = this.colLoView, colHi = this.colHiView;
    for (let i = this.dirtyMin; i <= this.dirtyMax; i++) {
      if (colLo[i] > colHi[i]) continue;
      const lo = i * W + colLo[i], hi = i * W + colHi[i] + 1;
      this.faceView.fill(-1, lo, hi);
      this.zz.fill(Infinity, 2 * lo, 2 * hi);
      this.altFaceView.fill(-1, lo, hi);
      if (!this.resolved) continue; // bary and zbuf were not written
      this.zbuf.fill(-1, lo, hi);
      this.bary.fill(0, 3 * lo, 3 * hi);
    }
    colLo.fill(this.width);
    colHi.fill(-1);
  }
}
