/**
 * FLAME sequences → guidance maps, as a notebook stage: runs the FLAME forward for every frame, renders depth /
 * normal / shaded render (and optionally landmark maps and masks) with the reference conventions on worker threads,
 * and shows them in the synchronised frame scrubber.
 */
import { checkCancelled, currentRun, newProgress } from '../runtime/context';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { FrameSequenceDisplay, type RgbImage } from '../runtime/frames';
import type { MimeBundle } from '../runtime/protocol';
import { flameForward, flameTexAlbedo, prepareFlame, type FlameModelData } from '../flame';
import { renderSequence, type GuidanceFrame, type GuidanceMapKind, type GuidanceMaps } from '../render';
import { MagicPortraitError } from '../errors';
import { stageCache } from './cache';
import type { AlignedSequence } from '../fit';
import { createDemoHead } from '../flame';
import type { Image } from '../io/image';

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

/** A soft studio light: mostly ambient, a little from above-front. */
export const DEFAULT_LIGHT: readonly number[] = [3.2, 3.2, 3.2, 0, 0, 0, 0.45, 0.45, 0.45, 0.25, 0.25, 0.25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.2, -0.2, -0.2];

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

export interface GuidanceOptions {
  /** Output size in pixels (square; default 512, the reference's). */
  size?: number;
  maps?: readonly GuidanceMapKind[];
  /** Driving frames to show beside the maps in the scrubber. */
  driving?: readonly RgbImage[];
}

export class GuidanceSequence implements Displayable {
  constructor(
    readonly size: number,
    readonly frames: GuidanceMaps[],
    readonly fps: number,
    readonly label?: string,
    readonly driving?: readonly RgbImage[],
  ) {}

  get length(): number {
    return this.frames.length;
  }

  /** One map type as images, for the encoders and the sampler (`{ maps: g.maps() }`). */
  images(kind: 'depth' | 'normal' | 'render' | 'landmarks' | 'mask'): RgbImage[] {
    return this.frames.map((f) => {
      const data = f[kind];
      if (!data) throw new MagicPortraitError(`The guidance was rendered without '${kind}' maps.`, 'bad-argument');
      return { width: f.width, height: f.height, channels: kind === 'mask' ? 1 : 3, data };
    });
  }

  /** The three guidance types of the paper, as the sampler takes them. */
  maps(): { depth: RgbImage[]; normal: RgbImage[]; render: RgbImage[] } {
    return { depth: this.images('depth'), normal: this.images('normal'), render: this.images('render') };
  }

  [DISPLAY](ctx: DisplayContext): Promise<MimeBundle> {
    const kinds = (['depth', 'normal', 'render', 'landmarks'] as const).filter((k) => this.frames[0]?.[k]);
    const tracks = [
      ...(this.driving ? [{ name: 'driving', frames: this.driving }] : []),
      ...kinds.map((k) => ({ name: k, frames: this.images(k) })),
    ];
    return new FrameSequenceDisplay(tracks, { title: `Guidance maps: ${this.length} frames at ${this.size}×${this.size}`, fps: this.fps, ...(this.label ? { label: this.label } : {}) })[DISPLAY](ctx);
  }
}

const RENDER_STAGE = { name: 'renderGuidance', version: 1 };

/**
 * Renders the guidance maps of every frame of a FLAME sequence (worker threads, live progress, cancellable). Cached
 * by the stage cache on the sequence's content, so re-running an unchanged cell — even after a kernel restart — is
 * instant.
 */
export async function renderGuidanceSequence(seq: FlameSequence, options: GuidanceOptions = {}): Promise<GuidanceSequence> {
  const { driving, ...renderOptions } = options;
  const frames = await stageCache().run(RENDER_STAGE, seq, renderOptions, async () => (await renderFrames(seq, renderOptions)).frames);
  return new GuidanceSequence(options.size ?? 512, frames, seq.fps ?? 24, seq.label, driving);
}

async function renderFrames(seq: FlameSequence, options: Omit<GuidanceOptions, 'driving'>): Promise<{ frames: GuidanceMaps[] }> {
  const { model } = seq;
  const size = options.size ?? 512;
  const maps = options.maps ?? ['depth', 'normal', 'render', 'mask'];
  const n = seq.frames.length;
  if (!n) throw new MagicPortraitError('The sequence has no frames.', 'bad-input');
  const E = model.numExpression;
  const J = model.numJoints;
  const prep = prepareFlame(model, { numShape: Math.max(1, Math.min(seq.shape.length, model.numShape)), numExpression: E });
  const B = Math.min(n, 16);
  const geometry: GuidanceFrame[] = [];
  const progress = newProgress('Rendering guidance maps', n, 'frames');
  try {
    for (let start = 0; start < n; start += B) {
      checkCancelled('guidance rendering');
      const b = Math.min(B, n - start);
      const shape = new Float32Array(b * prep.numShape);
      const expression = new Float32Array(b * E);
      const pose = new Float32Array(b * J * 3);
      for (let i = 0; i < b; i++) {
        const f = seq.frames[start + i]!;
        for (let l = 0; l < Math.min(seq.shape.length, prep.numShape); l++) shape[i * prep.numShape + l] = seq.shape[l]!;
        expression.set(Array.from(f.expression).slice(0, E), i * E);
        pose.set(Array.from(f.pose).slice(0, J * 3), i * J * 3);
      }
      const out = flameForward(prep, { batchSize: b, shape, expression, pose });
      const V3 = model.numVertices * 3;
      for (let i = 0; i < b; i++)
        geometry.push({
          verts: Float32Array.from(out.vertices.subarray(i * V3, (i + 1) * V3)),
          ...(out.landmarks3d ? { landmarks: Float32Array.from(out.landmarks3d.subarray(i * 204, (i + 1) * 204)) } : {}),
        });
    }
    const needsAlbedo = maps.includes('render');
    let albedo: Float32Array | undefined;
    if (needsAlbedo) {
      if (!model.texture || !model.uv) throw new MagicPortraitError(`The ${model.name} has no texture space or UVs: render maps need both.`, 'missing-texture');
      const code = new Float32Array(Math.min(model.texture.numComponents, 50));
      if (seq.albedoCode) code.set(Array.from(seq.albedoCode).slice(0, code.length));
      albedo = Float32Array.from(flameTexAlbedo(model.texture, code, 1));
    }
    const result = await renderSequence(geometry, {
      assets: {
        faces: model.faces,
        ...(needsAlbedo ? { uvCoords: Float32Array.from(model.uv!.uvs), uvFaces: model.uv!.uvFaces, albedo, light: seq.light ?? DEFAULT_LIGHT } : {}),
      },
      width: size,
      height: size,
      cam: seq.cam,
      tform: seq.tform ?? null,
      maps,
      signal: currentRun().signal,
      onProgress: (done) => progress.update(done),
    });
    progress.finish();
    return { frames: result.frames };
  } catch (e) {
    progress.finish((e as Error).message);
    throw e;
  }
}

/**
 * A portrait of a model for the reference slot when the user gives none: the neutral head's shaded render on a
 * soft grey backdrop (alpha from the coverage mask). Labelled wherever it is used.
 */
export async function demoPortrait(model: FlameModelData, size = 512): Promise<RgbImage> {
  const seq: FlameSequence = {
    model,
    shape: new Float32Array(0),
    frames: [{ expression: new Float32Array(model.numExpression), pose: new Float32Array(model.numJoints * 3) }],
    cam: framingCamera(model),
    light: DEFAULT_LIGHT,
  };
  const g = await renderGuidanceSequence(seq, { size, maps: ['render', 'mask'] });
  return onStudioBackdrop(g.frames[0]!);
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

/**
 * The aligned sequence of `mp.fit.align` (reference shape, albedo, light, camera and crop; driving rotation,
 * expression and jaw) as a renderable FLAME sequence. The renders are placed with the reference's crop transform in
 * the reference image (512×512 in the reference pipeline).
 */
export function sequenceFromAligned(seq: AlignedSequence, model: FlameModelData = createDemoHead()): FlameSequence {
  if (seq.modelName !== model.name)
    throw new MagicPortraitError(`The sequence was fitted with '${seq.modelName}' but the model given is '${model.name}'.`, 'bad-argument');
  const F = seq.numFrames;
  const E = seq.numExpression;
  const P = 3 * seq.numJoints;
  const same = (a: Float64Array, n: number) => {
    for (let f = 1; f < F; f++) for (let i = 0; i < n; i++) if (a[f * n + i] !== a[i]) return false;
    return true;
  };
  if (!same(seq.cam, 3) || !same(seq.decaTform, 9))
    throw new MagicPortraitError(
      `This sequence has a camera per frame (${seq.variant}); the guidance stage renders with the reference's single camera and crop. Use the default alignment, or render frames one by one.`,
      'unsupported',
    );
  return {
    model,
    shape: seq.shape,
    frames: Array.from({ length: F }, (_, f) => ({ expression: seq.expression.subarray(f * E, (f + 1) * E), pose: seq.pose.subarray(f * P, (f + 1) * P) })),
    cam: Array.from(seq.cam.subarray(0, 3)),
    tform: Array.from(seq.decaTform.subarray(0, 9)),
    ...(seq.albedo ? { albedoCode: seq.albedo } : {}),
    ...(seq.light ? { light: seq.light } : {}),
    fps: seq.fps,
    label: `aligned: ${seq.variant}`,
  };
}

export function isAlignedSequence(v: unknown): v is AlignedSequence {
  return !!v && typeof v === 'object' && 'decaTform' in v && 'provenance' in v && 'numFrames' in v;
}
