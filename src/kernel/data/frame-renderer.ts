/**
 * One frame at a time: the guidance maps of a clip's frame, byte-identical to what `mp.renderGuidance` gives for a
 * one-frame sequence with the same parameters (shape, expression, pose, cam, tform, albedo code, light), without
 * holding the clip. It runs the same steps as pipeline/render-guidance.ts `renderFrames` (the same assets, render/flame-sequence.ts): prepareFlame with the same
 * component counts, the FLAME forward of the frame (batch-invariant: a frame's vertices do not depend on the batch
 * it is computed in), FLAMETex of the code truncated to 50 components, and a GuidanceRenderer whose camera is the
 * frame's (the renderer reads `options.cam` at every render, so one renderer serves the whole clip).
 */
import { MagicPortraitError } from '../errors';
import { flameForward, prepareFlame, type FlameModelData, type PreparedFlame } from '../flame';
import { GuidanceRenderer, type GuidanceMaps } from '../render';
import { sequenceAssets } from '../render/flame-sequence';
import type { DataMapKind } from './layout';

export interface ClipAppearance {
  shape: ArrayLike<number>;
  albedo?: ArrayLike<number> | null;
  light?: ArrayLike<number> | null;
  /** The renderer's tform ((T⁻¹)ᵀ, 9 numbers) or null to draw in the crop frame. */
  tform: ArrayLike<number> | null;
  size: number;
  maps: readonly DataMapKind[];
}

export class ClipFrameRenderer {
  private readonly prep: PreparedFlame;
  private readonly renderer: GuidanceRenderer;
  private readonly cam = new Float64Array(3);
  private readonly shape: Float32Array;
  private readonly expression: Float32Array;
  private readonly pose: Float32Array;
  private readonly V3: number;

  constructor(readonly model: FlameModelData, appearance: ClipAppearance) {
    const E = model.numExpression, J = model.numJoints;
    const ns = Math.min(appearance.shape.length, model.numShape);
    this.prep = prepareFlame(model, { numShape: Math.max(1, ns), numExpression: E });
    this.shape = new Float32Array(this.prep.numShape);
    for (let l = 0; l < Math.min(appearance.shape.length, this.prep.numShape); l++) this.shape[l] = appearance.shape[l]!;
    this.expression = new Float32Array(E);
    this.pose = new Float32Array(J * 3);
    this.V3 = model.numVertices * 3;
    this.renderer = new GuidanceRenderer(
      sequenceAssets(model, { albedoCode: appearance.albedo ?? null, light: appearance.light ?? null }, appearance.maps),
      { width: appearance.size, height: appearance.size, cam: this.cam, tform: appearance.tform ? Array.from(appearance.tform) : null, maps: appearance.maps },
    );
  }

  /** Renders one frame (draws over `out` when given). */
  render(expression: ArrayLike<number>, pose: ArrayLike<number>, cam: ArrayLike<number>, out?: Partial<GuidanceMaps>, label: string | number = 'frame'): GuidanceMaps {
    const E = this.expression.length, P = this.pose.length;
    this.expression.fill(0);
    this.pose.fill(0);
    for (let i = 0; i < Math.min(E, expression.length); i++) this.expression[i] = expression[i]!;
    for (let i = 0; i < Math.min(P, pose.length); i++) this.pose[i] = pose[i]!;
    const r = flameForward(this.prep, { batchSize: 1, shape: this.shape, expression: this.expression, pose: this.pose });
    this.cam[0] = cam[0]!;
    this.cam[1] = cam[1]!;
    this.cam[2] = cam[2]!;
    const verts = Float32Array.from(r.vertices.subarray(0, this.V3));
    const landmarks = r.landmarks3d ? Float32Array.from(r.landmarks3d.subarray(0, 204)) : undefined;
    return this.renderer.render({ verts, ...(landmarks ? { landmarks } : {}) }, out, label);
  }
}

/** The photo of a synthetic frame: the shaded render over the backdrop, blended by the coverage mask (as the demo
 * portrait is made, render/flame-sequence.ts onStudioBackdrop, with the clip's backdrop instead of the grey gradient). */
export function compositeOver(maps: GuidanceMaps, background: Uint8Array, out?: Uint8Array): Uint8Array {
  const { width, height, render, mask } = maps;
  if (!render || !mask) throw new MagicPortraitError('The photo composite needs the render and mask maps.', 'bad-argument');
  const n = width * height;
  if (background.length !== 3 * n) throw new MagicPortraitError(`The backdrop has ${background.length} bytes, expected ${3 * n}`, 'bad-argument');
  const data = out ?? new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    const m = mask[i]!, j = 3 * i;
    // coverage is 0 or 255, where the blend is a copy; the general blend stays for any other value
    if (m === 255) { data[j] = render[j]!; data[j + 1] = render[j + 1]!; data[j + 2] = render[j + 2]!; }
    else if (m === 0) { data[j] = background[j]!; data[j + 1] = background[j + 1]!; data[j + 2] = background[j + 2]!; }
    else {
      const a = m / 255;
      for (let c = 0; c < 3; c++) data[j + c] = Math.round(a * render[j + c]! + (1 - a) * background[j + c]!);
    }
  }
  return data;
}
