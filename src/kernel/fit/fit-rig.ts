// The fitting rig: FLAME's forward restricted to the surface points the fit looks at (the 68 landmarks with the
// yaw-dependent contour, the dense correspondence points), with analytic Jacobians.
//
// A surface point P is a face f with barycentrics b. Linear blend skinning is linear in the per-vertex weights, so
// the barycentric blend commutes with it and P is exactly
//     P = Σ_j [ R̃_j · (T_Pj + B_Pj · q) + W_Pj · t̃_j ]
// with, for every joint j that moves one of the face's vertices,
//     W_Pj = Σ_k b_k w_{v_k j},   T_Pj = Σ_k b_k w_{v_k j} T_{v_k},   B_Pj = Σ_k b_k w_{v_k j} B_{v_k}  (3 × K)
// where B packs [shape | expression | pose correctives] (K = L + 9(J−1)), q = [β, ψ, vec(R_j − I) for j ≥ 1], and
// A_j = [R̃_j | t̃_j] are the relative transforms of the kinematic chain (reference-pipeline.md §2.3). This is the
// same sum flameForward computes, reordered: the tests check both agree to rounding.
//
// Derivatives (all analytic, float64):
//   ∂P/∂c_l  = Σ_j R̃_j B_Pj[:, l] + W_Pj ∂t̃_j/∂c_l                 (c = β, ψ; joints move with c through J_regressor)
//   ∂P/∂θ_i  = Σ_j ∂R̃_j/∂θ_i (T_Pj + B_Pj q) + W_Pj ∂t̃_j/∂θ_i + Σ_j R̃_j B_Pj[:, pose] ∂q_pose/∂θ_i
// with the chain derivatives computed once per evaluation (PoseState) and the Rodrigues derivative of
// rotations.ts's formula (rodriguesJacobian).

import type { FlameModelData } from '../flame/types';
import { rodriguesInto } from '../flame/rotations';
import { contourLutIndex, contourYawDeg } from '../flame/landmarks';

/** Surface points of a rig: per point, the joints that move it and the blended template / basis rows. */
export interface RigPoints {
  readonly count: number;
  /** count + 1 offsets into the entry arrays. */
  readonly start: Int32Array;
  /** Joint of each entry. */
  readonly joint: Int32Array;
  /** W_Pj per entry. */
  readonly w: Float64Array;
  /** T_Pj per entry (3). */
  readonly t: Float64Array;
  /** B_Pj per entry (3 × K, row-major by coordinate). */
  readonly b: Float64Array;
  /** Per entry, the columns of B that are not negligibly small (|B| > 1e-10 model units): nzStart (entries + 1) into nzCols. */
  readonly nzStart: Int32Array;
  readonly nzCols: Int32Array;
}

/** A model prepared for fitting: component counts, joint regression, and rig points for the 68 landmarks. */
export interface FitRig {
  readonly model: FlameModelData;
  /** Shape components of the model that the fit uses (fixed or free). */
  readonly shapeCount: number;
  /** When set, this shape is folded into the template: the rig has no free shape columns (numShape = 0). */
  readonly fixedShape: Float64Array | null;
  /** Free shape columns in B (0 with a fixed shape). */
  readonly numShape: number;
  readonly numExpression: number;
  /** numShape + numExpression. */
  readonly numLinear: number;
  /** 9·(J − 1) when the model has pose correctives, else 0. */
  readonly numPoseFeatures: number;
  /** Pose-corrective features (0 … 9(J−1)−1) that move any vertex: the only ones kept as columns of B. */
  readonly poseCols: Int32Array;
  /** Columns of B: numLinear + poseCols.length. */
  readonly K: number;
  readonly numJoints: number;
  readonly parents: Int32Array;
  /** J × 3 rest joints of the template (with the fixed shape); J × 3 × L joint directions. */
  readonly jointTemplate: Float64Array;
  readonly jointDirs: Float64Array;
  /** The 51 static landmarks (iBUG 18..68); null when the model has no embedding. */
  readonly static51: RigPoints | null;
  /** Contour rows (17 points each), built on first use. */
  contourRow(row: number): RigPoints;
  /** Rig points for any (face, barycentric) list. */
  points(faces: ArrayLike<number>, bary: ArrayLike<number>): RigPoints;
}

export interface FitRigOptions {
  /** Shape components used (the first n); default all of the model's (100 for FLAME, as DECA). */
  numShape?: number;
  /** Expression components used (the first n); default all (50 for FLAME, as DECA). */
  numExpression?: number;
  /** A shape (numShape values) folded into the template, for tracking with the identity held fixed. */
  fixedShape?: ArrayLike<number> | null;
}

/** DECA's component counts for FLAME files, all components for other models. */
export function defaultComponentCounts(model: FlameModelData): { numShape: number; numExpression: number } {
  return model.kind === 'flame'
    ? { numShape: Math.min(100, model.numShape), numExpression: Math.min(50, model.numExpression) }
    : { numShape: model.numShape, numExpression: model.numExpression };
}

/** Builds the rig for a model. */
export function buildFitRig(model: FlameModelData, opts: FitRigOptions = {}): FitRig {
  const V = model.numVertices, J = model.numJoints;
  const def = defaultComponentCounts(model);
  const shapeCount = Math.min(opts.numShape ?? def.numShape, model.numShape);
  const fixed = opts.fixedShape ? Float64Array.from({ length: shapeCount }, (_, i) => Number(opts.fixedShape![i] ?? 0)) : null;
  const nS = fixed ? 0 : shapeCount;
  const nE = Math.min(opts.numExpression ?? def.numExpression, model.numExpression);
  const L = nS + nE;
  const nP = model.posedirs ? 9 * (J - 1) : 0;
  const used: number[] = [];
  if (model.posedirs) {
    const pd = model.posedirs;
    for (let l = 0; l < nP; l++) {
      for (let r = 0; r < V * 3; r++) if (pd[r * nP + l] !== 0) { used.push(l); break; }
    }
  }
  const poseCols = Int32Array.from(used);
  const K = L + poseCols.length;
  const S = model.numShape, E = model.numExpression;
  // template with the fixed shape folded in
  const T0 = new Float64Array(V * 3);
  for (let r = 0; r < V * 3; r++) {
    let s = model.vTemplate[r];
    if (fixed) for (let l = 0; l < shapeCount; l++) s += fixed[l] * model.shapedirs[r * S + l];
    T0[r] = s;
  }
  const jointTemplate = new Float64Array(J * 3);
  const jointDirs = new Float64Array(J * 3 * L);
  for (let j = 0; j < J; j++) {
    for (let v = 0; v < V; v++) {
      const wr = model.jRegressor[j * V + v];
      if (wr === 0) continue;
      for (let c = 0; c < 3; c++) {
        const r = v * 3 + c;
        jointTemplate[j * 3 + c] += wr * T0[r];
        const o = (j * 3 + c) * L;
        for (let l = 0; l < nS; l++) jointDirs[o + l] += wr * model.shapedirs[r * S + l];
        for (let l = 0; l < nE; l++) jointDirs[o + nS + l] += wr * model.exprdirs[r * E + l];
      }
    }
  }

  const points = (faces: ArrayLike<number>, bary: ArrayLike<number>): RigPoints => {
    const n = faces.length;
    const start = new Int32Array(n + 1);
    const joint: number[] = [];
    const wList: number[] = [];
    const tList: number[] = [];
    const bRows: Float64Array[] = [];
    for (let p = 0; p < n; p++) {
      start[p] = joint.length;
      const f = faces[p];
      const vs = [model.faces[3 * f], model.faces[3 * f + 1], model.faces[3 * f + 2]];
      for (let j = 0; j < J; j++) {
        if (!vs.some((v) => model.lbsWeights[v * J + j] !== 0)) continue;
        let W = 0;
        const T = [0, 0, 0];
        const B = new Float64Array(3 * K);
        for (let k = 0; k < 3; k++) {
          const v = vs[k];
          const a = bary[3 * p + k] * model.lbsWeights[v * J + j];
          if (a === 0) continue;
          W += a;
          for (let c = 0; c < 3; c++) {
            const r = v * 3 + c;
            T[c] += a * T0[r];
            const o = c * K;
            for (let l = 0; l < nS; l++) B[o + l] += a * model.shapedirs[r * S + l];
            for (let l = 0; l < nE; l++) B[o + nS + l] += a * model.exprdirs[r * E + l];
            for (let m = 0; m < poseCols.length; m++) B[o + L + m] += a * model.posedirs![r * nP + poseCols[m]];
          }
        }
        joint.push(j);
        wList.push(W);
        tList.push(...T);
        bRows.push(B);
      }
    }
    start[n] = joint.length;
    const b = new Float64Array(joint.length * 3 * K);
    bRows.forEach((row, i) => b.set(row, i * 3 * K));
    const nzStart = new Int32Array(joint.length + 1);
    const nzCols: number[] = [];
    bRows.forEach((row, i) => {
      nzStart[i] = nzCols.length;
      for (let k = 0; k < K; k++) if (Math.abs(row[k]) + Math.abs(row[K + k]) + Math.abs(row[2 * K + k]) > 1e-10) nzCols.push(k);
    });
    nzStart[joint.length] = nzCols.length;
    return { count: n, start, joint: Int32Array.from(joint), w: Float64Array.from(wList), t: Float64Array.from(tList), b, nzStart, nzCols: Int32Array.from(nzCols) };
  };

  const emb = model.landmarks;
  const static51 = emb ? points(emb.staticFaces, emb.staticBary) : null;
  const rows = new Map<number, RigPoints>();
  const contourRow = (row: number): RigPoints => {
    if (!emb) throw new Error(`the ${model.name} has no landmark embedding`);
    let r = rows.get(row);
    if (!r) {
      r = points(emb.dynamicFaces.subarray(row * 17, row * 17 + 17), emb.dynamicBary.subarray(row * 51, row * 51 + 51));
      rows.set(row, r);
    }
    return r;
  };
  return {
    model, shapeCount, fixedShape: fixed, numShape: nS, numExpression: nE, numLinear: L, numPoseFeatures: nP, poseCols, K,
    numJoints: J, parents: Int32Array.from(model.parents), jointTemplate, jointDirs, static51, contourRow, points,
  };
}

/**
 * ∂R/∂r_i of the Rodrigues map R(r) = exp([r]×), 3 matrices (27 values, row-major, i-major) at out[o..].
 * Gallego & Yezzi: ∂R/∂r_i = (r_i [r]× + [r × ((I − R) e_i)]×) R / ‖r‖², with a second-order series near 0.
 */
export function rodriguesJacobian(rx: number, ry: number, rz: number, out: Float64Array, o = 0): void {
  const t2 = rx * rx + ry * ry + rz * rz;
  if (t2 < 1e-12) {
    // ∂R/∂r_i ≈ [e_i]× + ½([e_i]×[r]× + [r]×[e_i]×)
    const r = [rx, ry, rz];
    for (let i = 0; i < 3; i++) {
      const e = [0, 0, 0];
      e[i] = 1;
      const Ei = skew(e[0], e[1], e[2]);
      const Rr = skew(r[0], r[1], r[2]);
      const a = mul33(Ei, Rr), b = mul33(Rr, Ei);
      for (let k = 0; k < 9; k++) out[o + 9 * i + k] = Ei[k] + 0.5 * (a[k] + b[k]);
    }
    return;
  }
  const R = new Float64Array(9);
  exactRodrigues(rx, ry, rz, R);
  const r = [rx, ry, rz];
  const S = skew(rx, ry, rz);
  for (let i = 0; i < 3; i++) {
    // (I − R) e_i = e_i − R[:, i]
    const d = [-R[i], -R[3 + i], -R[6 + i]];
    d[i] += 1;
    const cx = r[1] * d[2] - r[2] * d[1], cy = r[2] * d[0] - r[0] * d[2], cz = r[0] * d[1] - r[1] * d[0];
    const C = skew(cx, cy, cz);
    const M = new Float64Array(9);
    for (let k = 0; k < 9; k++) M[k] = (r[i] * S[k] + C[k]) / t2;
    const P = mul33(M, R);
    for (let k = 0; k < 9; k++) out[o + 9 * i + k] = P[k];
  }
}

function exactRodrigues(rx: number, ry: number, rz: number, out: Float64Array): void {
  const t = Math.sqrt(rx * rx + ry * ry + rz * rz);
  const kx = rx / t, ky = ry / t, kz = rz / t;
  const s = Math.sin(t), c1 = 1 - Math.cos(t);
  out[0] = 1 + c1 * (kx * kx - 1); out[1] = -s * kz + c1 * kx * ky; out[2] = s * ky + c1 * kx * kz;
  out[3] = s * kz + c1 * kx * ky; out[4] = 1 + c1 * (ky * ky - 1); out[5] = -s * kx + c1 * ky * kz;
  out[6] = -s * ky + c1 * kx * kz; out[7] = s * kx + c1 * ky * kz; out[8] = 1 + c1 * (kz * kz - 1);
}

function skew(x: number, y: number, z: number): Float64Array {
  return Float64Array.of(0, -z, y, z, 0, -x, -y, x, 0);
}

function mul33(A: ArrayLike<number>, B: ArrayLike<number>): Float64Array {
  const C = new Float64Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) C[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
  return C;
}

/**
 * The kinematic state for one parameter set: relative transforms A_j = [R̃_j | t̃_j], the coefficient vector q, and
 * (when derivatives are wanted) ∂R̃/∂θ, ∂t̃/∂θ for the free pose components and ∂t̃/∂c for the linear ones.
 */
export class PoseState {
  readonly J: number;
  readonly q: Float64Array;
  /** J × 9 world rotations R̃_j, J × 3 translations t̃_j. */
  readonly Rt: Float64Array;
  readonly tt: Float64Array;
  /** Local rotations (J × 9). */
  readonly Rl: Float64Array;
  /** ∂R_j/∂θ_j (J × 27), local. */
  readonly dRl: Float64Array;
  /** For each of the 3J pose components: J × 9 ∂R̃ and J × 3 ∂t̃ (zero for joints outside the subtree). */
  readonly dRt: Float64Array;
  readonly dtt: Float64Array;
  /** J × 3 × L ∂t̃/∂c. */
  readonly dtc: Float64Array;
  /** Rounded yaw (degrees) and contour row chosen by FLAME's rule. */
  yawDeg = 0;
  contourRow = 0;
  private readonly Jr: Float64Array;
  private readonly G: Float64Array;

  constructor(readonly rig: FitRig) {
    const J = rig.numJoints;
    this.J = J;
    this.q = new Float64Array(rig.K);
    this.Rt = new Float64Array(J * 9);
    this.tt = new Float64Array(J * 3);
    this.Rl = new Float64Array(J * 9);
    this.dRl = new Float64Array(J * 27);
    this.dRt = new Float64Array(3 * J * J * 9);
    this.dtt = new Float64Array(3 * J * J * 3);
    this.dtc = new Float64Array(J * 3 * rig.numLinear);
    this.Jr = new Float64Array(J * 3);
    this.G = new Float64Array(J * 12);
  }

  /**
   * shape (numShape), expression (numExpression), pose (J × 3 axis-angle). `derivs`: also the chain derivatives
   * (for the pose components where poseFree[i] is set, and for the linear coefficients when `linear`).
   */
  update(shape: ArrayLike<number>, expression: ArrayLike<number>, pose: ArrayLike<number>, derivs: { poseFree?: ArrayLike<boolean | number>; linear?: boolean } | null): void {
    const rig = this.rig, J = this.J, L = rig.numLinear, nS = rig.numShape, nE = rig.numExpression;
    const q = this.q, Rl = this.Rl, Jr = this.Jr, G = this.G, Rt = this.Rt, tt = this.tt, par = rig.parents;
    for (let l = 0; l < nS; l++) q[l] = shape[l];
    for (let l = 0; l < nE; l++) q[nS + l] = expression[l];
    for (let j = 0; j < J; j++) rodriguesInto(pose[3 * j], pose[3 * j + 1], pose[3 * j + 2], Rl, 9 * j);
    const pc = rig.poseCols;
    for (let m = 0; m < pc.length; m++) {
      const f = pc[m], j = 1 + Math.floor(f / 9), e = f % 9;
      q[L + m] = Rl[9 * j + e] - (e % 4 === 0 ? 1 : 0);
    }
    const jt = rig.jointTemplate, jd = rig.jointDirs;
    for (let r = 0; r < J * 3; r++) {
      let s = jt[r];
      const o = r * L;
      for (let l = 0; l < L; l++) s += jd[o + l] * q[l];
      Jr[r] = s;
    }
    for (let j = 0; j < J; j++) {
      const p = par[j];
      const lx = Jr[3 * j] - (p >= 0 ? Jr[3 * p] : 0), ly = Jr[3 * j + 1] - (p >= 0 ? Jr[3 * p + 1] : 0), lz = Jr[3 * j + 2] - (p >= 0 ? Jr[3 * p + 2] : 0);
      composeInto(G, 12 * j, p >= 0 ? G : null, 12 * p, Rl, 9 * j, lx, ly, lz);
    }
    for (let j = 0; j < J; j++) {
      const g = 12 * j;
      for (let i = 0; i < 3; i++) {
        Rt[9 * j + 3 * i] = G[g + 4 * i]; Rt[9 * j + 3 * i + 1] = G[g + 4 * i + 1]; Rt[9 * j + 3 * i + 2] = G[g + 4 * i + 2];
        tt[3 * j + i] = G[g + 4 * i + 3] - (G[g + 4 * i] * Jr[3 * j] + G[g + 4 * i + 1] * Jr[3 * j + 1] + G[g + 4 * i + 2] * Jr[3 * j + 2]);
      }
    }
    // contour row (reference-pipeline.md §2.4): rel = R_root · R_neck
    this.yawDeg = J > 1 ? contourYawDeg(Rl, 0, Rl, 9) : contourYawDeg(Rl, 0, [1, 0, 0, 0, 1, 0, 0, 0, 1], 0);
    this.contourRow = contourLutIndex(this.yawDeg);
    if (!derivs) return;

    // ∂t̃/∂c: dG_j.t = G_p.R (dJ_j − dJ_p) + dG_p.t ; dt̃_j = dG_j.t − R̃_j dJ_j
    if (derivs.linear) {
      const dGt = new Float64Array(J * 3 * L);
      const dtc = this.dtc;
      for (let j = 0; j < J; j++) {
        const p = par[j];
        for (let l = 0; l < L; l++) {
          const dJx = jd[(3 * j) * L + l], dJy = jd[(3 * j + 1) * L + l], dJz = jd[(3 * j + 2) * L + l];
          let gx: number, gy: number, gz: number;
          if (p < 0) { gx = dJx; gy = dJy; gz = dJz; } else {
            const ex = dJx - jd[(3 * p) * L + l], ey = dJy - jd[(3 * p + 1) * L + l], ez = dJz - jd[(3 * p + 2) * L + l];
            const R = 9 * p;
            gx = Rt[R] * ex + Rt[R + 1] * ey + Rt[R + 2] * ez + dGt[(3 * p) * L + l];
            gy = Rt[R + 3] * ex + Rt[R + 4] * ey + Rt[R + 5] * ez + dGt[(3 * p + 1) * L + l];
            gz = Rt[R + 6] * ex + Rt[R + 7] * ey + Rt[R + 8] * ez + dGt[(3 * p + 2) * L + l];
          }
          dGt[(3 * j) * L + l] = gx; dGt[(3 * j + 1) * L + l] = gy; dGt[(3 * j + 2) * L + l] = gz;
          const R = 9 * j;
          dtc[(3 * j) * L + l] = gx - (Rt[R] * dJx + Rt[R + 1] * dJy + Rt[R + 2] * dJz);
          dtc[(3 * j + 1) * L + l] = gy - (Rt[R + 3] * dJx + Rt[R + 4] * dJy + Rt[R + 5] * dJz);
          dtc[(3 * j + 2) * L + l] = gz - (Rt[R + 6] * dJx + Rt[R + 7] * dJy + Rt[R + 8] * dJz);
        }
      }
    }
    const free = derivs.poseFree;
    for (let j = 0; j < J; j++) rodriguesJacobian(pose[3 * j], pose[3 * j + 1], pose[3 * j + 2], this.dRl, 27 * j);
    if (!free) return;
    const dG = new Float64Array(J * 12);
    for (let i = 0; i < 3 * J; i++) {
      if (!free[i]) continue;
      const ji = Math.floor(i / 3), a = i % 3;
      dG.fill(0);
      const dRt = this.dRt.subarray(i * J * 9, (i + 1) * J * 9), dtt = this.dtt.subarray(i * J * 3, (i + 1) * J * 3);
      dRt.fill(0);
      dtt.fill(0);
      for (let j = ji; j < J; j++) {
        const p = par[j];
        const g = 12 * j;
        if (j === ji) {
          // dG_i = G_p · [dR_i | 0]
          const dR = this.dRl.subarray(27 * j + 9 * a, 27 * j + 9 * a + 9);
          if (p < 0) {
            for (let r = 0; r < 3; r++) { for (let c = 0; c < 3; c++) dG[g + 4 * r + c] = dR[3 * r + c]; dG[g + 4 * r + 3] = 0; }
          } else {
            for (let r = 0; r < 3; r++) {
              for (let c = 0; c < 3; c++) dG[g + 4 * r + c] = G[12 * p + 4 * r] * dR[c] + G[12 * p + 4 * r + 1] * dR[3 + c] + G[12 * p + 4 * r + 2] * dR[6 + c];
              dG[g + 4 * r + 3] = 0;
            }
          }
        } else {
          if (!isDescendant(par, j, ji)) continue;
          const lx = Jr[3 * j] - Jr[3 * p], ly = Jr[3 * j + 1] - Jr[3 * p + 1], lz = Jr[3 * j + 2] - Jr[3 * p + 2];
          composeInto(dG, g, dG, 12 * p, Rl, 9 * j, lx, ly, lz); // derivative: same product, no identity part
        }
        for (let r = 0; r < 3; r++) {
          dRt[9 * j + 3 * r] = dG[g + 4 * r]; dRt[9 * j + 3 * r + 1] = dG[g + 4 * r + 1]; dRt[9 * j + 3 * r + 2] = dG[g + 4 * r + 2];
          dtt[3 * j + r] = dG[g + 4 * r + 3] - (dG[g + 4 * r] * Jr[3 * j] + dG[g + 4 * r + 1] * Jr[3 * j + 1] + dG[g + 4 * r + 2] * Jr[3 * j + 2]);
        }
      }
    }
  }
}

function isDescendant(par: Int32Array, j: number, anc: number): boolean {
  for (let k = j; k >= 0; k = par[k]) if (k === anc) return true;
  return false;
}

/** out = P · [R | l] (3×4 each, homogeneous); P null = identity. Also right for a derivative P (last row zero). */
function composeInto(out: Float64Array, o: number, P: Float64Array | null, po: number, R: Float64Array, ro: number, lx: number, ly: number, lz: number): void {
  if (!P) {
    for (let i = 0; i < 3; i++) {
      out[o + 4 * i] = R[ro + 3 * i]; out[o + 4 * i + 1] = R[ro + 3 * i + 1]; out[o + 4 * i + 2] = R[ro + 3 * i + 2];
    }
    out[o + 3] = lx; out[o + 7] = ly; out[o + 11] = lz;
    return;
  }
  for (let i = 0; i < 3; i++) {
    const p0 = P[po + 4 * i], p1 = P[po + 4 * i + 1], p2 = P[po + 4 * i + 2], p3 = P[po + 4 * i + 3];
    out[o + 4 * i] = p0 * R[ro] + p1 * R[ro + 3] + p2 * R[ro + 6];
    out[o + 4 * i + 1] = p0 * R[ro + 1] + p1 * R[ro + 4] + p2 * R[ro + 7];
    out[o + 4 * i + 2] = p0 * R[ro + 2] + p1 * R[ro + 5] + p2 * R[ro + 8];
    out[o + 4 * i + 3] = p0 * lx + p1 * ly + p2 * lz + p3;
  }
}

/**
 * World positions of rig points (count × 3) for a PoseState. With `jac` (count × 3 × (L + 3J), row-major by point
 * and coordinate), also the derivatives by [c (L) | θ (3J)] (pose columns only where the state has them).
 * `scratch` must hold 3·K values.
 */
export function evalRigPoints(
  pts: RigPoints, st: PoseState, out: Float64Array, oOff: number,
  jac: Float64Array | null, jOff: number, poseFree: ArrayLike<boolean | number> | null,
  scratch: Float64Array,
): void {
  const rig = st.rig, K = rig.K, L = rig.numLinear, J = st.J;
  const NC = L + 3 * J;
  const q = st.q, Rt = st.Rt, tt = st.tt;
  const RB = scratch; // 3 × K: Σ_j R̃_j B_Pj
  for (let p = 0; p < pts.count; p++) {
    let x = 0, y = 0, z = 0;
    const e0 = pts.start[p], e1 = pts.start[p + 1];
    if (jac) RB.fill(0);
    const jrow = jac ? jOff + p * 3 * NC : 0;
    if (jac) jac.fill(0, jrow, jrow + 3 * NC);
    for (let e = e0; e < e1; e++) {
      const j = pts.joint[e], W = pts.w[e];
      const bo = e * 3 * K;
      // u = T + B q (over the entry's non-negligible columns)
      let ux = pts.t[3 * e], uy = pts.t[3 * e + 1], uz = pts.t[3 * e + 2];
      const b = pts.b, nzc = pts.nzCols, z0 = pts.nzStart[e], z1 = pts.nzStart[e + 1];
      for (let z = z0; z < z1; z++) {
        const k = nzc[z];
        const qk = q[k];
        ux += b[bo + k] * qk; uy += b[bo + K + k] * qk; uz += b[bo + 2 * K + k] * qk;
      }
      const R = 9 * j;
      x += Rt[R] * ux + Rt[R + 1] * uy + Rt[R + 2] * uz + W * tt[3 * j];
      y += Rt[R + 3] * ux + Rt[R + 4] * uy + Rt[R + 5] * uz + W * tt[3 * j + 1];
      z += Rt[R + 6] * ux + Rt[R + 7] * uy + Rt[R + 8] * uz + W * tt[3 * j + 2];
      if (!jac) continue;
      for (let z = z0; z < z1; z++) {
        const k = nzc[z];
        const b0 = b[bo + k], b1 = b[bo + K + k], b2 = b[bo + 2 * K + k];
        RB[k] += Rt[R] * b0 + Rt[R + 1] * b1 + Rt[R + 2] * b2;
        RB[K + k] += Rt[R + 3] * b0 + Rt[R + 4] * b1 + Rt[R + 5] * b2;
        RB[2 * K + k] += Rt[R + 6] * b0 + Rt[R + 7] * b1 + Rt[R + 8] * b2;
      }
      // W ∂t̃/∂c
      const dtc = st.dtc;
      for (let c = 0; c < 3; c++) {
        const row = jrow + c * NC, src = (3 * j + c) * L;
        for (let l = 0; l < L; l++) jac[row + l] += W * dtc[src + l];
      }
      // pose through the chain: ∂R̃_j u + W ∂t̃_j
      if (poseFree) {
        for (let i = 0; i < 3 * J; i++) {
          if (!poseFree[i]) continue;
          const dR = (i * J + j) * 9, dt = (i * J + j) * 3;
          const d = st.dRt, dT = st.dtt;
          jac[jrow + L + i] += d[dR] * ux + d[dR + 1] * uy + d[dR + 2] * uz + W * dT[dt];
          jac[jrow + NC + L + i] += d[dR + 3] * ux + d[dR + 4] * uy + d[dR + 5] * uz + W * dT[dt + 1];
          jac[jrow + 2 * NC + L + i] += d[dR + 6] * ux + d[dR + 7] * uy + d[dR + 8] * uz + W * dT[dt + 2];
        }
      }
    }
    out[oOff + 3 * p] = x; out[oOff + 3 * p + 1] = y; out[oOff + 3 * p + 2] = z;
    if (!jac) continue;
    for (let c = 0; c < 3; c++) {
      const row = jrow + c * NC;
      for (let l = 0; l < L; l++) jac[row + l] += RB[c * K + l];
    }
    // pose correctives: ∂q_pose/∂θ_{j,a} = vec(∂R_j/∂θ_{j,a}) in block j − 1
    if (poseFree) {
      const pc = rig.poseCols, dRl = st.dRl;
      for (let m = 0; m < pc.length; m++) {
        const f = pc[m], j = 1 + Math.floor(f / 9), e = f % 9;
        for (let a = 0; a < 3; a++) {
          const i = 3 * j + a;
          if (!poseFree[i]) continue;
          const d = dRl[27 * j + 9 * a + e];
          if (d === 0) continue;
          for (let c = 0; c < 3; c++) jac[jrow + c * NC + L + i] += RB[c * K + L + m] * d;
        }
      }
    }
  }
}
