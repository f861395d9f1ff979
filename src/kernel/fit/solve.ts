// The landmark solve shared by fitFlame (one image, identity free) and trackFlame (warm-started frames, identity
// fixed, or several frames with a shared identity): defaults for weights and priors, the cold-start initialisation
// and the staged Levenberg–Marquardt runs.

import { FitProblem, rowYawInterval, yawDegOf, type FitTerms, type FrameState, type FrameTargets } from './problem';
import { levenbergMarquardt, type LMResult } from './levenberg-marquardt';
import { evalRigPoints, PoseState, type FitRig, type RigPoints } from './fit-rig';
import { initialRigidPose } from './crop-projection';

/** Weights of the data terms and the priors (crop-pixel units: 1 crop pixel ≈ 1/224 of 1.43× the landmark box). */
export interface FitWeights {
  /** Weight of the 51 inner landmarks. */
  landmarks: number;
  /** Weight of the 17 jaw-contour landmarks (sliding silhouette points, less precise). */
  contour: number;
  /** Weight of each dense (MediaPipe) point, times the table's per-point weight. */
  dense: number;
  /** Huber threshold (crop pixels) of the robust loss. */
  huber: number;
  /** λ of ‖β‖² and ‖ψ‖². */
  shapePrior: number;
  expressionPrior: number;
  /** λ of θ² for the jaw's opening (x) and its sideways/twist components (y, z). */
  jawPrior: number;
  jawSidePrior: number;
}

export const DEFAULT_WEIGHTS: FitWeights = {
  landmarks: 1,
  contour: 0.5,
  dense: 0.05,
  huber: 4,
  shapePrior: 0.5,
  expressionPrior: 0.5,
  jawPrior: 1,
  jawSidePrior: 200,
};

/** Soft pose limits (radians, axis-angle components) per FLAME joint: global, neck, jaw, eyes. */
export const POSE_LIMITS: { lower: number[]; upper: number[] } = {
  lower: [-1.3, -1.7, -1.3, -0.6, -0.9, -0.6, -0.1, -0.25, -0.25, -0.6, -0.6, -0.3, -0.6, -0.6, -0.3],
  upper: [1.3, 1.7, 1.3, 0.6, 0.9, 0.6, 0.7, 0.25, 0.25, 0.6, 0.6, 0.3, 0.6, 0.6, 0.3],
};

export function makeTerms(J: number, w: FitWeights): FitTerms {
  const posePrior = new Float64Array(3 * J);
  // global: none (the data decide); neck: strong (redundant with the global rotation under an orthographic camera);
  // jaw: weak opening, strong sideways/twist; eyes: moderate (landmarks barely see them).
  for (let i = 3; i < 6 && i < 3 * J; i++) posePrior[i] = 500;
  if (J > 2) { posePrior[6] = w.jawPrior; posePrior[7] = w.jawSidePrior; posePrior[8] = w.jawSidePrior; }
  for (let i = 9; i < 3 * J; i++) posePrior[i] = 50;
  const lo = new Float64Array(3 * J), hi = new Float64Array(3 * J);
  for (let i = 0; i < 3 * J; i++) { lo[i] = POSE_LIMITS.lower[i] ?? -1; hi[i] = POSE_LIMITS.upper[i] ?? 1; }
  return { huber: w.huber, shapePrior: w.shapePrior, expressionPrior: w.expressionPrior, posePrior, poseLower: lo, poseUpper: hi, limitWeight: 200 };
}

/** Which pose components are fitted: global and jaw always; neck and eyes on request (DECA keeps them at zero). */
export function poseFreeMask(J: number, opts: { neck?: boolean; eyes?: boolean; jaw?: boolean } = {}): Uint8Array {
  const m = new Uint8Array(3 * J);
  m[0] = m[1] = m[2] = 1;
  if (J > 1 && opts.neck) m[3] = m[4] = m[5] = 1;
  if (J > 2 && opts.jaw !== false) m[6] = m[7] = m[8] = 1;
  if (opts.eyes) for (let i = 9; i < 3 * J; i++) m[i] = 1;
  return m;
}

export function zeroState(rig: FitRig): FrameState {
  return { expression: new Float64Array(rig.numExpression), pose: new Float64Array(3 * rig.numJoints), cam: Float64Array.of(8, 0, 0) };
}

/**
 * Cold start for one frame: the model's neutral landmarks (current shape, zero expression, frontal contour), an affine
 * camera fitted to the 51 inner landmarks, its nearest rotation → global pose and camera.
 */
export function coldStart(rig: FitRig, shape: ArrayLike<number>, frame: FrameTargets, base?: FrameState): FrameState {
  const st = new PoseState(rig);
  const J = rig.numJoints;
  const state = base ? { expression: Float64Array.from(base.expression), pose: Float64Array.from(base.pose), cam: Float64Array.from(base.cam) } : zeroState(rig);
  const pose0 = new Float64Array(3 * J);
  for (let i = 3; i < 3 * J; i++) pose0[i] = state.pose[i];
  st.update(shape, state.expression, pose0, null);
  const world = new Float64Array(51 * 3);
  evalRigPoints(rig.static51!, st, world, 0, null, 0, null, new Float64Array(3 * rig.K));
  const root = rig.jointTemplate.slice(0, 3);
  // the root joint moves with the shape: recompute
  for (let c = 0; c < 3; c++) {
    let s = rig.jointTemplate[c];
    for (let l = 0; l < rig.numShape; l++) s += rig.jointDirs[c * rig.numLinear + l] * (shape[l] ?? 0);
    root[c] = s;
  }
  const init = initialRigidPose(world, frame.lm.subarray(34), frame.lmW.subarray(17), root);
  if (init) {
    state.pose.set(init.rotation, 0);
    state.cam.set(init.cam);
  }
  return state;
}

export interface SolveOptions {
  weights: FitWeights;
  poseFree: Uint8Array;
  shapeFree: boolean;
  /** Iterations of the rigid stage (global pose + camera only) before the full solve; 0 skips it. */
  rigidIterations: number;
  maxIterations: number;
  tolerance?: number;
  onIteration?: () => void;
  /** Use this contour row whatever the yaw (row search). */
  forceContourRow?: number | null;
}

export interface SolveResult {
  shape: Float64Array;
  states: FrameState[];
  lm: LMResult;
  problem: FitProblem;
}

/** Staged solve: optional rigid stage, then shape (if free), expression, the free pose components and the camera. */
export function solveFrames(
  rig: FitRig, dense: RigPoints | null, frames: FrameTargets[], shape: ArrayLike<number>, states: FrameState[], opts: SolveOptions,
): SolveResult {
  const terms = makeTerms(rig.numJoints, opts.weights);
  let cur = states;
  let curShape = Float64Array.from({ length: rig.numShape }, (_, i) => shape[i] ?? 0);
  if (opts.rigidIterations > 0) {
    const rigidMask = new Uint8Array(3 * rig.numJoints);
    rigidMask[0] = rigidMask[1] = rigidMask[2] = 1;
    const p = new FitProblem(rig, dense, frames, curShape, cur, { shapeFree: false, expressionFree: false, poseFree: rigidMask, camFree: true }, terms);
    p.forceContourRow = opts.forceContourRow ?? null;
    p.yawInterval = opts.forceContourRow == null ? null : rowYawInterval(opts.forceContourRow);
    const r = levenbergMarquardt(p, p.pack(), { maxIterations: opts.rigidIterations, tolerance: 1e-4, onIteration: opts.onIteration });
    p.unpack(r.x);
    cur = p.states;
  }
  const p = new FitProblem(rig, dense, frames, curShape, cur,
    { shapeFree: opts.shapeFree && !rig.fixedShape, expressionFree: rig.numExpression > 0, poseFree: opts.poseFree, camFree: true }, terms);
  p.forceContourRow = opts.forceContourRow ?? null;
  p.yawInterval = opts.forceContourRow == null ? null : rowYawInterval(opts.forceContourRow);
  const r = levenbergMarquardt(p, p.pack(), { maxIterations: opts.maxIterations, tolerance: opts.tolerance ?? 1e-6, onIteration: opts.onIteration });
  p.unpack(r.x);
  curShape = Float64Array.from(p.shape);
  return { shape: curShape, states: p.states, lm: r, problem: p };
}

/** Unrounded yaw (degrees) of FLAME's contour rule for a pose (rel = R_root · R_neck, §2.4). */
export const contourYawExact = yawDegOf;

/**
 * Discrete search over the jaw-contour row (one frame). FLAME picks the 17 contour landmarks from a table row chosen by
 * the rounded yaw, so the cost is piecewise in the yaw and a continuous solver can stop one row short of the best one
 * (the demo head's table also has a few rows where a contour point jumps, which walls the basins off). For each nearby
 * row the problem is solved with that row forced (a continuous problem), then polished with FLAME's own rule; the
 * lowest true cost wins.
 */
export function contourRowSearch(
  rig: FitRig, dense: RigPoints | null, frame: FrameTargets, best: SolveResult, opts: SolveOptions, span = 2,
): SolveResult {
  let out = best;
  const y0 = Math.round(contourYawExact(best.states[0].pose));
  for (let d = -span; d <= span; d++) {
    const target = y0 + d;
    if (d === 0 || target > 39 || target < -39) continue;
    const row = target >= 0 ? target : 39 - target;
    // the problem with this row and a yaw that FLAME's rule maps to it; then polished under the rule itself
    const forced = solveFrames(rig, dense, [frame], best.shape, best.states, { ...opts, rigidIterations: 0, forceContourRow: row });
    const r = solveFrames(rig, dense, [frame], forced.shape, forced.states, { ...opts, rigidIterations: 0, forceContourRow: null });
    if (r.lm.cost < out.lm.cost) out = r;
  }
  return out;
}
