/**
 * The Geometric Guidance Encoder as a notebook stage: `mp.gge(guidance, { bundle })` runs the encoders over a
 * guidance sequence (or plain maps) with a live progress bar and cancellation, caches the result in the stage cache,
 * and returns features, their sum and the attention data (`display(enc.attention)` opens the explorer).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { currentRun, newProgress } from '../runtime/context';
import { MagicPortraitError } from '../errors';
import { stageCache } from './cache';
import { resolvePath } from './face';
import type { GuidanceSequence } from './render-guidance';
import { createDemoGGE } from '../gge/demo';
import { GGE_MANIFEST, type GGEBundle, loadGGEBundle } from '../gge/bundle';
import { makeAttentionDisplayable } from './gge-attention';
import type { GuidanceType } from '../../shared/attention';
import { runGGE, type GGEAttention, type GGEResult, type GuidanceImage, type GuidanceMapsByType } from '../gge/run';
import { cacheDir } from '../settings';
import { asRgb, resizeImage } from '../diffusion/image-ops';
import { demoModelStage } from './demo-model';

/** What `mp.gge` takes as guidance: a rendered sequence, or per-type frames (8-bit RGB images or planar float). */
export type GGEInput =
  | GuidanceSequence
  | Partial<Record<GuidanceType, readonly (GuidanceImage | { width: number; height: number; channels: 1 | 3 | 4; data: Uint8Array | Uint8ClampedArray })[]>>;

export interface GGEStageOptions {
  /** A GGE bundle folder (from importGGE), a loaded bundle, 'demo' (default): the untrained demo encoders, or
   *  'demo-model': the trained demo model's encoders (`mp.bundle.demo()`, imported from its guidance_encoder_*.pth;
   *  the demo model itself may be passed too). */
  bundle?: string | GGEBundle | { gge: GGEBundle; manifest: { architecture: { imageSize: number } } };
  /** Resize the maps to size × size (bicubic, as sampling feeds the encoders) first. Default: the model's image size
   *  for the demo model (64², what it was trained on), else the maps' own size. */
  size?: number;
  /** Compute the attention products for the explorer (default true); false runs the faster features-only graphs. */
  attention?: boolean;
  /** Keep each type's features besides their sum (default false: 5 MB per frame and type at 512²). */
  keepTypeFeatures?: boolean;
  /** Use the stage cache (default true). */
  cache?: boolean;
  threads?: number;
}

export const GGE_STAGE = { name: 'gge', version: 1 } as const;

/** `$MAGICPORTRAIT_CACHE/gge-demo`, or ~/.cache/magicportrait/gge-demo. */
export function demoGGEDir(): string {
  return cacheDir('gge-demo');
}

const loaded = new Map<string, GGEBundle>();

/** The demo GGE, built once into the cache (its manifest is written last, so a half-built folder is rebuilt). */
export function demoGGE(dir = demoGGEDir()): GGEBundle {
  const key = resolve(dir);
  let b = loaded.get(key);
  if (b) return b;
  b = existsSync(join(key, GGE_MANIFEST)) ? loadGGEBundle(key) : createDemoGGE(key);
  loaded.set(key, b);
  return b;
}

/** Loads a bundle once per kernel, so its ONNX sessions are reused from cell to cell; the demo model's encoders also
 *  give the size they were trained at. */
export async function resolveGGEBundle(bundle: GGEStageOptions['bundle']): Promise<{ bundle: GGEBundle; size?: number }> {
  if (bundle === 'demo-model') {
    const m = await demoModelStage();
    return { bundle: m.gge, size: m.manifest.architecture.imageSize };
  }
  if (bundle && typeof bundle === 'object' && 'gge' in bundle) return { bundle: bundle.gge, size: bundle.manifest.architecture.imageSize };
  return { bundle: resolveGGEDir(bundle) };
}

function resolveGGEDir(bundle: string | GGEBundle | undefined): GGEBundle {
  if (bundle === undefined || bundle === 'demo') return demoGGE();
  if (typeof bundle !== 'string') return bundle;
  const dir = resolve(resolvePath(bundle));
  let b = loaded.get(dir);
  if (!b) loaded.set(dir, (b = loadGGEBundle(dir)));
  return b;
}

function isSequence(x: unknown): x is GuidanceSequence {
  return typeof (x as GuidanceSequence)?.maps === 'function' && Array.isArray((x as GuidanceSequence).frames);
}

/** A GuidanceSequence that lost its class (e.g. structured-cloned): { size, frames: [{ width, height, depth, … }] }. */
function isPlainSequence(x: unknown): x is { frames: { width: number; height: number; depth?: Uint8Array; normal?: Uint8Array; render?: Uint8Array }[] } {
  const o = x as { size?: unknown; frames?: unknown };
  return typeof o?.size === 'number' && Array.isArray(o.frames);
}

function sequenceMaps(seq: { frames: { width: number; height: number; depth?: Uint8Array; normal?: Uint8Array; render?: Uint8Array }[] }) {
  const out: Partial<Record<GuidanceType, { width: number; height: number; channels: 3; data: Uint8Array }[]>> = {};
  for (const t of ['depth', 'normal', 'render'] as const) {
    if (!seq.frames.every((f) => f[t])) continue;
    out[t] = seq.frames.map((f) => ({ width: f.width, height: f.height, channels: 3, data: f[t]! }));
  }
  return out;
}

/** Normalises the input to the encoder's GuidanceMapsByType (8-bit images become interleaved pixels). */
export function toGuidanceMaps(input: GGEInput): GuidanceMapsByType {
  if (!input || typeof input !== 'object') throw new MagicPortraitError('mp.gge takes a guidance sequence (mp.renderGuidance) or { depth, normal, render } frames.', 'bad-argument');
  const src = isSequence(input) ? input.maps() : isPlainSequence(input) ? sequenceMaps(input) : input;
  const out: GuidanceMapsByType = {};
  for (const [type, frames] of Object.entries(src) as [GuidanceType, readonly unknown[] | undefined][]) {
    if (!frames) continue;
    if (!Array.isArray(frames)) throw new MagicPortraitError(`mp.gge: '${type}' must be an array of frames.`, 'bad-argument');
    out[type] = frames.map((img, f) => {
      const i = img as { width: number; height: number; channels?: number; data?: ArrayLike<number>; pixels?: Uint8Array };
      if (i.data instanceof Float32Array) return { width: i.width, height: i.height, data: i.data };
      if (i.pixels) return img as GuidanceImage;
      if (i.data && (i.data instanceof Uint8Array || i.data instanceof Uint8ClampedArray)) {
        if (i.channels !== 3 && i.channels !== 4)
          throw new MagicPortraitError(`mp.gge: ${type} frame ${f} has ${i.channels} channel(s); guidance maps are RGB.`, 'bad-input');
        return { width: i.width, height: i.height, channels: i.channels, pixels: i.data };
      }
      throw new MagicPortraitError(`mp.gge: ${type} frame ${f} is not an image (expected { width, height, channels, data }).`, 'bad-input');
    });
  }
  return out;
}

/** 8-bit maps resized to size² with the sampler's bicubic filter (float maps are left as they are). */
function resizeMaps(maps: GuidanceMapsByType, size: number): GuidanceMapsByType {
  if (!(Number.isInteger(size) && size >= 8)) throw new MagicPortraitError(`mp.gge: size must be an integer ≥ 8, got ${size}.`, 'bad-argument');
  const out: GuidanceMapsByType = {};
  for (const [t, frames] of Object.entries(maps) as [GuidanceType, readonly GuidanceImage[]][])
    out[t] = frames.map((f) => {
      if (!('pixels' in f) || (f.width === size && f.height === size)) return f;
      const r = resizeImage(asRgb({ width: f.width, height: f.height, channels: f.channels, data: f.pixels as Uint8Array }), size, size, 'bicubic');
      return { width: size, height: size, channels: 3, pixels: r.data as Uint8Array };
    });
  return out;
}

/** What the stage cache stores (structured-cloneable). */
interface CachedGGE {
  label?: string;
  types: GuidanceType[];
  frames: number;
  channels: number;
  grid: { width: number; height: number };
  input: { width: number; height: number };
  features: GGEResult['features'];
  sum: Float32Array[];
  attention: GGEAttention;
}

/** A GGE result from the stage cache: attention rows are computed on demand (one encoder run per asked frame). */
function revive(c: CachedGGE, maps: GuidanceMapsByType, bundle: GGEBundle, threads?: number): GGEResult {
  const perFrame = new Map<number, Promise<GGEResult>>();
  const attentionRows: GGEResult['attentionRows'] = async (type, frame, queries, space = 'grid') => {
    if (!(Number.isInteger(frame) && frame >= 0 && frame < c.frames))
      throw new MagicPortraitError(`Frame ${frame} is out of range (0..${c.frames - 1}).`, 'bad-input');
    let r = perFrame.get(frame);
    if (!r) {
      const one: GuidanceMapsByType = Object.fromEntries(c.types.map((t) => [t, [maps[t]![frame]!]]));
      r = runGGE(one, bundle, { attention: false, keepTypeFeatures: false, ...(threads ? { threads } : {}) });
      perFrame.set(frame, r);
      r.catch(() => perFrame.delete(frame));
    }
    const rows = await (await r).attentionRows(type, 0, queries, space);
    return { ...rows, frame };
  };
  makeAttentionDisplayable(c.attention, maps, attentionRows);
  return { ...c, attentionRows };
}

/**
 * Runs the GGE of a bundle (default: the untrained demo, labelled so) over guidance maps as a cached stage.
 * Shows a progress bar over frames × types and stops between frames when the cell is interrupted.
 */
export async function ggeStage(guidance: GGEInput, options: GGEStageOptions = {}): Promise<GGEResult> {
  const resolved = await resolveGGEBundle(options.bundle);
  const bundle = resolved.bundle;
  const size = options.size ?? resolved.size;
  const maps = size ? resizeMaps(toGuidanceMaps(guidance), size) : toGuidanceMaps(guidance);
  const withAttention = options.attention ?? true;
  const keepTypeFeatures = options.keepTypeFeatures ?? false;
  const { createdAt: _createdAt, ...manifest } = bundle.manifest;
  void _createdAt;
  const compute = async (): Promise<GGEResult> => {
    const types = bundle.manifest.sumOrder.filter((t) => maps[t]);
    const frames = maps[types[0] ?? 'depth']?.length ?? 0;
    const progress = newProgress(`Guidance encoder${bundle.manifest.label ? ` (${bundle.manifest.label})` : ''}`, Math.max(1, frames * types.length), 'frames');
    try {
      const r = await runGGE(maps, bundle, {
        attention: withAttention,
        keepTypeFeatures,
        signal: currentRun().signal,
        onProgress: (done) => progress.update(done),
        ...(options.threads ? { threads: options.threads } : {}),
      });
      makeAttentionDisplayable(r.attention, maps, r.attentionRows);
      progress.finish();
      return r;
    } catch (e) {
      progress.finish((e as Error).message);
      throw e;
    }
  };
  if (options.cache === false || !stageCache().enabled) return compute();
  let live: GGEResult | undefined;
  const stored = await stageCache().run<CachedGGE>(GGE_STAGE, { maps, manifest }, { attention: withAttention, keepTypeFeatures }, async () => {
    live = await compute();
    const { attentionRows: _rows, ...plain } = live;
    void _rows;
    return plain;
  });
  // A fresh run keeps its own rows provider (tokens in memory); a cache hit recomputes the asked frame on demand.
  return live ?? revive(stored, maps, bundle, options.threads);
}
