// AssemblyScript (compiled to WebAssembly; see ../wasm-arena.ts for how it is built and loaded).
//
// The rasteriser's per-frame work: both winding passes, the occlusion tiles, the row spans, and the barycentric
// resolve. ../rasterizer.ts documents the conventions and the algorithm and is the thin JavaScript wrapper that
// lays out the buffers. Every float64 and float32 value is computed with exactly the operations, in the same
// order, as the JavaScript implementation this replaced (kept as the oracle test/render/rasterizer-reference.ts,
// which test/render/rasterizer.test.ts compares bit for bit): WebAssembly arithmetic is IEEE and never fused, a
// float32 operation on float32 operands equals the float64 one rounded to float32, and `<f32>x` is Math.fround.
// The JavaScript's treatment of odd inputs (NaN or infinite coordinates, vertex indices out of range) is kept too.
//
// All pointers are byte offsets into the module's (imported) memory.

import { barycentricCoefficients, ba0, ba1, ba2, bb0, bb1, bb2, bc0 } from './barycentric';

const EPS: f64 = 1e-8;
/** Relative bound used to find pixels whose float32 inside test could differ from the float64 one (2^-20). */
const TOL: f64 = 9.5367431640625e-7;
/** pytorch3d's kEpsilon as the float32 it is. */
const EPS32: f32 = <f32>1e-8;
const EPS32D: f64 = <f64>EPS32;
/** Occlusion tiles are TILE×TILE pixels (see `tileMaxima`). */
const TILE_SHIFT = 3;

// ------------------------------------------------------------------------------------------------ layout
// per rasteriser (set once by `rasterSetup`)
let W: i32 = 0;
let H: i32 = 0;
let faceP: usize = 0; // i32[W·H]: winning face, −1 background
let altFaceP: usize = 0; // i32[W·H]
let colLoP: usize = 0; // i32[H]
let colHiP: usize = 0; // i32[H]
let zzP: usize = 0; // f64[2·W·H]: (z, alt z) per pixel
let baryP: usize = 0; // f32[3·W·H]
let zbufP: usize = 0; // f32[W·H]
let pxColP: usize = 0; // f64[W]: pixel-centre x
let pyRowP: usize = 0; // f64[H]: pixel-centre y
let tileP: usize = 0; // f64[2·tiles]: per occlusion tile (largest z, largest alt z)
let tilesX: i32 = 0;

// state carried between calls
/** the winding drawn first (+1: positive signed area); the one that won more pixels in the last call */
let firstWinding: i32 = 1;
/** spans written by the last call (rows dirtyMin..dirtyMax); everything else is still clear */
let dirtyMin: i32 = 0;
let dirtyMax: i32 = 0;
/** whether the last call filled bary and zbuf */
let resolved = true;
let rowMinOut: i32 = 1;
let rowMaxOut: i32 = 0;

// per call
let facesP: usize = 0; // i32[3F]
let vP: usize = 0; // f64[vCap]
let vCap: u64 = 0;

/**
 * Lay out a rasteriser of `width`×`height` on zero-filled buffers and fill the pixel-centre tables. The first
 * `rasterize` then clears every pixel (whole-row spans).
 */
export function rasterSetup(
  width: i32, height: i32, face: usize, altFace: usize, colLo: usize, colHi: usize, zz: usize, bary: usize,
  zbuf: usize, pxCol: usize, pyRow: usize, tiles: usize,
): void {
  W = width;
  H = height;
  faceP = face;
  altFaceP = altFace;
  colLoP = colLo;
  colHiP = colHi;
  zzP = zz;
  baryP = bary;
  zbufP = zbuf;
  pxColP = pxCol;
  pyRowP = pyRow;
  tileP = tiles;
  tilesX = ((width - 1) >> TILE_SHIFT) + 1;
  for (let j = 0; j < width; j++) store<f64>(pxCol + (<usize>j << 3), <f64>(2 * j + 1) / <f64>width - 1);
  for (let i = 0; i < height; i++) store<f64>(pyRow + (<usize>i << 3), <f64>(2 * i + 1) / <f64>height - 1);
  for (let i = 0; i < height; i++) {
    store<i32>(colLo + (<usize>i << 2), 0);
    store<i32>(colHi + (<usize>i << 2), width - 1);
  }
  firstWinding = 1;
  dirtyMin = 0;
  dirtyMax = height - 1;
  resolved = true;
  rowMinOut = 1;
  rowMaxOut = 0;
}

export function rasterRowMin(): i32 {
  return rowMinOut;
}
export function rasterRowMax(): i32 {
  return rowMaxOut;
}

// ------------------------------------------------------------------------------------------------ helpers
@inline function pxCol(j: i32): f64 {
  return load<f64>(pxColP + (<usize>j << 3));
}
@inline function pyRow(i: i32): f64 {
  return load<f64>(pyRowP + (<usize>i << 3));
}
@inline function colLo(i: i32): i32 {
  return load<i32>(colLoP + (<usize>i << 2));
}
@inline function colHi(i: i32): i32 {
  return load<i32>(colHiP + (<usize>i << 2));
}
/** Element k of the vertex copy; NaN past its end (where the JavaScript array read gave undefined). */
@inline function vert(k: u64): f64 {
  return k < vCap ? load<f64>(vP + (<usize>k << 3)) : NaN;
}
/** 3 × vertex index `c` of face f (an index ≥ 2^31 or negative is out of range either way, as u32 it stays so). */
@inline function corner(f: i32, c: i32): u64 {
  return <u64>load<u32>(facesP + (<usize>(3 * f + c) << 2)) * 3;
}

/** float32 `edge(p, a, b) = (p − a) × (b − a)` with the reference's operation order (no fused multiply-add). */
@inline function edge32(px: f64, py: f64, ax: f64, ay: f64, bx: f64, by: f64): f32 {
  return <f32>(px - ax) * <f32>(by - ay) - <f32>(py - ay) * <f32>(bx - ax);
}

/** The reference's inside test in float32 (see ../rasterizer.ts): all three `w_k = edge_k / (area + 1e-8) > 0`. */
function inside32(px: f64, py: f64, x0: f64, y0: f64, x1: f64, y1: f64, x2: f64, y2: f64, area32: f32): bool {
  return edge32(px, py, x1, y1, x2, y2) / area32 > 0 &&
    edge32(px, py, x2, y2, x0, y0) / area32 > 0 &&
    edge32(px, py, x0, y0, x1, y1) / area32 > 0;
}

// ------------------------------------------------------------------------------------------------ the passes
/**
 * Rasterise faces 0..nf−1 (`faces`: i32[3·nf] vertex indices) over the vertices `verts` (f64, `vertsLen` elements
 * readable), with `wind` (i8[nf]) as scratch for the faces' windings. Returns the number of covered pixels;
 * rasterRowMin/rasterRowMax give the rows drawn. With `altOff` ≠ 0 also fills altFace (visibility with every z
 * shifted by altOff); with `resolve`, bary and zbuf.
 */
export function rasterize(faces: usize, nf: i32, verts: usize, vertsLen: i32, wind: usize, altOff: f64, resolve: bool): i32 {
  facesP = faces;
  vP = verts;
  vCap = <u64>vertsLen;
  clearSpans();
  const alt = altOff != 0;
  const hw = <f64>W / 2, hh = <f64>H / 2;
  const dx = 2 / <f64>W;
  const Wm1 = W - 1, Hm1 = H - 1;
  let rowLo = H, rowHi = -1;
  let covered = 0;
  let wins0 = 0, wins1 = 0;

  // Two passes: the faces of one winding (normally those facing the camera), then the others, which are mostly
  // hidden behind the first and skipped whole when every occlusion tile under their box already holds nearer z
  // (and alt z) than any of their pixels could. Wins compare (z, face index), so the result is the one-pass,
  // face-order result exactly (ties keep the lowest face index either way).
  for (let pass = 0; pass < 2; pass++) {
    const winding = pass == 0 ? firstWinding : -firstWinding;
    if (pass == 1) tileMaxima(rowLo, rowHi);
    let wins = 0;
    for (let f = 0; f < nf; f++) {
      if (pass == 1 && <i32>load<i8>(wind + <usize>f) != winding) continue;
      const a = corner(f, 0), b = corner(f, 1), c = corner(f, 2);
      const z0 = vert(a + 2), z1 = vert(b + 2), z2 = vert(c + 2);
      const x0 = vert(a), y0 = vert(a + 1), x1 = vert(b), y1 = vert(b + 1), x2 = vert(c), y2 = vert(c + 1);
      const area32: f32 = edge32(x2, y2, x0, y0, x1, y1) + EPS32;
      const areaB = (x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0) + EPS;
      if (pass == 0) {
        store<i8>(wind + <usize>f, 0);
        if (z0 < EPS32D || z1 < EPS32D || z2 < EPS32D) continue;
        // the skip and sign decisions in float32, exactly as the reference makes them
        const faceArea32 = edge32(x0, y0, x1, y1, x2, y2);
        if (faceArea32 <= EPS32 && faceArea32 >= -EPS32) continue;
        if (area32 == 0) continue;
        if (areaB == 0 || (areaB > 0) != (area32 > 0)) continue; // (only for areas of ~1e-8, already skipped)
        const w: i32 = areaB > 0 ? 1 : -1;
        store<i8>(wind + <usize>f, <i8>w);
        if (w != winding) continue;
      }

      // bounding box → inclusive pixel ranges, decided with the exact pixel-centre coordinates
      const xmin = x0 < x1 ? (x0 < x2 ? x0 : x2) : x1 < x2 ? x1 : x2;
      const xmax = x0 > x1 ? (x0 > x2 ? x0 : x2) : x1 > x2 ? x1 : x2;
      const ymin = y0 < y1 ? (y0 < y2 ? y0 : y2) : y1 < y2 ? y1 : y2;
      const ymax = y0 > y1 ? (y0 > y2 ? y0 : y2) : y1 > y2 ? y1 : y2;
      // (in float64 first: the JavaScript compared these numbers before any integer conversion)
      let jAf = Math.ceil((xmin + 1) * hw - 0.5);
      let jBf = Math.floor((xmax + 1) * hw - 0.5);
      let iAf = Math.ceil((ymin + 1) * hh - 0.5);
      let iBf = Math.floor((ymax + 1) * hh - 0.5);
      if (jAf < 0) jAf = 0;
      if (jBf > <f64>Wm1) jBf = <f64>Wm1;
      if (iAf < 0) iAf = 0;
      if (iBf > <f64>Hm1) iBf = <f64>Hm1;
      if (jAf > jBf + 1 || iAf > iBf + 1) continue;
      // Now each is an integer in −1..W (or H), or NaN. xmin and xmax are NaN together, exactly when x2 is (the
      // comparisons above pick x2 whenever one involving it is false), likewise for y. A NaN row range draws
      // nothing; a NaN column range with rows left made the JavaScript's row loop mark the face as drawn (`hit`)
      // with no pixel tested (its pixel index was NaN), and its area is NaN, so the tile test never skipped it.
      if (isNaN(iAf) || isNaN(iBf)) continue;
      let iA = <i32>iAf, iB = <i32>iBf;
      if (iA <= Hm1) {
        while (iA > 0 && pyRow(iA - 1) >= ymin) iA--;
        while (iA <= iB && pyRow(iA) < ymin) iA++;
      }
      if (iB >= 0) {
        while (iB < Hm1 && pyRow(iB + 1) <= ymax) iB++;
        while (iB >= iA && pyRow(iB) > ymax) iB--;
      }
      if (isNaN(jAf) || isNaN(jBf)) {
        if (iA <= iB) {
          if (iA < rowLo) rowLo = iA;
          if (iB > rowHi) rowHi = iB;
        }
        continue;
      }
      let jA = <i32>jAf, jB = <i32>jBf;
      if (jA <= Wm1) {
        while (jA > 0 && pxCol(jA - 1) >= xmin) jA--;
        while (jA <= jB && pxCol(jA) < xmin) jA++;
      }
      if (jB >= 0) {
        while (jB < Wm1 && pxCol(jB + 1) <= xmax) jB++;
        while (jB >= jA && pxCol(jB) > xmax) jB--;
      }
      if (jA > jB || iA > iB) continue;

      // edge functions times sign(area): covered ⇔ all three > 0; w_k = e_k / |area|
      const s: f64 = areaB > 0 ? 1 : -1;
      const A0 = s * (y2 - y1), B0 = s * (x2 - x1);
      const A1 = s * (y0 - y2), B1 = s * (x0 - x2);
      const A2 = s * (y1 - y0), B2 = s * (x1 - x0);
      const sx0 = A0 * dx, sx1 = A1 * dx, sx2 = A2 * dx;
      const inv = 1 / (areaB * s);
      const sigOff = altOff * ((areaB - EPS) / areaB); // offset · Σ w_k
      const pxA = pxCol(jA);
      const dzx = (sx0 * z0 + sx1 * z1 + sx2 * z2) * inv;
      // bounds on |float64 edge − float32 edge| over the box (see ../rasterizer.ts)
      const mx = xmax - xmin + 4 / <f64>W, my = ymax - ymin + 4 / <f64>H;
      const d0 = (mx * Math.abs(A0) + my * Math.abs(B0)) * TOL, d1 = (mx * Math.abs(A1) + my * Math.abs(B1)) * TOL;
      const d2 = (mx * Math.abs(A2) + my * Math.abs(B2)) * TOL;
      const n0 = -d0, n1 = -d1, n2 = -d2;
      if (pass == 1) {
        // z = Σ e_k z_k / |area| ≥ Σw · min z, less what edge values down to −d_k (float32-decided pixels) and
        // rounding can take off; skip the face if every tile under its box is already nearer than that
        const zmin = z0 < z1 ? (z0 < z2 ? z0 : z2) : z1 < z2 ? z1 : z2;
        const zmax = z0 > z1 ? (z0 > z2 ? z0 : z2) : z1 > z2 ? z1 : z2;
        const zLow = ((areaB - EPS) / areaB) * zmin - (d0 + d1 + d2) * inv * zmax - 1e-9 * (zmax + 1);
        const zaLow = zLow + sigOff - 1e-9 * (Math.abs(zLow) + Math.abs(sigOff) + 1);
        // (pmax(a, b) = a < b ? b : a: the JavaScript's running `if (m > near) near = m`, lane-wise)
        let near = f64x2.splat(-Infinity);
        for (let ti = iA >> TILE_SHIFT, tEnd = iB >> TILE_SHIFT; ti <= tEnd; ti++) {
          for (let t = ti * tilesX + (jA >> TILE_SHIFT), te = ti * tilesX + (jB >> TILE_SHIFT); t <= te; t++) {
            near = f64x2.pmax(near, v128.load(tileP + (<usize>t << 4)));
          }
        }
        if (zLow > f64x2.extract_lane(near, 0) && (!alt || zaLow > f64x2.extract_lane(near, 1))) continue;
      }
      let hit = false;
      // (e0, e1) run in the two lanes of a vector: the same IEEE operations, half the instructions
      const sx01 = f64x2.replace_lane(f64x2.splat(sx0), 1, sx1);
      const d01 = f64x2.replace_lane(f64x2.splat(d0), 1, d1), n01 = f64x2.replace_lane(f64x2.splat(n0), 1, n1);
      for (let i = iA; i <= iB; i++) {
        const py = pyRow(i);
        let e01 = f64x2.replace_lane(f64x2.splat((pxA - x1) * A0 - (py - y1) * B0), 1, (pxA - x2) * A1 - (py - y2) * B1);
        let e2 = (pxA - x0) * A2 - (py - y0) * B2;
        const rowP = i * W;
        let p = rowP + jA;
        const end = rowP + jB;
        // the candidate pixels of a row are contiguous (each edge sequence is monotone): skip to the first ...
        while (p <= end && !(i64x2.all_true(f64x2.gt(e01, n01)) & (e2 > n2))) {
          e01 = f64x2.add(e01, sx01);
          e2 += sx2;
          p++;
        }
        if (p > end) continue;
        // ... and stop after the last one
        let z = (f64x2.extract_lane(e01, 0) * z0 + f64x2.extract_lane(e01, 1) * z1 + e2 * z2) * inv;
        hit = true;
        const first = p - rowP;
        do {
          if ((i64x2.all_true(f64x2.gt(e01, d01)) & (e2 > d2)) || inside32(pxCol(p - rowP), py, x0, y0, x1, y1, x2, y2, area32)) {
            const zp = zzP + (<usize>p << 4), fp = faceP + (<usize>p << 2);
            const zc = load<f64>(zp), fc = load<i32>(fp);
            if (z < zc || (z == zc && f < fc)) {
              if (fc < 0) covered++;
              store<f64>(zp, z);
              store<i32>(fp, f);
              wins++;
            }
            if (alt) {
              const za = z + sigOff;
              const zac = load<f64>(zp, 8), ap = altFaceP + (<usize>p << 2);
              if (za < zac || (za == zac && f < load<i32>(ap))) {
                store<f64>(zp, za, 8);
                store<i32>(ap, f);
              }
            }
          }
          e01 = f64x2.add(e01, sx01);
          e2 += sx2;
          z += dzx;
          p++;
        } while (p <= end && (i64x2.all_true(f64x2.gt(e01, n01)) & (e2 > n2)));
        // the candidates first .. p−1 − i·W widen the row's span (a superset of its covered pixels)
        const last = p - 1 - rowP;
        if (first < colLo(i)) store<i32>(colLoP + (<usize>i << 2), first);
        if (last > colHi(i)) store<i32>(colHiP + (<usize>i << 2), last);
      }
      if (hit) {
        if (iA < rowLo) rowLo = iA;
        if (iB > rowHi) rowHi = iB;
      }
    }
    if (pass == 0) wins0 = wins;
    else wins1 = wins;
  }
  if (wins1 > wins0) firstWinding = -firstWinding;

  rowMinOut = rowLo;
  rowMaxOut = rowHi;
  dirtyMin = rowLo;
  dirtyMax = rowHi;
  resolved = resolve;
  if (resolve) resolveBary();
  return covered;
}

/**
 * Occlusion tiles after the first pass: per tile the largest z (and alt z) of its pixels, Infinity where any
 * pixel is still empty. z only decreases afterwards, so these stay upper bounds for the second pass.
 *
 * zz holds no NaN (a NaN z never wins) and an empty pixel holds Infinity in both lanes, so the lane-wise maximum
 * (pmax, a < b ? b : a) of a tile's (z, alt z) pairs is what the JavaScript computed with its early exit at the
 * first empty pixel: (∞, ∞) when one is empty, else the maxima; without alt z every alt lane is still ∞ (the
 * JavaScript's ∞ for it). (The order of the maxima may pick +0 where the JavaScript kept −0 or the reverse; the
 * tiles are only compared with, where the two are equal.)
 */
function tileMaxima(rowLo: i32, rowHi: i32): void {
  const T = 1 << TILE_SHIFT;
  const tiles = tilesX * (((H - 1) >> TILE_SHIFT) + 1);
  const inf = f64x2.splat(Infinity);
  // a tile with any pixel outside the row spans (or the rows drawn) holds an empty pixel: Infinity
  for (let t = 0; t < tiles; t++) v128.store(tileP + (<usize>t << 4), inf);
  if (rowLo > rowHi) return;
  const zz = zzP;
  for (let ti = rowLo >> TILE_SHIFT, tEnd = rowHi >> TILE_SHIFT; ti <= tEnd; ti++) {
    const i0 = ti << TILE_SHIFT, i1 = min(i0 + T, H) - 1;
    if (i0 < rowLo || i1 > rowHi) continue;
    // the columns inside every span of the tile's rows
    let lo = 0, hi = W - 1;
    for (let i = i0; i <= i1; i++) {
      if (colLo(i) > lo) lo = colLo(i);
      if (colHi(i) < hi) hi = colHi(i);
    }
    for (let tj = lo >> TILE_SHIFT, tjEnd = hi >> TILE_SHIFT; tj <= tjEnd; tj++) {
      const j0 = tj << TILE_SHIFT, j1 = min(j0 + T, W) - 1;
      if (j0 < lo || j1 > hi) continue;
      let m = f64x2.splat(-Infinity);
      if (j1 - j0 == 7) {
        for (let i = i0; i <= i1; i++) {
          const q = zz + ((<usize>i * <usize>W + <usize>j0) << 4);
          const a = f64x2.pmax(f64x2.pmax(v128.load(q), v128.load(q, 16)), f64x2.pmax(v128.load(q, 32), v128.load(q, 48)));
          const b = f64x2.pmax(f64x2.pmax(v128.load(q, 64), v128.load(q, 80)), f64x2.pmax(v128.load(q, 96), v128.load(q, 112)));
          m = f64x2.pmax(m, f64x2.pmax(a, b));
        }
      } else {
        for (let i = i0; i <= i1; i++) {
          for (let p = i * W + j0, pe = i * W + j1; p <= pe; p++) m = f64x2.pmax(m, v128.load(zz + (<usize>p << 4)));
        }
      }
      v128.store(tileP + (<usize>(ti * tilesX + tj) << 4), m);
    }
  }
}

/** Barycentrics and zbuf of the winning faces, once per covered pixel (float32, as the reference stores them). */
function resolveBary(): void {
  for (let i = rowMinOut; i <= rowMaxOut; i++) {
    const py = pyRow(i);
    let cf = -1;
    let x0: f64 = 0, y0: f64 = 0, c0: f64 = 0, a0: f64 = 0, b0: f64 = 0, a1: f64 = 0, b1: f64 = 0, a2: f64 = 0, b2: f64 = 0;
    for (let j = colLo(i), p = i * W + j, end = colHi(i); j <= end; j++, p++) {
      const f = load<i32>(faceP + (<usize>p << 2));
      if (f < 0) continue;
      if (f != cf) {
        // Rasterizer.coefficients
        cf = f;
        const a = corner(f, 0), b = corner(f, 1), c = corner(f, 2);
        x0 = vert(a);
        y0 = vert(a + 1);
        barycentricCoefficients(x0, y0, vert(b), vert(b + 1), vert(c), vert(c + 1));
        c0 = bc0; a0 = ba0; b0 = bb0; a1 = ba1; b1 = bb1; a2 = ba2; b2 = bb2;
      }
      const dx = pxCol(j) - x0, dy = py - y0;
      const q = baryP + <usize>p * 12;
      store<f32>(q, <f32>(c0 + a0 * dx + b0 * dy));
      store<f32>(q, <f32>(a1 * dx + b1 * dy), 4);
      store<f32>(q, <f32>(a2 * dx + b2 * dy), 8);
      store<f32>(zbufP + (<usize>p << 2), <f32>load<f64>(zzP + (<usize>p << 4)));
    }
  }
}

/** Reset what the last call wrote (its row spans) and mark every span empty. */
function clearSpans(): void {
  const none = i32x4.splat(-1), inf = f64x2.splat(Infinity), zero = f32x4.splat(0), minus1 = f32x4.splat(-1);
  for (let i = dirtyMin; i <= dirtyMax; i++) {
    const lo = colLo(i), hi = colHi(i);
    if (lo > hi) continue;
    const p0 = <usize>i * <usize>W + <usize>lo, n = <usize>(hi - lo + 1);
    const n4 = n & ~3;
    const fq = faceP + (p0 << 2), aq = altFaceP + (p0 << 2), zq = zzP + (p0 << 4);
    for (let k: usize = 0; k < n4; k += 4) {
      v128.store(fq + (k << 2), none);
      v128.store(aq + (k << 2), none);
    }
    for (let k = n4; k < n; k++) {
      store<i32>(fq + (k << 2), -1);
      store<i32>(aq + (k << 2), -1);
    }
    for (let k: usize = 0; k < n; k++) v128.store(zq + (k << 4), inf);
    if (!resolved) continue; // bary and zbuf were not written
    const zb = zbufP + (p0 << 2), bq = baryP + p0 * 12;
    for (let k: usize = 0; k < n4; k += 4) {
      v128.store(zb + (k << 2), minus1);
      v128.store(bq + k * 12, zero);
      v128.store(bq + k * 12, zero, 16);
      v128.store(bq + k * 12, zero, 32);
    }
    for (let k = n4; k < n; k++) {
      store<f32>(zb + (k << 2), -1);
      store<f32>(bq + k * 12, 0);
      store<f32>(bq + k * 12, 0, 4);
      store<f32>(bq + k * 12, 0, 8);
    }
  }
  for (let i = 0; i < H; i++) {
    store<i32>(colLoP + (<usize>i << 2), W);
    store<i32>(colHiP + (<usize>i << 2), -1);
  }
}
