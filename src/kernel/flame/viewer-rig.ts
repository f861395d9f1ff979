// Data for interactive viewers that re-pose the mesh themselves (webviews/shared/rig.ts): the shaped template,
// the expression basis component-major, joints of the shaped template, parents and LBS weights, as Float32.

import { MagicPortraitError } from '../errors';
import type { FlameModelData } from './types';
import type { RigArrays } from '../../shared/rig';

export interface FlameRigData extends RigArrays {
  faces: Uint32Array;
  uvs?: Float32Array;
  uvFaces?: Uint32Array;
  expressionNames?: Readonly<Record<string, number>>;
}

/** Rig data for `model` with identity `shape` (≤ numShape coefficients) and the first `numExpression` components. */
export function flameRigData(model: FlameModelData, shape: ArrayLike<number> = [], numExpression = model.numExpression): FlameRigData {
  const V = model.numVertices, J = model.numJoints, S = model.numShape, E = model.numExpression;
  if (shape.length > S) throw new MagicPortraitError(`${shape.length} shape coefficients for the ${model.name} (it has ${S})`, 'bad-argument');
  const K = Math.min(numExpression, E);
  const base = new Float32Array(V * 3);
  for (let r = 0; r < V * 3; r++) {
    let x = model.vTemplate[r];
    for (let l = 0; l < shape.length; l++) x += shape[l] * model.shapedirs[r * S + l];
    base[r] = x;
  }
  const exprBasis = new Float32Array(K * V * 3);
  for (let r = 0; r < V * 3; r++) for (let k = 0; k < K; k++) exprBasis[k * V * 3 + r] = model.exprdirs[r * E + k];
  const joints = new Float32Array(J * 3);
  for (let j = 0; j < J; j++) {
    for (let v = 0; v < V; v++) {
      const w = model.jRegressor[j * V + v];
      if (w !== 0) for (let c = 0; c < 3; c++) joints[3 * j + c] += w * base[3 * v + c];
    }
  }
  return {
    base, exprBasis, exprCount: K, joints, parents: Int32Array.from(model.parents), weights: Float32Array.from(model.lbsWeights),
    faces: model.faces, uvs: model.uv?.uvs, uvFaces: model.uv?.uvFaces, expressionNames: model.expressionNames,
  };
}
