// The FLAME forward (reference-pipeline.md §2.3–2.4), batched, over any FlameModelData.
//
//   v_shaped = v_template + Σ_l β_l·S_l            (shape then expression components, any counts ≤ the model's)
//   J        = J_regressor · v_shaped              (computed as J_regressor·v_template + (J_regressor·S)·β)
//   R_j      = Rodrigues(pose_j)                   (1e-8 per component before the norm)
//   v_posed  = v_shaped + Σ_p f_p·P_p,  f = concat_{j≥1}(R_j − I)
//   G_0 = [R_0 | J_0], G_j = G_parent·[R_j | J_j − J_parent],  A_j = [Rw_j | tw_j − Rw_j·J_j]
//   v_out    = Σ_j w_vj · A_j · (v_posed, 1)
//
// Shape, expression and pose-corrective bases are packed into one basis of K = L + 9(J−1) columns once, at
// preparation; each call then runs one fused pass over the vertices (blendshapes and skinning together, the packed
// rows of a vertex group reused by every batch item while they are in cache). The pass runs in a generated
// WebAssembly SIMD kernel (wasm-lbs.ts) or, where that is unavailable or asked for, in plain TypeScript.

import { MagicPortraitError } from '../errors';
import type { FlameModelData, FloatArray, FloatDType } from './types';
import { validateFlameModel } from './types';
import { rodriguesInto } from './rotations';
import { contourLutIndex, contourYawDeg, landmarks68, landmarks68Full, NUM_LANDMARKS } from './landmarks';
import { KERNEL_UNROLL, lbsKernels, lbsModule, newWasmMemory, type LbsKernel, type WasmMemory } from './wasm-lbs';

/** Batch items per kernel call (accumulators live in registers: 3 per item). Tuned in bench/flame.ts. */
const BATCH_BLOCK = 2;

export interface FlameForwardOptions {
  /** Shape components used (the first n); default all of the model's. DECA uses 100. */
  numShape?: number;
  /** Expression components used (the first n); default all. DECA uses 50. */
  numExpression?: number;
  /** Precision of the packed bases and of the vertex outputs. Default 'float32' (as the reference runs). */
  dtype?: FloatDType;
  /** 'auto' (default): WebAssembly SIMD when available, else TypeScript. */
  backend?: 'auto' | 'wasm' | 'js';
  /** Compute landmarks (needs model.landmarks). Default true when the model has an embedding. */
  landmarks?: boolean;
}

export interface FlameParams {
  batchSize: number;
  /** batchSize × numShape; omitted = zeros. */
  shape?: ArrayLike<number>;
  /** batchSize × numExpression; omitted = zeros. */
  expression?: ArrayLike<number>;
  /** batchSize × numJoints × 3 axis-angle (root, neck, jaw, left eye, right eye for FLAME); omitted = zeros. */
  pose?: ArrayLike<number>;
}

export interface FlameOutput {
  batchSize: number;
  /** batchSize × V × 3, world space (metres for FLAME, +y up, +z toward the viewer). */
  vertices: FloatArray;
  /** batchSize × J × 3 posed joint positions. */
  joints: FloatArray;
  /** batchSize × 68 × 3: [17 yaw-dependent contour, 51 static] (DECA's `landmarks2d`, still 3D points). */
  landmarks2d: FloatArray | null;
  /** batchSize × 68 × 3 from the full embedding (DECA's `landmarks3d`). */
  landmarks3d: FloatArray | null;
  /** batchSize rows of the dynamic contour table that were used. */
  contourIndex: Int32Array;
  /** batchSize rounded yaw angles (degrees, clamped at 39) that chose the rows. */
  yawDeg: Int32Array;
}

interface WasmState {
  kernels: LbsKernel[];
  memory: WasmMemory;
  lanes: number;
  /** Packed columns, K rounded up to a multiple of the kernel's unroll (extra columns are zero). */
  kpad: number;
  groups: number;
  vpad: number;
  offM: number;
  offT: number;
  offW: number;
  dyn: number; // start of the per-call region (Q, A, O)
  capacity: number; // batch items the per-call region holds
  chunk: number; // vertex groups per cache chunk
}

interface JsState {
  /** V × K × 3 packed basis, [v][k][c]. */
  basis: FloatArray;
}

export interface PreparedFlame {
  readonly model: FlameModelData;
  readonly numShape: number;
  readonly numExpression: number;
  /** 9·(J−1) when the model has pose correctives, else 0. */
  readonly numPoseFeatures: number;
  /** Columns of the packed basis: numShape + numExpression + numPoseFeatures. */
  readonly numColumns: number;
  readonly dtype: FloatDType;
  readonly backend: 'wasm' | 'js';
  readonly landmarks: boolean;
  /** J × 3: J_regressor · v_template. */
  readonly jointTemplate: Float64Array;
  /** J × 3 × L: J_regressor · [shapedirs | exprdirs] (L = numShape + numExpression). */
  readonly jointDirs: Float64Array;
  /** @internal */ readonly wasm: WasmState | null;
  /** @internal */ readonly js: JsState | null;
}

function bad(msg: string): never {
  throw new MagicPortraitError(msg, 'bad-argument');
}

function makeArray(dtype: FloatDType, n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/** Value of packed basis column k of vertex v, coordinate c. */
function basisReader(m: FlameModelData, nS: number, nE: number, nP: number) {
  const S = m.numShape, E = m.numExpression, sd = m.shapedirs, ed = m.exprdirs, pd = m.posedirs;
  return (v: number, c: number, k: number): number => {
    const r = v * 3 + c;
    if (k < nS) return sd[r * S + k];
    k -= nS;
    if (k < nE) return ed[r * E + k];
    k -= nE;
    return k < nP && pd ? pd[r * nP + k] : 0;
  };
}

/** Packs the bases for the requested component counts and precision; reuse the result for every call. */
export function prepareFlame(model: FlameModelData, opts: FlameForwardOptions = {}): PreparedFlame {
  validateFlameModel(model);
  const nS = opts.numShape ?? model.numShape;
  const nE = opts.numExpression ?? model.numExpression;
  if (!Number.isInteger(nS) || nS < 0 || nS > model.numShape) {
    bad(`numShape ${nS} is outside 0..${model.numShape} (the ${model.name} has ${model.numShape} shape components)`);
  }
  if (!Number.isInteger(nE) || nE < 0 || nE > model.numExpression) {
    bad(`numExpression ${nE} is outside 0..${model.numExpression} (the ${model.name} has ${model.numExpression} expression components)`);
  }
  const dtype = opts.dtype ?? 'float32';
  const V = model.numVertices, J = model.numJoints;
  const nP = model.posedirs ? 9 * (J - 1) : 0;
  const L = nS + nE;
  const K = L + nP;
  const wantLandmarks = (opts.landmarks ?? true) && !!model.landmarks;
  if (opts.landmarks && !model.landmarks) bad(`the ${model.name} has no landmark embedding`);

  // Joint regression folded into the bases: J = Jreg·T + (Jreg·S)·β. J_regressor rows are sparse in practice.
  const jointTemplate = new Float64Array(J * 3);
  const jointDirs = new Float64Array(J * 3 * L);
  const S = model.numShape, E = model.numExpression;
  for (let j = 0; j < J; j++) {
    for (let v = 0; v < V; v++) {
      const w = model.jRegressor[j * V + v];
      if (w === 0) continue;
      for (let c = 0; c < 3; c++) {
        const r = v * 3 + c;
        jointTemplate[j * 3 + c] += w * model.vTemplate[r];
        const o = (j * 3 + c) * L;
        for (let l = 0; l < nS; l++) jointDirs[o + l] += w * model.shapedirs[r * S + l];
        for (let l = 0; l < nE; l++) jointDirs[o + nS + l] += w * model.exprdirs[r * E + l];
      }
    }
  }

  const read = basisReader(model, nS, nE, nP);
  const mod = opts.backend === 'js' ? null : lbsModule(dtype);
  if (opts.backend === 'wasm' && !mod) bad('WebAssembly SIMD is not available in this runtime');
  let wasm: WasmState | null = null;
  let js: JsState | null = null;
  if (mod) {
    const es = dtype === 'float32' ? 4 : 8;
    const lanes = 16 / es;
    const groups = Math.ceil(V / lanes);
    const vpad = groups * lanes;
    const kpad = Math.ceil(K / KERNEL_UNROLL) * KERNEL_UNROLL;
    const offM = 0;
    const offT = offM + groups * kpad * 48;
    const offW = offT + groups * 48;
    const dyn = offW + groups * J * 16;
    const capacity = 16;
    const bytes = dyn + dynBytes(kpad, J, vpad, es, capacity);
    const memory = newWasmMemory(bytes);
    const buf = memory.buffer;
    const Arr = dtype === 'float32' ? Float32Array : Float64Array;
    const M = new Arr(buf, offM, groups * kpad * 3 * lanes);
    const T = new Arr(buf, offT, groups * 3 * lanes);
    const W = new Arr(buf, offW, groups * J * lanes);
    for (let g = 0; g < groups; g++) {
      for (let lane = 0; lane < lanes; lane++) {
        const v = g * lanes + lane;
        if (v >= V) continue; // padding vertices stay zero
        for (let c = 0; c < 3; c++) T[(g * 3 + c) * lanes + lane] = model.vTemplate[v * 3 + c];
        for (let j = 0; j < J; j++) W[(g * J + j) * lanes + lane] = model.lbsWeights[v * J + j];
        const base = g * kpad * 3 * lanes + lane;
        for (let k = 0; k < K; k++) {
          for (let c = 0; c < 3; c++) M[base + (k * 3 + c) * lanes] = read(v, c, k);
        }
      }
    }
    const chunk = Math.max(1, Math.floor((192 * 1024) / (kpad * 48)));
    wasm = { kernels: lbsKernels(mod, memory), memory, lanes, kpad, groups, vpad, offM, offT, offW, dyn, capacity, chunk };
  } else {
    const basis = makeArray(dtype, V * K * 3);
    for (let v = 0; v < V; v++) {
      for (let k = 0; k < K; k++) for (let c = 0; c < 3; c++) basis[(v * K + k) * 3 + c] = read(v, c, k);
    }
    js = { basis };
  }
  return {
    model, numShape: nS, numExpression: nE, numPoseFeatures: nP, numColumns: K, dtype,
    backend: wasm ? 'wasm' : 'js', landmarks: wantLandmarks, jointTemplate, jointDirs, wasm, js,
  };
}

function dynBytes(K: number, J: number, vpad: number, es: number, cap: number): number {
  const q = Math.ceil((K * cap * es) / 16) * 16;
  const a = Math.ceil((cap * J * 12 * es) / 16) * 16;
  return q + a + cap * vpad * 3 * es;
}

/** Allocates outputs for `batchSize` items of this prepared model. */
export function allocFlameOutput(prep: PreparedFlame, batchSize: number): FlameOutput {
  const m = prep.model;
  return {
    batchSize,
    vertices: makeArray(prep.dtype, batchSize * m.numVertices * 3),
    joints: makeArray(prep.dtype, batchSize * m.numJoints * 3),
    landmarks2d: prep.landmarks ? makeArray(prep.dtype, batchSize * NUM_LANDMARKS * 3) : null,
    landmarks3d: prep.landmarks ? makeArray(prep.dtype, batchSize * NUM_LANDMARKS * 3) : null,
    contourIndex: new Int32Array(batchSize),
    yawDeg: new Int32Array(batchSize),
  };
}

function checkLen(name: string, a: ArrayLike<number> | undefined, n: number, hint: string): void {
  if (a && a.length !== n) bad(`${name} has ${a.length} values, expected ${n} (${hint})`);
}

/**
 * Per batch item: rotations, joints, the chain's relative transforms A (J×12, [R|t] rows) and the coefficient
 * vector (K). Small, float64, in TypeScript.
 */
function perItem(
  prep: PreparedFlame, p: FlameParams, b: number,
  rot: Float64Array, Jr: Float64Array, G: Float64Array, A: Float64Array, q: Float64Array,
): void {
  const m = prep.model, J = m.numJoints, nS = prep.numShape, nE = prep.numExpression, L = nS + nE;
  for (let l = 0; l < nS; l++) q[l] = p.shape ? p.shape[b * nS + l] : 0;
  for (let l = 0; l < nE; l++) q[nS + l] = p.expression ? p.expression[b * nE + l] : 0;
  for (let j = 0; j < J; j++) {
    if (p.pose) rodriguesInto(p.pose[(b * J + j) * 3], p.pose[(b * J + j) * 3 + 1], p.pose[(b * J + j) * 3 + 2], rot, 9 * j);
    else rodriguesInto(0, 0, 0, rot, 9 * j);
  }
  // rest joints
  const jt = prep.jointTemplate, jd = prep.jointDirs;
  for (let r = 0; r < J * 3; r++) {
    let s = jt[r];
    const o = r * L;
    for (let l = 0; l < L; l++) s += jd[o + l] * q[l];
    Jr[r] = s;
  }
  // pose features
  if (prep.numPoseFeatures) {
    for (let j = 1; j < J; j++) {
      for (let e = 0; e < 9; e++) q[L + (j - 1) * 9 + e] = rot[9 * j + e] - (e % 4 === 0 ? 1 : 0);
    }
  }
  // chain: G_j = G_parent · [R_j | J_j − J_parent], stored 3×4
  for (let j = 0; j < J; j++) {
    const par = m.parents[j];
    const tx = Jr[3 * j] - (par >= 0 ? Jr[3 * par] : 0);
    const ty = Jr[3 * j + 1] - (par >= 0 ? Jr[3 * par + 1] : 0);
    const tz = Jr[3 * j + 2] - (par >= 0 ? Jr[3 * par + 2] : 0);
    const g = 12 * j, r = 9 * j;
    if (par < 0) {
      for (let i = 0; i < 3; i++) {
        G[g + 4 * i] = rot[r + 3 * i]; G[g + 4 * i + 1] = rot[r + 3 * i + 1]; G[g + 4 * i + 2] = rot[r + 3 * i + 2];
      }
      G[g + 3] = tx; G[g + 7] = ty; G[g + 11] = tz;
    } else {
      const pg = 12 * par;
      for (let i = 0; i < 3; i++) {
        const p0 = G[pg + 4 * i], p1 = G[pg + 4 * i + 1], p2 = G[pg + 4 * i + 2], p3 = G[pg + 4 * i + 3];
        G[g + 4 * i] = p0 * rot[r] + p1 * rot[r + 3] + p2 * rot[r + 6];
        G[g + 4 * i + 1] = p0 * rot[r + 1] + p1 * rot[r + 4] + p2 * rot[r + 7];
        G[g + 4 * i + 2] = p0 * rot[r + 2] + p1 * rot[r + 5] + p2 * rot[r + 8];
        G[g + 4 * i + 3] = p0 * tx + p1 * ty + p2 * tz + p3;
      }
    }
  }
  for (let j = 0; j < J; j++) {
    const g = 12 * j;
    const jx = Jr[3 * j], jy = Jr[3 * j + 1], jz = Jr[3 * j + 2];
    for (let i = 0; i < 3; i++) {
      A[g + 4 * i] = G[g + 4 * i]; A[g + 4 * i + 1] = G[g + 4 * i + 1]; A[g + 4 * i + 2] = G[g + 4 * i + 2];
      A[g + 4 * i + 3] = G[g + 4 * i + 3] - (G[g + 4 * i] * jx + G[g + 4 * i + 1] * jy + G[g + 4 * i + 2] * jz);
    }
  }
}

/** Runs the forward for params.batchSize items. Pass `out` (from allocFlameOutput) to reuse buffers. */
export function flameForward(prep: PreparedFlame, params: FlameParams, out?: FlameOutput): FlameOutput {
  const m = prep.model, V = m.numVertices, J = m.numJoints, K = prep.numColumns;
  const B = params.batchSize;
  if (!Number.isInteger(B) || B < 1) bad(`batchSize must be a positive integer, got ${B}`);
  checkLen('shape', params.shape, B * prep.numShape, `${B} × ${prep.numShape} shape coefficients`);
  checkLen('expression', params.expression, B * prep.numExpression, `${B} × ${prep.numExpression} expression coefficients`);
  checkLen('pose', params.pose, B * J * 3, `${B} × ${J} joints × 3 axis-angle`);
  if (!out) out = allocFlameOutput(prep, B);
  else if (out.batchSize !== B || out.vertices.length !== B * V * 3) bad('the output buffers were allocated for another batch size');

  const rot = new Float64Array(J * 9 * B);
  const Jr = new Float64Array(J * 3);
  const G = new Float64Array(J * 12);
  const A = new Float64Array(J * 12 * B);
  const Q = new Float64Array(K * B);
  const q = new Float64Array(K);
  for (let b = 0; b < B; b++) {
    const rb = rot.subarray(b * J * 9, (b + 1) * J * 9);
    perItem(prep, params, b, rb, Jr, G, A.subarray(b * J * 12, (b + 1) * J * 12), q);
    Q.set(q, b * K);
    for (let j = 0; j < J; j++) {
      out.joints[(b * J + j) * 3] = G[12 * j + 3];
      out.joints[(b * J + j) * 3 + 1] = G[12 * j + 7];
      out.joints[(b * J + j) * 3 + 2] = G[12 * j + 11];
    }
    const yaw = J > 1 ? contourYawDeg(rb, 0, rb, 9) : contourYawDeg(rb, 0, [1, 0, 0, 0, 1, 0, 0, 0, 1], 0);
    out.yawDeg[b] = yaw;
    out.contourIndex[b] = contourLutIndex(yaw);
  }

  if (prep.wasm) runWasm(prep, prep.wasm, B, Q, A, out.vertices);
  else runJs(prep, prep.js!, B, Q, A, out.vertices);

  const emb = m.landmarks;
  if (prep.landmarks && emb && out.landmarks2d && out.landmarks3d) {
    for (let b = 0; b < B; b++) {
      landmarks68(emb, m.faces, out.vertices, b * V * 3, out.contourIndex[b], out.landmarks2d, b * NUM_LANDMARKS * 3);
      landmarks68Full(emb, m.faces, out.vertices, b * V * 3, out.landmarks3d, b * NUM_LANDMARKS * 3);
    }
  }
  return out;
}

function runWasm(prep: PreparedFlame, w: WasmState, B: number, Q: Float64Array, A: Float64Array, verts: FloatArray): void {
  const J = prep.model.numJoints, K = prep.numColumns, V = prep.model.numVertices, kp = w.kpad;
  const es = prep.dtype === 'float32' ? 4 : 8;
  if (B > w.capacity) {
    const need = w.dyn + dynBytes(kp, J, w.vpad, es, B);
    const have = w.memory.buffer.byteLength;
    if (need > have) w.memory.grow(Math.ceil((need - have) / 65536));
    w.capacity = B;
  }
  const offQ = w.dyn;
  const offA = offQ + Math.ceil((kp * B * es) / 16) * 16;
  const offO = offA + Math.ceil((B * J * 12 * es) / 16) * 16;
  const Arr = prep.dtype === 'float32' ? Float32Array : Float64Array;
  const buf = w.memory.buffer;
  const qv = new Arr(buf, offQ, kp * B);
  for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) qv[k * B + b] = Q[b * K + k];
  qv.fill(0, K * B);
  new Arr(buf, offA, B * J * 12).set(A);
  for (let g0 = 0; g0 < w.groups; g0 += w.chunk) {
    const g1 = Math.min(w.groups, g0 + w.chunk);
    for (let b = 0; b < B; b += BATCH_BLOCK) {
      const n = Math.min(BATCH_BLOCK, B - b);
      w.kernels[n - 1](g0, g1, kp, J, B, b, w.offM, w.offT, w.offW, offQ, offA, offO, w.vpad);
    }
  }
  const ov = new Arr(buf, offO, B * w.vpad * 3);
  for (let b = 0; b < B; b++) verts.set(ov.subarray(b * w.vpad * 3, b * w.vpad * 3 + V * 3), b * V * 3);
}

function runJs(prep: PreparedFlame, s: JsState, B: number, Q: Float64Array, A: Float64Array, verts: FloatArray): void {
  const m = prep.model, V = m.numVertices, J = m.numJoints, K = prep.numColumns;
  const M = s.basis, T = m.vTemplate, W = m.lbsWeights;
  const P = new Float64Array(6);
  for (let v = 0; v < V; v++) {
    const mo = v * K * 3;
    const t0 = T[3 * v], t1 = T[3 * v + 1], t2 = T[3 * v + 2];
    // two batch items per pass over the vertex's basis rows (each row loaded once for both)
    for (let b = 0; b < B; b += 2) {
      const two = b + 1 < B;
      const qa = b * K, qb = two ? qa + K : qa;
      let x0 = t0, y0 = t1, z0 = t2, x1 = t0, y1 = t1, z1 = t2;
      for (let k = 0, i = mo; k < K; k++, i += 3) {
        const m0 = M[i], m1 = M[i + 1], m2 = M[i + 2];
        const ca = Q[qa + k], cb = Q[qb + k];
        x0 += m0 * ca; y0 += m1 * ca; z0 += m2 * ca;
        x1 += m0 * cb; y1 += m1 * cb; z1 += m2 * cb;
      }
      P[0] = x0; P[1] = y0; P[2] = z0; P[3] = x1; P[4] = y1; P[5] = z1;
      for (let h = 0; h < (two ? 2 : 1); h++) {
        const x = P[3 * h], y = P[3 * h + 1], z = P[3 * h + 2];
        let ox = 0, oy = 0, oz = 0;
        const ao = (b + h) * J * 12;
        for (let j = 0; j < J; j++) {
          const w = W[v * J + j];
          if (w === 0) continue;
          const a = ao + 12 * j;
          ox += w * (A[a] * x + A[a + 1] * y + A[a + 2] * z + A[a + 3]);
          oy += w * (A[a + 4] * x + A[a + 5] * y + A[a + 6] * z + A[a + 7]);
          oz += w * (A[a + 8] * x + A[a + 9] * y + A[a + 10] * z + A[a + 11]);
        }
        const o = ((b + h) * V + v) * 3;
        verts[o] = ox; verts[o + 1] = oy; verts[o + 2] = oz;
      }
    }
  }
}

/** DECA's pose (B×6: global axis-angle, jaw axis-angle) → FLAME's full pose (B×15) with neck and eyes at zero. */
export function decaFullPose(pose6: ArrayLike<number>, batchSize = pose6.length / 6): Float64Array {
  const out = new Float64Array(batchSize * 15);
  for (let b = 0; b < batchSize; b++) {
    for (let i = 0; i < 3; i++) {
      out[b * 15 + i] = pose6[b * 6 + i];
      out[b * 15 + 6 + i] = pose6[b * 6 + 3 + i];
    }
  }
  return out;
}
