/**
 * FLAME sequences as the renderer takes them: per-frame expression and pose with the reference's shape, camera and
 * appearance; the renderer's fixed assets built from them (shared by the guidance stage and data preparation, so both
 * render byte-identical maps); and the demo's own content (framing camera, studio light and backdrop, synthetic
 * driving motion), labelled as such wherever it shows.
 */
import { MagicPortraitError } from '../errors';
import type { Image } from '../io/image';
import { flameTexAlbedo, type FlameModelData } from '../flame';
import type { GuidanceAssets, GuidanceMapKind, GuidanceMaps } from './guidance-maps';

/** Per-frame FLAME parameters with everything a renderer needs from the reference (shape, camera, appearance). */
export interface FlameSequence {
  model: FlameModelData;
  /** Identity β (from the reference). */
  shape: ArrayLike<number>;
  frames: { expression: ArrayLike<number>; pose: ArrayLike<number> }[];
  /** Orthographic camera [s, tx, ty] in DECA's 224-crop convention (from the reference). */
  cam: readonly number[];
  /** The reference's crop transform (9 numbers, §1.4); null/absent draws in the crop frame. */
  tform?: ArrayLike<number> | null;
  /** Texture-space coefficients (from the reference). */
  albedoCode?: ArrayLike<number>;
  /** 9×3 spherical-harmonics light (from the reference). */
  light?: ArrayLike<number>;
  fps?: number;
  /** Where the sequence came from, shown with its displays (e.g. 'synthetic demo motion'). */
  label?: string;
}

/** A soft studio light: mostly ambient, a little from above-front. */
export const DEFAULT_LIGHT: readonly number[] = [3.2, 3.2, 3.2, 0, 0, 0, 0.45, 0.45, 0.45, 0.25, 0.25, 0.25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.2, -0.2, -0.2];

/**
 * The renderer's fixed assets for a model and an appearance: the faces, and for `render` maps the UVs, the FLAMETex
 * albedo of the code (truncated to 50 components) and the light (DEFAULT_LIGHT when none).
 */
export function sequenceAssets(model: FlameModelData, appearance: { albedoCode?: ArrayLike<number> | null; light?: ArrayLike<number> | null }, maps: readonly GuidanceMapKind[]): GuidanceAssets {
  if (!maps.includes('render')) return { faces: model.faces };
  if (!model.texture || !model.uv) throw new MagicPortraitError(`The ${model.name} has no texture space or UVs: render maps need both.`, 'missing-texture');
  const code = new Float32Array(Math.min(model.texture.numComponents, 50));
  if (appearance.albedoCode) code.set(Array.from(appearance.albedoCode).slice(0, code.length));
  const albedo = Float32Array.from(flameTexAlbedo(model.texture, code, 1));
  return { faces: model.faces, uvCoords: Float32Array.from(model.uv.uvs), uvFaces: model.uv.uvFaces, albedo, light: appearance.light ?? DEFAULT_LIGHT };
}

/** A camera that fills the 224 crop with the model's neutral head, as a fitted portrait camera would. */
export function framingCamera(model: FlameModelData, fill = 0.9): [number, number, number] {
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  const v = model.vTemplate;
  for (let i = 0; i < v.length; i += 3) {
    // The face region: the front half of the head.
    if (v[i + 2]! < 0) continue;
    minX = Math.min(minX, v[i]!);
    maxX = Math.max(maxX, v[i]!);
    minY = Math.min(minY, v[i + 1]!);
    maxY = Math.max(maxY, v[i + 1]!);
  }
  const s = (2 * fill) / Math.max(maxX - minX, maxY - minY);
  return [s, -(minX + maxX) / 2, -(minY + maxY) / 2];
}

/**
 * Synthetic driving motion for the demo head (no video needed): the jaw opens and closes, the head turns left and
 * right and nods, a smile comes and goes, the eyes blink. Labelled as synthetic wherever it shows.
 */
export function demoDrivingSequence(model: FlameModelData, options: { frames?: number; fps?: number } = {}): FlameSequence {
  const n = options.frames ?? 48;
  const E = model.numExpression;
  const J = model.numJoints;
  const names = model.expressionNames ?? {};
  const jaw = model.jointNames.indexOf('jaw');
  const frames = Array.from({ length: n }, (_, k) => {
    const t = k / n;
    const expression = new Float32Array(E);
    const pose = new Float32Array(J * 3);
    pose[1] = 0.45 * Math.sin(2 * Math.PI * t); // yaw ±26°
    pose[0] = 0.12 * Math.sin(4 * Math.PI * t); // nod
    if (jaw >= 0) pose[3 * jaw] = 0.18 * Math.max(0, Math.sin(6 * Math.PI * t));
    if (names.smile !== undefined) expression[names.smile] = 1.5 * Math.max(0, Math.sin(2 * Math.PI * t + 1));
    if (names.blink !== undefined) expression[names.blink] = Math.abs(k % 24 - 12) < 2 ? 1 : 0;
    return { expression, pose };
  });
  return { model, shape: new Float32Array(0), frames, cam: framingCamera(model), light: DEFAULT_LIGHT, fps: options.fps ?? 24, label: 'synthetic demo motion' };
}

/**
 * The shaded render of one frame over the demo's studio backdrop (a vertical grey gradient), blended by the coverage
 * mask: how the demo portrait and the demo driving video look.
 */
export function onStudioBackdrop(maps: GuidanceMaps): Image {
  const { width, height, render, mask } = maps;
  if (!render || !mask) throw new MagicPortraitError('The studio composite needs the render and mask maps.', 'bad-argument');
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const bg = 150 + Math.round((60 * (height - y)) / height);
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const a = mask[i]! / 255;
      for (let c = 0; c < 3; c++) data[3 * i + c] = Math.round(a * render[3 * i + c]! + (1 - a) * bg);
    }
  }
  return { width, height, channels: 3, data };
}
