// Posing the mesh of a preview: FLAME forward for one frame's expression and pose, then DECA's placement
// (orthProject → placeInImage with the reference's crop transform, reference-pipeline.md §2.6, §1.4), the frame
// every guidance map of the same sequence is drawn in.

import { flameForward, prepareFlame, type FlameModelData, type PreparedFlame } from '../flame';
import { orthProject, placeInImage } from '../render';

/** What stays fixed over a preview: identity, camera and crop (all from the reference, as in Eq. 1). */
export interface PreviewRig {
  model: FlameModelData;
  shape: ArrayLike<number>;
  /** DECA camera [s, tx, ty] (224-crop convention). */
  cam: ArrayLike<number>;
  /** DECA's `(T⁻¹)ᵀ` (9 numbers), or null: the crop frame fills the image (the demo path). */
  tform: ArrayLike<number> | null;
  width: number;
  height: number;
}

/** One frame's articulation. */
export interface PreviewFrameParams {
  expression: ArrayLike<number>;
  pose: ArrayLike<number>;
}

export class MeshPoser {
  private readonly prep: PreparedFlame;
  private readonly shape: Float32Array;
  private readonly expression: Float32Array;
  private readonly pose: Float32Array;
  private readonly trans: Float32Array;

  constructor(readonly rig: PreviewRig) {
    const m = rig.model;
    const numShape = Math.max(1, Math.min(rig.shape.length, m.numShape));
    this.prep = prepareFlame(m, { numShape, numExpression: m.numExpression, landmarks: false });
    this.shape = new Float32Array(numShape);
    for (let i = 0; i < Math.min(numShape, rig.shape.length); i++) this.shape[i] = rig.shape[i]!;
    this.expression = new Float32Array(m.numExpression);
    this.pose = new Float32Array(m.numJoints * 3);
    this.trans = new Float32Array(m.numVertices * 3);
  }

  /**
   * World vertices (posed, before the camera) and their placement in image NDC (DECA convention: +x right, +y
   * down, smaller z nearer; z is the crop-NDC depth `−s·z`). Missing trailing parameters count as 0.
   */
  posed(p: PreviewFrameParams, ndc: Float32Array = new Float32Array(this.trans.length)): { world: Float32Array; ndc: Float32Array } {
    this.expression.fill(0);
    this.pose.fill(0);
    for (let i = 0; i < Math.min(p.expression.length, this.expression.length); i++) this.expression[i] = p.expression[i]!;
    for (let i = 0; i < Math.min(p.pose.length, this.pose.length); i++) this.pose[i] = p.pose[i]!;
    const out = flameForward(this.prep, { batchSize: 1, shape: this.shape, expression: this.expression, pose: this.pose });
    const world = out.vertices as Float32Array;
    this.place(world, ndc);
    return { world, ndc };
  }

  /** World points → image NDC with the rig's camera and crop. */
  place(world: Float32Array | Float64Array, ndc: Float32Array = new Float32Array(world.length)): Float32Array {
    const { cam, tform, width, height } = this.rig;
    if (!tform) return orthProject(world, cam, ndc);
    const trans = world.length === this.trans.length ? this.trans : new Float32Array(world.length);
    orthProject(world, cam, trans);
    return placeInImage(trans, tform, width, height, ndc);
  }

  /** Image pixels per world metre (orthographic, so the same everywhere) and crop-NDC depth per image pixel. */
  scale(): { pxPerMetre: number; depthPerPx: number } {
    const p = this.place(Float64Array.of(0, 0, 0, 0.01, 0, 0));
    const px = Math.hypot(((p[3]! - p[0]!) * this.rig.width) / 2, ((p[4]! - p[1]!) * this.rig.height) / 2) / 0.01;
    return { pxPerMetre: px, depthPerPx: Math.abs(this.rig.cam[0]!) / px };
  }
}
