// Dense correspondence between MediaPipe's 468 face-mesh points and a model's surface: for each used MediaPipe index
// a face of the model's mesh, barycentric coordinates and a weight.
//
// For the demo head the table is generated (scripts/fit-dense-correspondence.ts; see that header for the method) and
// stored in ./data/demo-head-dense468.json together with a fingerprint of the demo head's mesh: when the demo head
// changes, the table no longer matches and is refused (fits then use the 68 landmarks only) until regenerated.
// For FLAME, the MediaPipe embedding distributed with FLAME (`mediapipe_landmark_embedding.npz`: lmk_face_idx,
// lmk_b_coords, landmark_indices) loads with loadMediapipeEmbedding(); the same generator also runs on a FLAME model.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MagicPortraitError } from '../errors';
import type { FlameModelData } from '../flame/types';
import { openNpz, toFloat64 } from '../io';
import demoTable from './data/demo-head-dense468.json';

export interface DenseCorrespondence {
  /** Model the table belongs to (its fingerprint). */
  readonly fingerprint: string;
  /** MediaPipe landmark index (0..467) of each point. */
  readonly mpIndex: Int32Array;
  /** Face of the model mesh per point. */
  readonly faces: Int32Array;
  /** Barycentric coordinates, count × 3. */
  readonly bary: Float64Array;
  /** Per-point weight in [0, 1] (how reliably the MediaPipe point sits on that surface point). */
  readonly weights: Float64Array;
  /** Where it came from, for reports. */
  readonly source: string;
}

/** A short hash of a model's mesh (vertex count, faces, template) that tables are tied to. */
export function meshFingerprint(model: FlameModelData): string {
  const h = createHash('sha256');
  h.update(`${model.numVertices}/${model.numFaces}/`);
  h.update(new Uint8Array(model.faces.buffer, model.faces.byteOffset, model.faces.byteLength));
  const t = Float64Array.from(model.vTemplate, (v) => Math.round(v * 1e6));
  h.update(new Uint8Array(t.buffer));
  return h.digest('hex').slice(0, 16);
}

interface DenseJson {
  fingerprint: string;
  source: string;
  mpIndex: number[];
  faces: number[];
  bary: number[];
  weights: number[];
}

function fromJson(j: DenseJson, what: string): DenseCorrespondence {
  const n = j.mpIndex.length;
  if (j.faces.length !== n || j.bary.length !== 3 * n || j.weights.length !== n) {
    throw new MagicPortraitError(`${what}: inconsistent dense correspondence table`, 'bad-file');
  }
  return {
    fingerprint: j.fingerprint, source: j.source, mpIndex: Int32Array.from(j.mpIndex), faces: Int32Array.from(j.faces),
    bary: Float64Array.from(j.bary), weights: Float64Array.from(j.weights),
  };
}

export function denseToJson(d: DenseCorrespondence): string {
  const r = (x: number) => Math.round(x * 1e6) / 1e6;
  return JSON.stringify({
    fingerprint: d.fingerprint, source: d.source, mpIndex: Array.from(d.mpIndex), faces: Array.from(d.faces),
    bary: Array.from(d.bary, r), weights: Array.from(d.weights, r),
  });
}

const cache = new WeakMap<FlameModelData, DenseCorrespondence | null>();

/**
 * The built-in correspondence for a model: the generated table for the demo head when its fingerprint matches,
 * else null (68 landmarks only).
 */
export function defaultDenseCorrespondence(model: FlameModelData): DenseCorrespondence | null {
  if (cache.has(model)) return cache.get(model)!;
  let out: DenseCorrespondence | null = null;
  if (model.kind === 'demo-head') {
    const d = fromJson(demoTable as DenseJson, 'the demo head table');
    if (d.fingerprint === meshFingerprint(model)) out = d;
  }
  cache.set(model, out);
  return out;
}

/** Reads a table written by denseToJson (e.g. one generated for a FLAME model). */
export function loadDenseCorrespondence(path: string, model?: FlameModelData): DenseCorrespondence {
  let j: DenseJson;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as DenseJson;
  } catch (e) {
    throw new MagicPortraitError(`Cannot read the dense correspondence ${path}: ${(e as Error).message}`, 'bad-file');
  }
  const d = fromJson(j, path);
  if (model && d.fingerprint !== meshFingerprint(model)) {
    throw new MagicPortraitError(`${path} was made for another mesh (fingerprint ${d.fingerprint}, the ${model.name} has ${meshFingerprint(model)})`, 'bad-file');
  }
  return d;
}

/**
 * FLAME's MediaPipe embedding (`mediapipe_landmark_embedding.npz` from the FLAME website): lmk_face_idx (n),
 * lmk_b_coords (n × 3), landmark_indices (n, MediaPipe indices). Weights are 1.
 */
export async function loadMediapipeEmbedding(path: string, model: FlameModelData): Promise<DenseCorrespondence> {
  const z = await openNpz(path);
  try {
    const need = ['lmk_face_idx', 'lmk_b_coords', 'landmark_indices'];
    for (const k of need) if (!z.names().includes(k)) throw new MagicPortraitError(`${path} has no '${k}' (expected FLAME's mediapipe_landmark_embedding.npz)`, 'missing-key');
    const faces = Int32Array.from(toFloat64(await z.get('lmk_face_idx')));
    const bary = toFloat64(await z.get('lmk_b_coords'));
    const mpIndex = Int32Array.from(toFloat64(await z.get('landmark_indices')));
    const n = faces.length;
    if (bary.length !== 3 * n || mpIndex.length !== n) throw new MagicPortraitError(`${path}: arrays disagree in length`, 'bad-file');
    for (let i = 0; i < n; i++) {
      if (!(faces[i] >= 0 && faces[i] < model.numFaces)) throw new MagicPortraitError(`${path}: face ${faces[i]} is outside the ${model.name}'s ${model.numFaces} faces`, 'bad-file');
      if (!(mpIndex[i] >= 0 && mpIndex[i] < 468)) throw new MagicPortraitError(`${path}: MediaPipe index ${mpIndex[i]} out of range`, 'bad-file');
    }
    return { fingerprint: meshFingerprint(model), source: path, mpIndex, faces, bary: Float64Array.from(bary), weights: new Float64Array(n).fill(1) };
  } finally {
    await z.close();
  }
}
