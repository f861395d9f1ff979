// Loads FLAME 2020 and DECA's data files into FlameModelData (reference-pipeline.md §2.1):
//   generic_model.pkl (chumpy/scipy pickle, read safely) or generic_model.npz with the same keys,
//   landmark_embedding.npy (pickled dict; numpy arrays or torch tensors) or .npz,
//   FLAME_texture.npz (mean, tex_dir), head_template.obj (UVs).
// Every array is checked for shape and every error names the file and the key.

import { closeSync, openSync, readSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MagicPortraitError } from '../errors';
import {
  FLAME_GLOBALS, TORCH_NUMPY_GLOBALS, TorchTensorRef, describe, loadTensor, NdArray, isNdArray, openNpz, readNpy, readObj,
  readPickle, sparseToDense, toFloat64, type SparseMatrix, type TypedArray,
} from '../io';
import type { FlameModelData, FloatArray, FloatDType, LandmarkEmbedding, TextureSpace, UVLayout } from './types';
import { FLAME_JOINT_NAMES, validateFlameModel } from './types';

export interface LoadFlameOptions {
  /** Storage precision of the bases. Default 'float64' (the files' own precision). */
  dtype?: FloatDType;
  /** Model file (absolute, or relative to dir). Default: generic_model.pkl, else generic_model.npz. */
  model?: string;
  /** Landmark embedding file. Default: landmark_embedding.npy, else landmark_embedding.npz (optional). */
  landmarks?: string;
  /** Texture space file. Default: FLAME_texture.npz (optional). */
  texture?: string;
  /** UV template. Default: head_template.obj (optional). */
  template?: string;
  /** Texture components kept (DECA uses 50). Default 50 (or all the file has, if fewer). */
  textureComponents?: number;
  /** How many of shapedirs' components are identity (the rest are expression). Default 300 (FLAME 2020). */
  shapeComponentsInFile?: number;
  /** Optional files that must be present. */
  require?: readonly ('landmarks' | 'texture' | 'template')[];
}

type Dict = Map<unknown, unknown> | Record<string, NdArray>;

function badFile(file: string, msg: string, code = 'bad-file'): never {
  throw new MagicPortraitError(`${file}: ${msg}`, code);
}

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function pick(dir: string, explicit: string | undefined, candidates: string[], what: string, required: boolean): Promise<string | null> {
  if (explicit) {
    const p = explicit.startsWith('/') ? explicit : join(dir, explicit);
    if (!(await exists(p))) throw new MagicPortraitError(`${what} file not found: ${p}`, 'missing-file');
    return p;
  }
  for (const c of candidates) if (await exists(join(dir, c))) return join(dir, c);
  if (required) {
    throw new MagicPortraitError(`${what} file not found in ${dir} (looked for ${candidates.join(', ')})`, 'missing-file');
  }
  return null;
}

function shapeStr(s: readonly number[]): string {
  return `(${s.join(', ')}${s.length === 1 ? ',' : ''})`;
}

/** An array-valued entry: NdArray, a chumpy array (already unwrapped), a scipy sparse matrix or a torch tensor. */
async function entry(d: Dict, key: string, file: string): Promise<NdArray> {
  let v: unknown;
  if (d instanceof Map) {
    if (!d.has(key)) badFile(file, `missing key '${key}'`, 'missing-key');
    v = d.get(key);
  } else {
    if (!(key in d)) badFile(file, `missing key '${key}'`, 'missing-key');
    v = d[key];
  }
  if (v instanceof TorchTensorRef) v = await loadTensor(v);
  if (isNdArray(v)) return v;
  if (v && typeof v === 'object' && 'format' in v && 'data' in v && 'shape' in v) return sparseToDense(v as SparseMatrix);
  return badFile(file, `'${key}' is not an array (got ${v === null ? 'None' : typeof v})`);
}

function expectShape(a: NdArray, expected: (number | null)[], file: string, key: string, hint = ''): void {
  const ok = a.shape.length === expected.length && expected.every((e, i) => e === null || a.shape[i] === e);
  if (!ok) {
    const exp = expected.map((e) => (e === null ? 'n' : String(e)));
    badFile(file, `'${key}' has shape ${shapeStr(a.shape)}, expected (${exp.join(', ')})${hint}`);
  }
}

function floats(a: NdArray, dtype: FloatDType): FloatArray {
  const d = toFloat64(a);
  return dtype === 'float64' ? d : Float32Array.from(d);
}

/** Integer data as plain numbers (int64/uint64 included; values beyond 2^53 rejected). */
function ints(a: NdArray, file: string, key: string): Float64Array {
  const d = a.order === 'C' ? a.data : toFloat64(a);
  if (a.dtype === 'float32' || a.dtype === 'float64') {
    const f = toFloat64(a);
    for (let i = 0; i < f.length; i++) if (!Number.isInteger(f[i])) badFile(file, `'${key}' holds non-integer ${f[i]}`);
    return f;
  }
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    const out = new Float64Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
    return out;
  }
  if (!(a.dtype === 'bool' || a.dtype.startsWith('int') || a.dtype.startsWith('uint'))) badFile(file, `'${key}' is ${a.dtype}, expected integers`);
  return Float64Array.from(d as TypedArray as ArrayLike<number>);
}

function indices(a: NdArray, bound: number, file: string, key: string): Uint32Array {
  const v = ints(a, file, key);
  const out = new Uint32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    if (!(v[i] >= 0 && v[i] < bound)) badFile(file, `'${key}' holds index ${v[i]} outside [0, ${bound})`);
    out[i] = v[i];
  }
  return out;
}

async function readDictFile(path: string, globals: typeof FLAME_GLOBALS, what: string): Promise<Dict> {
  const file = basename(path);
  if (path.endsWith('.npz')) {
    const z = await openNpz(path, { file });
    try {
      const out: Record<string, NdArray> = {};
      for (const n of z.names()) out[n] = await z.get(n);
      return out;
    } finally {
      await z.close();
    }
  }
  if (path.endsWith('.npy')) {
    const a = await readNpy(path, { file, globals, encoding: 'latin1' });
    const v = a.dtype === 'object' && a.size === 1 ? (a.data as unknown[])[0] : a;
    if (!(v instanceof Map)) badFile(file, 'expected a pickled dict (np.save of a dict)');
    return v;
  }
  let v: unknown;
  try {
    v = await readPickle(path, { globals, encoding: 'latin1', file });
  } catch (e) {
    throw notThePickle(path, what, e);
  }
  if (!(v instanceof Map)) badFile(file, `this is not ${what}: it holds ${describe(v)}, not the dict of arrays ${what} holds`);
  return v;
}

/**
 * A file that is not a readable pickle at all (random bytes, another format, a download that stopped) is reported as
 * such, rather than by the opcode the parser tripped on; a refused global (a pickle that would run code) keeps its
 * own message.
 */
function notThePickle(path: string, what: string, e: unknown): unknown {
  if (!(e instanceof MagicPortraitError) || e.code === 'forbidden-global' || e.code === 'missing-file') return e;
  const file = basename(path);
  let head = '';
  try {
    const fd = openSync(path, 'r');
    const b = Buffer.alloc(8);
    const n = readSync(fd, b, 0, 8, 0);
    closeSync(fd);
    head = [...b.subarray(0, n)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
  } catch {
    /* the parse error says enough */
  }
  // Python's pickles of a dict start with PROTO (0x80, protocol 2+) or MARK / EMPTY_DICT (protocols 0 and 1).
  const looksLikePickle = /^(80 0[2-5]|28|7d)/.test(head);
  const why = e.code === 'truncated' ? `it ends early — a partial download? (${e.message})` : looksLikePickle ? `it does not parse as a Python pickle (${e.message})` : `it does not start like a Python pickle (first bytes: ${head || 'none'})`;
  return new MagicPortraitError(`${file} is not ${what}: ${why}.`, e.code === 'truncated' ? 'truncated' : 'bad-file');
}

/** Reads generic_model.pkl/.npz into the core of FlameModelData. */
async function readModel(path: string, dtype: FloatDType, nShapeFile: number) {
  const file = basename(path);
  const d = await readDictFile(path, FLAME_GLOBALS, 'a FLAME pickle (FLAME 2020 generic_model.pkl)');
  const vt = await entry(d, 'v_template', file);
  if (vt.ndim !== 2 || vt.shape[1] !== 3) badFile(file, `'v_template' has shape ${shapeStr(vt.shape)}, expected (V, 3)`);
  const V = vt.shape[0];
  const f = await entry(d, 'f', file);
  if (f.ndim !== 2 || f.shape[1] !== 3) badFile(file, `'f' has shape ${shapeStr(f.shape)}, expected (F, 3)`);
  const faces = indices(f, V, file, 'f');
  const kt = await entry(d, 'kintree_table', file);
  if (kt.ndim !== 2 || kt.shape[0] !== 2) badFile(file, `'kintree_table' has shape ${shapeStr(kt.shape)}, expected (2, J)`);
  const J = kt.shape[1];
  const ktv = ints(kt, file, 'kintree_table');
  const parents = new Int32Array(J);
  for (let j = 0; j < J; j++) parents[j] = j === 0 ? -1 : ktv[j];
  for (let j = 1; j < J; j++) {
    if (!(parents[j] >= 0 && parents[j] < j)) badFile(file, `'kintree_table' gives joint ${j} the parent ${parents[j]}; parents must precede children`);
  }
  const sd = await entry(d, 'shapedirs', file);
  expectShape(sd, [V, 3, null], file, 'shapedirs', ` with V = ${V} from 'v_template'`);
  const L = sd.shape[2];
  const nS = Math.min(nShapeFile, L);
  const nE = L - nS;
  const pd = await entry(d, 'posedirs', file);
  expectShape(pd, [V, 3, 9 * (J - 1)], file, 'posedirs', ` for ${J} joints`);
  const jr = await entry(d, 'J_regressor', file);
  expectShape(jr, [J, V], file, 'J_regressor');
  const w = await entry(d, 'weights', file);
  expectShape(w, [V, J], file, 'weights');

  const sdd = toFloat64(sd);
  const Arr = dtype === 'float64' ? Float64Array : Float32Array;
  const shapedirs = new Arr(V * 3 * nS);
  const exprdirs = new Arr(V * 3 * nE);
  for (let r = 0; r < V * 3; r++) {
    for (let l = 0; l < nS; l++) shapedirs[r * nS + l] = sdd[r * L + l];
    for (let l = 0; l < nE; l++) exprdirs[r * nE + l] = sdd[r * L + nS + l];
  }
  return {
    V, F: faces.length / 3, J, nS, nE, faces, parents,
    vTemplate: floats(vt, dtype), shapedirs, exprdirs, posedirs: floats(pd, dtype),
    jRegressor: floats(jr, dtype), lbsWeights: floats(w, dtype),
  };
}

async function readLandmarks(path: string, F: number): Promise<LandmarkEmbedding> {
  const file = basename(path);
  const d = await readDictFile(path, TORCH_NUMPY_GLOBALS, 'a landmark embedding pickle (DECA landmark_embedding)');
  const get = async (key: string, shape: (number | null)[]) => {
    const a = await entry(d, key, file);
    // tolerate leading singleton dims (DECA stores full_lmk_* as (1, 68[, 3]))
    const squeezed = a.shape.length > shape.length && a.shape[0] === 1 ? new NdArray(a.dtype, a.shape.slice(1), a.data, a.order) : a;
    expectShape(squeezed, shape, file, key);
    return squeezed;
  };
  const faceIdx = (a: NdArray, key: string) => Int32Array.from(indices(a, F, file, key));
  const sf = await get('static_lmk_faces_idx', [51]);
  const sb = await get('static_lmk_bary_coords', [51, 3]);
  const df = await get('dynamic_lmk_faces_idx', [79, 17]);
  const db = await get('dynamic_lmk_bary_coords', [79, 17, 3]);
  const ff = await get('full_lmk_faces_idx', [68]);
  const fb = await get('full_lmk_bary_coords', [68, 3]);
  return {
    staticFaces: faceIdx(sf, 'static_lmk_faces_idx'), staticBary: toFloat64(sb),
    dynamicRows: 79, dynamicFaces: faceIdx(df, 'dynamic_lmk_faces_idx'), dynamicBary: toFloat64(db),
    fullFaces: faceIdx(ff, 'full_lmk_faces_idx'), fullBary: toFloat64(fb),
  };
}

async function readTexture(path: string, keep: number): Promise<TextureSpace> {
  const file = basename(path);
  const z = await openNpz(path, { file });
  try {
    if (!z.has('mean') && z.has('MU')) badFile(file, "is a BFM albedo space ('MU'/'PC'); FLAMETex needs 'mean' and 'tex_dir' (FLAME_texture.npz)");
    const mean = await z.get('mean');
    if (mean.ndim !== 3 || mean.shape[2] !== 3 || mean.shape[0] !== mean.shape[1]) {
      badFile(file, `'mean' has shape ${shapeStr(mean.shape)}, expected (H, H, 3)`);
    }
    const H = mean.shape[0];
    const dir = await z.get('tex_dir');
    expectShape(dir, [H, H, 3, null], file, 'tex_dir', ` with H = ${H} from 'mean'`);
    const Kf = dir.shape[3];
    const K = Math.min(keep, Kf);
    const src = toFloat64(dir);
    const basis = new Float32Array(H * H * 3 * K);
    for (let i = 0; i < H * H * 3; i++) for (let k = 0; k < K; k++) basis[i * K + k] = src[i * Kf + k];
    return { size: H, numComponents: K, mean: Float32Array.from(toFloat64(mean)), basis, channelOrder: 'BGR' };
  } finally {
    await z.close();
  }
}

async function readTemplate(path: string, V: number, faces: Uint32Array, modelFile: string): Promise<UVLayout> {
  const file = basename(path);
  const obj = await readObj(path);
  if (obj.vertices.length !== V * 3) badFile(file, `has ${obj.vertices.length / 3} vertices, ${modelFile} has ${V}`);
  if (obj.faces.length !== faces.length) badFile(file, `has ${obj.faces.length / 3} triangles, ${modelFile} 'f' has ${faces.length / 3}`);
  for (let i = 0; i < faces.length; i++) {
    if (obj.faces[i] !== faces[i]) badFile(file, `triangle ${Math.floor(i / 3)} differs from ${modelFile} 'f'`);
  }
  if (!obj.uvFaces || obj.uvs.length === 0) badFile(file, 'has no texture coordinates (vt) on its faces');
  const uvFaces = new Uint32Array(obj.uvFaces.length);
  for (let i = 0; i < uvFaces.length; i++) {
    if (obj.uvFaces[i] < 0) badFile(file, `triangle ${Math.floor(i / 3)} has a corner without a texture coordinate`);
    uvFaces[i] = obj.uvFaces[i];
  }
  return { uvs: obj.uvs, uvFaces };
}

/**
 * Loads a FLAME model folder (FLAME 2020 generic_model.pkl plus DECA's data files). Only the model is required;
 * the landmark embedding, texture space and UV template are read when present (or demanded via `require`).
 */
export async function loadFlame(dir: string, opts: LoadFlameOptions = {}): Promise<FlameModelData> {
  const dtype = opts.dtype ?? 'float64';
  const req = new Set(opts.require ?? []);
  const modelPath = (await pick(dir, opts.model, ['generic_model.pkl', 'generic_model.npz'], 'FLAME model', true))!;
  const m = await readModel(modelPath, dtype, opts.shapeComponentsInFile ?? 300);
  const lmPath = await pick(dir, opts.landmarks, ['landmark_embedding.npy', 'landmark_embedding.npz'], 'Landmark embedding', req.has('landmarks'));
  const texPath = await pick(dir, opts.texture, ['FLAME_texture.npz'], 'FLAME texture space', req.has('texture'));
  const objPath = await pick(dir, opts.template, ['head_template.obj'], 'UV template', req.has('template'));
  const modelFile = basename(modelPath);
  const model: FlameModelData = {
    name: `FLAME (${modelFile})`,
    kind: 'flame',
    numVertices: m.V,
    numFaces: m.F,
    numJoints: m.J,
    numShape: m.nS,
    numExpression: m.nE,
    vTemplate: m.vTemplate,
    faces: m.faces,
    shapedirs: m.shapedirs,
    exprdirs: m.exprdirs,
    posedirs: m.posedirs,
    jRegressor: m.jRegressor,
    parents: m.parents,
    lbsWeights: m.lbsWeights,
    jointNames: m.J === 5 ? [...FLAME_JOINT_NAMES] : Array.from({ length: m.J }, (_, j) => `joint_${j}`),
    landmarks: lmPath ? await readLandmarks(lmPath, m.F) : undefined,
    texture: texPath ? await readTexture(texPath, opts.textureComponents ?? 50) : undefined,
    uv: objPath ? await readTemplate(objPath, m.V, m.faces, modelFile) : undefined,
  };
  validateFlameModel(model, modelFile);
  return model;
}
