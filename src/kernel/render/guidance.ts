// Guidance maps with the reference conventions (reference-pipeline.md §5.3–§5.7, §1.4, §2.5, §2.6):
//
// * depth: per-vertex `a = (max z − z)/(max z − min z)` over ALL vertices in float32 with the reference's
//   operation order (1 at the vertex nearest the camera), interpolated, grey (3 equal channels), background 0.
// * normal: world-space per-vertex normals (area-weighted face cross products, `n / max(|n|, 1e-6)`), interpolated
//   with the barycentrics WITHOUT renormalising; saved as `round(255·clamp(n, 0, 1))`, so negative components
//   become 0 (no (n+1)/2 encoding). +x right, +y up, +z toward the camera.
// * render: albedo sampled at the interpolated UV with grid_sample's bilinear, zero-padded, align_corners=False
//   convention (texel column `u·S − 0.5`, row `(1−v)·S − 0.5`), times SH shading with the 9 constant factors and
//   the 9×3 light of the interpolated (unnormalised) normal; no clamp or gamma before saving.
// * mask: coverage (255 covered, 0 background). landmarks: see landmarkMap.ts.
// * 8-bit values are torchvision `save_image`'s `floor(clamp(x·255 + 0.5, 0, 255))` computed in float32.
// * Placement: without a tform the crop-NDC vertices (DECA `trans_verts`) are drawn directly at width×height
//   ("the crop frame"); with the reference's `tform` = (T⁻¹)ᵀ they are first moved into the original image by
//   `placeInImage` (§1.4) and drawn at the original image size (512×512 in the reference).
// * z: like DECA, normal and render are rasterised with z = `(z − min z) + 10 + 10` (float32) and the depth map
//   with `(z − min z) + 10`. Because pytorch3d's barycentrics sum to area/(area + 1e-8) ≠ 1, the two shifts can
//   pick different faces at silhouettes (a handful of pixels per frame, off by up to ~10/255 in depth), so the
//   depth map's visibility is tracked separately in the same traversal (Rasterizer `altZOffset`).

import { MagicPortraitError } from '../errors';
import { orthProject, placeInImage, DECA_CROP_SIZE } from './camera';
import { drawLandmarkMap, type LandmarkStyle } from './landmarkMap';
import { Rasterizer, type IndexArray } from './rasterizer';

const fr = Math.fround;
/** numbers per face in `planes` (see facePlanes) */
const PLANE_STRIDE = 38;

/** SH `constant_factor` (§5.1) in double precision (the fitting code's least squares use these). */
export const SH_FACTORS_F64: readonly number[] = Object.freeze([
  1 / Math.sqrt(4 * Math.PI),
  ((2 * Math.PI) / 3) * Math.sqrt(3 / (4 * Math.PI)),
  ((2 * Math.PI) / 3) * Math.sqrt(3 / (4 * Math.PI)),
  ((2 * Math.PI) / 3) * Math.sqrt(3 / (4 * Math.PI)),
  (Math.PI / 4) * 3 * Math.sqrt(5 / (12 * Math.PI)),
  (Math.PI / 4) * 3 * Math.sqrt(5 / (12 * Math.PI)),
  (Math.PI / 4) * 3 * Math.sqrt(5 / (12 * Math.PI)),
  (Math.PI / 4) * (3 / 2) * Math.sqrt(5 / (12 * Math.PI)),
  (Math.PI / 4) * (1 / 2) * Math.sqrt(5 / (4 * Math.PI)),
]);

/** SH `constant_factor` (§5.1), float32 as the reference renders. */
export const SH_FACTORS: Float32Array = Float32Array.from(SH_FACTORS_F64);

export type GuidanceMapKind = 'depth' | 'normal' | 'render' | 'mask' | 'landmarks';
export const DEFAULT_MAPS: readonly GuidanceMapKind[] = ['depth', 'normal', 'render', 'mask'];

/** What stays fixed over a sequence: topology, and for the render map the source's albedo and light (§4.2). */
export interface GuidanceAssets {
  /** `F*3` vertex indices (FLAME `faces`, 9976 faces). */
  faces: IndexArray;
  /** Raw OBJ texture coordinates `(u, v)`, `T*2`, v up. Needed for `render`. */
  uvCoords?: Float32Array;
  /** `F*3` indices into `uvCoords` (OBJ `textures_idx`). Needed for `render`. */
  uvFaces?: IndexArray;
  /** Albedo `(3, S, S)` planar RGB float32, as FLAMETex returns it (§2.5; unclamped). Needed for `render`. */
  albedo?: Float32Array;
  /** Spherical-harmonics light, 27 numbers = `(9, 3)` row-major `[k][channel]`. Needed for `render`. */
  light?: ArrayLike<number>;
}

export interface GuidanceOptions {
  /** Output size (default 512×512, the reference's). */
  width?: number;
  height?: number;
  /** The reference's `tform` = (T⁻¹)ᵀ, 9 numbers row-major (§1.4); absent/null: draw in the crop frame. */
  tform?: ArrayLike<number> | null;
  /** Crop size used by `transform_points` (default 224, the reference's quirk). */
  cropSize?: number;
  /** Orthographic camera `[s, tx, ty]`, used for frames without `transVerts` and for landmarks. */
  cam?: ArrayLike<number>;
  /** Which maps to produce (default depth, normal, render, mask). */
  maps?: readonly GuidanceMapKind[];
  /** Also return the float maps before 8-bit quantisation. */
  floats?: boolean;
  landmarkStyle?: Partial<LandmarkStyle>;
}

/** One frame's geometry. */
export interface GuidanceFrame {
  /** World-space FLAME vertices `V*3` (used for the normals). Float64 input is used as float32. */
  verts: Float32Array | Float64Array;
  /** DECA `trans_verts` in the 224-crop NDC (+y down, smaller z nearer); else `orthProject(verts, cam)`. */
  transVerts?: Float32Array | Float64Array;
  /** 68 world-space landmarks `68*3`, projected like the vertices. Needed for `landmarks`. */
  landmarks?: Float32Array | Float64Array;
}

export interface GuidanceFloatMaps {
  /** `H*W` depth in [0, 1]. */
  depth: Float32Array;
  /** `H*W*3` interpolated world normal (unclamped). */
  normal: Float32Array;
  /** `H*W*3` albedo × shading (unclamped). */
  render: Float32Array;
}

/** 8-bit maps, row-major, row 0 at the top. RGB maps are interleaved `H*W*3`; `mask` is `H*W`. */
export interface GuidanceMaps {
  width: number;
  height: number;
  /** Number of covered pixels. */
  covered: number;
  depth?: Uint8Array;
  normal?: Uint8Array;
  render?: Uint8Array;
  mask?: Uint8Array;
  landmarks?: Uint8Array;
  floats?: Partial<GuidanceFloatMaps>;
}

/** torchvision `save_image` quantisation of one float32 value: floor(clamp(x·255 + 0.5, 0, 255)). */
export function quantize(x: number): number {
  const t = fr(fr(fr(x) * 255) + 0.5);
  return t >= 255 ? 255 : t > 0 ? t | 0 : 0;
}

/**
 * DECA `util.vertex_normals`: for each face (v0, v1, v2) add (v2−v1)×(v0−v1) to v1, (v0−v2)×(v1−v2) to v2 and
 * (v1−v0)×(v2−v0) to v0, then `n / max(|n|, 1e-6)`. Accumulated in float64, returned as float32.
 */
export function vertexNormals(verts: Float32Array | Float64Array, faces: IndexArray, out?: Float32Array, acc?: Float64Array): Float32Array {
  const n = acc && acc.length >= verts.length ? acc : new Float64Array(verts.length);
  n.fill(0, 0, verts.length);
  const nf = (faces.length / 3) | 0;
  for (let f = 0; f < nf; f++) {
    const a = 3 * faces[3 * f], b = 3 * faces[3 * f + 1], c = 3 * faces[3 * f + 2];
    // (fround: float64 input is used as the float32 the reference holds; a no-op for float32 input)
    const ax = fr(verts[a]), ay = fr(verts[a + 1]), az = fr(verts[a + 2]);
    const bx = fr(verts[b]), by = fr(verts[b + 1]), bz = fr(verts[b + 2]);
    const cx = fr(verts[c]), cy = fr(verts[c + 1]), cz = fr(verts[c + 2]);
    // all three corner terms are the same vector (twice the area times the face normal), up to rounding
    let ux = cx - bx, uy = cy - by, uz = cz - bz, vx = ax - bx, vy = ay - by, vz = az - bz;
    n[b] += uy * vz - uz * vy;
    n[b + 1] += uz * vx - ux * vz;
    n[b + 2] += ux * vy - uy * vx;
    ux = ax - cx; uy = ay - cy; uz = az - cz; vx = bx - cx; vy = by - cy; vz = bz - cz;
    n[c] += uy * vz - uz * vy;
    n[c + 1] += uz * vx - ux * vz;
    n[c + 2] += ux * vy - uy * vx;
    ux = bx - ax; uy = by - ay; uz = bz - az; vx = cx - ax; vy = cy - ay; vz = cz - az;
    n[a] += uy * vz - uz * vy;
    n[a + 1] += uz * vx - ux * vz;
    n[a + 2] += ux * vy - uy * vx;
  }
  const o = out ?? new Float32Array(verts.length);
  for (let k = 0; k < verts.length; k += 3) {
    const x = n[k], y = n[k + 1], z = n[k + 2];
    const len = Math.max(Math.sqrt(x * x + y * y + z * z), 1e-6);
    o[k] = x / len;
    o[k + 1] = y / len;
    o[k + 2] = z / len;
  }
  return o;
}

/**
 * `render_depth`'s per-vertex attribute (§5.3) in float32 with the reference's order:
 * `z1 = z − min z; a = −z1; a −= min a; a /= max a`. Also writes the rasteriser z, `(z1 + 10) + 10`, into
 * `rasterZ` (stride 3, offset 2) when given. A mesh with no depth extent gets a = 1 everywhere (the reference
 * would divide 0 by 0).
 */
export function depthAttribute(tv: Float32Array, out?: Float32Array, raster?: Float32Array): Float32Array {
  const n = tv.length / 3;
  const a = out ?? new Float32Array(n);
  let zmin = Infinity;
  for (let i = 0; i < n; i++) if (tv[3 * i + 2] < zmin) zmin = tv[3 * i + 2];
  let amin = Infinity;
  for (let i = 0; i < n; i++) {
    const z1 = fr(tv[3 * i + 2] - zmin);
    if (raster) raster[3 * i + 2] = fr(fr(z1 + 10) + 10);
    const v = -z1;
    a[i] = v;
    if (v < amin) amin = v;
  }
  let amax = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = fr(a[i] - amin);
    a[i] = v;
    if (v > amax) amax = v;
  }
  if (amax > 0) for (let i = 0; i < n; i++) a[i] = fr(a[i] / amax);
  else a.fill(1);
  return a;
}

function checkIndices(name: string, idx: IndexArray, limit: number): void {
  if (idx.length % 3 !== 0) throw new MagicPortraitError(`${name} must hold 3 indices per face, got ${idx.length} numbers`, 'bad-input');
  for (let k = 0; k < idx.length; k++) {
    if (idx[k] >= limit || idx[k] < 0) {
      throw new MagicPortraitError(`${name}[${k}] = ${idx[k]} is out of range (there are ${limit} entries)`, 'bad-input');
    }
  }
}

/**
 * Renders the guidance maps of one frame at a time, reusing every buffer between frames. Not thread-safe; use
 * one per worker (see sequence.ts).
 */
export class GuidanceRenderer {
  readonly width: number;
  readonly height: number;
  readonly maps: readonly GuidanceMapKind[];
  readonly raster: Rasterizer;
  private readonly faces: Int32Array;
  private readonly uvFaces: Int32Array | null;
  private readonly uvGrid: Float64Array | null; // per uv vertex: (2u−1, −(2v−1)), float32 values
  private readonly tex: Float32Array | null; // albedo HWC, 1-texel zero border, RGB padded to 16-byte texels: (S+2)² × 4
  private readonly texSize: number;
  private readonly shL: Float64Array; // light[k][c] · factor[k], 27
  private readonly nVerts: number;
  private tvCrop: Float32Array;
  private tvImage: Float32Array;
  private rasterVerts: Float32Array;
  private depthAttr: Float32Array;
  private normals: Float32Array;
  private normalAcc: Float64Array;
  private readonly altBary = new Float32Array(3);
  private readonly pxCol: Float64Array;
  /** per-face attribute planes of this frame, in first-use slots (see facePlanes) */
  private readonly planes: Float64Array;
  private readonly slotOf: Int32Array;
  private readonly slotFrame: Int32Array;
  private frameNo = 0;
  private nextSlot = 0;
  private withD = false;
  private withN = false;
  private withUV = false;
  private readonly coef = new Float64Array(11);
  private lmkCrop = new Float32Array(68 * 3);
  private lmkImage = new Float32Array(68 * 3);

  constructor(assets: GuidanceAssets, readonly options: GuidanceOptions = {}) {
    this.width = options.width ?? 512;
    this.height = options.height ?? 512;
    this.maps = options.maps ?? DEFAULT_MAPS;
    this.raster = new Rasterizer(this.width, this.height);
    this.faces = Int32Array.from(assets.faces);
    if (this.faces.length === 0 || this.faces.length % 3 !== 0) {
      throw new MagicPortraitError(`faces must hold 3 indices per face, got ${this.faces.length} numbers`, 'bad-input');
    }
    let maxIdx = 0;
    for (let k = 0; k < this.faces.length; k++) if (this.faces[k] > maxIdx) maxIdx = this.faces[k];
    this.nVerts = maxIdx + 1;
    this.shL = new Float64Array(27);
    const wantRender = this.maps.includes('render');
    if (wantRender) {
      const { uvCoords, uvFaces, albedo, light } = assets;
      const missing = [!uvCoords && 'uvCoords', !uvFaces && 'uvFaces', !albedo && 'albedo', !light && 'light'].filter(Boolean);
      if (missing.length) throw new MagicPortraitError(`the render map needs ${missing.join(', ')}`, 'missing-key');
      if (uvFaces!.length !== this.faces.length) {
        throw new MagicPortraitError(`uvFaces has ${uvFaces!.length / 3} faces but faces has ${this.faces.length / 3}`, 'bad-input');
      }
      checkIndices('uvFaces', uvFaces!, uvCoords!.length / 2);
      if (light!.length !== 27) throw new MagicPortraitError(`light must be 9×3 = 27 numbers, got ${light!.length}`, 'bad-input');
      const S = Math.round(Math.sqrt(albedo!.length / 3));
      if (3 * S * S !== albedo!.length) {
        throw new MagicPortraitError(`albedo must be (3, S, S) planar, got ${albedo!.length} numbers`, 'bad-input');
      }
      this.texSize = S;
      const P = S + 2;
      const tex = new Float32Array(P * P * 4);
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < S; y++) {
          for (let x = 0; x < S; x++) tex[4 * ((y + 1) * P + x + 1) + c] = albedo![c * S * S + y * S + x];
        }
      }
      this.tex = tex;
      this.uvFaces = Int32Array.from(uvFaces!);
      const nuv = uvCoords!.length / 2;
      this.uvGrid = new Float64Array(2 * nuv);
      for (let t = 0; t < nuv; t++) {
        this.uvGrid[2 * t] = fr(fr(uvCoords![2 * t] * 2) - 1);
        this.uvGrid[2 * t + 1] = -fr(fr(uvCoords![2 * t + 1] * 2) - 1);
      }
      for (let k = 0; k < 9; k++) for (let c = 0; c < 3; c++) this.shL[3 * k + c] = fr(light![3 * k + c]) * SH_FACTORS[k];
    } else {
      this.tex = null;
      this.texSize = 0;
      this.uvFaces = null;
      this.uvGrid = null;
    }
    const nv3 = this.nVerts * 3;
    const nf = this.faces.length / 3;
    this.planes = new Float64Array(PLANE_STRIDE * nf);
    this.slotOf = new Int32Array(nf);
    this.slotFrame = new Int32Array(nf);
    this.pxCol = new Float64Array(this.width);
    for (let j = 0; j < this.width; j++) this.pxCol[j] = (2 * j + 1) / this.width - 1;
    this.tvCrop = new Float32Array(nv3);
    this.tvImage = new Float32Array(nv3);
    this.rasterVerts = new Float32Array(nv3);
    this.depthAttr = new Float32Array(this.nVerts);
    this.normals = new Float32Array(nv3);
    this.normalAcc = new Float64Array(nv3);
  }

  /**
   * Render one frame. Returns fresh output arrays unless `out` supplies them (they are then overwritten).
   * @param label used in error messages (e.g. the frame index or file name)
   */
  render(frame: GuidanceFrame, out?: Partial<GuidanceMaps>, label: string | number = 'frame'): GuidanceMaps {
    const W = this.width, H = this.height, opts = this.options;
    const nv3 = this.nVerts * 3;
    if (frame.verts.length < nv3 || frame.verts.length % 3 !== 0) {
      throw new MagicPortraitError(`${label}: verts has ${frame.verts.length / 3} vertices, the faces use ${this.nVerts}`, 'bad-input');
    }
    if (frame.verts.length !== this.tvCrop.length) this.resize(frame.verts.length);
    // 1. placement (§2.6, §1.4)
    let tv: Float32Array;
    if (frame.transVerts) {
      if (frame.transVerts.length !== frame.verts.length) {
        throw new MagicPortraitError(`${label}: transVerts and verts differ in length`, 'bad-input');
      }
      if (frame.transVerts instanceof Float32Array) tv = frame.transVerts;
      else {
        tv = this.tvCrop;
        for (let k = 0; k < tv.length; k++) tv[k] = frame.transVerts[k]; // to float32, as the reference's tensor
      }
    } else {
      if (!opts.cam) throw new MagicPortraitError(`${label}: no transVerts and no cam to project the vertices`, 'missing-key');
      tv = orthProject(frame.verts, opts.cam, this.tvCrop);
    }
    if (opts.tform) tv = placeInImage(tv, opts.tform, W, H, this.tvImage, opts.cropSize ?? DECA_CROP_SIZE);
    // 2. per-vertex attributes; the rasteriser z is (z - min z) + 10 + 10 as in DECA
    const rv = this.rasterVerts;
    for (let k = 0; k < tv.length; k += 3) {
      rv[k] = tv[k];
      rv[k + 1] = tv[k + 1];
    }
    const maps = this.maps;
    const wantDepth = maps.includes('depth'), wantNormal = maps.includes('normal'), wantRender = maps.includes('render');
    const wantMask = maps.includes('mask'), wantLmk = maps.includes('landmarks');
    const depthA = depthAttribute(tv, this.depthAttr, rv);
    // 3. rasterise
    const R = this.raster.rasterize(rv, this.faces, { altZOffset: wantDepth ? -10 : 0, resolve: false });
    // 4. outputs
    const n = W * H;
    const res: GuidanceMaps = { width: W, height: H, covered: R.covered };
    const take = (buf: Uint8Array | undefined, len: number): Uint8Array => {
      if (buf) {
        if (buf.length !== len) throw new RangeError(`output buffer has ${buf.length} bytes, expected ${len}`);
        buf.fill(0);
        return buf;
      }
      return new Uint8Array(len);
    };
    const dOut = wantDepth ? (res.depth = take(out?.depth, 3 * n)) : null;
    const nOut = wantNormal ? (res.normal = take(out?.normal, 3 * n)) : null;
    const rOut = wantRender ? (res.render = take(out?.render, 3 * n)) : null;
    const mOut = wantMask ? (res.mask = take(out?.mask, n)) : null;
    let fD: Float32Array | null = null, fN: Float32Array | null = null, fR: Float32Array | null = null;
    if (opts.floats) {
      res.floats = {};
      if (wantDepth) fD = res.floats.depth = new Float32Array(n);
      if (wantNormal || wantRender) fN = res.floats.normal = new Float32Array(3 * n);
      if (wantRender) fR = res.floats.render = new Float32Array(3 * n);
    }
    if (wantNormal || wantRender) vertexNormals(frame.verts, this.faces, this.normals, this.normalAcc);
    this.shade(R.rowMin, R.rowMax, depthA, dOut, nOut, rOut, mOut, fD, fN, fR);
    if (wantLmk) {
      if (!frame.landmarks) throw new MagicPortraitError(`${label}: the landmarks map needs the frame's 68 landmarks`, 'missing-key');
      if (!opts.cam) throw new MagicPortraitError(`${label}: the landmarks map needs cam to project the landmarks`, 'missing-key');
      const nl = frame.landmarks.length;
      if (this.lmkCrop.length !== nl) {
        this.lmkCrop = new Float32Array(nl);
        this.lmkImage = new Float32Array(nl);
      }
      let l = orthProject(frame.landmarks, opts.cam, this.lmkCrop);
      if (opts.tform) l = placeInImage(l, opts.tform, W, H, this.lmkImage, opts.cropSize ?? DECA_CROP_SIZE);
      res.landmarks = drawLandmarkMap(l, W, H, take(out?.landmarks, 3 * n), opts.landmarkStyle);
    }
    return res;
  }

  private resize(len: number): void {
    this.tvCrop = new Float32Array(len);
    this.tvImage = new Float32Array(len);
    this.rasterVerts = new Float32Array(len);
    this.depthAttr = new Float32Array(len / 3);
    this.normals = new Float32Array(len);
    this.normalAcc = new Float64Array(len);
  }

  /**
   * The attribute planes of face `f` for this frame, computed on the face's first pixel: every interpolated
   * attribute is affine in the pixel position within a face, `Σ w_k t_k = A + Bx·(px − x0) + By·(py − y0)` with the
   * rasteriser's barycentric coefficients. 38 numbers: x0, y0, then (A, Bx, By) for depth, nx, ny, nz, u, v, then
   * per colour channel the SH shading as a quadratic in (dx, dy) = (px − x0, py − y0) (see `shPlanes`).
   * Planes go to consecutive slots in first-use order, so the shading pass reads them warm from cache (a table
   * indexed by face is read in scattered order and misses). Returns the slot's offset in `planes`.
   */
  private facePlanes(f: number): number {
    const q = PLANE_STRIDE * this.nextSlot++;
    this.slotOf[f] = q;
    this.slotFrame[f] = this.frameNo;
    const c = this.coef, P = this.planes, faces = this.faces;
    this.raster.coefficients(f, c, 0);
    const c0 = c[2], a0 = c[3], b0 = c[4], a1 = c[6], b1 = c[7], a2 = c[9], b2 = c[10];
    P[q] = c[0];
    P[q + 1] = c[1];
    const va = faces[3 * f], vb = faces[3 * f + 1], vc = faces[3 * f + 2];
    if (this.withD) {
      const depthA = this.depthAttr;
      const t0 = depthA[va], t1 = depthA[vb], t2 = depthA[vc];
      P[q + 2] = c0 * t0;
      P[q + 3] = a0 * t0 + a1 * t1 + a2 * t2;
      P[q + 4] = b0 * t0 + b1 * t1 + b2 * t2;
    }
    if (this.withN) {
      const normals = this.normals;
      for (let k = 0; k < 3; k++) {
        const t0 = normals[3 * va + k], t1 = normals[3 * vb + k], t2 = normals[3 * vc + k];
        P[q + 5 + 3 * k] = c0 * t0;
        P[q + 6 + 3 * k] = a0 * t0 + a1 * t1 + a2 * t2;
        P[q + 7 + 3 * k] = b0 * t0 + b1 * t1 + b2 * t2;
      }
    }
    if (this.withUV) {
      const g = this.uvGrid!, uvf = this.uvFaces!;
      const ta = 2 * uvf[3 * f], tb = 2 * uvf[3 * f + 1], tc = 2 * uvf[3 * f + 2];
      for (let k = 0; k < 2; k++) {
        const t0 = g[ta + k], t1 = g[tb + k], t2 = g[tc + k];
        P[q + 14 + 3 * k] = c0 * t0;
        P[q + 15 + 3 * k] = a0 * t0 + a1 * t1 + a2 * t2;
        P[q + 16 + 3 * k] = b0 * t0 + b1 * t1 + b2 * t2;
      }
      this.shPlanes(q);
    }
    return q;
  }

  /**
   * SH shading as a per-face quadratic: with the normal affine in (dx, dy), `n = a + b·dx + c·dy` (the planes at
   * q+5..q+13), each of the 9 basis functions is a quadratic in (dx, dy), and so is their light-weighted sum per
   * channel. Writes (1, dx, dy, dx², dx·dy, dy²) coefficients for r, g, b at q+20, q+26, q+32. (Same value as
   * evaluating the basis on the interpolated normal, up to float64 rounding.)
   */
  private shPlanes(q: number): void {
    const P = this.planes, L = this.shL;
    const ax = P[q + 5], bx = P[q + 6], cx = P[q + 7];
    const ay = P[q + 8], by = P[q + 9], cy = P[q + 10];
    const az = P[q + 11], bz = P[q + 12], cz = P[q + 13];
    // quadratic products (1, dx, dy, dx², dxdy, dy²) of the basis terms
    const xy0 = ax * ay, xy1 = ax * by + bx * ay, xy2 = ax * cy + cx * ay, xy3 = bx * by, xy4 = bx * cy + cx * by, xy5 = cx * cy;
    const xz0 = ax * az, xz1 = ax * bz + bx * az, xz2 = ax * cz + cx * az, xz3 = bx * bz, xz4 = bx * cz + cx * bz, xz5 = cx * cz;
    const yz0 = ay * az, yz1 = ay * bz + by * az, yz2 = ay * cz + cy * az, yz3 = by * bz, yz4 = by * cz + cy * bz, yz5 = cy * cz;
    const d0 = ax * ax - ay * ay, d1 = 2 * (ax * bx - ay * by), d2 = 2 * (ax * cx - ay * cy);
    const d3 = bx * bx - by * by, d4 = 2 * (bx * cx - by * cy), d5 = cx * cx - cy * cy;
    const z0 = 3 * az * az - 1, z1 = 6 * az * bz, z2 = 6 * az * cz, z3 = 3 * bz * bz, z4 = 6 * bz * cz, z5 = 3 * cz * cz;
    for (let ch = 0; ch < 3; ch++) {
      const l0 = L[ch], l1 = L[3 + ch], l2 = L[6 + ch], l3 = L[9 + ch], l4 = L[12 + ch];
      const l5 = L[15 + ch], l6 = L[18 + ch], l7 = L[21 + ch], l8 = L[24 + ch];
      const o = q + 20 + 6 * ch;
      P[o] = l0 + l1 * ax + l2 * ay + l3 * az + l4 * xy0 + l5 * xz0 + l6 * yz0 + l7 * d0 + l8 * z0;
      P[o + 1] = l1 * bx + l2 * by + l3 * bz + l4 * xy1 + l5 * xz1 + l6 * yz1 + l7 * d1 + l8 * z1;
      P[o + 2] = l1 * cx + l2 * cy + l3 * cz + l4 * xy2 + l5 * xz2 + l6 * yz2 + l7 * d2 + l8 * z2;
      P[o + 3] = l4 * xy3 + l5 * xz3 + l6 * yz3 + l7 * d3 + l8 * z3;
      P[o + 4] = l4 * xy4 + l5 * xz4 + l6 * yz4 + l7 * d4 + l8 * z4;
      P[o + 5] = l4 * xy5 + l5 * xz5 + l6 * yz5 + l7 * d5 + l8 * z5;
    }
  }

  /**
   * Interpolate, sample, shade and quantise every covered pixel in one pass over the raster's row spans (fused:
   * the face index, the pixel offset and the shared normal are read or computed once per pixel for all maps).
   * Pixels are taken in runs of one face along a row (typically 3–4): the face's planes are loaded into locals and
   * everything that depends only on the row (the `By·dy` products, the SH quadratic's dy terms) is computed once
   * per run. (Hoisting `By·dy` keeps every map bit for bit: `A + Bx·dx + By·dy` adds the same two products in the
   * same order.)
   */
  private shade(
    rowMin: number, rowMax: number, depthA: Float32Array,
    dOut: Uint8Array | null, nOut: Uint8Array | null, rOut: Uint8Array | null, mOut: Uint8Array | null,
    fD: Float32Array | null, fN: Float32Array | null, fR: Float32Array | null,
  ): void {
    const withD = dOut !== null || fD !== null, withN = nOut !== null || fN !== null || rOut !== null;
    this.withD = withD;
    this.withN = withN;
    this.withUV = rOut !== null && this.tex !== null;
    const withR = this.withUV;
    this.frameNo++;
    this.nextSlot = 0;
    const slotOf = this.slotOf, slotFrame = this.slotFrame, frameNo = this.frameNo;
    const W = this.width, H = this.height, raster = this.raster;
    const face = raster.face, altFace = raster.altFace, colLo = raster.colLo, colHi = raster.colHi;
    const P = this.planes, pxCol = this.pxCol;
    const tex = this.tex ?? new Float32Array(0), S = this.texSize, TP = S + 2;
    for (let i = rowMin; i <= rowMax; i++) {
      const py = (2 * i + 1) / H - 1;
      // the current face's planes (see facePlanes), reloaded when the face changes along the row
      let cf = -1, x0 = 0, dA = 0, dX = 0, dYy = 0;
      let nxA = 0, nxX = 0, nxYy = 0, nyA = 0, nyX = 0, nyYy = 0, nzA = 0, nzX = 0, nzYy = 0;
      let uA = 0, uX = 0, uYy = 0, vA = 0, vX = 0, vYy = 0;
      let sr0 = 0, sr1 = 0, sr2 = 0, sg0 = 0, sg1 = 0, sg2 = 0, sb0 = 0, sb1 = 0, sb2 = 0;
      for (let j = colLo[i], p = i * W + j, end = colHi[i]; j <= end; j++, p++) {
        const f = face[p];
        if (f < 0) continue;
        if (f !== cf) {
          cf = f;
          const q = slotFrame[f] === frameNo ? slotOf[f] : this.facePlanes(f);
          const dy = py - P[q + 1];
          x0 = P[q];
          dA = P[q + 2]; dX = P[q + 3]; dYy = P[q + 4] * dy;
          nxA = P[q + 5]; nxX = P[q + 6]; nxYy = P[q + 7] * dy;
          nyA = P[q + 8]; nyX = P[q + 9]; nyYy = P[q + 10] * dy;
          nzA = P[q + 11]; nzX = P[q + 12]; nzYy = P[q + 13] * dy;
          uA = P[q + 14]; uX = P[q + 15]; uYy = P[q + 16] * dy;
          vA = P[q + 17]; vX = P[q + 18]; vYy = P[q + 19] * dy;
          if (withR) {
            // SH quadratic per channel at this row: s = s0 + dx·(s1 + dx·s2)
            sr0 = P[q + 20] + dy * (P[q + 22] + dy * P[q + 25]); sr1 = P[q + 21] + dy * P[q + 24]; sr2 = P[q + 23];
            sg0 = P[q + 26] + dy * (P[q + 28] + dy * P[q + 31]); sg1 = P[q + 27] + dy * P[q + 30]; sg2 = P[q + 29];
            sb0 = P[q + 32] + dy * (P[q + 34] + dy * P[q + 37]); sb1 = P[q + 33] + dy * P[q + 36]; sb2 = P[q + 35];
          }
        }
        {
          const dx = pxCol[j] - x0;
          if (mOut) mOut[p] = 255;
          if (withD) {
            const fd = altFace[p];
            // where the depth pass (z + 10) picked another face (see the file header), interpolate that face
            const d = fd === f ? dA + dX * dx + dYy : this.depthOfFace(fd, p, depthA);
            if (fD) fD[p] = d;
            if (dOut) {
              const v = quantize(d);
              dOut[3 * p] = v;
              dOut[3 * p + 1] = v;
              dOut[3 * p + 2] = v;
            }
          }
          if (!withN) continue;
          if (fN || nOut) {
            const nx = nxA + nxX * dx + nxYy;
            const ny = nyA + nyX * dx + nyYy;
            const nz = nzA + nzX * dx + nzYy;
            if (fN) {
              fN[3 * p] = nx;
              fN[3 * p + 1] = ny;
              fN[3 * p + 2] = nz;
            }
            if (nOut) {
              nOut[3 * p] = quantize(nx);
              nOut[3 * p + 1] = quantize(ny);
              nOut[3 * p + 2] = quantize(nz);
            }
          }
          if (!withR) continue;
          // albedo: grid_sample bilinear, zeros padding, align_corners=False, on the texture with a zero border
          const gx = uA + uX * dx + uYy;
          const gy = vA + vX * dx + vYy;
          const ix = ((gx + 1) * S - 1) / 2, iy = ((gy + 1) * S - 1) / 2;
          const tx = Math.floor(ix), ty = Math.floor(iy);
          const fx = ix - tx, fy = iy - ty, gx0 = tx + 1 - ix, gy0 = ty + 1 - iy;
          let ar = 0, ag = 0, ab = 0;
          if (tx >= -1 && tx <= S - 1 && ty >= -1 && ty <= S - 1) {
            const t00 = 4 * ((ty + 1) * TP + tx + 1), t10 = t00 + 4, t01 = t00 + 4 * TP, t11 = t01 + 4;
            const wnw = gx0 * gy0, wne = fx * gy0, wsw = gx0 * fy, wse = fx * fy;
            ar = tex[t00] * wnw + tex[t10] * wne + tex[t01] * wsw + tex[t11] * wse;
            ag = tex[t00 + 1] * wnw + tex[t10 + 1] * wne + tex[t01 + 1] * wsw + tex[t11 + 1] * wse;
            ab = tex[t00 + 2] * wnw + tex[t10 + 2] * wne + tex[t01 + 2] * wsw + tex[t11 + 2] * wse;
          } else if (Number.isFinite(ix) && Number.isFinite(iy)) {
            // outside the padded texture: each tap is either inside or zero
            for (let t = 0; t < 4; t++) {
              const sx = tx + (t & 1), sy = ty + (t >> 1);
              if (sx < 0 || sx > S - 1 || sy < 0 || sy > S - 1) continue;
              const wgt = (t & 1 ? fx : gx0) * (t >> 1 ? fy : gy0);
              const o = 4 * ((sy + 1) * TP + sx + 1);
              ar += tex[o] * wgt;
              ag += tex[o + 1] * wgt;
              ab += tex[o + 2] * wgt;
            }
          }
          // SH shading of the unnormalised interpolated normal (the per-face quadratic, see shPlanes)
          const r = ar * (sr0 + dx * (sr1 + dx * sr2));
          const g = ag * (sg0 + dx * (sg1 + dx * sg2));
          const bl = ab * (sb0 + dx * (sb1 + dx * sb2));
          if (fR) {
            fR[3 * p] = r;
            fR[3 * p + 1] = g;
            fR[3 * p + 2] = bl;
          }
          if (rOut) {
            rOut[3 * p] = quantize(r);
            rOut[3 * p + 1] = quantize(g);
            rOut[3 * p + 2] = quantize(bl);
          }
        }
      }
    }
  }

  /** Interpolated depth attribute of face `f` at pixel `p` (for the rare pixels where altFace ≠ face). */
  private depthOfFace(f: number, p: number, depthA: Float32Array): number {
    const wb = this.altBary, faces = this.faces;
    this.raster.baryAt(f, p, wb);
    return wb[0] * depthA[faces[3 * f]] + wb[1] * depthA[faces[3 * f + 1]] + wb[2] * depthA[faces[3 * f + 2]];
  }
}


/** One-shot convenience: render a single frame (allocates a renderer; use GuidanceRenderer for sequences). */
export function renderGuidance(frame: GuidanceFrame, assets: GuidanceAssets, options: GuidanceOptions = {}): GuidanceMaps {
  return new GuidanceRenderer(assets, options).render(frame);
}
