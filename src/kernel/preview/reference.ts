// The reference side of the preview, computed once: the reference portrait projected onto the fitted mesh.
//
// The texture is the reference image itself, addressed through the mesh surface: a surface point (face,
// barycentrics) is looked up by projecting it with the REFERENCE pose into the reference image. What this file
// precomputes is which surface points that lookup is valid for (seen from the reference view), and a colour for the
// ones it is not:
//
// * visibility: a point is seen when its reference-view depth matches the reference depth buffer at its pixel, within
//   a tolerance of a couple of pixels' worth of depth plus the face's own depth slope (so a point one pixel off a
//   steep face still matches); faces turned away count as unseen. For the mirror lookups and the fill, a vertex counts
//   as seen only on faces seen squarely (|n_z| ≥ MIN_FACING): grazing texels are smeared when a turn brings them
//   to the front (warp.ts prefers a less stretched mirror then);
// * fill colour per vertex: a base colour from the model's albedo texture space (the fit's coefficients), gained per
//   channel to the reference's colours over the seen vertices, plus the residual (reference − base) of the seen
//   vertices diffused harmonically over the mesh to the unseen ones, so fills continue the skin around them.

import { Rasterizer } from '../render';
import { flameTexAlbedo, type FlameModelData } from '../flame';
import type { Image } from '../io/image';

/** Depth tolerance: this many pixels' worth of depth, plus DEPTH_SLOPE_PX pixels of the face's own depth slope. */
const DEPTH_TOL_PX = 2;
const DEPTH_SLOPE_PX = 1.5;
/** Vertices on faces seen more obliquely than this (|cos| to the view direction) are no mirror source. */
const MIN_FACING = 0.2;
/** The rasteriser needs every z ≥ 1e-8 (pytorch3d's rule); DECA shifts by +10 the same way. */
export const RASTER_Z_SHIFT = 10;
/** Harmonic fill: Gauss–Seidel sweeps over the unseen vertices. */
const FILL_SWEEPS = 120;
/** Smoothing sweeps of the skin shown where the face moved away (wide enough to erase eyes and lips). */
const SKIN_SWEEPS = 150;

export interface ReferenceInput {
  model: FlameModelData;
  image: Image;
  /** Reference mesh: posed world vertices and their image-NDC placement (MeshPoser.posed). */
  world: Float32Array;
  ndc: Float32Array;
  /** Crop-NDC depth per image pixel (MeshPoser.scale). */
  depthPerPx: number;
  /** Region weight of every vertex (model-maps.ts regionWeights). */
  weight: Float32Array;
  /** Inner-face (feature) weight of every vertex (model-maps.ts featureWeights). */
  features: Float32Array;
  /** Mirror vertex of every vertex (model-maps.ts mirrorVertices). */
  mirror: Int32Array;
  /** Albedo coefficients of the fit, when the model has a texture space. */
  albedo?: ArrayLike<number> | null;
}

export type ReferenceData = Pick<ReferenceTexture,
  'width' | 'height' | 'rgb' | 'ndc' | 'depth' | 'face' | 'faceUsable' | 'faceSquare' | 'faceArea' | 'mirrorArea' | 'faceTol' | 'vertexSeen' | 'fill' | 'frontSign' |
  'regionPixels' | 'regionWeight' | 'regionSkin' | 'skin'>;

export class ReferenceTexture {
  readonly width: number;
  readonly height: number;
  /** Reference image as RGB bytes (alpha dropped). */
  readonly rgb: Uint8Array;
  /** Reference mesh in image NDC. */
  readonly ndc: Float32Array;
  /** Reference depth buffer (barycentric-normalised crop-NDC depth of the visible surface); +∞ on background. */
  readonly depth: Float32Array;
  /** Reference coverage: the visible face per pixel, −1 on background. */
  readonly face: Int32Array;
  /** Per face: 1 when it faces the reference view squarely enough to serve as texture. */
  readonly faceUsable: Uint8Array;
  /** Per face: 1 when the reference sees it squarely (|n_z| ≥ MIN_FACING), not at a grazing angle. */
  readonly faceSquare: Uint8Array;
  /** Per face: |NDC area| of the face, and of its left–right mirror, in the reference view (texel density). */
  readonly faceArea: Float32Array;
  readonly mirrorArea: Float32Array;
  /** Per face: depth tolerance of the visibility test. */
  readonly faceTol: Float32Array;
  /** Per vertex: seen in the reference. */
  readonly vertexSeen: Uint8Array;
  /** Per vertex: the fill colour (0–255, RGB). */
  readonly fill: Float32Array;
  /**
   * The reference's face region, for when the face moves away from it: its pixels (indices), their region weight,
   * and a smooth skin colour there (the fill colours smoothed over the mesh: no eyes, brows or lips) to show instead
   * of a ghost of the reference's features.
   */
  readonly regionPixels: Int32Array;
  readonly regionWeight: Float32Array;
  /** How much of the vacated share gets the skin: the inner, frontal face only (eyes, nose, mouth: featureWeights);
   * the hairline, temples and the sides of the face often hold hair, which is better kept than painted over. */
  readonly regionSkin: Float32Array;
  readonly skin: Uint8Array;
  /** +1 or −1: the sign of a face's signed NDC area when it faces the camera (the mesh's winding). */
  readonly frontSign: number;

  constructor(input: ReferenceInput) {
    const { model, image, world, ndc, mirror } = input;
    const W = (this.width = image.width), H = (this.height = image.height);
    const faces = model.faces, nf = model.numFaces, V = model.numVertices;
    this.ndc = ndc;
    this.rgb = rgbOf(image);

    // reference coverage and depth
    const rv = shifted(ndc);
    const R = new Rasterizer(W, H).rasterize(rv, faces);
    this.face = Int32Array.from(R.face);
    this.depth = new Float32Array(W * H).fill(Infinity);
    for (let p = 0; p < W * H; p++) {
      const f = R.face[p]!;
      if (f < 0) continue;
      const w0 = R.bary[3 * p]!, w1 = R.bary[3 * p + 1]!, w2 = R.bary[3 * p + 2]!, s = w0 + w1 + w2;
      this.depth[p] = (w0 * ndc[3 * faces[3 * f]! + 2]! + w1 * ndc[3 * faces[3 * f + 1]! + 2]! + w2 * ndc[3 * faces[3 * f + 2]! + 2]!) / s;
    }

    // winding: the sign of the signed area most visible pixels' faces have
    const area = signedAreas(ndc, faces);
    let vote = 0;
    for (let p = 0; p < W * H; p++) if (R.face[p]! >= 0) vote += Math.sign(area[R.face[p]!]!);
    this.frontSign = vote >= 0 ? 1 : -1;

    this.faceArea = Float32Array.from(area, Math.abs);
    this.mirrorArea = new Float32Array(nf);
    for (let f = 0; f < nf; f++) {
      const a = 3 * mirror[faces[3 * f]!]!, b = 3 * mirror[faces[3 * f + 1]!]!, c = 3 * mirror[faces[3 * f + 2]!]!;
      this.mirrorArea[f] = Math.abs((ndc[b]! - ndc[a]!) * (ndc[c + 1]! - ndc[a + 1]!) - (ndc[b + 1]! - ndc[a + 1]!) * (ndc[c]! - ndc[a]!));
    }

    // per face: facing and depth tolerance
    this.faceUsable = new Uint8Array(nf);
    const faceSquare = (this.faceSquare = new Uint8Array(nf));
    const faceFacing = new Float32Array(nf);
    this.faceTol = new Float32Array(nf);
    const sx = W / 2, sy = H / 2;
    for (let f = 0; f < nf; f++) {
      const a = 3 * faces[3 * f]!, b = 3 * faces[3 * f + 1]!, c = 3 * faces[3 * f + 2]!;
      const e1x = world[b]! - world[a]!, e1y = world[b + 1]! - world[a + 1]!, e1z = world[b + 2]! - world[a + 2]!;
      const e2x = world[c]! - world[a]!, e2y = world[c + 1]! - world[a + 1]!, e2z = world[c + 2]! - world[a + 2]!;
      const nx = e1y * e2z - e1z * e2y, ny = e1z * e2x - e1x * e2z, nz = e1x * e2y - e1y * e2x;
      const facing = Math.abs(nz) / (Math.hypot(nx, ny, nz) || 1);
      faceFacing[f] = facing;
      this.faceUsable[f] = area[f]! * this.frontSign > 0 ? 1 : 0;
      // vertices count as seen (for mirror lookups and the fill) only on faces seen squarely enough
      faceSquare[f] = facing >= MIN_FACING ? 1 : 0;
      // depth slope in z per pixel: the plane through the three placed vertices
      const ux = (ndc[b]! - ndc[a]!) * sx, uy = (ndc[b + 1]! - ndc[a + 1]!) * sy, uz = ndc[b + 2]! - ndc[a + 2]!;
      const vx = (ndc[c]! - ndc[a]!) * sx, vy = (ndc[c + 1]! - ndc[a + 1]!) * sy, vz = ndc[c + 2]! - ndc[a + 2]!;
      const det = ux * vy - uy * vx;
      const slope = Math.abs(det) > 1e-12 ? Math.hypot((uz * vy - vz * uy) / det, (vz * ux - uz * vx) / det) : Infinity;
      this.faceTol[f] = DEPTH_TOL_PX * input.depthPerPx + DEPTH_SLOPE_PX * Math.min(slope, 50 * input.depthPerPx);
    }

    // per vertex: seen when one of its usable faces is, and its own depth matches the buffer
    this.vertexSeen = new Uint8Array(V);
    const vTol = new Float32Array(V), vUsable = new Uint8Array(V);
    for (let f = 0; f < nf; f++) {
      if (!this.faceUsable[f] || !faceSquare[f]) continue;
      for (let k = 0; k < 3; k++) {
        const v = faces[3 * f + k]!;
        vUsable[v] = 1;
        vTol[v] = Math.max(vTol[v]!, this.faceTol[f]!);
      }
    }
    for (let v = 0; v < V; v++) if (vUsable[v] && this.seenAt(ndc[3 * v]!, ndc[3 * v + 1]!, ndc[3 * v + 2]!, vTol[v]!)) this.vertexSeen[v] = 1;

    this.fill = this.fillColours(model, input.albedo ?? null);

    // the face region of the reference and its smooth skin
    const weight = input.weight, smoothV = smoothColours(model, this.fill, SKIN_SWEEPS);
    const px: number[] = [], pw: number[] = [], ps: number[] = [], skin: number[] = [];
    const ramp = (e0: number, e1: number, x: number) => Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
    for (let p = 0; p < W * H; p++) {
      const f = R.face[p]!;
      if (f < 0) continue;
      const s = R.bary[3 * p]! + R.bary[3 * p + 1]! + R.bary[3 * p + 2]!;
      const w = [R.bary[3 * p]! / s, R.bary[3 * p + 1]! / s, R.bary[3 * p + 2]! / s];
      const vs = [faces[3 * f]!, faces[3 * f + 1]!, faces[3 * f + 2]!];
      const a = w[0]! * weight[vs[0]!]! + w[1]! * weight[vs[1]!]! + w[2]! * weight[vs[2]!]!;
      if (!(a > 0)) continue;
      px.push(p);
      pw.push(a);
      const feat = input.features, fw = w[0]! * feat[vs[0]!]! + w[1]! * feat[vs[1]!]! + w[2]! * feat[vs[2]!]!;
      ps.push(fw * ramp(0.6, 0.85, faceFacing[f]!));
      for (let c = 0; c < 3; c++) skin.push(Math.round(w[0]! * smoothV[3 * vs[0]! + c]! + w[1]! * smoothV[3 * vs[1]! + c]! + w[2]! * smoothV[3 * vs[2]! + c]!));
    }
    this.regionPixels = Int32Array.from(px);
    this.regionWeight = Float32Array.from(pw);
    this.regionSkin = Float32Array.from(ps);
    this.skin = Uint8Array.from(skin);
  }

  /** The precomputed fields as plain data (typed arrays), e.g. for a worker. */
  toData(): ReferenceData {
    const { width, height, rgb, ndc, depth, face, faceUsable, faceSquare, faceArea, mirrorArea, faceTol, vertexSeen, fill, frontSign, regionPixels, regionWeight, regionSkin, skin } = this;
    return { width, height, rgb, ndc, depth, face, faceUsable, faceSquare, faceArea, mirrorArea, faceTol, vertexSeen, fill, frontSign, regionPixels, regionWeight, regionSkin, skin };
  }

  static fromData(d: ReferenceData): ReferenceTexture {
    return Object.assign(Object.create(ReferenceTexture.prototype) as ReferenceTexture, d);
  }

  /** Whether the reference shows the surface point at image NDC (x, y) with depth z (tolerance tol). */
  seenAt(x: number, y: number, z: number, tol: number): boolean {
    const j = Math.round((x + 1) * this.width * 0.5 - 0.5), i = Math.round((y + 1) * this.height * 0.5 - 0.5);
    if (j < 0 || i < 0 || j >= this.width || i >= this.height) return false;
    return z <= this.depth[i * this.width + j]! + tol;
  }

  /** Bilinear reference colour at image NDC (x, y) into out[o..o+2] (edge pixels repeat). */
  sample(x: number, y: number, out: Float32Array | Uint8Array, o: number): void {
    const W = this.width, H = this.height, rgb = this.rgb;
    let u = (x + 1) * W * 0.5 - 0.5, v = (y + 1) * H * 0.5 - 0.5;
    u = u < 0 ? 0 : u > W - 1 ? W - 1 : u;
    v = v < 0 ? 0 : v > H - 1 ? H - 1 : v;
    const j = Math.min(W - 2, Math.floor(u)), i = Math.min(H - 2, Math.floor(v));
    const fx = u - j, fy = v - i;
    const p00 = 3 * (i * W + j), p01 = p00 + 3, p10 = p00 + 3 * W, p11 = p10 + 3;
    for (let c = 0; c < 3; c++) {
      const top = rgb[p00 + c]! + (rgb[p01 + c]! - rgb[p00 + c]!) * fx;
      const bot = rgb[p10 + c]! + (rgb[p11 + c]! - rgb[p10 + c]!) * fx;
      out[o + c] = top + (bot - top) * fy;
    }
  }

  private fillColours(model: FlameModelData, albedoCode: ArrayLike<number> | null): Float32Array {
    const V = model.numVertices, ndc = this.ndc;
    const seenCol = new Float32Array(3 * V);
    for (let v = 0; v < V; v++) if (this.vertexSeen[v]) this.sample(ndc[3 * v]!, ndc[3 * v + 1]!, seenCol, 3 * v);
    // base: albedo texture at the vertex's UV, gained to the reference; without a texture space the mean seen colour
    const base = new Float32Array(3 * V);
    const alb = vertexAlbedo(model, albedoCode);
    if (alb) {
      for (let c = 0; c < 3; c++) {
        let num = 0, den = 0;
        for (let v = 0; v < V; v++) if (this.vertexSeen[v]) { num += seenCol[3 * v + c]! * alb[3 * v + c]!; den += alb[3 * v + c]! ** 2; }
        const gain = den > 0 ? num / den : 255;
        for (let v = 0; v < V; v++) base[3 * v + c] = gain * alb[3 * v + c]!;
      }
    } else {
      const mean = [0, 0, 0];
      let n = 0;
      for (let v = 0; v < V; v++) if (this.vertexSeen[v]) { n++; for (let c = 0; c < 3; c++) mean[c]! += seenCol[3 * v + c]!; }
      for (let v = 0; v < V; v++) for (let c = 0; c < 3; c++) base[3 * v + c] = n ? mean[c]! / n : 128;
    }
    // residual of the seen vertices, diffused over the mesh graph to the unseen ones (Gauss–Seidel on the Laplacian)
    const { start, nbr } = adjacency(model);
    const res = new Float32Array(3 * V);
    for (let v = 0; v < V; v++) if (this.vertexSeen[v]) for (let c = 0; c < 3; c++) res[3 * v + c] = seenCol[3 * v + c]! - base[3 * v + c]!;
    for (let it = 0; it < FILL_SWEEPS; it++) {
      for (let v = 0; v < V; v++) {
        if (this.vertexSeen[v]) continue;
        const a = start[v]!, b = start[v + 1]!;
        if (a === b) continue;
        let r = 0, g = 0, bl = 0;
        for (let k = a; k < b; k++) { const u = 3 * nbr[k]!; r += res[u]!; g += res[u + 1]!; bl += res[u + 2]!; }
        const n = b - a;
        res[3 * v] = r / n; res[3 * v + 1] = g / n; res[3 * v + 2] = bl / n;
      }
    }
    const fill = new Float32Array(3 * V);
    for (let i = 0; i < 3 * V; i++) fill[i] = Math.min(255, Math.max(0, base[i]! + res[i]!));
    return fill;
  }
}

/** Per-vertex colours averaged with their neighbours `sweeps` times (Gauss–Seidel on the mesh graph). */
function smoothColours(model: FlameModelData, colours: Float32Array, sweeps: number): Float32Array {
  const { start, nbr } = adjacency(model);
  const c = Float32Array.from(colours);
  for (let it = 0; it < sweeps; it++)
    for (let v = 0; v < model.numVertices; v++) {
      const a = start[v]!, b = start[v + 1]!;
      if (a === b) continue;
      let r = 0, g = 0, bl = 0;
      for (let k = a; k < b; k++) { const u = 3 * nbr[k]!; r += c[u]!; g += c[u + 1]!; bl += c[u + 2]!; }
      const n = b - a;
      c[3 * v] = r / n; c[3 * v + 1] = g / n; c[3 * v + 2] = bl / n;
    }
  return c;
}

/** z shifted by RASTER_Z_SHIFT for the rasteriser (a copy). */
export function shifted(ndc: Float32Array, out: Float32Array = new Float32Array(ndc.length)): Float32Array {
  out.set(ndc);
  for (let k = 2; k < out.length; k += 3) out[k] = out[k]! + RASTER_Z_SHIFT;
  return out;
}

/** Signed NDC area (×2) of every face: its sign says which side faces the camera. */
export function signedAreas(ndc: Float32Array, faces: Uint32Array, out: Float32Array = new Float32Array(faces.length / 3)): Float32Array {
  for (let f = 0; f < out.length; f++) {
    const a = 3 * faces[3 * f]!, b = 3 * faces[3 * f + 1]!, c = 3 * faces[3 * f + 2]!;
    out[f] = (ndc[b]! - ndc[a]!) * (ndc[c + 1]! - ndc[a + 1]!) - (ndc[b + 1]! - ndc[a + 1]!) * (ndc[c]! - ndc[a]!);
  }
  return out;
}

function rgbOf(image: Image): Uint8Array {
  const n = image.width * image.height;
  if (image.channels === 3) return image.data;
  const out = new Uint8Array(3 * n);
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) out[3 * p + c] = image.data[image.channels * p + c]!;
  return out;
}

const adjCache = new WeakMap<FlameModelData, { start: Int32Array; nbr: Int32Array }>();

/** Vertex neighbours of the mesh (CSR, duplicates kept: they only weight the average). */
function adjacency(model: FlameModelData): { start: Int32Array; nbr: Int32Array } {
  let a = adjCache.get(model);
  if (a) return a;
  const V = model.numVertices, faces = model.faces;
  const count = new Int32Array(V + 1);
  for (let i = 0; i < faces.length; i++) count[faces[i]! + 1] += 2;
  for (let v = 0; v < V; v++) count[v + 1] += count[v]!;
  const nbr = new Int32Array(count[V]!), fillAt = count.slice(0, V);
  for (let f = 0; f < faces.length; f += 3)
    for (let k = 0; k < 3; k++) {
      const v = faces[f + k]!;
      nbr[fillAt[v]++] = faces[f + ((k + 1) % 3)]!;
      nbr[fillAt[v]++] = faces[f + ((k + 2) % 3)]!;
    }
  a = { start: count, nbr };
  adjCache.set(model, a);
  return a;
}

/** Albedo (0–1 RGB) of every vertex at its UV, from the texture space and the fit's coefficients; null without one. */
function vertexAlbedo(model: FlameModelData, code: ArrayLike<number> | null): Float32Array | null {
  const tex = model.texture, uv = model.uv;
  if (!tex || !uv) return null;
  const N = 256;
  const k = Math.min(tex.numComponents, code?.length ?? 0);
  const coef = new Float32Array(Math.max(1, k));
  for (let i = 0; i < k; i++) coef[i] = code![i]!;
  const img = flameTexAlbedo(tex, k ? coef : new Float32Array(Math.min(1, tex.numComponents)), 1, { outSize: N });
  const out = new Float32Array(3 * model.numVertices);
  const done = new Uint8Array(model.numVertices);
  const faces = model.faces;
  for (let i = 0; i < faces.length; i++) {
    const v = faces[i]!;
    if (done[v]) continue;
    done[v] = 1;
    const t = uv.uvFaces[i]!;
    // OBJ convention: v up; texel rows top to bottom
    const x = Math.min(N - 1, Math.max(0, Math.round(uv.uvs[2 * t]! * N - 0.5)));
    const y = Math.min(N - 1, Math.max(0, Math.round((1 - uv.uvs[2 * t + 1]!) * N - 0.5)));
    for (let c = 0; c < 3; c++) out[3 * v + c] = img[(c * N + y) * N + x]!;
  }
  return out;
}
