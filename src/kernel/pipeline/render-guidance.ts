/**
 * FLAME sequences → guidance maps, as a notebook stage: runs the FLAME forward for every frame, renders depth /
 * normal / shaded render (and optionally landmark maps and masks) with the reference conventions on worker threads,
 * and shows them in the synchronised frame scrubber.
 */
import { checkCancelled, currentRun, newProgress } from '../runtime/context';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import type { AnyImage, Image } from '../io/image';
import type { MimeBundle, ArtifactRef, FramesOutput } from '../../shared/outputs';
import { flameForward, prepareFlame, type FlameModelData, createDemoHead } from '../flame';
import { renderSequence, RenderPool, type GuidanceFrame, type GuidanceMapKind, type GuidanceMaps } from '../render';
import { DEFAULT_LIGHT, framingCamera, onStudioBackdrop, sequenceAssets, type FlameSequence } from '../render/flame-sequence';
// the sequence type and the demo's content live in render/ (pure); the stage's callers take them from here too
export { DEFAULT_LIGHT, demoDrivingSequence, framingCamera, onStudioBackdrop, type FlameSequence } from '../render/flame-sequence';
import { encodePng } from '../io/png';
import { MIME } from '../../shared/outputs';
import { FrameFileReader, FrameFileWriter, lazyArray } from './frame-file';
import { CONTENT_KEY } from '../io/content-hash';
import { alignedInCrop, portraitCrop } from '../fit/crop';
import { type PortraitCrop } from '../fit/types';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';
import { stageCache } from './cache';
import type { AlignedSequence } from '../fit';
import { jpegRoundTrip } from '../io/jpeg-libjpeg';

export interface GuidanceOptions {
  /** Output size in pixels (square; default 512, the reference's). */
  size?: number;
  /**
   * 'reference': the maps as the official pipeline stores them for `.jpg` driving frames (§5.6) — each depth / normal /
   * render map through a quality-75, 4:2:0 JPEG (Pillow's defaults, io/jpeg-libjpeg.ts) and read back as the model
   * reads it. 'studio' (default): lossless 8-bit maps.
   */
  preset?: 'studio' | 'reference';
  /** Override the preset's choice: true = the JPEG round trip, false = lossless. */
  jpeg?: boolean;
  maps?: readonly GuidanceMapKind[];
  /** Driving frames to show beside the maps in the scrubber. */
  driving?: readonly AnyImage[];
  /** At most this many frames in the scrubber display (evenly spaced; default 300): a long clip's notebook output
   * stays small and quick to write. The sequence itself keeps every frame. */
  displayFrames?: number;
}

/** Where a sequence's frames are: in memory (small sequences, tests), or in a frame file of the stage cache. */
interface MapSource {
  count: number;
  get(i: number): GuidanceMaps;
}

const PLANE_CHANNELS: Record<GuidanceMapKind, number> = { depth: 3, normal: 3, render: 3, landmarks: 3, mask: 1 };

/** A frame file's record → GuidanceMaps. */
interface GuidanceFileMeta {
  size: number;
  kinds: GuidanceMapKind[];
  covered: number[];
}

function fileSource(reader: FrameFileReader<GuidanceFileMeta>): MapSource {
  const { size, kinds, covered } = reader.meta;
  // the last frame read: displays and encoders ask for one frame's maps kind by kind
  let last: { i: number; maps: GuidanceMaps } | null = null;
  return {
    count: reader.count,
    get(i) {
      if (last?.i === i) return last.maps;
      const planes = reader.read(i);
      const m: GuidanceMaps = { width: size, height: size, covered: covered[i] ?? 0 };
      kinds.forEach((k, j) => (m[k] = planes[j]));
      last = { i, maps: m };
      return m;
    },
  };
}

/** Closes the frame files of sequences that are no longer referenced (re-run cells leave old sequences behind). */
const openFiles = new FinalizationRegistry<FrameFileReader<GuidanceFileMeta>>((r) => r.close());

export class GuidanceSequence implements Displayable {
  private readonly source: MapSource;
  private readonly inMemory: GuidanceMaps[] | null;

  constructor(
    readonly size: number,
    frames: GuidanceMaps[] | MapSource,
    readonly fps: number,
    readonly label?: string,
    readonly driving?: readonly AnyImage[],
    /** The photo crop the maps are placed in (a non-square photo's 512² generation crop), or null. */
    readonly crop: PortraitCrop | null = null,
    private readonly displayFrames = 300,
  ) {
    this.inMemory = Array.isArray(frames) ? frames : null;
    this.source = Array.isArray(frames) ? { count: frames.length, get: (i) => frames[i]! } : frames;
  }

  get length(): number {
    return this.source.count;
  }

  /** The maps of every frame. Long sequences read each frame from the stage cache when it is accessed. */
  get frames(): GuidanceMaps[] {
    return this.inMemory ?? lazyArray(this.source.count, (i) => this.source.get(i));
  }

  /** One frame's maps. */
  frame(i: number): GuidanceMaps {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`frame ${i} of ${this.length}`);
    return this.source.get(i);
  }

  /** One map type as images, for the encoders and the sampler (`{ maps: g.maps() }`); read frame by frame. */
  images(kind: 'depth' | 'normal' | 'render' | 'landmarks' | 'mask'): AnyImage[] {
    const first = this.length ? this.source.get(0) : null;
    if (first && !first[kind]) throw new MagicPortraitError(`The guidance was rendered without '${kind}' maps.`, 'bad-argument');
    const image = (f: GuidanceMaps): AnyImage => ({ width: f.width, height: f.height, channels: kind === 'mask' ? 1 : 3, data: f[kind]! });
    if (this.inMemory) return this.inMemory.map(image);
    return lazyArray(this.length, (i) => image(this.source.get(i)));
  }

  /** The three guidance types of the paper, as the sampler takes them. */
  maps(): { depth: AnyImage[]; normal: AnyImage[]; render: AnyImage[] } {
    return { depth: this.images('depth'), normal: this.images('normal'), render: this.images('render') };
  }

  async [DISPLAY](ctx: DisplayContext): Promise<MimeBundle> {
    const n = this.length;
    const first = n ? this.source.get(0) : null;
    const kinds = (['depth', 'normal', 'render', 'landmarks'] as const).filter((k) => first?.[k]);
    // every k-th frame of a long sequence (each frame read once, all its maps encoded together)
    const shown = Math.max(1, Math.min(n, this.displayFrames));
    const picks = Array.from({ length: shown }, (_, j) => Math.min(n - 1, Math.floor((j * n) / shown)));
    const tracks: FramesOutput['tracks'] = [];
    if (this.driving) {
      const refs = picks.filter((i) => i < this.driving!.length).map((i) => ctx.artifacts.put(encodePng(this.driving![i]!), 'png', 'image/png'));
      tracks.push({ name: 'driving', width: this.driving[0]?.width ?? 0, height: this.driving[0]?.height ?? 0, frames: refs });
    }
    const byKind = kinds.map((k) => ({ name: k as string, width: this.size, height: this.size, frames: [] as ArtifactRef[] }));
    for (const i of picks) {
      const f = this.source.get(i);
      kinds.forEach((k, j) => byKind[j]!.frames.push(ctx.artifacts.put(encodePng({ width: f.width, height: f.height, channels: 3, data: f[k]! }), 'png', 'image/png')));
    }
    tracks.push(...byKind);
    const every = shown < n ? `, every ${(n / shown).toFixed(1).replace(/\.0$/, '')}th frame shown` : '';
    const title = `Guidance maps: ${n} frames at ${this.size}×${this.size}${this.crop ? ' (the photo\'s 512² generation crop)' : ''}${every}`;
    const out: FramesOutput = { title, fps: shown < n ? Math.max(1, Math.round((this.fps * shown) / n)) : this.fps, tracks, ...(this.label ? { label: this.label } : {}) };
    return { [MIME.frames]: out, 'text/plain': `${title}${this.label ? ` (${this.label})` : ''} — ${tracks.map((t) => `${t.name}: ${t.frames.length} frames ${t.width}×${t.height}`).join('; ')}` };
  }
}

const RENDER_STAGE = { name: 'renderGuidance', version: 2 };

/** Frames per FLAME-forward + render chunk: only one chunk's geometry is ever in memory. */
const CHUNK = 64;

/**
 * Renders the guidance maps of every frame of a FLAME sequence (worker threads, live progress, cancellable),
 * streaming each finished frame into a frame file of the stage cache, so memory stays bounded however long the
 * sequence, and re-running an unchanged cell — even after a kernel restart — is instant.
 */
export async function renderGuidanceSequence(seq: FlameSequence, options: GuidanceOptions & { crop?: PortraitCrop | null } = {}): Promise<GuidanceSequence> {
  const { driving, crop, displayFrames, preset, jpeg, ...renderOptions } = options;
  if (preset !== undefined && preset !== 'studio' && preset !== 'reference') throw new MagicPortraitError(`renderGuidance: preset must be 'studio' or 'reference', got '${String(preset)}'`, 'bad-argument');
  const viaJpeg = jpeg ?? preset === 'reference';
  const size = renderOptions.size ?? 512;
  const maps = [...(renderOptions.maps ?? ['depth', 'normal', 'render', 'mask'])];
  if (!seq.frames.length) throw new MagicPortraitError('The sequence has no frames.', 'bad-input');
  const cache = stageCache();
  const produce = async (path: string) => {
    const writer = new FrameFileWriter<GuidanceFileMeta>(path, maps.map((k) => size * size * PLANE_CHANNELS[k]));
    const covered: number[] = [];
    const write = (m: GuidanceMaps) => {
      writer.append(maps.map((k) => m[k]!));
      covered.push(m.covered);
    };
    // the JPEG round trip is asynchronous: a chunk's frames are copied, then sent through it and written
    const pending: GuidanceMaps[] = [];
    const progress = viaJpeg ? newProgress('JPEG q75 round trip of the maps', seq.frames.length, 'frames') : null;
    try {
      await renderFrames(seq, { size, maps }, (m) => {
        if (!viaJpeg) return write(m);
        const copy: GuidanceMaps = { width: m.width, height: m.height, covered: m.covered };
        for (const k of maps) copy[k] = Uint8Array.from(m[k]!);
        pending.push(copy);
      }, async () => {
        for (const m of pending.splice(0)) {
          write((await jpegMaps([m], false))[0]!);
          progress?.tick();
        }
      });
      progress?.finish();
      writer.finish({ size, kinds: maps, covered });
    } catch (e) {
      progress?.finish((e as Error).message);
      writer.abort();
      throw e;
    }
  };
  const key = { size, maps, jpeg: viaJpeg };
  let path: string;
  let temp: string | null = null;
  if (cache.enabled) path = (await cache.runFile(RENDER_STAGE, seq, key, 'frames', produce, FrameFileReader.isComplete)).path;
  else {
    temp = mkdtempSync(join(tmpdir(), 'mp-guidance-'));
    path = join(temp, 'guidance.frames');
    await produce(path);
  }
  const reader = new FrameFileReader<GuidanceFileMeta>(path);
  // the reader holds the file open: a later eviction (or the temp folder's removal) cannot pull it away
  if (temp) rmSync(temp, { recursive: true, force: true });
  const label = viaJpeg ? `${seq.label ? `${seq.label}; ` : ''}maps through JPEG q75 (as the reference stores them)` : seq.label;
  const g = new GuidanceSequence(size, fileSource(reader), seq.fps ?? 24, label, driving, crop ?? null, displayFrames);
  openFiles.register(g, reader);
  Object.defineProperty(g, CONTENT_KEY, { value: `guidance:${cache.key(RENDER_STAGE, seq, key)}` });
  return g;
}

/** Each depth / normal / render map through Pillow's quality-75 JPEG and back (the reference's `.jpg` guidance files). */
export async function jpegMaps(frames: GuidanceMaps[], showProgress = true): Promise<GuidanceMaps[]> {
  const progress = showProgress ? newProgress('JPEG q75 round trip of the maps', frames.length, 'frames') : null;
  const out: GuidanceMaps[] = [];
  for (const f of frames) {
    checkCancelled('guidance JPEG round trip');
    const g: GuidanceMaps = { ...f };
    for (const k of ['depth', 'normal', 'render'] as const) {
      const data = f[k];
      if (data) g[k] = (await jpegRoundTrip({ width: f.width, height: f.height, channels: 3, data })).data;
    }
    out.push(g);
    progress?.tick();
  }
  progress?.finish();
  return out;
}

async function renderFrames(seq: FlameSequence, options: { size: number; maps: GuidanceMapKind[] }, onFrame: (maps: GuidanceMaps) => void, afterChunk?: () => Promise<void>): Promise<void> {
  const { model } = seq;
  const { size, maps } = options;
  const n = seq.frames.length;
  const E = model.numExpression;
  const J = model.numJoints;
  const prep = prepareFlame(model, { numShape: Math.max(1, Math.min(seq.shape.length, model.numShape)), numExpression: E });
  const B = Math.min(n, 16);
  const progress = newProgress('Rendering guidance maps', n, 'frames');
  const assets = sequenceAssets(model, { albedoCode: seq.albedoCode ?? null, light: seq.light ?? null }, maps);
  const pool = new RenderPool(Math.max(1, Math.min(availableParallelism(), n)));
  try {
    for (let c0 = 0; c0 < n; c0 += CHUNK) {
      const c1 = Math.min(n, c0 + CHUNK);
      const geometry: GuidanceFrame[] = [];
      for (let start = c0; start < c1; start += B) {
        checkCancelled('guidance rendering');
        const b = Math.min(B, c1 - start);
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
      await renderSequence(geometry, {
        assets, width: size, height: size, cam: seq.cam, tform: seq.tform ?? null, maps, pool, keep: false,
        signal: currentRun().signal,
        onFrame: (_i, m) => onFrame(m),
        onProgress: (done) => progress.update(c0 + done),
      });
      await afterChunk?.();
    }
    progress.finish();
  } catch (e) {
    progress.finish((e as Error).message);
    throw e;
  } finally {
    await pool.close();
  }
}

/**
 * A portrait of a model for the reference slot when the user gives none: the neutral head's shaded render on a
 * soft grey backdrop (alpha from the coverage mask). Labelled wherever it is used.
 */
export async function demoPortrait(model: FlameModelData, size = 512): Promise<AnyImage> {
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

export interface PlaceOptions {
  /** Output size (default: the crop's 512, or the photo's size for a square photo). */
  size?: number;
  /**
   * Where the renders go. 'auto' (default): a square photo's own frame (scaled to `size` when given), else the
   * photo's 512² generation crop (§1.1) as the method needs it; 'generation': the generation crop for any photo;
   * 'none': the photo's own frame (square photos only); or a crop of your own.
   */
  crop?: 'auto' | 'generation' | 'none' | PortraitCrop;
}

/**
 * An aligned sequence brought into the square frame guidance is rendered in (see PlaceOptions), and the crop it was
 * moved into (null when it stays in the photo's own frame).
 */
export function placeAligned(seq: AlignedSequence, options: PlaceOptions = {}): { sequence: AlignedSequence; crop: PortraitCrop | null } {
  const mode = options.crop ?? 'auto';
  const { size } = options;
  const square = seq.width === seq.height;
  if (typeof mode === 'object') return { sequence: alignedInCrop(seq, mode), crop: mode };
  if (seq.placedIn === 'crop' && mode !== 'none') {
    if (size !== undefined && size !== seq.width) throw new MagicPortraitError(`This sequence is already placed in a ${seq.width}×${seq.height} crop; render it at that size, or align again and pass { size }.`, 'bad-argument');
    return { sequence: seq, crop: seq.crop ?? null };
  }
  if (mode === 'none' || (mode === 'auto' && square)) {
    if (!square) throw new MagicPortraitError(`crop: 'none' renders in the reference photo itself, which is ${seq.width}×${seq.height}; the maps are square. Use the default (the photo's 512² generation crop).`, 'bad-argument');
    if (size === undefined || size === seq.width) return { sequence: seq, crop: null };
    // a square photo at another size: the same frame, uniformly scaled
    return { sequence: alignedInCrop(seq, { ...scaleCrop(seq.width, size), box: { x1: 0, y1: 0, x2: seq.width, y2: seq.height } }), crop: null };
  }
  if (!seq.crop)
    throw new MagicPortraitError(`The reference photo is ${seq.width}×${seq.height} and its fit records no face box to place the 512² generation crop; fit the photo with mp.fit.portrait(image), or pass { crop } yourself.`, 'bad-argument');
  const crop = size === undefined || size === seq.crop.size ? seq.crop : portraitCrop(seq.crop.box, seq.crop.source, size);
  return { sequence: alignedInCrop(seq, crop), crop };
}

/** The uniform scaling of a square W-pixel image to `size` pixels (pixel centres), as a crop. */
function scaleCrop(W: number, size: number): Omit<PortraitCrop, 'box'> {
  const k = size / W;
  const matrix: [number, number, number, number, number, number] = [k, 0, 0.5 * k - 0.5, 0, k, 0.5 * k - 0.5];
  return { matrix, inverse: [1 / k, 0, (0.5 - 0.5 * k) / k, 0, 1 / k, (0.5 - 0.5 * k) / k], size, source: { width: W, height: W } };
}

export function isAlignedSequence(v: unknown): v is AlignedSequence {
  return !!v && typeof v === 'object' && 'decaTform' in v && 'provenance' in v && 'numFrames' in v;
}

/**
 * `mp.renderGuidance`: a FLAME sequence as it is, or an aligned sequence (`mp.fit.align`) placed with the reference's
 * crop transform — in a square photo's own frame, or in a non-square photo's 512² generation crop (the frame the
 * reference pipeline renders in), whose transform the result keeps. This is where fitting joins rendering.
 */
export function renderGuidanceStage(sequence: FlameSequence | AlignedSequence, options: GuidanceOptions & PlaceOptions & { model?: FlameModelData } = {}): Promise<GuidanceSequence> {
  const { model, crop: cropOption, ...rest } = options;
  if (!isAlignedSequence(sequence)) return renderGuidanceSequence(sequence, rest);
  const placed = placeAligned(sequence, { ...(rest.size !== undefined ? { size: rest.size } : {}), ...(cropOption !== undefined ? { crop: cropOption } : {}) });
  return renderGuidanceSequence(sequenceFromAligned(placed.sequence, model), { ...rest, size: placed.sequence.width, crop: placed.crop });
}
