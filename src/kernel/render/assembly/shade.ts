// AssemblyScript (compiled to WebAssembly with SIMD; see ../wasm-arena.ts for how it is built and loaded).
//
// The guidance maps' per-pixel pass (guidance-maps.ts documents the conventions): for every covered pixel, interpolate
// depth, normal and UV from the winning face's attribute planes, sample the albedo bilinearly, apply the per-face
// SH quadratic, and quantise to 8 bits. Values are computed in float64 (the reference's float32 values are then
// reproduced by rounding, as it stores them), two lanes at a time: lanes are independent IEEE operations and
// WebAssembly never fuses a multiply into an add, so the result does not depend on the lane grouping. Within a run
// of pixels of one face along a row the row's terms are added first (`(A + By·dy) + Bx·dx`), and the texel
// coordinate is interpolated directly (its plane is the UV plane scaled by S/2 and shifted by (S−1)/2): this
// shortens each pixel's dependency chain by a third and differs from the left-to-right formula only in the last
// float64 bit, which the float32 rounding and 8-bit quantisation absorb (scripts/render-compare.ts against the
// left-to-right JavaScript renderer: all 8-bit maps identical over 31.5 M covered pixels, 208 frames). Quantisation is
// torchvision's `floor(clamp(x·255 + 0.5, 0, 255))` in float32, four values at a time.
//
// All pointers are byte offsets into the module's (imported) memory, laid out by ../wasm-arena.ts.

import { barycentricCoefficients, ba0, ba1, ba2, bb0, bb1, bb2, bc0 } from './barycentric';

// ------------------------------------------------------------------------------------------------ layout
/** f64 per face in the plane table (see facePlanes); 16-byte multiple so every pair is aligned */
const PLANE_F64 = 44;

// per renderer (set once by `configure`)
let W: i32 = 0;
let H: i32 = 0;
let pxCol: usize = 0; // f64[W]: pixel-centre x
let facesP: usize = 0; // i32[3F]
let uvFacesP: usize = 0; // i32[3F] (0: no render map)
let uvGridP: usize = 0; // f64[2T]: (2u−1, −(2v−1))
let texP: usize = 0; // f32[(S+2)²·4]: albedo with a zero border, RGB0 texels
let texS: i32 = 0;
let shLP: usize = 0; // f64[27]: light[k][c] · factor[k]
let planesP: usize = 0; // f64[PLANE_F64 · F]
let slotOfP: usize = 0; // i32[F]
let slotFrameP: usize = 0; // i32[F]

// per frame (set by `shade`)
let vP: usize = 0; // f64[3V]: rasteriser vertices
let depthP: usize = 0; // f32[V]
let normalP: usize = 0; // f32[3V]
let withD = false;
let withN = false;
let withUV = false;
let nextSlot: i32 = 0;
let frameNo: i32 = 0;

export function configure(
  width: i32, height: i32, pxColPtr: usize, facesPtr: usize, uvFacesPtr: usize, uvGridPtr: usize,
  texPtr: usize, texSize: i32, shLPtr: usize, planesPtr: usize, slotOfPtr: usize, slotFramePtr: usize,
): void {
  W = width;
  H = height;
  pxCol = pxColPtr;
  facesP = facesPtr;
  uvFacesP = uvFacesPtr;
  uvGridP = uvGridPtr;
  texP = texPtr;
  texS = texSize;
  shLP = shLPtr;
  planesP = planesPtr;
  slotOfP = slotOfPtr;
  slotFrameP = slotFramePtr;
}

// ------------------------------------------------------------------------------------------------ helpers
@inline function f64At(base: usize, i: i32): f64 {
  return load<f64>(base + (<usize>i << 3));
}
@inline function i32At(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}
@inline function f32At(base: usize, i: i32): f64 {
  return <f64>load<f32>(base + (<usize>i << 2));
}

/** Face `f`'s barycentric coefficients (barycentric.ts) and its v0, in cx0/cy0. */
let cx0: f64 = 0, cy0: f64 = 0;
function coefficients(f: i32): void {
  const a = i32At(facesP, 3 * f) * 3, b = i32At(facesP, 3 * f + 1) * 3, c = i32At(facesP, 3 * f + 2) * 3;
  cx0 = f64At(vP, a);
  cy0 = f64At(vP, a + 1);
  barycentricCoefficients(cx0, cy0, f64At(vP, b), f64At(vP, b + 1), f64At(vP, c), f64At(vP, c + 1));
}

/**
 * Attribute planes of face `f` (computed on its first pixel, stored in first-use slots so the pass reads them in
 * order). Layout in f64, pairs 16-byte aligned: 0 x0, 1 y0, then (A, Bx, By) as lane pairs for (depth, nx) at 2,
 * 4, 6, (ny, nz) at 8, 10, 12, the texel coordinates (ix, iy) = (S·(u, v) + S − 1)/2 at 14, 16, 18; then the SH quadratic coefficients (1, dx, dy, dx², dx·dy,
 * dy²) as pairs (r, g) at 20..31 and (b, 0) at 32..43. Each attribute `Σ w_k t_k = A + Bx·dx + By·dy`.
 */
function facePlanes(f: i32): usize {
  const q = planesP + <usize>(PLANE_F64 * 8) * <usize>nextSlot;
  store<i32>(slotOfP + (<usize>f << 2), nextSlot);
  store<i32>(slotFrameP + (<usize>f << 2), frameNo);
  nextSlot++;
  coefficients(f);
  const c0 = bc0, a0 = ba0, b0 = bb0, a1 = ba1, b1 = bb1, a2 = ba2, b2 = bb2;
  store<f64>(q, cx0);
  store<f64>(q + 8, cy0);
  const va = i32At(facesP, 3 * f), vb = i32At(facesP, 3 * f + 1), vc = i32At(facesP, 3 * f + 2);
  if (withD) {
    const t0 = f32At(depthP, va), t1 = f32At(depthP, vb), t2 = f32At(depthP, vc);
    store<f64>(q + 16, c0 * t0);
    store<f64>(q + 32, a0 * t0 + a1 * t1 + a2 * t2);
    store<f64>(q + 48, b0 * t0 + b1 * t1 + b2 * t2);
  }
  if (withN) {
    // nx → lane 1 of the (depth, nx) pairs; ny, nz → the (ny, nz) pairs
    for (let k = 0; k < 3; k++) {
      const t0 = f32At(normalP, 3 * va + k), t1 = f32At(normalP, 3 * vb + k), t2 = f32At(normalP, 3 * vc + k);
      const o: usize = k == 0 ? q + 24 : q + 64 + <usize>(k - 1) * 8;
      store<f64>(o, c0 * t0);
      store<f64>(o + 16, a0 * t0 + a1 * t1 + a2 * t2);
      store<f64>(o + 32, b0 * t0 + b1 * t1 + b2 * t2);
    }
  }
  if (withUV) {
    const ta = 2 * i32At(uvFacesP, 3 * f), tb = 2 * i32At(uvFacesP, 3 * f + 1), tc = 2 * i32At(uvFacesP, 3 * f + 2);
    for (let k = 0; k < 2; k++) {
      const t0 = f64At(uvGridP, ta + k), t1 = f64At(uvGridP, tb + k), t2 = f64At(uvGridP, tc + k);
      // grid_sample's unnormalisation ((g + 1)·S − 1)/2 folded into the plane
      const o = q + 112 + <usize>k * 8;
      const hs = <f64>texS * 0.5;
      store<f64>(o, hs * (c0 * t0) + (hs - 0.5));
      store<f64>(o + 16, hs * (a0 * t0 + a1 * t1 + a2 * t2));
      store<f64>(o + 32, hs * (b0 * t0 + b1 * t1 + b2 * t2));
    }
    shPlanes(q);
  }
  return q;
}

/**
 * SH shading as a per-face quadratic in (dx, dy): the normal is affine in them, so each of the 9 basis functions
 * is quadratic, and so is their light-weighted sum per channel.
 */
function shPlanes(q: usize): void {
  const ax = load<f64>(q + 24), bx = load<f64>(q + 40), cx = load<f64>(q + 56);
  const ay = load<f64>(q + 64), by = load<f64>(q + 80), cy = load<f64>(q + 96);
  const az = load<f64>(q + 72), bz = load<f64>(q + 88), cz = load<f64>(q + 104);
  const xy0 = ax * ay, xy1 = ax * by + bx * ay, xy2 = ax * cy + cx * ay, xy3 = bx * by, xy4 = bx * cy + cx * by, xy5 = cx * cy;
  const xz0 = ax * az, xz1 = ax * bz + bx * az, xz2 = ax * cz + cx * az, xz3 = bx * bz, xz4 = bx * cz + cx * bz, xz5 = cx * cz;
  const yz0 = ay * az, yz1 = ay * bz + by * az, yz2 = ay * cz + cy * az, yz3 = by * bz, yz4 = by * cz + cy * bz, yz5 = cy * cz;
  const d0 = ax * ax - ay * ay, d1 = 2 * (ax * bx - ay * by), d2 = 2 * (ax * cx - ay * cy);
  const d3 = bx * bx - by * by, d4 = 2 * (bx * cx - by * cy), d5 = cx * cx - cy * cy;
  const z0 = 3 * az * az - 1, z1 = 6 * az * bz, z2 = 6 * az * cz, z3 = 3 * bz * bz, z4 = 6 * bz * cz, z5 = 3 * cz * cz;
  for (let ch = 0; ch < 3; ch++) {
    const l0 = f64At(shLP, ch), l1 = f64At(shLP, 3 + ch), l2 = f64At(shLP, 6 + ch), l3 = f64At(shLP, 9 + ch);
    const l4 = f64At(shLP, 12 + ch), l5 = f64At(shLP, 15 + ch), l6 = f64At(shLP, 18 + ch), l7 = f64At(shLP, 21 + ch);
    const l8 = f64At(shLP, 24 + ch);
    // (r, g) interleaved from q+160, (b, 0) from q+256: coefficient m of channel ch at base + 16·m + 8·lane
    const o: usize = ch < 2 ? q + 160 + <usize>ch * 8 : q + 256;
    store<f64>(o, l0 + l1 * ax + l2 * ay + l3 * az + l4 * xy0 + l5 * xz0 + l6 * yz0 + l7 * d0 + l8 * z0);
    store<f64>(o + 16, l1 * bx + l2 * by + l3 * bz + l4 * xy1 + l5 * xz1 + l6 * yz1 + l7 * d1 + l8 * z1);
    store<f64>(o + 32, l1 * cx + l2 * cy + l3 * cz + l4 * xy2 + l5 * xz2 + l6 * yz2 + l7 * d2 + l8 * z2);
    store<f64>(o + 48, l4 * xy3 + l5 * xz3 + l6 * yz3 + l7 * d3 + l8 * z3);
    store<f64>(o + 64, l4 * xy4 + l5 * xz4 + l6 * yz4 + l7 * d4 + l8 * z4);
    store<f64>(o + 80, l4 * xy5 + l5 * xz5 + l6 * yz5 + l7 * d5 + l8 * z5);
  }
  // the (b, 0) pairs' second lane stays 0, so the padding channel shades to 0 and quantises to 0
  for (let m = 0; m < 6; m++) store<f64>(q + 264 + <usize>m * 16, 0);
}

/** Depth attribute of face `f` at pixel (j, i): barycentrics rounded to float32 (as Rasterizer.baryAt stores them). */
function depthOfFace(f: i32, j: i32, i: i32): f64 {
  coefficients(f);
  const dx = f64At(pxCol, j) - cx0, dy = (<f64>(2 * i + 1) / <f64>H - 1) - cy0;
  const w0 = <f64><f32>(bc0 + ba0 * dx + bb0 * dy);
  const w1 = <f64><f32>(ba1 * dx + bb1 * dy);
  const w2 = <f64><f32>(ba2 * dx + bb2 * dy);
  return w0 * f32At(depthP, i32At(facesP, 3 * f)) + w1 * f32At(depthP, i32At(facesP, 3 * f + 1)) +
    w2 * f32At(depthP, i32At(facesP, 3 * f + 2));
}

/**
 * torchvision's quantisation of the four values (a0, a1, b0, b1): float32 `x·255 + 0.5`, then floor and clamp to
 * 0..255 (truncation is the floor for the positive values that survive the clamp; NaN gives 0). Returns the four
 * bytes little-endian in one i32.
 */
@inline function quantize4(a: v128, b: v128): i32 {
  const f = v128.shuffle<f32>(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 1, 4, 5);
  const t = f32x4.add(f32x4.mul(f, f32x4.splat(255)), f32x4.splat(0.5));
  const n = i32x4.trunc_sat_f32x4_s(t);
  const w = i16x8.narrow_i32x4_s(n, n);
  return i32x4.extract_lane(i8x16.narrow_i16x8_u(w, w), 0);
}

// ------------------------------------------------------------------------------------------------ the pass
/**
 * Shade rows rowMin..rowMax over each row's span colLo..colHi. Output pointers are 0 when that map is not
 * wanted; the 8-bit RGB maps are written 4 bytes at a time at 3·p (the 4th byte is 0 and is overwritten by the
 * next pixel), so each needs one byte of slack after its end.
 */
export function shade(
  rowMin: i32, rowMax: i32, faceP: usize, altFaceP: usize, colLoP: usize, colHiP: usize,
  vertsP: usize, depthAttrP: usize, normalsP: usize,
  dOut: usize, nOut: usize, rOut: usize, mOut: usize, fD: usize, fN: usize, fR: usize,
): void {
  vP = vertsP;
  depthP = depthAttrP;
  normalP = normalsP;
  withD = dOut != 0 || fD != 0;
  withN = nOut != 0 || fN != 0 || rOut != 0;
  withUV = rOut != 0 && texP != 0;
  frameNo++;
  nextSlot = 0;
  // the usual call (all three 8-bit maps, no float maps) gets a copy of the loop with those tests folded away
  if (dOut != 0 && nOut != 0 && withUV && fD == 0 && fN == 0 && fR == 0) {
    shadeRows(rowMin, rowMax, faceP, altFaceP, colLoP, colHiP, dOut, nOut, rOut, mOut, 0, 0, 0, true, true, true, true);
  } else {
    shadeRows(rowMin, rowMax, faceP, altFaceP, colLoP, colHiP, dOut, nOut, rOut, mOut, fD, fN, fR, withD, nOut != 0 || fN != 0, withUV, false);
  }
}

@inline function shadeRows(
  rowMin: i32, rowMax: i32, faceP: usize, altFaceP: usize, colLoP: usize, colHiP: usize,
  dOut: usize, nOut: usize, rOut: usize, mOut: usize, fD: usize, fN: usize, fR: usize,
  withD: bool, wantN: bool, withR: bool, noFloats: bool,
): void {
  const TP = texS + 2, Sm1 = <f64>(texS - 1);
  const one = f64x2.splat(1);
  const lowT = f64x2.splat(-1), highT = f64x2.splat(Sm1), magic = f64x2.splat(6755399441055744.0);
  for (let i = rowMin; i <= rowMax; i++) {
    const py = <f64>(2 * i + 1) / <f64>H - 1;
    let cf = -1;
    let x0: f64 = 0;
    // the run's face: row-adjusted constants (A + By·dy) and slopes Bx of (depth, nx), (ny, nz), (ix, iy)
    let aDN = f64x2.splat(0), xDN = aDN, aNN = aDN, xNN = aDN, aIX = aDN, xIX = aDN;
    let s0RG = aDN, s1RG = aDN, s2RG = aDN, s0B = aDN, s1B = aDN, s2B = aDN;
    const row = <usize>i * <usize>W;
    const jEnd = load<i32>(colHiP + (<usize>i << 2));
    for (let j = load<i32>(colLoP + (<usize>i << 2)); j <= jEnd; j++) {
      const p = row + <usize>j;
      const f = load<i32>(faceP + (p << 2));
      if (f < 0) continue;
      if (f != cf) {
        cf = f;
        const q = load<i32>(slotFrameP + (<usize>f << 2)) == frameNo
          ? planesP + <usize>(PLANE_F64 * 8) * <usize>load<i32>(slotOfP + (<usize>f << 2))
          : facePlanes(f);
        const dy = py - load<f64>(q + 8);
        const dyv = f64x2.splat(dy);
        x0 = load<f64>(q);
        aDN = f64x2.add(v128.load(q + 16), f64x2.mul(v128.load(q + 48), dyv)); xDN = v128.load(q + 32);
        aNN = f64x2.add(v128.load(q + 64), f64x2.mul(v128.load(q + 96), dyv)); xNN = v128.load(q + 80);
        aIX = f64x2.add(v128.load(q + 112), f64x2.mul(v128.load(q + 144), dyv)); xIX = v128.load(q + 128);
        if (withR) {
          // s = s0 + dx·(s1 + dx·s2) with s0 = c0 + dy·(c2 + dy·c5), s1 = c1 + dy·c4, s2 = c3
          s0RG = f64x2.add(v128.load(q + 160), f64x2.mul(dyv, f64x2.add(v128.load(q + 192), f64x2.mul(dyv, v128.load(q + 240)))));
          s1RG = f64x2.add(v128.load(q + 176), f64x2.mul(dyv, v128.load(q + 224)));
          s2RG = v128.load(q + 208);
          s0B = f64x2.add(v128.load(q + 256), f64x2.mul(dyv, f64x2.add(v128.load(q + 288), f64x2.mul(dyv, v128.load(q + 336)))));
          s1B = f64x2.add(v128.load(q + 272), f64x2.mul(dyv, v128.load(q + 320)));
          s2B = v128.load(q + 304);
        }
      }
      const dx = f64At(pxCol, j) - x0;
      const dxv = f64x2.splat(dx);
      if (mOut) store<u8>(mOut + p, 255);
      // (depth, nx) and (ny, nz): (A + By·dy) + Bx·dx
      let dn = f64x2.add(aDN, f64x2.mul(xDN, dxv));
      const nn = f64x2.add(aNN, f64x2.mul(xNN, dxv));
      if (withD) {
        const fd = load<i32>(altFaceP + (p << 2));
        // where the depth pass (z + 10) picked another face, interpolate that face
        if (fd != f) dn = f64x2.replace_lane(dn, 0, depthOfFace(fd, j, i));
      }
      if (withD || wantN) {
        const q4 = quantize4(dn, nn);
        if (noFloats || dOut) store<u32>(dOut + p * 3, <u32>(q4 & 0xff) * 0x010101);
        if (noFloats || nOut) store<u32>(nOut + p * 3, <u32>q4 >>> 8);
        if (!noFloats && fD) store<f32>(fD + (p << 2), <f32>f64x2.extract_lane(dn, 0));
        if (!noFloats && fN) {
          store<f32>(fN + p * 12, <f32>f64x2.extract_lane(dn, 1));
          store<f32>(fN + p * 12 + 4, <f32>f64x2.extract_lane(nn, 0));
          store<f32>(fN + p * 12 + 8, <f32>f64x2.extract_lane(nn, 1));
        }
      }
      if (!withR) continue;
      // albedo: grid_sample bilinear, zeros padding, align_corners=False, on the texture with a zero border
      const ixy = f64x2.add(aIX, f64x2.mul(xIX, dxv));
      const txy = f64x2.floor(ixy);
      const fxy = f64x2.sub(ixy, txy); // (fx, fy)
      const gxy = f64x2.sub(f64x2.add(txy, one), ixy); // (gx0, gy0)
      const tx = f64x2.extract_lane(txy, 0), ty = f64x2.extract_lane(txy, 1);
      let accRG = f64x2.splat(0), accB = accRG;
      if (v128.all_true<i64>(v128.and(f64x2.ge(txy, lowT), f64x2.le(txy, highT)))) {
        const wx = v128.shuffle<f64>(gxy, fxy, 0, 2); // (gx0, fx)
        const wN = f64x2.mul(wx, v128.shuffle<f64>(gxy, gxy, 1, 1)); // (wnw, wne)
        const wS = f64x2.mul(wx, v128.shuffle<f64>(fxy, fxy, 1, 1)); // (wsw, wse)
        const wnw = v128.shuffle<f64>(wN, wN, 0, 0), wne = v128.shuffle<f64>(wN, wN, 1, 1);
        const wsw = v128.shuffle<f64>(wS, wS, 0, 0), wse = v128.shuffle<f64>(wS, wS, 1, 1);
        // the integer texel coordinates: txy holds small exact integers, so adding 2^52 + 2^51 leaves each one
        // in the low 32 bits of its lane (two's complement), without a float → int conversion per lane
        const ti = f64x2.add(txy, magic);
        const t00 = texP + (<usize>((i32x4.extract_lane(ti, 2) + 1) * TP + i32x4.extract_lane(ti, 0) + 1) << 4);
        const t10 = t00 + 16, t01 = t00 + (<usize>TP << 4), t11 = t01 + 16;
        accRG = f64x2.add(f64x2.add(f64x2.add(
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(t00)), wnw),
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(t10)), wne)),
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(t01)), wsw)),
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(t11)), wse));
        accB = f64x2.add(f64x2.add(f64x2.add(
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(t00 + 8)), wnw),
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(t10 + 8)), wne)),
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(t01 + 8)), wsw)),
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(t11 + 8)), wse));
      } else {
        const ix = f64x2.extract_lane(ixy, 0), iy = f64x2.extract_lane(ixy, 1);
        if (isFinite(ix) && isFinite(iy)) {
          // outside the padded texture: each tap is either inside or zero
          const fx = f64x2.extract_lane(fxy, 0), fy = f64x2.extract_lane(fxy, 1);
          const gx0 = f64x2.extract_lane(gxy, 0), gy0 = f64x2.extract_lane(gxy, 1);
          let ar: f64 = 0, ag: f64 = 0, ab: f64 = 0;
          for (let t = 0; t < 4; t++) {
            const sx = tx + <f64>(t & 1), sy = ty + <f64>(t >> 1);
            if (sx < 0 || sx > Sm1 || sy < 0 || sy > Sm1) continue;
            const wgt = (t & 1 ? fx : gx0) * (t >> 1 ? fy : gy0);
            const o = texP + (<usize>((<i32>sy + 1) * TP + <i32>sx + 1) << 4);
            ar += <f64>load<f32>(o) * wgt;
            ag += <f64>load<f32>(o + 4) * wgt;
            ab += <f64>load<f32>(o + 8) * wgt;
          }
          accRG = f64x2.replace_lane(f64x2.splat(ar), 1, ag);
          accB = f64x2.replace_lane(f64x2.splat(0), 0, ab);
        }
      }
      // SH shading of the unnormalised interpolated normal (the per-face quadratic)
      const rg = f64x2.mul(accRG, f64x2.add(s0RG, f64x2.mul(dxv, f64x2.add(s1RG, f64x2.mul(dxv, s2RG)))));
      const b0 = f64x2.mul(accB, f64x2.add(s0B, f64x2.mul(dxv, f64x2.add(s1B, f64x2.mul(dxv, s2B)))));
      if (noFloats || rOut) store<u32>(rOut + p * 3, <u32>quantize4(rg, b0));
      if (!noFloats && fR) {
        store<f32>(fR + p * 12, <f32>f64x2.extract_lane(rg, 0));
        store<f32>(fR + p * 12 + 4, <f32>f64x2.extract_lane(rg, 1));
        store<f32>(fR + p * 12 + 8, <f32>f64x2.extract_lane(b0, 0));
      }
    }
  }
}
