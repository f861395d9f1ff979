/**
 * APD / AED: how well the generated video follows the driving motion, from per-frame FLAME parameters.
 *
 * The paper measures them with SMIRK/EMOCA estimates. Here they are computed from FLAME parameter sequences of both
 * videos (e.g. `fitFlame` / `trackFlame` once they land; or any tracker), so they are **FLAME-fit approximations**
 * of the paper's measures, not the same numbers:
 *   APD = mean over frames and the 3 global head-rotation values (axis-angle, radians) of |pose_gen − pose_drv|
 *   AED = mean over frames and the expression coefficients of |exp_gen − exp_drv|
 * i.e. the mean L1 distance per parameter. The jaw (DECA's pose[3:6]) is left out of APD; `includeJaw` adds it to
 * AED (the jaw is part of the mouth expression).
 */
import { readFileSync } from 'node:fs';
import { MagicPortraitError } from '../errors';
import { openNpz, toFloat64 } from '../io';

export const MOTION_LABEL = 'FLAME-fit approximation of the paper’s SMIRK/EMOCA-based measure';

type Rows = Float32Array | Float64Array | readonly (readonly number[] | Float32Array | Float64Array)[];

/** Per-frame FLAME parameters of one video. */
export interface FlameParamSequence {
  /** Per frame: 3 (global head rotation) or 6 (DECA: global rotation + jaw) axis-angle values; rows or frame-major flat. */
  pose: Rows;
  /** Per frame: the expression coefficients (FLAME / DECA: 50); rows or frame-major flat. */
  expression: Rows;
  /** Values per frame when `pose` is a flat typed array (default 6 when divisible, else 3). */
  poseDim?: number;
  /** Values per frame when `expression` is a flat typed array (required then). */
  expressionDim?: number;
}

interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

function toMatrix(v: Rows, cols: number | undefined, what: string): Matrix {
  if (ArrayBuffer.isView(v)) {
    const flat = v as Float32Array | Float64Array;
    if (!cols || flat.length % cols !== 0) throw new MagicPortraitError(`${what}: a flat array of ${flat.length} values needs its per-frame size (got ${cols}).`, 'bad-argument');
    return { rows: flat.length / cols, cols, data: Float64Array.from(flat) };
  }
  const rows = v as readonly ArrayLike<number>[];
  const c = rows[0]?.length ?? cols ?? 0;
  const data = new Float64Array(rows.length * c);
  rows.forEach((r, i) => {
    if (r.length !== c) throw new MagicPortraitError(`${what}: frame ${i} has ${r.length} values, frame 0 has ${c}.`, 'bad-argument');
    for (let j = 0; j < c; j++) data[i * c + j] = r[j]!;
  });
  return { rows: rows.length, cols: c, data };
}

function poseMatrix(s: FlameParamSequence, what: string): Matrix {
  const flatLen = ArrayBuffer.isView(s.pose) ? (s.pose as Float32Array).length : 0;
  const dim = s.poseDim ?? (flatLen % 6 === 0 ? 6 : 3);
  const m = toMatrix(s.pose, dim, `${what} pose`);
  if (m.rows && m.cols !== 3 && m.cols !== 6) throw new MagicPortraitError(`${what} pose: expected 3 or 6 values per frame, got ${m.cols}.`, 'bad-argument');
  return m;
}

export interface MotionResult {
  /** Per-frame mean |Δ| (length = compared frames). */
  perFrame: number[];
  /** Mean over frames. */
  mean: number;
  frames: number;
  label: string;
}

function compare(a: Matrix, b: Matrix, colsFrom: number, colsTo: number, extra?: [Matrix, Matrix, number, number]): MotionResult {
  const frames = Math.min(a.rows, b.rows);
  const perFrame: number[] = [];
  let total = 0;
  for (let f = 0; f < frames; f++) {
    let s = 0, n = 0;
    for (let j = colsFrom; j < colsTo; j++, n++) s += Math.abs(a.data[f * a.cols + j]! - b.data[f * b.cols + j]!);
    if (extra) {
      const [ea, eb, from, to] = extra;
      for (let j = from; j < to; j++, n++) s += Math.abs(ea.data[f * ea.cols + j]! - eb.data[f * eb.cols + j]!);
    }
    perFrame.push(s / n);
    total += s / n;
  }
  return { perFrame, mean: frames ? total / frames : NaN, frames, label: MOTION_LABEL };
}

/** Average pose distance: mean |Δ| of the global head rotation (3 axis-angle values) per frame, then over frames. */
export function apd(generated: FlameParamSequence, driving: FlameParamSequence): MotionResult {
  return compare(poseMatrix(generated, 'generated'), poseMatrix(driving, 'driving'), 0, 3);
}

/** Average expression distance: mean |Δ| of the expression coefficients per frame (+ the jaw with includeJaw). */
export function aed(generated: FlameParamSequence, driving: FlameParamSequence, options: { includeJaw?: boolean } = {}): MotionResult {
  const eg = toMatrix(generated.expression, generated.expressionDim, 'generated expression');
  const ed = toMatrix(driving.expression, driving.expressionDim, 'driving expression');
  if (eg.cols !== ed.cols)
    throw new MagicPortraitError(`Expression sizes differ: generated has ${eg.cols} coefficients per frame, driving ${ed.cols}.`, 'bad-argument');
  if (!options.includeJaw) return compare(eg, ed, 0, eg.cols);
  const pg = poseMatrix(generated, 'generated'), pd = poseMatrix(driving, 'driving');
  if (pg.cols !== 6 || pd.cols !== 6) throw new MagicPortraitError('includeJaw needs 6 pose values per frame (DECA layout: global + jaw).', 'bad-argument');
  return compare(eg, ed, 0, eg.cols, [pg, pd, 3, 6]);
}

/**
 * Reads a FLAME parameter sequence from an .npz (arrays `pose` (F, 3|6) and `exp` or `expression` (F, E)) or a JSON
 * file ({ "pose": [[…], …], "expression": [[…], …] }).
 */
export async function readFlameSequence(path: string): Promise<FlameParamSequence> {
  if (path.endsWith('.json')) {
    let j: { pose?: number[][]; expression?: number[][]; exp?: number[][] };
    try {
      j = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new MagicPortraitError(`Cannot read FLAME parameters from ${path}: ${(e as Error).message}`, 'bad-file');
    }
    const expression = j.expression ?? j.exp;
    if (!j.pose || !expression) throw new MagicPortraitError(`${path} needs "pose" and "expression" arrays (frames × values).`, 'bad-file');
    return { pose: j.pose, expression };
  }
  const npz = await openNpz(path);
  try {
    const pose = await npz.get('pose');
    const exp = await npz.get(npz.has('exp') ? 'exp' : 'expression');
    if (pose.shape.length !== 2 || exp.shape.length !== 2 || pose.shape[0] !== exp.shape[0])
      throw new MagicPortraitError(`${path}: 'pose' and 'exp' must be (frames, values) with the same frame count (got [${pose.shape}] and [${exp.shape}]).`, 'bad-file');
    return { pose: toFloat64(pose), poseDim: pose.shape[1], expression: toFloat64(exp), expressionDim: exp.shape[1] };
  } finally {
    await npz.close();
  }
}
