/**
 * Notebook display of a FLAME-structured model: the three.js mesh viewer with sliders for jaw, head pose and the
 * first expression components. The rig arrays go to the artifact store; the renderer re-poses the mesh itself.
 */
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { MIME, type MeshOutput, type MimeBundle } from '../../shared/outputs';
import type { FlameModelData } from '../flame/types';
import { flameRigData } from '../flame/viewer-rig';

export interface MeshViewOptions {
  title?: string;
  /** Identity coefficients baked into the viewed mesh. */
  shape?: ArrayLike<number>;
  /** Initial expression coefficients (sliders start here). */
  expression?: ArrayLike<number>;
  /** Initial pose, J×3 axis-angle (global, neck, jaw, eyes). */
  pose?: ArrayLike<number>;
  /** How many expression sliders (default 10). */
  sliders?: number;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export class MeshView implements Displayable {
  constructor(
    readonly model: FlameModelData,
    readonly options: MeshViewOptions = {},
  ) {}

  [DISPLAY](ctx: DisplayContext): MimeBundle {
    const m = this.model;
    const K = Math.min(this.options.sliders ?? 10, m.numExpression);
    const rig = flameRigData(m, this.options.shape ?? [], K);
    const put = (a: ArrayBufferView) => ctx.artifacts.put(bytesOf(a), 'bin', 'application/octet-stream');
    const pose = Array.from({ length: m.numJoints * 3 }, (_, i) => this.options.pose?.[i] ?? 0);
    const expression = Array.from({ length: K }, (_, i) => this.options.expression?.[i] ?? 0);
    const label = m.kind === 'demo-head' ? 'demo head — not FLAME' : undefined;
    const payload: MeshOutput = {
      title: this.options.title ?? `${m.name}: ${m.numVertices} vertices, ${m.numFaces} faces`,
      ...(label ? { label } : {}),
      vertexCount: m.numVertices,
      faceCount: m.numFaces,
      jointCount: m.numJoints,
      exprCount: K,
      exprNames: sliderNames(m.expressionNames, K),
      arrays: { base: put(rig.base), faces: put(Uint32Array.from(rig.faces)), exprBasis: put(rig.exprBasis), weights: put(rig.weights) },
      joints: Array.from(rig.joints),
      parents: Array.from(rig.parents),
      expression,
      pose,
      jawJoint: m.jointNames.includes('jaw') ? m.jointNames.indexOf('jaw') : 2,
      ...(m.landmarks ? { landmarks: { faces: Array.from(m.landmarks.fullFaces), bary: Array.from(m.landmarks.fullBary) } } : {}),
    };
    return { [MIME.mesh]: payload, 'text/plain': `${payload.title}${label ? ` (${label})` : ''}` };
  }
}

/** Slider labels from the model's name → component table (unnamed components get a number). */
function sliderNames(names: Readonly<Record<string, number>> | undefined, K: number): string[] {
  const out = Array.from({ length: K }, (_, k) => `expression ${k + 1}`);
  for (const [name, k] of Object.entries(names ?? {})) if (k < K) out[k] = name.replace(/_/g, ' ');
  return out;
}

/** The interactive three.js view of a model with jaw / pose / expression sliders. */
export function meshView(model: FlameModelData, options: MeshViewOptions = {}): MeshView {
  return new MeshView(model, options);
}
