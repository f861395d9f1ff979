/**
 * Runs the Geometric Guidance Encoders of a bundle over guidance frames: per-type features, their sum (what the
 * denoising UNet adds after conv_in, §6.3) and the attention data for the explorer.
 */
import { join } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import { createSession, ort } from '../onnx/session';
import { type GGEBundle, loadGGEBundle } from './bundle';
import { GGE_IO, ggeGridSize } from './model';
import { type AttentionHeader, type GuidanceType } from '../../shared/attention';

/** One guidance image: planar float32 RGB in [0, 1], or interleaved 8-bit RGB / RGBA (divided by 255, §6.3). */
export type GuidanceImage =
  | { width: number; height: number; data: Float32Array }
  | { width: number; height: number; channels: 3 | 4; pixels: Uint8Array | Uint8ClampedArray };

/**
 * Per guidance type, the frames of one sequence; every type given must have the same frame count and size
 * (render/'s GuidanceMaps is the other way round: the maps of one frame).
 */
export type GuidanceMapsByType = Partial<Record<GuidanceType, readonly GuidanceImage[]>>;

export interface RunGGEOptions {
  /**
   * Compute the attention products (default true). false runs the features-only graphs (fused attention, about a
   * third faster per frame, much less memory): `attention.maps` is then empty, and `attentionRows` recomputes the
   * frame it is asked about.
   */
  attention?: boolean;
  /** Keep each type's features (default true); the sum is always kept. */
  keepTypeFeatures?: boolean;
  /**
   * Keep the attention tokens (4 MB per frame and type at 512²) so query rows are served without re-running the
   * encoder. Default: kept when that is at most 256 MB.
   */
  keepTokens?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  threads?: number;
  /**
   * Keep the explorer sessions (about 1.3 GB each at 512², for the attention buffers) after the run, for fast
   * repeated runs. Default false: each type's explorer session is released once its frames are done, so a run
   * holds one at a time. The small features-only and rows sessions stay cached until `releaseGGE`.
   */
  keepSessions?: boolean;
}

/** Attention products of one guidance type, per frame. Arrays are row-major over the h×w feature grid. */
export interface GGETypeAttention {
  /** Per frame: heads·h·w, head-major. Mean over query pixels of the attention each key pixel receives. */
  received: Float32Array[];
  /** Per frame: h·w. L2 norm over channels of the attention block output (what conv_out sees; Fig. 5 style). */
  outNorm: Float32Array[];
  /** Per frame: h·w. L2 norm over channels of the self-attention contribution added to the residual stream. */
  deltaNorm: Float32Array[];
}

/** Explorer-ready attention data: plain numbers and typed arrays only (serialisable; arrays can go to artifacts). */
export interface GGEAttention extends AttentionHeader {
  /** Per type; empty when the run was made with `attention: false`. */
  maps: Partial<Record<GuidanceType, GGETypeAttention>>;
}

/** Full attention rows for chosen query pixels. */
export interface GGEAttentionRows {
  kind: 'magicportrait.gge-attention-rows';
  label?: string;
  type: GuidanceType;
  frame: number;
  heads: number;
  grid: { width: number; height: number };
  /** The query pixels in grid coordinates, with their token index. */
  queries: { x: number; y: number; index: number }[];
  /** heads·Q·(h·w): `rows[(head·Q + q)·h·w + key]`, each row sums to 1. */
  rows: Float32Array;
}

export interface GGEResult {
  label?: string;
  types: GuidanceType[];
  frames: number;
  channels: number;
  grid: { width: number; height: number };
  input: { width: number; height: number };
  /** Per type, per frame: channels·h·w (CHW). Empty when `keepTypeFeatures` is false. */
  features: Partial<Record<GuidanceType, Float32Array[]>>;
  /** Per frame: the element-wise sum in the bundle's sumOrder (depth + normal + render). */
  sum: Float32Array[];
  attention: GGEAttention;
  /**
   * Full attention rows of the given query pixels for one type and frame. `space: 'input'` takes guidance-image
   * pixel coordinates (e.g. a click on the 512² image); 'grid' takes feature-grid cells.
   */
  attentionRows(
    type: GuidanceType,
    frame: number,
    queries: readonly { x: number; y: number }[],
    space?: 'grid' | 'input',
  ): Promise<GGEAttentionRows>;
}

/** 'explore': the explorer graph again, for recomputing a clicked frame's tokens beside a run that holds 'main'. */
type GraphKind = 'main' | 'explore' | 'rows' | 'features';
type SessionCache = Record<GraphKind, Map<GuidanceType, ort.InferenceSession>>;
const sessions = new WeakMap<GGEBundle, SessionCache>();

async function session(bundle: GGEBundle, type: GuidanceType, which: GraphKind, threads?: number) {
  let cache = sessions.get(bundle);
  if (!cache) sessions.set(bundle, (cache = { main: new Map(), explore: new Map(), rows: new Map(), features: new Map() }));
  const hit = cache[which].get(type);
  if (hit) return hit;
  const e = bundle.manifest.encoders[type];
  if (!e) throw new MagicPortraitError(`The GGE bundle ${bundle.dir} has no ${type} encoder.`, 'missing-model');
  const file = which === 'main' || which === 'explore' ? e.model : which === 'rows' ? e.rowsModel : e.featuresModel;
  // Arena without memory pattern: the (heads, 4096, 4096) buffers are reused from run to run (no fresh page faults)
  // and an explorer session holds ~1.3 GB instead of ~2.4 GB with the pattern block.
  const s = await createSession(join(bundle.dir, file), { label: `${file} (GGE bundle ${bundle.dir})`, threads, memoryPattern: false });
  cache[which].set(type, s);
  return s;
}

async function dropSession(bundle: GGEBundle, type: GuidanceType, which: GraphKind): Promise<void> {
  const cache = sessions.get(bundle);
  const s = cache?.[which].get(type);
  if (!s) return;
  cache![which].delete(type);
  await s.release();
}

/** Releases the ONNX sessions held for a bundle. */
export async function releaseGGE(bundle: GGEBundle): Promise<void> {
  const cache = sessions.get(bundle);
  if (!cache) return;
  sessions.delete(bundle);
  for (const kind of Object.values(cache)) for (const s of kind.values()) await s.release();
}

/** (3·H·W) planar float32 in [0, 1] for one guidance image; validates size and range. */
export function guidanceTensorData(img: GuidanceImage, what: string): Float32Array {
  const { width: w, height: h } = img;
  if (!(w > 0 && h > 0)) throw new MagicPortraitError(`${what}: bad size ${w}×${h}.`, 'bad-input');
  if ('data' in img) {
    if (img.data.length !== 3 * w * h)
      throw new MagicPortraitError(`${what}: ${img.data.length} values, expected 3·${h}·${w} (planar RGB).`, 'bad-input');
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < img.data.length; i++) {
      const v = img.data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(lo >= -1e-6 && hi <= 1 + 1e-6))
      throw new MagicPortraitError(
        `${what}: values span [${lo}, ${hi}], but the guidance encoder takes images in [0, 1] (§6.3: uint8/255, no [-1, 1] normalisation).`,
        'bad-input',
      );
    return img.data;
  }
  const c = img.channels;
  if (img.pixels.length !== c * w * h)
    throw new MagicPortraitError(`${what}: ${img.pixels.length} bytes, expected ${c}·${h}·${w}.`, 'bad-input');
  const out = new Float32Array(3 * w * h);
  const plane = w * h;
  for (let i = 0; i < plane; i++) {
    out[i] = img.pixels[i * c]! / 255;
    out[plane + i] = img.pixels[i * c + 1]! / 255;
    out[2 * plane + i] = img.pixels[i * c + 2]! / 255;
  }
  return out;
}

/**
 * Runs every encoder of the bundle present in `maps` on every frame (one frame per session run, so memory stays
 * per-frame), sums the features in the bundle's order, and gathers the attention products.
 */
export async function runGGE(maps: GuidanceMapsByType, bundleOrDir: GGEBundle | string, opts: RunGGEOptions = {}): Promise<GGEResult> {
  const bundle = typeof bundleOrDir === 'string' ? loadGGEBundle(bundleOrDir) : bundleOrDir;
  const m = bundle.manifest;
  const types = m.sumOrder.filter((t) => maps[t]);
  const extra = (Object.keys(maps) as GuidanceType[]).filter((t) => maps[t] && !m.sumOrder.includes(t));
  if (extra.length)
    throw new MagicPortraitError(`Guidance maps for ${extra.join(', ')} given, but the GGE bundle has no encoder for them.`, 'bad-input');
  if (!types.length) throw new MagicPortraitError(`No guidance maps given for the bundle's types (${m.sumOrder.join(', ')}).`, 'bad-input');
  const missing = m.sumOrder.filter((t) => !maps[t]);
  if (missing.length)
    throw new MagicPortraitError(
      `Guidance maps for ${missing.join(', ')} are missing: the reference adds all of ${m.sumOrder.join(' + ')}.`,
      'bad-input',
    );
  const frames = maps[types[0]!]!.length;
  if (!frames) throw new MagicPortraitError('No guidance frames given.', 'bad-input');
  const first = maps[types[0]!]![0]!;
  const input = { width: first.width, height: first.height };
  for (const t of types) {
    const list = maps[t]!;
    if (list.length !== frames)
      throw new MagicPortraitError(`${t} has ${list.length} frames but ${types[0]} has ${frames}.`, 'bad-input');
    list.forEach((img, f) => {
      if (img.width !== input.width || img.height !== input.height)
        throw new MagicPortraitError(
          `${t} frame ${f} is ${img.width}×${img.height}, expected ${input.width}×${input.height} like the other frames.`,
          'bad-input',
        );
    });
  }
  const grid = { width: ggeGridSize(input.width), height: ggeGridSize(input.height) };
  const cells = grid.width * grid.height;
  const channels = m.config.guidanceEmbeddingChannels;
  const heads = m.config.attentionHeads;
  const keepTypes = opts.keepTypeFeatures ?? true;
  const tokenBytes = cells * m.config.blockOutChannels.at(-1)! * 4;
  const withAttention = opts.attention ?? true;
  const keepTokens = withAttention && (opts.keepTokens ?? tokenBytes * frames * types.length <= 256 * 2 ** 20);
  const tokens = new Map<string, Float32Array>();

  const features: Partial<Record<GuidanceType, Float32Array[]>> = {};
  const attention: GGEAttention = {
    kind: 'magicportrait.gge-attention',
    version: 1,
    ...(m.label ? { label: m.label } : {}),
    module: 'attentions.5',
    types,
    frames,
    heads,
    grid,
    input,
    stride: 8,
    maps: {},
  };
  const sum: Float32Array[] = [];
  const total = frames * types.length;
  let done = 0;

  const runFrame = async (t: GuidanceType, f: number, kind: GraphKind = 'main') => {
    const s = await session(bundle, t, kind, opts.threads);
    const data = guidanceTensorData(maps[t]![f]!, `${t} guidance frame ${f}`);
    const out = await s.run({ [GGE_IO.input]: new ort.Tensor('float32', data, [1, 3, input.height, input.width]) });
    return out;
  };

  for (const t of types) {
    const feats: Float32Array[] = [];
    const att: GGETypeAttention = { received: [], outNorm: [], deltaNorm: [] };
    for (let f = 0; f < frames; f++) {
      if (opts.signal?.aborted) throw new CancelledError('guidance encoder run');
      const out = await runFrame(t, f, withAttention ? 'main' : 'features');
      const feat = out[GGE_IO.feature]!.data as Float32Array;
      if (feat.length !== channels * cells)
        throw new MagicPortraitError(`GGE ${t}: feature has ${feat.length} values, expected ${channels}·${cells}.`, 'bad-model');
      if (t === types[0]) sum.push(Float32Array.from(feat));
      else {
        const acc = sum[f]!;
        for (let i = 0; i < acc.length; i++) acc[i]! += feat[i]!;
      }
      if (keepTypes) feats.push(feat);
      if (withAttention) {
        att.received.push(out[GGE_IO.received]!.data as Float32Array);
        att.outNorm.push(out[GGE_IO.outNorm]!.data as Float32Array);
        att.deltaNorm.push(out[GGE_IO.deltaNorm]!.data as Float32Array);
      }
      if (keepTokens) tokens.set(`${t}:${f}`, out[GGE_IO.tokens]!.data as Float32Array);
      opts.onProgress?.(++done, total);
    }
    if (keepTypes) features[t] = feats;
    if (withAttention) attention.maps[t] = att;
    if (withAttention && !opts.keepSessions) await dropSession(bundle, t, 'main');
  }

  const attentionRows: GGEResult['attentionRows'] = async (type, frame, queries, space = 'grid') => {
    if (!types.includes(type)) throw new MagicPortraitError(`No ${type} guidance in this GGE result (types: ${types.join(', ')}).`, 'bad-input');
    if (!(Number.isInteger(frame) && frame >= 0 && frame < frames))
      throw new MagicPortraitError(`Frame ${frame} is out of range (0..${frames - 1}).`, 'bad-input');
    if (!queries.length) throw new MagicPortraitError('No query pixels given.', 'bad-input');
    const q = queries.map(({ x, y }) => {
      const gx = space === 'input' ? Math.floor((x * grid.width) / input.width) : x;
      const gy = space === 'input' ? Math.floor((y * grid.height) / input.height) : y;
      if (!(Number.isInteger(gx) && Number.isInteger(gy) && gx >= 0 && gy >= 0 && gx < grid.width && gy < grid.height))
        throw new MagicPortraitError(
          `Query pixel (${x}, ${y}) is outside the ${space === 'input' ? `${input.width}×${input.height} image` : `${grid.width}×${grid.height} grid`}.`,
          'bad-input',
        );
      return { x: gx, y: gy, index: gy * grid.width + gx };
    });
    let tok = tokens.get(`${type}:${frame}`);
    if (!tok) {
      // Its own session: a row request can arrive while a cell runs (and drops) the 'main' session of this bundle.
      tok = (await runFrame(type, frame, 'explore'))[GGE_IO.tokens]!.data as Float32Array;
      if (!opts.keepSessions) await dropSession(bundle, type, 'explore');
      tokens.set(`${type}:${frame}`, tok); // later clicks on this frame are served at once
    }
    const s = await session(bundle, type, 'rows', opts.threads);
    const c = tok.length / cells;
    const out = await s.run({
      [GGE_IO.rowsTokens]: new ort.Tensor('float32', tok, [1, cells, c]),
      [GGE_IO.rowsQuery]: new ort.Tensor('int64', BigInt64Array.from(q.map((p) => BigInt(p.index))), [q.length]),
    });
    return {
      kind: 'magicportrait.gge-attention-rows',
      ...(m.label ? { label: m.label } : {}),
      type,
      frame,
      heads,
      grid,
      queries: q,
      rows: out[GGE_IO.rows]!.data as Float32Array,
    };
  };

  return {
    ...(m.label ? { label: m.label } : {}),
    types,
    frames,
    channels,
    grid,
    input,
    features,
    sum,
    attention,
    attentionRows,
  };
}
