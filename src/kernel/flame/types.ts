// Plain-data description of a FLAME-structured head model. Both the FLAME 2020 file loader (model-files.ts) and
// the built-in demo head (demo-head.ts) produce one; the forward (lbs.ts), the texture space (texture.ts) and the
// viewers consume it. No methods, no hidden state: everything a consumer needs is in these arrays.

import { MagicPortraitError } from '../errors';

export type FloatArray = Float32Array | Float64Array;
export type FloatDType = 'float32' | 'float64';

/** 68-landmark embedding (DECA's landmark_embedding.npy): faces of the model's mesh plus barycentric coordinates. */
export interface LandmarkEmbedding {
  /** 51 static landmarks (iBUG 18..68): face index per landmark. */
  readonly staticFaces: Int32Array;
  /** 51×3 barycentric coordinates, row-major. */
  readonly staticBary: Float64Array;
  /** Rows of the dynamic contour table (79 for FLAME: yaw 0..39 then 40..78 for yaw −1..−39). */
  readonly dynamicRows: number;
  /** dynamicRows×17 face indices of the jaw contour (iBUG 1..17), row = yaw lookup index. */
  readonly dynamicFaces: Int32Array;
  /** dynamicRows×17×3 barycentric coordinates. */
  readonly dynamicBary: Float64Array;
  /** 68 faces of the full (static) 3D landmark set. */
  readonly fullFaces: Int32Array;
  /** 68×3 barycentric coordinates. */
  readonly fullBary: Float64Array;
}

/** Albedo PCA space as stored in FLAME_texture.npz: H×W×3 texels (channels as stored, BGR for FLAME), 0–255 units. */
export interface TextureSpace {
  /** Texture height = width in texels (512 for FLAME). */
  readonly size: number;
  readonly numComponents: number;
  /** size·size·3 values, [y][x][channel], in file units (0–255). */
  readonly mean: FloatArray;
  /** size·size·3·numComponents values, [y][x][channel][k], in file units. */
  readonly basis: FloatArray;
  /** Channel order of `mean`/`basis`; FLAMETex reverses BGR to RGB on output. */
  readonly channelOrder: 'BGR' | 'RGB';
}

export interface UVLayout {
  /** T×2 texture coordinates (u right, v up, as in OBJ `vt`). */
  readonly uvs: Float32Array;
  /** F×3 indices into `uvs`, one triangle per mesh face. */
  readonly uvFaces: Uint32Array;
}

/**
 * A FLAME-structured model. Array layouts (all row-major, V vertices, J joints):
 *  vTemplate V×3 · faces F×3 · shapedirs V×3×numShape · exprdirs V×3×numExpression · posedirs V×3×(9·(J−1))
 *  jRegressor J×V (dense) · parents J (parents[0] = −1, parents[j] < j) · lbsWeights V×J.
 */
export interface FlameModelData {
  /** Display name, e.g. 'FLAME 2020 (generic_model.pkl)' or 'demo head'. */
  readonly name: string;
  /** 'flame' for files in FLAME's format (incl. synthetic test models in that format), 'demo-head' for ours. */
  readonly kind: 'flame' | 'demo-head';
  readonly numVertices: number;
  readonly numFaces: number;
  readonly numJoints: number;
  readonly numShape: number;
  readonly numExpression: number;
  readonly vTemplate: FloatArray;
  readonly faces: Uint32Array;
  readonly shapedirs: FloatArray;
  readonly exprdirs: FloatArray;
  /** Pose correctives; null when the model has none. */
  readonly posedirs: FloatArray | null;
  readonly jRegressor: FloatArray;
  readonly parents: Int32Array;
  readonly lbsWeights: FloatArray;
  /** Joint names, e.g. ['global', 'neck', 'jaw', 'eye_left', 'eye_right']. */
  readonly jointNames: readonly string[];
  readonly landmarks?: LandmarkEmbedding;
  readonly uv?: UVLayout;
  readonly texture?: TextureSpace;
  /** Named expression components (demo head): name → component index. */
  readonly expressionNames?: Readonly<Record<string, number>>;
  /** Named shape components (demo head): name → component index. */
  readonly shapeNames?: Readonly<Record<string, number>>;
}

export const FLAME_JOINT_NAMES = ['global', 'neck', 'jaw', 'eye_left', 'eye_right'] as const;

function fail(what: string, msg: string): never {
  throw new MagicPortraitError(`${what}: ${msg}`, 'bad-model');
}

/** Checks sizes, index ranges and the joint tree. `what` names the source (file or 'demo head') in messages. */
export function validateFlameModel(m: FlameModelData, what = m.name): void {
  const V = m.numVertices;
  const F = m.numFaces;
  const J = m.numJoints;
  const check = (key: string, arr: { length: number } | null | undefined, n: number) => {
    if (!arr) fail(what, `missing '${key}'`);
    if (arr.length !== n) fail(what, `'${key}' has ${arr.length} values, expected ${n}`);
  };
  if (!(V > 0 && F > 0 && J > 0)) fail(what, `empty model (V=${V}, F=${F}, J=${J})`);
  check('vTemplate', m.vTemplate, V * 3);
  check('faces', m.faces, F * 3);
  check('shapedirs', m.shapedirs, V * 3 * m.numShape);
  check('exprdirs', m.exprdirs, V * 3 * m.numExpression);
  if (m.posedirs) check('posedirs', m.posedirs, V * 3 * 9 * (J - 1));
  check('jRegressor', m.jRegressor, J * V);
  check('parents', m.parents, J);
  check('lbsWeights', m.lbsWeights, V * J);
  if (m.jointNames.length !== J) fail(what, `${m.jointNames.length} joint names for ${J} joints`);
  if (m.parents[0] !== -1) fail(what, `parents[0] must be -1 (root), got ${m.parents[0]}`);
  for (let j = 1; j < J; j++) {
    const p = m.parents[j];
    if (!(p >= 0 && p < j)) fail(what, `joint ${j} has parent ${p}; parents must precede their children`);
  }
  for (let i = 0; i < m.faces.length; i++) {
    if (m.faces[i] >= V) fail(what, `face ${Math.floor(i / 3)} references vertex ${m.faces[i]} ≥ ${V}`);
  }
  const lm = m.landmarks;
  if (lm) {
    check('landmarks.staticBary', lm.staticBary, lm.staticFaces.length * 3);
    check('landmarks.dynamicFaces', lm.dynamicFaces, lm.dynamicRows * 17);
    check('landmarks.dynamicBary', lm.dynamicBary, lm.dynamicRows * 17 * 3);
    check('landmarks.fullBary', lm.fullBary, lm.fullFaces.length * 3);
    if (lm.staticFaces.length !== 51) fail(what, `landmark embedding has ${lm.staticFaces.length} static landmarks, expected 51`);
    if (lm.fullFaces.length !== 68) fail(what, `landmark embedding has ${lm.fullFaces.length} full landmarks, expected 68`);
    if (lm.dynamicRows !== 79) fail(what, `dynamic contour table has ${lm.dynamicRows} rows, expected 79`);
    for (const [key, arr] of [['static', lm.staticFaces], ['dynamic', lm.dynamicFaces], ['full', lm.fullFaces]] as const) {
      for (let i = 0; i < arr.length; i++) {
        if (!(arr[i] >= 0 && arr[i] < F)) fail(what, `landmark embedding '${key}' face ${arr[i]} out of range [0, ${F})`);
      }
    }
  }
  if (m.uv) {
    check('uv.uvFaces', m.uv.uvFaces, F * 3);
    const T = m.uv.uvs.length / 2;
    for (let i = 0; i < m.uv.uvFaces.length; i++) {
      if (m.uv.uvFaces[i] >= T) fail(what, `uv face ${Math.floor(i / 3)} references vt ${m.uv.uvFaces[i]} ≥ ${T}`);
    }
  }
  if (m.texture) {
    const t = m.texture;
    check('texture.mean', t.mean, t.size * t.size * 3);
    check('texture.basis', t.basis, t.size * t.size * 3 * t.numComponents);
  }
}
