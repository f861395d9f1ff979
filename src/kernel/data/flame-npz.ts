/**
 * flame.npz of a clip: the per-clip FLAME (or demo-head) parameters, enough to re-render every guidance map (and, for
 * synthetic clips, every photo). float32 unless noted; F = kept frames, in time order.
 *
 *   shape (S) · expression (F, E) · pose (F, 3J) axis-angle per joint in the model's order (global, neck, jaw, eyes)
 *   cam (F, 3) orthographic [s, tx, ty] (DECA's 224-crop convention) · tform (3, 3): the placement the renderer takes,
 *   DECA's code['tform'] = (T⁻¹)ᵀ where T maps the clip's size² image to the 224 crop · albedo (T) texture code ·
 *   light (9, 3) SH · quality (F) · status (F) int8 · frame_index (F) int32 · size () int32 · fps () float32 ·
 *   model () str · landmarks (F, 68, 2) the detected 68 points in image pixels (real clips) ·
 *   background () str: the JSON of the procedural backdrop (synthetic clips).
 *
 * status: 0 exact (synthetic ground truth), 1 tracked, good fit (NME ≤ 5 %), 2 tracked, fair fit (NME ≤ 8 %).
 * quality: the 68-landmark NME of the saved parameters (mean distance / outer-eye-corner distance; 0 for synthetic).
 * The arrays are rounded to float32 BEFORE rendering, so re-rendering from this file gives the saved maps bit for bit.
 */
import { readFileSync } from 'node:fs';
import { MagicPortraitError } from '../errors';
import { NdArray, openNpz, writeNpz } from '../io';
import { writeFileAtomic } from './files';

export const STATUS = { exact: 0, good: 1, fair: 2 } as const;

export interface ClipParams {
  numJoints: number;
  numExpression: number;
  shape: Float32Array;
  /** F × E */
  expression: Float32Array;
  /** F × 3J */
  pose: Float32Array;
  /** F × 3 */
  cam: Float32Array;
  /** 9, row-major: the renderer's tform ((T⁻¹)ᵀ) */
  tform: Float32Array;
  albedo: Float32Array;
  /** 27 = (9, 3) */
  light: Float32Array;
  quality: Float32Array;
  status: Int8Array;
  frameIndex: Int32Array;
  size: number;
  fps: number;
  model: string;
  /** F × 136 detected 68 points (real clips). */
  landmarks?: Float32Array;
  /** The procedural backdrop as JSON (synthetic clips). */
  background?: string;
}

export function numFrames(p: ClipParams): number {
  return p.frameIndex.length;
}

/** The parameters of frame k (views into the arrays). */
export function frameParams(p: ClipParams, k: number): { expression: Float32Array; pose: Float32Array; cam: Float32Array } {
  const E = p.numExpression, P = 3 * p.numJoints;
  return { expression: p.expression.subarray(k * E, (k + 1) * E), pose: p.pose.subarray(k * P, (k + 1) * P), cam: p.cam.subarray(3 * k, 3 * k + 3) };
}

function checkParams(p: ClipParams, where: string): void {
  const F = p.frameIndex.length;
  const want: [string, { length: number }, number][] = [
    ['expression', p.expression, F * p.numExpression], ['pose', p.pose, F * 3 * p.numJoints], ['cam', p.cam, 3 * F],
    ['tform', p.tform, 9], ['light', p.light, 27], ['quality', p.quality, F], ['status', p.status, F],
  ];
  if (p.landmarks) want.push(['landmarks', p.landmarks, 136 * F]);
  for (const [k, a, n] of want) if (a.length !== n) throw new MagicPortraitError(`${where}: '${k}' has ${a.length} values, expected ${n} (${F} frames)`, 'bad-file');
}

const FIXED_DATE = new Date(Date.UTC(2020, 0, 1));

/** The .npz bytes (entries in a fixed order, fixed zip dates: the bytes depend only on the parameters). */
export function flameNpzBytes(p: ClipParams): Uint8Array {
  checkParams(p, 'flame.npz');
  const F = p.frameIndex.length;
  const arrays: Record<string, NdArray> = {
    shape: new NdArray('float32', [p.shape.length], p.shape),
    expression: new NdArray('float32', [F, p.numExpression], p.expression),
    pose: new NdArray('float32', [F, 3 * p.numJoints], p.pose),
    cam: new NdArray('float32', [F, 3], p.cam),
    tform: new NdArray('float32', [3, 3], p.tform),
    albedo: new NdArray('float32', [p.albedo.length], p.albedo),
    light: new NdArray('float32', [9, 3], p.light),
    quality: new NdArray('float32', [F], p.quality),
    status: new NdArray('int8', [F], p.status),
    frame_index: new NdArray('int32', [F], p.frameIndex),
    size: new NdArray('int32', [], Int32Array.of(p.size)),
    fps: new NdArray('float32', [], Float32Array.of(p.fps)),
    model: new NdArray('str', [], [p.model]),
  };
  if (p.landmarks) arrays.landmarks = new NdArray('float32', [F, 68, 2], p.landmarks);
  if (p.background !== undefined) arrays.background = new NdArray('str', [], [p.background]);
  return writeNpz(arrays, { compress: true, mtime: FIXED_DATE });
}

export function writeFlameNpz(path: string, p: ClipParams): void {
  writeFileAtomic(path, flameNpzBytes(p));
}

/** Reads a clip's flame.npz (errors name the file and the array). */
export async function readFlameNpz(path: string): Promise<ClipParams> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MagicPortraitError(`Cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'bad-file');
  }
  const npz = await openNpz(bytes, { file: path });
  const f32 = async (k: string) => Float32Array.from((await npz.get(k)).data as ArrayLike<number>);
  const shapeOf = async (k: string) => (await npz.get(k)).shape;
  const [F, E] = await shapeOf('expression');
  const P = (await shapeOf('pose'))[1]!;
  const str = async (k: string) => String(((await npz.get(k)).data as unknown[])[0]);
  const p: ClipParams = {
    numJoints: P / 3,
    numExpression: E!,
    shape: await f32('shape'),
    expression: await f32('expression'),
    pose: await f32('pose'),
    cam: await f32('cam'),
    tform: await f32('tform'),
    albedo: await f32('albedo'),
    light: await f32('light'),
    quality: await f32('quality'),
    status: Int8Array.from((await npz.get('status')).data as ArrayLike<number>),
    frameIndex: Int32Array.from((await npz.get('frame_index')).data as ArrayLike<number>),
    size: Number(((await npz.get('size')).data as ArrayLike<number>)[0]),
    fps: Number(((await npz.get('fps')).data as ArrayLike<number>)[0]),
    model: await str('model'),
    ...(npz.has('landmarks') ? { landmarks: await f32('landmarks') } : {}),
    ...(npz.has('background') ? { background: await str('background') } : {}),
  };
  if (p.frameIndex.length !== F) throw new MagicPortraitError(`${path}: frame_index has ${p.frameIndex.length} frames, expression ${F}`, 'bad-file');
  checkParams(p, path);
  return p;
}
