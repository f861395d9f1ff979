// The landmark fitting problem over one or several frames: residuals in the 224-crop pixels of each frame's DECA
// crop (reference-pipeline.md §1.2, §2.6), a shared identity (shape) and per-frame expression, pose and camera.
//
// Projection of a world point (x, y, z) with DECA's camera [s, tx, ty] into crop pixels:
//     u = 112·s·(x + tx) + 112,     v = −112·s·(y + ty) + 112
// (batch_orth_proj, the y flip of `decode`, then crop NDC → pixels with 224 as transform_points does.)
//
// Cost = Σ_points w_p·ρ(‖e_p‖²)  +  λ_β‖β‖²  +  Σ_frames [ λ_ψ‖ψ‖² + Σ_i λ_θi θ_i² + κ²·(distance of θ_i outside its limits)² ]
// with ρ Huber's function (threshold `huber` crop pixels): robust to a few wrong detections, exact least squares
// for small residuals. The LM step uses the IRLS weights w_p·ρ'(‖e_p‖²).

import { evalRigPoints, PoseState, type FitRig, type RigPoints } from './fit-rig';
import type { LMProblem } from './levenberg-marquardt';
import { mul3Into, rodriguesInto } from '../flame/rotations';

export interface FrameTargets {
  /** 68 × 2 targets in crop pixels. */
  lm: Float64Array;
  /** 68 weights (0: not used). */
  lmW: Float64Array;
  /** nD × 2 dense targets (crop pixels) and weights, or null. */
  dense: Float64Array | null;
  denseW: Float64Array | null;
}

export interface FrameState {
  /** numExpression values. */
  expression: Float64Array;
  /** J × 3 axis-angle. */
  pose: Float64Array;
  /** [s, tx, ty]. */
  cam: Float64Array;
}

export interface FitTerms {
  /** Huber threshold in crop pixels (Infinity: plain least squares). */
  huber: number;
  shapePrior: number;
  expressionPrior: number;
  /** 3J weights of θ² (crop px² per rad²). */
  posePrior: Float64Array;
  /** 3J limits (radians) and the penalty slope κ outside them. */
  poseLower: Float64Array;
  poseUpper: Float64Array;
  limitWeight: number;
}

export interface ProblemSpec {
  shapeFree: boolean;
  expressionFree: boolean;
  /** 3J flags. */
  poseFree: Uint8Array;
  camFree: boolean;
}

/** One frame's model points: 68 landmarks then the dense points, in crop pixels. */
export interface FrameProjection {
  points: Float64Array;
  /** World positions (count × 3). */
  world: Float64Array;
  count: number;
  yawDeg: number;
  contourRow: number;
}

export class FitProblem implements LMProblem {
  readonly n: number;
  readonly F: number;
  readonly nS: number;
  readonly nE: number;
  readonly poseIdx: number[];
  readonly nOwn: number;
  private readonly st: PoseState;
  private readonly nD: number;
  private readonly world: Float64Array;
  private readonly jac: Float64Array;
  private readonly scratch: Float64Array;
  private readonly rowU: Float64Array;
  private readonly rowV: Float64Array;
  private readonly Hl: Float64Array;
  private readonly gl: Float64Array;
  private readonly colMap: Int32Array;
  private readonly nz: Int32Array;
  /** When set, every frame uses this contour row instead of the one its yaw selects (for the row search)... */
  forceContourRow: number | null = null;
  /** ...and its yaw (degrees, FLAME's rule) is held inside this interval by a penalty, so the solution is one FLAME's rule agrees with. */
  yawInterval: [number, number] | null = null;
  /** Working copies unpacked from x. */
  readonly shape: Float64Array;
  readonly states: FrameState[];

  constructor(
    readonly rig: FitRig,
    readonly dense: RigPoints | null,
    readonly frames: FrameTargets[],
    shape: ArrayLike<number>,
    states: FrameState[],
    readonly spec: ProblemSpec,
    readonly terms: FitTerms,
  ) {
    if (rig.fixedShape && spec.shapeFree) throw new Error('the rig holds the shape fixed');
    this.F = frames.length;
    this.nS = spec.shapeFree ? rig.numShape : 0;
    this.nE = spec.expressionFree ? rig.numExpression : 0;
    this.poseIdx = [];
    for (let i = 0; i < 3 * rig.numJoints; i++) if (spec.poseFree[i]) this.poseIdx.push(i);
    this.nOwn = this.nE + this.poseIdx.length + (spec.camFree ? 3 : 0);
    this.n = this.nS + this.F * this.nOwn;
    this.st = new PoseState(rig);
    this.nD = dense ? dense.count : 0;
    const nPts = 68 + this.nD;
    const NC = rig.numLinear + 3 * rig.numJoints;
    this.world = new Float64Array(nPts * 3);
    this.jac = new Float64Array(nPts * 3 * NC);
    this.scratch = new Float64Array(3 * rig.K);
    const nl = this.nS + this.nOwn;
    this.rowU = new Float64Array(nl);
    this.rowV = new Float64Array(nl);
    this.Hl = new Float64Array(nl * nl);
    this.gl = new Float64Array(nl);
    this.nz = new Int32Array(nl);
    // local column → rig Jacobian column (−1: camera)
    const cm: number[] = [];
    for (let l = 0; l < this.nS; l++) cm.push(l);
    for (let l = 0; l < this.nE; l++) cm.push(rig.numShape + l);
    for (const i of this.poseIdx) cm.push(rig.numLinear + i);
    this.colMap = Int32Array.from(cm);
    this.shape = Float64Array.from({ length: rig.numShape }, (_, i) => shape[i] ?? 0);
    this.states = states.map((s) => ({ expression: Float64Array.from(s.expression), pose: Float64Array.from(s.pose), cam: Float64Array.from(s.cam) }));
    for (const s of this.states) if (s.expression.length !== rig.numExpression) throw new Error(`expression has ${s.expression.length} values, the rig ${rig.numExpression}`);
  }

  pack(): Float64Array {
    const x = new Float64Array(this.n);
    let o = 0;
    for (let l = 0; l < this.nS; l++) x[o++] = this.shape[l];
    for (const s of this.states) {
      for (let l = 0; l < this.nE; l++) x[o++] = s.expression[l];
      for (const i of this.poseIdx) x[o++] = s.pose[i];
      if (this.spec.camFree) for (let c = 0; c < 3; c++) x[o++] = s.cam[c];
    }
    return x;
  }

  unpack(x: Float64Array): void {
    let o = 0;
    for (let l = 0; l < this.nS; l++) this.shape[l] = x[o++];
    for (const s of this.states) {
      for (let l = 0; l < this.nE; l++) s.expression[l] = x[o++];
      for (const i of this.poseIdx) s.pose[i] = x[o++];
      if (this.spec.camFree) for (let c = 0; c < 3; c++) s.cam[c] = x[o++];
    }
  }

  /** Model points (68 + dense) of frame f at the current working parameters, in crop pixels. */
  project(f: number): FrameProjection {
    const s = this.states[f];
    this.st.update(this.shape, s.expression, s.pose, null);
    this.evalPoints(false);
    const count = 68 + this.nD;
    const pts = new Float64Array(count * 2);
    const [sc, tx, ty] = s.cam;
    for (let p = 0; p < count; p++) {
      pts[2 * p] = 112 * sc * (this.world[3 * p] + tx) + 112;
      pts[2 * p + 1] = -112 * sc * (this.world[3 * p + 1] + ty) + 112;
    }
    return { points: pts, world: this.world.slice(0, count * 3), count, yawDeg: this.st.yawDeg, contourRow: this.st.contourRow };
  }

  private evalPoints(withJac: boolean): void {
    const rig = this.rig, st = this.st;
    const NC = rig.numLinear + 3 * rig.numJoints;
    const free = withJac ? this.spec.poseFree : null;
    const jac = withJac ? this.jac : null;
    evalRigPoints(rig.contourRow(this.forceContourRow ?? st.contourRow), st, this.world, 0, jac, 0, free, this.scratch);
    evalRigPoints(rig.static51!, st, this.world, 17 * 3, jac, 17 * 3 * NC, free, this.scratch);
    if (this.dense) evalRigPoints(this.dense, st, this.world, 68 * 3, jac, 68 * 3 * NC, free, this.scratch);
  }

  private priorCost(): number {
    const t = this.terms;
    let c = 0;
    if (this.nS) for (let l = 0; l < this.nS; l++) c += t.shapePrior * this.shape[l] * this.shape[l];
    for (const s of this.states) {
      if (this.nE) for (let l = 0; l < this.nE; l++) c += t.expressionPrior * s.expression[l] * s.expression[l];
      for (const i of this.poseIdx) {
        const th = s.pose[i];
        c += t.posePrior[i] * th * th;
        const ex = th > t.poseUpper[i] ? th - t.poseUpper[i] : th < t.poseLower[i] ? th - t.poseLower[i] : 0;
        c += t.limitWeight * t.limitWeight * ex * ex;
      }
      if (this.spec.camFree && !(s.cam[0] > 0)) return Infinity;
      if (this.yawInterval) { const ex = yawExcess(s.pose, this.yawInterval); c += YAW_K2 * ex * ex; }
    }
    return c;
  }

  private dataCost(f: number, withJac: boolean): number {
    const s = this.states[f];
    this.st.update(this.shape, s.expression, s.pose, withJac ? { poseFree: this.spec.poseFree, linear: true } : null);
    this.evalPoints(withJac);
    const fr = this.frames[f];
    const [sc, tx, ty] = s.cam;
    const hub = this.terms.huber, h2 = hub * hub;
    let cost = 0;
    const count = 68 + this.nD;
    const nl = this.nS + this.nOwn;
    const Hl = this.Hl, gl = this.gl;
    if (withJac) { Hl.fill(0); gl.fill(0); }
    const NC = this.rig.numLinear + 3 * this.rig.numJoints;
    const camOff = nl - 3;
    for (let p = 0; p < count; p++) {
      const w = p < 68 ? fr.lmW[p] : fr.denseW![p - 68];
      if (!(w > 0)) continue;
      const tu = p < 68 ? fr.lm[2 * p] : fr.dense![2 * (p - 68)];
      const tv = p < 68 ? fr.lm[2 * p + 1] : fr.dense![2 * (p - 68) + 1];
      const X = this.world[3 * p], Y = this.world[3 * p + 1];
      const eu = 112 * sc * (X + tx) + 112 - tu;
      const ev = -112 * sc * (Y + ty) + 112 - tv;
      const e2 = eu * eu + ev * ev;
      let wr: number;
      if (e2 <= h2) { cost += w * e2; wr = w; } else { const e = Math.sqrt(e2); cost += w * (2 * hub * e - h2); wr = (w * hub) / e; }
      if (!withJac) continue;
      const rowU = this.rowU, rowV = this.rowV, cm = this.colMap, jac = this.jac;
      const jx = (p * 3) * NC, jy = (p * 3 + 1) * NC;
      const ku = 112 * sc, kv = -112 * sc;
      const nj = cm.length;
      for (let a = 0; a < nj; a++) { rowU[a] = ku * jac[jx + cm[a]]; rowV[a] = kv * jac[jy + cm[a]]; }
      if (this.spec.camFree) {
        rowU[camOff] = 112 * (X + tx); rowU[camOff + 1] = 112 * sc; rowU[camOff + 2] = 0;
        rowV[camOff] = -112 * (Y + ty); rowV[camOff + 1] = 0; rowV[camOff + 2] = -112 * sc;
      }
      // sparse outer product: columns whose derivative is below 1e-9 crop px per unit are skipped (the expression
      // blendshapes are local, so most points see only a few of them)
      const nz = this.nz;
      let m = 0;
      for (let a = 0; a < nl; a++) if (Math.abs(rowU[a]) + Math.abs(rowV[a]) > 1e-9) nz[m++] = a;
      for (let ia = 0; ia < m; ia++) {
        const a = nz[ia];
        const ua = wr * rowU[a], va = wr * rowV[a];
        gl[a] += ua * eu + va * ev;
        const ro = a * nl;
        for (let ib = ia; ib < m; ib++) { const b = nz[ib]; Hl[ro + b] += ua * rowU[b] + va * rowV[b]; }
      }
    }
    return cost;
  }

  /**
   * The weighted data Jacobian and residuals of one frame at x, as dense row-major arrays (rows: u, v per point, scaled by
   * √(IRLS weight); columns: the frame's local parameters [shape | expression | free pose | camera]). For checks and
   * reference implementations; the solver itself never forms J.
   */
  denseJacobian(x: Float64Array, f = 0): { J: Float64Array; r: Float64Array; m: number; n: number } {
    this.unpack(x);
    const s = this.states[f];
    this.st.update(this.shape, s.expression, s.pose, { poseFree: this.spec.poseFree, linear: true });
    this.evalPoints(true);
    const fr = this.frames[f];
    const [sc, tx, ty] = s.cam;
    const count = 68 + this.nD, nl = this.nS + this.nOwn, NC = this.rig.numLinear + 3 * this.rig.numJoints;
    const J = new Float64Array(2 * count * nl), r = new Float64Array(2 * count);
    const hub = this.terms.huber, h2 = hub * hub;
    for (let p = 0; p < count; p++) {
      const w = p < 68 ? fr.lmW[p] : fr.denseW![p - 68];
      if (!(w > 0)) continue;
      const tu = p < 68 ? fr.lm[2 * p] : fr.dense![2 * (p - 68)], tv = p < 68 ? fr.lm[2 * p + 1] : fr.dense![2 * (p - 68) + 1];
      const X = this.world[3 * p], Y = this.world[3 * p + 1];
      const eu = 112 * sc * (X + tx) + 112 - tu, ev = -112 * sc * (Y + ty) + 112 - tv;
      const e2 = eu * eu + ev * ev;
      const sw = Math.sqrt(e2 <= h2 ? w : (w * hub) / Math.sqrt(e2));
      r[2 * p] = sw * eu; r[2 * p + 1] = sw * ev;
      const ro = 2 * p * nl, rv = ro + nl;
      for (let a = 0; a < this.colMap.length; a++) {
        J[ro + a] = sw * 112 * sc * this.jac[p * 3 * NC + this.colMap[a]];
        J[rv + a] = -sw * 112 * sc * this.jac[(p * 3 + 1) * NC + this.colMap[a]];
      }
      if (this.spec.camFree) {
        J[ro + nl - 3] = sw * 112 * (X + tx); J[ro + nl - 2] = sw * 112 * sc;
        J[rv + nl - 3] = -sw * 112 * (Y + ty); J[rv + nl - 1] = -sw * 112 * sc;
      }
    }
    return { J, r, m: 2 * count, n: nl };
  }

  cost(x: Float64Array): number {
    this.unpack(x);
    let c = this.priorCost();
    if (!Number.isFinite(c)) return Infinity;
    for (let f = 0; f < this.F; f++) c += this.dataCost(f, false);
    return c;
  }

  build(x: Float64Array, H: Float64Array, g: Float64Array): number {
    this.unpack(x);
    H.fill(0);
    g.fill(0);
    const n = this.n, nS = this.nS, nOwn = this.nOwn, nl = nS + nOwn;
    let cost = this.priorCost();
    for (let f = 0; f < this.F; f++) {
      cost += this.dataCost(f, true);
      const Hl = this.Hl, gl = this.gl;
      const off = nS + f * nOwn;
      const gi = (a: number) => (a < nS ? a : off + a - nS);
      for (let a = 0; a < nl; a++) {
        const ia = gi(a);
        g[ia] += gl[a];
        for (let b = a; b < nl; b++) {
          const v = Hl[a * nl + b];
          if (v === 0) continue;
          const ib = gi(b);
          H[ia * n + ib] += v;
          if (ia !== ib) H[ib * n + ia] += v;
        }
      }
    }
    // priors (Gauss–Newton terms of λ‖·‖² and the limit penalties); the cost function is ½-free: H = Σ JᵀJ, g = Σ Jᵀr
    const t = this.terms;
    for (let l = 0; l < nS; l++) { H[l * n + l] += t.shapePrior; g[l] += t.shapePrior * this.shape[l]; }
    for (let f = 0; f < this.F; f++) {
      const s = this.states[f];
      let o = nS + f * nOwn;
      for (let l = 0; l < this.nE; l++, o++) { H[o * n + o] += t.expressionPrior; g[o] += t.expressionPrior * s.expression[l]; }
      for (const i of this.poseIdx) {
        const th = s.pose[i];
        H[o * n + o] += t.posePrior[i];
        g[o] += t.posePrior[i] * th;
        const ex = th > t.poseUpper[i] ? th - t.poseUpper[i] : th < t.poseLower[i] ? th - t.poseLower[i] : 0;
        if (ex !== 0) { const k2 = t.limitWeight * t.limitWeight; H[o * n + o] += k2; g[o] += k2 * ex; }
        o++;
      }
      if (this.yawInterval) {
        const ex = yawExcess(s.pose, this.yawInterval);
        if (ex !== 0) {
          // Gauss–Newton term of the yaw penalty over the free global-rotation components (numerical ∂yaw/∂θ)
          const base = nS + f * nOwn + this.nE;
          const grad: [number, number][] = [];
          this.poseIdx.forEach((i, k) => {
            if (i > 2) return;
            const p1 = Float64Array.from(s.pose), p2 = Float64Array.from(s.pose);
            p1[i] += 1e-6; p2[i] -= 1e-6;
            grad.push([base + k, (yawDegOf(p1) - yawDegOf(p2)) / 2e-6]);
          });
          for (const [a, da] of grad) {
            g[a] += YAW_K2 * ex * da;
            for (const [b, db] of grad) H[a * n + b] += YAW_K2 * da * db;
          }
        }
      }
    }
    return cost;
  }
}

const YAW_K2 = 1e4;

/** FLAME's (unrounded) contour yaw in degrees: rel = R_root · R_neck (reference-pipeline.md §2.4). */
export function yawDegOf(pose: ArrayLike<number>): number {
  const R0 = new Float64Array(9), R1 = new Float64Array(9), rel = new Float64Array(9);
  rodriguesInto(pose[0], pose[1], pose[2], R0, 0);
  rodriguesInto(pose[3] ?? 0, pose[4] ?? 0, pose[5] ?? 0, R1, 0);
  mul3Into(R0, 0, R1, 0, rel, 0);
  return (Math.atan2(-rel[6], Math.hypot(rel[0], rel[3])) * 180) / Math.PI;
}

function yawExcess(pose: ArrayLike<number>, iv: [number, number]): number {
  const y = yawDegOf(pose);
  return y > iv[1] ? y - iv[1] : y < iv[0] ? y - iv[0] : 0;
}

/** The yaw interval (degrees) in which FLAME's rule selects contour row `row` (with a small margin). */
export function rowYawInterval(row: number): [number, number] {
  const m = 0.02;
  if (row === 39) return [38.5 + m, 1e9];
  if (row === 78) return [-1e9, -39.5 - m];
  const yaw = row <= 39 ? row : 39 - row;
  return [yaw - 0.5 + m, yaw + 0.5 - m];
}
