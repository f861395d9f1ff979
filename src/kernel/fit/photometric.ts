// Photometric refinement given the fitted geometry: albedo coefficients of the model's texture space and DECA's 9×3
// spherical-harmonics light (reference-pipeline.md §2.5, §5.5), by alternating linear least squares over the visible
// vertices. No rasterizer is needed (ours is on another branch): the model colour of a vertex is
//     c_v = albedo(uv_v; α) ⊙ Σ_k L_k · Y_k(n_v)
// with the albedo sampled bilinearly from the texture space at the vertex's UV (mean + basis·α, /255, BGR → RGB as
// FLAMETex), n_v the world normal (§5.4), Y the SH basis with DECA's constant factors, and the target the image colour
// bilinearly sampled at the vertex's projection (/255, no gamma: DECA compares in the same space). Visible = front-facing
// and not behind another part of the mesh (depth buffer, mesh.ts). For fixed α, L is a 9-unknown linear problem per
// colour; for fixed L, α is linear. Five alternations with Huber re-weighting (hair, glasses, occluders) and small
// ridge priors. DECA's rendered image samples the albedo per pixel instead of per vertex; the coefficients mean the same.

import type { Image } from '../io/image';
import type { FlameModelData } from '../flame/types';
import { posedMesh, visibleVertices, type MeshParams } from './mesh';
import { cholesky, choleskySolve } from './levenberg-marquardt';
import { SH_FACTORS_F64 } from '../render/guidance-maps';

/** DECA's SH constant factors (renderer.py), shared with the renderer. */
export const SH_CONSTANTS = SH_FACTORS_F64;

/** The 9 SH basis values of a normal (DECA's order and factors). */
export function shBasis(nx: number, ny: number, nz: number, out: Float64Array, o = 0): void {
  const c = SH_CONSTANTS;
  out[o] = c[0];
  out[o + 1] = c[1] * nx;
  out[o + 2] = c[2] * ny;
  out[o + 3] = c[3] * nz;
  out[o + 4] = c[4] * nx * ny;
  out[o + 5] = c[5] * nx * nz;
  out[o + 6] = c[6] * ny * nz;
  out[o + 7] = c[7] * (nx * nx - ny * ny);
  out[o + 8] = c[8] * (3 * nz * nz - 1);
}

export interface PhotometricOptions {
  numShape: number;
  numExpression: number;
  /** Texture components (default: all of the demo head's, DECA's 50 for FLAME). */
  numTexture?: number;
  albedo?: ArrayLike<number>;
  light?: ArrayLike<number>;
  iterations?: number;
  /** Ridge on the albedo coefficients (per coefficient, in squared colour units summed over samples / count). */
  albedoPrior?: number;
  /** Only vertices projecting inside this polygon (image pixels, x, y pairs) are used, e.g. the face region. */
  region?: ArrayLike<number> | null;
}

/** Even–odd point-in-polygon test. */
export function insidePolygon(poly: ArrayLike<number>, x: number, y: number): boolean {
  let inside = false;
  const n = poly.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = poly[2 * i], yi = poly[2 * i + 1], xj = poly[2 * j], yj = poly[2 * j + 1];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The face region of 68 landmarks: the jaw contour (1–17) closed over the brows (27 … 18). */
export function faceRegion(lm: ArrayLike<number>): Float64Array {
  const idx = [...Array.from({ length: 17 }, (_, i) => i), ...Array.from({ length: 10 }, (_, i) => 26 - i)];
  const out = new Float64Array(idx.length * 2);
  idx.forEach((k, i) => { out[2 * i] = lm[2 * k]; out[2 * i + 1] = lm[2 * k + 1]; });
  return out;
}

export interface PhotometricResult {
  albedo: Float64Array;
  /** 9 × 3 row-major (band k, colour c). */
  light: Float64Array;
  /** Visible samples used; RMS and median per-vertex colour error (0–1 units) of the fit, and the median with the mean albedo. */
  report: { vertices: number; rmse: number; medianError: number; medianErrorMeanAlbedo: number; iterations: number };
}

/** Per-vertex UV (first corner that references the vertex). */
function vertexUvs(model: FlameModelData): Float64Array {
  const uv = model.uv!;
  const out = new Float64Array(model.numVertices * 2).fill(NaN);
  for (let i = 0; i < model.faces.length; i++) {
    const v = model.faces[i];
    if (!Number.isNaN(out[2 * v])) continue;
    const t = uv.uvFaces[i];
    out[2 * v] = uv.uvs[2 * t];
    out[2 * v + 1] = uv.uvs[2 * t + 1];
  }
  return out;
}

function sampleImage(img: Image, x: number, y: number, out: Float64Array): boolean {
  const W = img.width, H = img.height, C = img.channels;
  if (!(x >= 0 && y >= 0 && x <= W - 1 && y <= H - 1)) return false;
  const x0 = Math.min(W - 2, Math.floor(x)), y0 = Math.min(H - 2, Math.floor(y));
  const fx = x - x0, fy = y - y0;
  for (let c = 0; c < 3; c++) {
    const p00 = img.data[(y0 * W + x0) * C + c], p01 = img.data[(y0 * W + x0 + 1) * C + c];
    const p10 = img.data[((y0 + 1) * W + x0) * C + c], p11 = img.data[((y0 + 1) * W + x0 + 1) * C + c];
    out[c] = ((1 - fy) * ((1 - fx) * p00 + fx * p01) + fy * ((1 - fx) * p10 + fx * p11)) / 255;
  }
  return true;
}

/** Per-vertex samples of the photometric problem. */
export interface PhotometricSamples {
  /** Number of samples (visible vertices) and texture components. */
  N: number;
  K: number;
  /** N × 3 image colours (0–1), N × 9 SH basis, N × 3 albedo means, N × 3 × K albedo basis rows (all /255, RGB). */
  target: Float64Array;
  Y: Float64Array;
  mean: Float64Array;
  basis: Float64Array;
  /** Vertex ids. */
  ids: Int32Array;
}

/** Gathers the visible vertices' samples (see the header). */
export function photometricSamples(model: FlameModelData, image: Image, geom: MeshParams, opts: PhotometricOptions): PhotometricSamples {
  const tex = model.texture!;
  const K = Math.min(opts.numTexture ?? (model.kind === 'flame' ? 50 : tex.numComponents), tex.numComponents);
  const mesh = posedMesh(model, geom);
  const vis = visibleVertices(mesh, model.faces, image.width, image.height);
  const uvs = vertexUvs(model);
  const S = tex.size, C = tex.numComponents;
  const flip = tex.channelOrder === 'BGR';
  // gather samples: per vertex, target RGB, SH basis, albedo mean (3) and basis (3 × K)
  const ids: number[] = [];
  const target: number[] = [];
  const Y: number[] = [];
  const mean: number[] = [];
  const basis: number[] = [];
  const col = new Float64Array(3);
  const yb = new Float64Array(9);
  for (let v = 0; v < model.numVertices; v++) {
    if (!vis[v] || Number.isNaN(uvs[2 * v])) continue;
    if (opts.region && !insidePolygon(opts.region, mesh.image[2 * v], mesh.image[2 * v + 1])) continue;
    if (!sampleImage(image, mesh.image[2 * v], mesh.image[2 * v + 1], col)) continue;
    // texel (bilinear) at u·S − 0.5, (1 − v)·S − 0.5
    const tx = Math.min(S - 1, Math.max(0, uvs[2 * v] * S - 0.5)), ty = Math.min(S - 1, Math.max(0, (1 - uvs[2 * v + 1]) * S - 0.5));
    const x0 = Math.min(S - 2, Math.floor(tx)), y0 = Math.min(S - 2, Math.floor(ty));
    const fx = tx - x0, fy = ty - y0;
    const wts = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy];
    const texels = [(y0 * S + x0) * 3, (y0 * S + x0 + 1) * 3, ((y0 + 1) * S + x0) * 3, ((y0 + 1) * S + x0 + 1) * 3];
    ids.push(v);
    target.push(col[0], col[1], col[2]);
    shBasis(mesh.normals[3 * v], mesh.normals[3 * v + 1], mesh.normals[3 * v + 2], yb);
    Y.push(...yb);
    for (let c = 0; c < 3; c++) {
      const sc = flip ? 2 - c : c; // stored channel of RGB channel c
      let m = 0;
      const b = new Array<number>(K).fill(0);
      for (let q = 0; q < 4; q++) {
        const t = texels[q] + sc;
        m += wts[q] * tex.mean[t];
        for (let k = 0; k < K; k++) b[k] += wts[q] * tex.basis[t * C + k];
      }
      mean.push(m / 255);
      for (let k = 0; k < K; k++) basis.push(b[k] / 255);
    }
  }
  return {
    N: ids.length, K, target: Float64Array.from(target), Y: Float64Array.from(Y), mean: Float64Array.from(mean),
    basis: Float64Array.from(basis), ids: Int32Array.from(ids),
  };
}

/** Fits albedo and light to the image given the geometry. */
export function photometricFit(model: FlameModelData, image: Image, geom: MeshParams, opts: PhotometricOptions): PhotometricResult {
  return solvePhotometric(photometricSamples(model, image, geom, opts), opts);
}

/** The alternating least squares over gathered samples. */
export function solvePhotometric(smp: PhotometricSamples, opts: Pick<PhotometricOptions, 'albedo' | 'light' | 'iterations' | 'albedoPrior'> = {}): PhotometricResult {
  const { N, K, target, Y, mean, basis } = smp;
  const alpha = Float64Array.from({ length: K }, (_, k) => Number(opts.albedo?.[k] ?? 0) || 0);
  const light = new Float64Array(27);
  if (N < 30) {
    light[0] = light[1] = light[2] = 1 / SH_CONSTANTS[0];
    return { albedo: alpha, light, report: { vertices: N, rmse: NaN, medianError: NaN, medianErrorMeanAlbedo: NaN, iterations: 0 } };
  }
  const albedoAt = (i: number, c: number) => {
    let a = mean[3 * i + c];
    const o = (3 * i + c) * K;
    for (let k = 0; k < K; k++) a += basis[o + k] * alpha[k];
    return a;
  };
  const shade = (i: number, c: number) => {
    let s = 0;
    for (let k = 0; k < 9; k++) s += light[3 * k + c] * Y[9 * i + k];
    return s;
  };
  const w = new Float64Array(N).fill(1);
  const huber = 0.08;
  const errs = new Float64Array(N);
  const reweight = () => {
    let sse = 0;
    for (let i = 0; i < N; i++) {
      let e2 = 0;
      for (let c = 0; c < 3; c++) { const e = albedoAt(i, c) * shade(i, c) - target[3 * i + c]; e2 += e * e; }
      sse += e2;
      const e = Math.sqrt(e2 / 3);
      errs[i] = e;
      w[i] = e <= huber ? 1 : huber / e;
    }
    return Math.sqrt(sse / (3 * N));
  };
  const median = () => Float64Array.from(errs).sort()[N >> 1];
  const solveLight = () => {
    for (let c = 0; c < 3; c++) {
      const A = new Float64Array(81), b = new Float64Array(9);
      for (let i = 0; i < N; i++) {
        const a = albedoAt(i, c), t = target[3 * i + c];
        for (let p = 0; p < 9; p++) {
          const ap = w[i] * a * Y[9 * i + p];
          b[p] += ap * t;
          for (let q = 0; q < 9; q++) A[9 * p + q] += ap * a * Y[9 * i + q];
        }
      }
      for (let p = 0; p < 9; p++) A[10 * p] += 1e-4 * N * (p === 0 ? 0 : 1);
      if (cholesky(A, 9)) { choleskySolve(A, 9, b); for (let p = 0; p < 9; p++) light[3 * p + c] = b[p]; }
    }
  };
  const prior = opts.albedoPrior ?? 0.02;
  const solveAlbedo = () => {
    if (K === 0) return;
    const A = new Float64Array(K * K), b = new Float64Array(K);
    for (let i = 0; i < N; i++) {
      for (let c = 0; c < 3; c++) {
        const s = shade(i, c), r = target[3 * i + c] - s * mean[3 * i + c];
        const o = (3 * i + c) * K;
        for (let p = 0; p < K; p++) {
          const jp = w[i] * s * basis[o + p];
          b[p] += jp * r;
          for (let q = p; q < K; q++) A[p * K + q] += jp * s * basis[o + q];
        }
      }
    }
    for (let p = 0; p < K; p++) { for (let q = 0; q < p; q++) A[p * K + q] = A[q * K + p]; A[p * K + p] += prior * N; }
    if (cholesky(A, K)) { choleskySolve(A, K, b); alpha.set(b); }
  };
  if (opts.light && opts.light.length === 27) for (let i = 0; i < 27; i++) light[i] = Number(opts.light[i]) || 0;
  else solveLight();
  const iterations = opts.iterations ?? 5;
  // reference: the mean albedo with its best light
  const saved = Float64Array.from(alpha);
  alpha.fill(0);
  solveLight();
  reweight();
  const medianErrorMeanAlbedo = median();
  alpha.set(saved);
  for (let it = 0; it < iterations; it++) {
    solveLight();
    solveAlbedo();
    reweight();
  }
  solveLight();
  const rmse = reweight();
  return { albedo: alpha, light, report: { vertices: N, rmse, medianError: median(), medianErrorMeanAlbedo, iterations } };
}
