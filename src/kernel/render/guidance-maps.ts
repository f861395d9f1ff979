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
import { orthProject, placeInImage, DECA_CROP_SIZE } from './vertex-placement';
import { drawLandmarkMap, type LandmarkStyle } from './landmarkMap';
import { KernelArena } from './wasm-arena';
import { Rasterizer, type IndexArray } from './rasterizer';

const fr = Math.fround;
/** bytes per face in the kernel's attribute-plane table (assembly/shade.ts `PLANE_F64` float64s) */
const PLANE_BYTES = 44 * 8;

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

/** A kernel arena for `vertexNormals` calls outside a renderer (one per thread, grown as needed). */
let normalsArena: { arena: KernelArena; verts: number; faces: number; acc: number; out: number; nv: number; nf: number } | null = null;

/**
 * DECA `util.vertex_normals`: for each face (v0, v1, v2) add (v2−v1)×(v0−v1) to v1, (v0−v2)×(v1−v2) to v2 and
 * (v1−v0)×(v2−v0) to v0, then `n / max(|n|, 1e-6)`. Accumulated in float64 from the float32 vertices (float64
 * input is rounded to the float32 the reference holds), returned as float32. Computed by the render kernel
 * (assembly/normals.ts).
 */
export function vertexNormals(verts: Float32Array | Float64Array, faces: IndexArray, out?: Float32Array): Float32Array {
  const nv = Math.floor(verts.length / 3), nf = Math.floor(faces.length / 3);
  checkIndices('faces', faces, nv);
  let s = normalsArena;
  if (!s || s.nv < nv || s.nf < nf) {
    const arena = new KernelArena(28 * nv + 12 * nf);
    s = normalsArena = { arena, verts: arena.alloc(12 * nv), faces: arena.alloc(12 * nf), acc: arena.alloc(24 * nv), out: arena.alloc(12 * nv), nv, nf };
  }
  const A = s.arena;
  A.f32(s.verts, 3 * nv).set(verts.length === 3 * nv ? verts : verts.subarray(0, 3 * nv));
  A.i32(s.faces, 3 * nf).set(faces.length === 3 * nf ? faces : faces.subarray(0, 3 * nf));
  A.exports.vertexNormals(s.verts, nv, s.faces, nf, s.acc, s.out);
  const o = out ?? new Float32Array(verts.length);
  o.set(A.f32(s.out, 3 * nv));
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

/** Byte offsets of a renderer's buffers in its rasteriser's kernel arena (see kernel.ts). */
interface ArenaLayout {
  faces: number;
  uvFaces: number;
  uvGrid: number;
  tex: number;
  shL: number;
  planes: number;
  slotOf: number;
  slotFrame: number;
  pxCol: number;
  depthAttr: number;
  /** world vertices (f32), the normals' float64 accumulator, the unit normals (f32) */
  world: number;
  normalAcc: number;
  normals: number;
  /** 8-bit outputs (0: not drawn); the RGB ones have 4 bytes of slack (the kernel stores 4 bytes per pixel) */
  depth: number;
  normal: number;
  render: number;
  mask: number;
  fDepth: number;
  fNormal: number;
  fRender: number;
}

/**
 * Renders the guidance maps of one frame at a time, reusing every buffer between frames. Not thread-safe; use
 * one per worker (see sequence.ts). Placement and the per-vertex depth attribute are computed here; vertex
 * normals, rasterisation and the per-pixel pass (interpolation, texture, shading, quantisation) run in the
 * WebAssembly render kernel (assembly/), on buffers in the rasteriser's arena, and the finished maps are copied out.
 */
export class GuidanceRenderer {
  readonly width: number;
  readonly height: number;
  readonly maps: readonly GuidanceMapKind[];
  readonly raster: Rasterizer;
  private readonly faces: Int32Array;
  private readonly nVerts: number;
  private readonly at: ArenaLayout;
  private tvCrop: Float32Array;
  private tvImage: Float32Array;
  private rasterVerts: Float32Array;
  /** row spans the kernel wrote in the last frame (cleared before the next one) */
  private readonly prevLo: Int32Array;
  private readonly prevHi: Int32Array;
  private prevRowMin = 0;
  /** vertex numbers (3 per vertex) the per-vertex arena arrays hold */
  private capacity: number;
  private prevRowMax = -1;
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
    const nf = this.faces.length / 3, n = this.width * this.height, nv3 = this.nVerts * 3;
    const A = this.raster.arena;
    const wants = (k: GuidanceMapKind) => this.maps.includes(k);
    const wantRender = wants('render');
    let texSize = 0;
    let prepareRender: (() => void) | null = null;
    const at: ArenaLayout = {
      faces: A.alloc(4 * this.faces.length),
      uvFaces: 0, uvGrid: 0, tex: 0, shL: 0,
      planes: A.alloc(PLANE_BYTES * nf),
      slotOf: A.alloc(4 * nf),
      slotFrame: A.alloc(4 * nf),
      pxCol: A.alloc(8 * this.width),
      depthAttr: A.alloc(4 * this.nVerts),
      world: A.alloc(4 * nv3),
      normalAcc: A.alloc(8 * nv3),
      normals: A.alloc(4 * nv3),
      depth: wants('depth') ? A.alloc(3 * n + 4) : 0,
      normal: wants('normal') ? A.alloc(3 * n + 4) : 0,
      render: wantRender ? A.alloc(3 * n + 4) : 0,
      mask: wants('mask') ? A.alloc(n) : 0,
      fDepth: options.floats && wants('depth') ? A.alloc(4 * n) : 0,
      fNormal: options.floats && (wants('normal') || wantRender) ? A.alloc(12 * n) : 0,
      fRender: options.floats && wantRender ? A.alloc(12 * n) : 0,
    };
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
      texSize = S;
      const P = S + 2, nuv = uvCoords!.length / 2;
      at.uvFaces = A.alloc(4 * uvFaces!.length);
      at.uvGrid = A.alloc(16 * nuv);
      at.tex = A.alloc(16 * P * P);
      at.shL = A.alloc(8 * 27);
      prepareRender = () => {
        // albedo HWC with a 1-texel zero border, RGB padded to 16-byte texels (one SIMD load per tap)
        const tex = A.f32(at.tex, 4 * P * P);
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < S; y++) {
            for (let x = 0; x < S; x++) tex[4 * ((y + 1) * P + x + 1) + c] = albedo![c * S * S + y * S + x];
          }
        }
        A.i32(at.uvFaces, uvFaces!.length).set(uvFaces!);
        // per uv vertex: grid_sample's (2u−1, −(2v−1)), float32 values
        const g = A.f64(at.uvGrid, 2 * nuv);
        for (let t = 0; t < nuv; t++) {
          g[2 * t] = fr(fr(uvCoords![2 * t] * 2) - 1);
          g[2 * t + 1] = -fr(fr(uvCoords![2 * t + 1] * 2) - 1);
        }
        // light[k][c] · factor[k]
        const shL = A.f64(at.shL, 27);
        for (let k = 0; k < 9; k++) for (let c = 0; c < 3; c++) shL[3 * k + c] = fr(light![3 * k + c]) * SH_FACTORS[k];
      };
    }
    // every region is allocated: views taken from here on stay valid until the rasteriser grows its vertex copy
    prepareRender?.();
    A.i32(at.faces, this.faces.length).set(this.faces);
    const pxCol = A.f64(at.pxCol, this.width);
    for (let j = 0; j < this.width; j++) pxCol[j] = (2 * j + 1) / this.width - 1;
    this.at = at;
    A.exports.configure(this.width, this.height, at.pxCol, at.faces, at.uvFaces, at.uvGrid, at.tex, texSize, at.shL, at.planes, at.slotOf, at.slotFrame);
    this.capacity = nv3;
    this.prevLo = new Int32Array(this.height);
    this.prevHi = new Int32Array(this.height);
    this.tvCrop = new Float32Array(nv3);
    this.tvImage = new Float32Array(nv3);
    this.rasterVerts = new Float32Array(nv3);
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
    const maps = this.maps;
    const wantDepth = maps.includes('depth'), wantNormal = maps.includes('normal'), wantRender = maps.includes('render');
    const wantMask = maps.includes('mask'), wantLmk = maps.includes('landmarks');
    // 2. rasterise; the rasteriser z is (z - min z) + 10 + 10 as in DECA
    const rv = this.rasterVerts;
    for (let k = 0; k < tv.length; k += 3) {
      rv[k] = tv[k];
      rv[k + 1] = tv[k + 1];
    }
    const depthTmp = this.depthScratch(tv.length / 3);
    depthAttribute(tv, depthTmp, rv);
    const R = this.raster.rasterize(rv, this.faces, { altZOffset: wantDepth ? -10 : 0, resolve: false });
    // 3. per-vertex attributes into the arena (no allocation happens from here to the kernel call)
    const A = this.raster.arena, at = this.at;
    A.f32(at.depthAttr, depthTmp.length).set(depthTmp);
    if (wantNormal || wantRender) {
      A.f32(at.world, frame.verts.length).set(frame.verts);
      A.exports.vertexNormals(at.world, frame.verts.length / 3, at.faces, this.faces.length / 3, at.normalAcc, at.normals);
    }
    // 4. the kernel's pass over the covered pixels, after clearing what it wrote last frame
    this.clearLastFrame();
    const n = W * H;
    if (opts.floats) for (const [ptr, len] of [[at.fDepth, n], [at.fNormal, 3 * n], [at.fRender, 3 * n]]) if (ptr) A.f32(ptr, len).fill(0);
    const fN = wantNormal || wantRender ? at.fNormal : 0;
    A.exports.shade(
      R.rowMin, R.rowMax, this.raster.facePtr, wantDepth ? this.raster.altFacePtr : this.raster.facePtr,
      this.raster.colLoPtr, this.raster.colHiPtr, this.raster.vertsPtr, at.depthAttr, at.normals,
      at.depth, at.normal, at.render, at.mask, at.fDepth, fN, at.fRender,
    );
    this.prevRowMin = R.rowMin;
    this.prevRowMax = R.rowMax;
    this.prevLo.set(R.colLo);
    this.prevHi.set(R.colHi);
    // 5. outputs
    const res: GuidanceMaps = { width: W, height: H, covered: R.covered };
    const take = (buf: Uint8Array | undefined, len: number): Uint8Array => {
      if (buf) {
        if (buf.length !== len) throw new RangeError(`output buffer has ${buf.length} bytes, expected ${len}`);
        return buf;
      }
      return new Uint8Array(len);
    };
    if (wantDepth) (res.depth = take(out?.depth, 3 * n)).set(A.u8(at.depth, 3 * n));
    if (wantNormal) (res.normal = take(out?.normal, 3 * n)).set(A.u8(at.normal, 3 * n));
    if (wantRender) (res.render = take(out?.render, 3 * n)).set(A.u8(at.render, 3 * n));
    if (wantMask) (res.mask = take(out?.mask, n)).set(A.u8(at.mask, n));
    if (opts.floats) {
      res.floats = {};
      if (wantDepth) res.floats.depth = A.f32(at.fDepth, n).slice();
      if (wantNormal || wantRender) res.floats.normal = A.f32(at.fNormal, 3 * n).slice();
      if (wantRender) res.floats.render = A.f32(at.fRender, 3 * n).slice();
    }
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
      res.landmarks = drawLandmarkMap(l, W, H, take(out?.landmarks, 3 * n).fill(0), opts.landmarkStyle);
    }
    return res;
  }

  private depthTmp = new Float32Array(0);
  private depthScratch(nv: number): Float32Array {
    if (this.depthTmp.length !== nv) this.depthTmp = new Float32Array(nv);
    return this.depthTmp;
  }

  /** Zero the output spans the kernel wrote in the previous frame (everything else is still zero). */
  private clearLastFrame(): void {
    const A = this.raster.arena, at = this.at, W = this.width, n = W * this.height;
    const rgb = [at.depth, at.normal, at.render].filter((p) => p !== 0).map((p) => A.u8(p, 3 * n + 4));
    const mask = at.mask ? A.u8(at.mask, n) : null;
    for (let i = this.prevRowMin; i <= this.prevRowMax; i++) {
      const lo = this.prevLo[i], hi = this.prevHi[i];
      if (lo > hi) continue;
      const p0 = i * W + lo, p1 = i * W + hi + 1;
      for (const b of rgb) b.fill(0, 3 * p0, 3 * p1 + 1);
      mask?.fill(0, p0, p1);
    }
  }

  private resize(len: number): void {
    const A = this.raster.arena;
    this.tvCrop = new Float32Array(len);
    this.tvImage = new Float32Array(len);
    this.rasterVerts = new Float32Array(len);
    // more vertices than the faces use: the kernel's per-vertex arrays must hold them all
    if (len > this.capacity) {
      this.at.depthAttr = A.alloc(4 * (len / 3));
      this.at.world = A.alloc(4 * len);
      this.at.normalAcc = A.alloc(8 * len);
      this.at.normals = A.alloc(4 * len);
      this.capacity = len;
    }
  }
}


/** One-shot convenience: render a single frame (allocates a renderer; use GuidanceRenderer for sequences). */
export function renderGuidance(frame: GuidanceFrame, assets: GuidanceAssets, options: GuidanceOptions = {}): GuidanceMaps {
  return new GuidanceRenderer(assets, options).render(frame);
}
