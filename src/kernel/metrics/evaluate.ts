/**
 * One evaluation: a generated video against its target (self-reenactment ground truth = the driving video) and the
 * reference identity image, frame by frame, streamed (only the current frames are in memory — with FVD the current
 * clip's — plus feature vectors when FID / FVD are on).
 *
 *   self-reenactment:  PSNR, SSIM, LPIPS per frame (generated vs target), FID over the frame sets, FVD over the sets
 *                      of consecutive 16-frame clips, CSIM per frame
 *                      (reference vs generated), APD / AED from FLAME parameter sequences.
 *   cross-reenactment: the target is a different person: only CSIM, APD, AED (full-reference metrics are absent).
 *
 * Every metric that cannot be computed (no weights, no FLAME parameters, no face) is reported absent with the reason,
 * never estimated.
 */
import { extname } from 'node:path';
import { MagicPortraitError } from '../errors';
import { readImage, type Image } from '../io/image';
import { readFrames, type VideoFrame } from '../io/video';
import { throwIfCancelled } from '../task';
import { fileDigest } from '../io/content-hash';
// the digest of a file's bytes is the base's (io/content-hash.ts), shared with the stage layer's cache keys
export { fileDigest };
import { formatValue, type FigureInput } from './display';
import { frechetDistanceFromFeatures } from './frechet';
import { CSIM_EMBEDDING, CSIM_RULE, identityEmbedding, identityModelKey, csim as cosine } from './identity';
import { psnr, ssim } from './image';
import { aed, apd, MOTION_LABEL, readFlameSequence, type FlameParamSequence } from './motion';
import { Lpips, type LpipsWeights } from './nets/lpips';
import type { PaperRow } from './paper';
import { METRIC_IDS, fromJsonNumber, jsonNumber, meanDefined, type MetricId } from './types';

/** A video or image file, one image, images, or a frame stream. */
export type FrameSource = string | Image | readonly Image[] | AsyncIterable<Image | VideoFrame> | Iterable<Image | VideoFrame>;

/** A network that maps frames to feature vectors (FID: Inception-v3 pool features). */
export interface FeatureNetwork {
  readonly name: string;
  readonly dim: number;
  /** Content key of the network (e.g. a digest of its weights): results using it are cached only when given. */
  readonly key?: string;
  /** Row-major (frames.length × dim). */
  features(frames: readonly Image[]): Promise<Float32Array>;
}

/** A network that maps clips of consecutive frames to feature vectors (FVD: I3D logits). */
export interface ClipFeatureNetwork {
  readonly name: string;
  readonly dim: number;
  /** Frames per clip. */
  readonly clipLength: number;
  /** Content key of the network: results using it are cached only when given. */
  readonly key?: string;
  /** k·clipLength consecutive frames (k clips) → row-major (k × dim). */
  features(frames: readonly Image[]): Promise<Float32Array>;
}

/** The reference identity: an image file or image, or a frame of a video (a video path alone means its frame 0). */
export type ReferenceSource = string | Image | { video: string; frame?: number };

/** Loads a reference image (a video path means its first frame). */
export async function loadReference(ref: ReferenceSource): Promise<Image> {
  if (typeof ref !== 'string' && 'data' in ref) return ref;
  const path = typeof ref === 'string' ? ref : ref.video;
  const frame = typeof ref === 'string' ? 0 : (ref.frame ?? 0);
  if (typeof ref === 'string' && IMAGE_EXT.has(extname(path).toLowerCase())) return readImage(path);
  for await (const f of readFrames(path, { step: Math.max(1, frame), maxFrames: frame > 0 ? 2 : 1 })) if (f.index === frame) return f.image;
  throw new MagicPortraitError(`The reference frame ${frame} is past the end of ${path}.`, 'bad-argument');
}

export interface EvaluateOptions {
  /** The reference identity (image, image file, or video frame: a video path alone = its frame 0), for CSIM. */
  reference?: ReferenceSource;
  /** 'self' (default when a target is given) or 'cross' (the target is another identity: no full-reference metrics). */
  mode?: 'self' | 'cross';
  /** Compare at most this many frames (after `step`). */
  maxFrames?: number;
  /** Use every n-th frame (1 = all). */
  step?: number;
  /** LPIPS: a loaded model or the user's weights. Without it LPIPS is absent. */
  lpips?: Lpips | LpipsWeights;
  /** FID feature network (e.g. Inception-v3 pool3 imported from the user's weights). Without it FID is absent. */
  fid?: FeatureNetwork;
  /**
   * FVD clip network (e.g. I3D imported from the user's i3d_pretrained_400.pt). The compared frames are cut into
   * consecutive, non-overlapping clips of its clipLength (16); a remainder shorter than a clip is not used. Without it
   * FVD is absent.
   */
  fvd?: ClipFeatureNetwork;
  /** CSIM on (default: when a reference is given). */
  csim?: boolean;
  /** FLAME parameters of the generated and the driving video (sequences or .npz/.json files), for APD / AED. */
  flame?: { generated: FlameParamSequence | string; driving: FlameParamSequence | string };
  /** AED includes the jaw (DECA pose[3:6]). */
  aedIncludesJaw?: boolean;
  /** Called after each compared frame (progress). */
  onFrame?: (done: number) => void;
  /** Aborting it stops the evaluation at the next frame (CancelledError). */
  signal?: AbortSignal;
  /** Stage cache for file inputs (keys: file digests + options); null/absent: nothing cached. */
  cache?: ResultCache | null;
}

/** JSON-able result of one evaluation. */
export interface MetricsResult extends FigureInput {
  details: {
    lpipsNet?: string;
    csimEmbedding?: string;
    csimFacesFound?: number;
    /** Frames with a confident face / frames compared: what the CSIM mean is over. */
    csimCoverage?: number;
    motion?: string;
    fidFeatures?: string;
    fvdFeatures?: string;
    /** Clips whose FVD features were computed (also when one clip is too few for a per-video FVD). */
    fvdClips?: number;
  };
  notes: string[];
  /**
   * The FID feature vectors of the compared frames (frames × dim, row-major), for pooling across pairs. Not part of
   * the JSON form.
   */
  features?: { dim: number; generated: Float32Array; target: Float32Array };
  /** The FVD clip features (clips × dim), for pooling across pairs. Not part of the JSON form. */
  clipFeatures?: ClipFeatures;
}

/** FVD features of the compared frames' clips, generated and target (row-major, clips × dim). */
export interface ClipFeatures {
  dim: number;
  clipLength: number;
  generated: Float32Array;
  target: Float32Array;
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png']);

/** Frames of a source as an async stream of { index, image } with step / maxFrames applied (files decode lazily). */
export async function* frameStream(src: FrameSource, opts: { step?: number; maxFrames?: number; width?: number; height?: number } = {}): AsyncGenerator<{ index: number; image: Image }> {
  const step = Math.max(1, Math.floor(opts.step ?? 1));
  const max = opts.maxFrames ?? Infinity;
  if (typeof src === 'string') {
    if (IMAGE_EXT.has(extname(src).toLowerCase())) {
      if (max > 0) yield { index: 0, image: readImage(src) };
      return;
    }
    const ro: { step: number; maxFrames?: number; width?: number; height?: number } = { step };
    if (Number.isFinite(max)) ro.maxFrames = max;
    if (opts.width && opts.height) Object.assign(ro, { width: opts.width, height: opts.height });
    yield* readFrames(src, ro);
    return;
  }
  if ('data' in (src as Image) && 'width' in (src as Image)) {
    if (max > 0) yield { index: 0, image: src as Image };
    return;
  }
  let k = 0, n = 0;
  for await (const item of src as AsyncIterable<Image | VideoFrame>) {
    const isFrame = 'image' in item;
    if (k++ % step !== 0) continue;
    const index = isFrame ? item.index : k - 1;
    yield { index, image: isFrame ? item.image : item };
    if (++n >= max) return;
  }
}

function selectRows(s: FlameParamSequence, indices: number[]): FlameParamSequence {
  const rows = (v: FlameParamSequence['pose'], dim: number | undefined): number[][] => {
    if (ArrayBuffer.isView(v)) {
      const flat = v as Float32Array | Float64Array;
      const d = dim!;
      return Array.from({ length: flat.length / d }, (_, i) => Array.from(flat.subarray(i * d, (i + 1) * d)));
    }
    return (v as readonly ArrayLike<number>[]).map((r) => Array.from(r));
  };
  const poseFlat = ArrayBuffer.isView(s.pose) ? (s.pose as Float32Array).length : 0;
  const pose = rows(s.pose, s.poseDim ?? (poseFlat % 6 === 0 ? 6 : 3));
  const expression = rows(s.expression, s.expressionDim);
  const pick = <T>(a: T[]) => indices.filter((i) => i < a.length).map((i) => a[i]!);
  return { pose: pick(pose), expression: pick(expression) };
}

/** Bump when a stage's numbers change, so cached results are not reused. */
export const METRICS_STAGE_VERSION = 1;

interface FullReferenceStage {
  frameIndices: number[];
  psnr: number[];
  ssim: number[];
  lpips: number[] | null;
  fid: { dim: number; generated: Float32Array; target: Float32Array } | null;
  fvd: ClipFeatures | null;
  notes: string[];
}

interface EmbeddingStage {
  frameIndices: number[];
  /** null where no face was found. */
  embeddings: (Float32Array | null)[];
}

/** Cache key of a frame source: the file digest for paths; null (not cached) for in-memory frames. */
async function sourceKey(src: FrameSource | ReferenceSource): Promise<unknown> {
  if (typeof src === 'string') return { file: await fileDigest(src) };
  if (src && typeof src === 'object' && 'video' in src) return { file: await fileDigest(src.video), frame: src.frame ?? 0 };
  return null;
}

/** What the metrics need of a result cache (the stage cache, pipeline/cache.ts, is one): run `compute` unless a result
 * for the same stage and inputs is stored. */
export interface ResultCache {
  run<T>(stage: { name: string; version: string | number }, inputs: unknown, options: object, compute: () => Promise<T>): Promise<T>;
}

async function stage<T>(cache: ResultCache | null | undefined, name: string, inputs: unknown, compute: () => Promise<T>): Promise<T> {
  if (!cache || inputs === null) return compute();
  return cache.run({ name, version: METRICS_STAGE_VERSION }, inputs, {}, compute);
}

async function fullReferenceStage(
  generated: FrameSource,
  target: FrameSource,
  sel: { step?: number; maxFrames?: number },
  lpips: Lpips | null,
  fid: FeatureNetwork | undefined,
  fvd: ClipFeatureNetwork | undefined,
  onFrame?: (n: number) => void,
  signal?: AbortSignal,
): Promise<FullReferenceStage> {
  const out: FullReferenceStage = { frameIndices: [], psnr: [], ssim: [], lpips: lpips ? [] : null, fid: null, fvd: null, notes: [] };
  const genF: Float32Array[] = [], tgtF: Float32Array[] = [];
  // FVD: only the frames of the current clip are held; each full clip becomes one feature vector per video.
  const genClip: Image[] = [], tgtClip: Image[] = [];
  const genV: Float32Array[] = [], tgtV: Float32Array[] = [];
  const gen = frameStream(generated, sel);
  let tgt: AsyncGenerator<{ index: number; image: Image }> | null = null;
  try {
    for await (const g of gen) {
      if (!tgt) tgt = frameStream(target, { ...sel, width: g.image.width, height: g.image.height });
      const n = await tgt.next();
      if (n.done) {
        out.notes.push(`the target has fewer frames than the generated video: compared the first ${out.frameIndices.length}`);
        break;
      }
      const t = n.value.image;
      if (t.width !== g.image.width || t.height !== g.image.height)
        throw new MagicPortraitError(`Frame ${g.index}: the target frame is ${t.width}×${t.height}, the generated one ${g.image.width}×${g.image.height}; give frames of equal size.`, 'bad-argument');
      out.frameIndices.push(g.index);
      out.psnr.push(psnr(g.image, t));
      out.ssim.push(ssim(g.image, t));
      if (lpips) out.lpips!.push(await lpips.distance(g.image, t));
      if (fid) {
        genF.push(await fid.features([g.image]));
        tgtF.push(await fid.features([t]));
      }
      if (fvd) {
        genClip.push(g.image);
        tgtClip.push(t);
        if (genClip.length === fvd.clipLength) {
          genV.push(await fvd.features(genClip.splice(0)));
          tgtV.push(await fvd.features(tgtClip.splice(0)));
        }
      }
      onFrame?.(out.frameIndices.length);
      throwIfCancelled(signal, 'metrics');
    }
    if (tgt && out.notes.length === 0 && !(await tgt.next()).done)
      out.notes.push(`the target has more frames than the generated video: compared the first ${out.frameIndices.length}`);
  } finally {
    await gen.return(undefined);
    if (tgt) await tgt.return(undefined);
  }
  const cat = (rows: Float32Array[], dim: number) => {
    const o = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => o.set(r, i * dim));
    return o;
  };
  if (fid) out.fid = { dim: fid.dim, generated: cat(genF, fid.dim), target: cat(tgtF, fid.dim) };
  if (fvd) out.fvd = { dim: fvd.dim, clipLength: fvd.clipLength, generated: cat(genV, fvd.dim), target: cat(tgtV, fvd.dim) };
  return out;
}

async function embeddingStage(video: FrameSource, sel: { step?: number; maxFrames?: number }, onFrame?: (n: number) => void, signal?: AbortSignal): Promise<EmbeddingStage> {
  const out: EmbeddingStage = { frameIndices: [], embeddings: [] };
  for await (const f of frameStream(video, sel)) {
    out.frameIndices.push(f.index);
    out.embeddings.push(await identityEmbedding(f.image));
    onFrame?.(out.frameIndices.length);
    throwIfCancelled(signal, 'metrics');
  }
  return out;
}

/**
 * Evaluates `generated` against `target` (null for cross-reenactment without ground truth). With `options.cache`,
 * each stage (full-reference metrics of the pair, face embeddings of the generated video, the reference embedding)
 * is stored under the content digests of its files, so a repeated or resumed evaluation reuses them.
 */
export async function evaluate(generated: FrameSource, target: FrameSource | null, options: EvaluateOptions = {}): Promise<MetricsResult> {
  const mode = options.mode ?? (target ? 'self' : 'cross');
  const fullRef = mode === 'self' && target !== null;
  const result: MetricsResult = { mode, frames: 0, frameIndices: [], perFrame: {}, summary: {}, absent: {}, details: {}, notes: [] };
  const why = (id: MetricId, reason: string) => (result.absent[id] = reason);
  const sel = { step: options.step ?? 1, maxFrames: options.maxFrames ?? null };
  const selOpts = { step: sel.step, ...(sel.maxFrames !== null ? { maxFrames: sel.maxFrames } : {}) };
  const cache = options.cache;

  // Full-reference metrics (self-reenactment).
  let full: FullReferenceStage | null = null;
  if (fullRef) {
    let lpips: Lpips | null = null;
    const own = options.lpips !== undefined && !(options.lpips instanceof Lpips);
    if (options.lpips) lpips = options.lpips instanceof Lpips ? options.lpips : await Lpips.load(options.lpips);
    try {
      const [gk, tk] = [await sourceKey(generated), await sourceKey(target!)];
      const fidKey = options.fid ? (options.fid.key ?? null) : 'none';
      const fvdKey = options.fvd ? (options.fvd.key ?? null) : 'none';
      const inputs = gk && tk && fidKey !== null && fvdKey !== null ? { generated: gk, target: tk, sel, lpips: lpips?.key ?? null, fid: fidKey, ...(options.fvd ? { fvd: fvdKey } : {}) } : null;
      full = await stage(cache, 'metrics.fullReference', inputs, () => fullReferenceStage(generated, target!, selOpts, lpips, options.fid, options.fvd, options.onFrame, options.signal));
    } finally {
      if (own && lpips) await lpips.dispose();
    }
    if (lpips) result.details.lpipsNet = `lpips v0.1 ${lpips.net}`;
    result.frameIndices = full.frameIndices;
    result.notes.push(...full.notes);
  }

  // Identity (CSIM).
  const wantCsim = options.csim ?? options.reference !== undefined;
  let refEmbedding: Float32Array | null = null;
  if (!wantCsim) why('csim', options.reference === undefined ? 'no reference image given (options.reference)' : 'disabled (csim: false)');
  else if (options.reference === undefined) why('csim', 'no reference image given (options.reference)');
  else {
    const ref = options.reference;
    const rk = await sourceKey(ref);
    refEmbedding = await stage(cache, 'metrics.referenceEmbedding', rk ? { ref: rk, models: identityModelKey() } : null, async () => identityEmbedding(await loadReference(ref)));
    if (!refEmbedding) why('csim', `no face found in the reference image${typeof ref === 'string' ? ` ${ref}` : ''}`);
    result.details.csimEmbedding = CSIM_EMBEDDING;
  }
  let emb: EmbeddingStage | null = null;
  if (refEmbedding) {
    const gk = await sourceKey(generated);
    emb = await stage(cache, 'metrics.embeddings', gk ? { video: gk, sel, models: identityModelKey() } : null, () => embeddingStage(generated, selOpts, full ? undefined : options.onFrame, options.signal));
  }
  if (!full) {
    if (emb) result.frameIndices = emb.frameIndices;
    else for await (const f of frameStream(generated, selOpts)) result.frameIndices.push(f.index);
  }
  result.frames = result.frameIndices.length;
  if (!result.frames) throw new MagicPortraitError('No frames to evaluate: the generated video is empty (or maxFrames is 0).', 'bad-argument');

  if (full) {
    result.perFrame.psnr = full.psnr;
    result.perFrame.ssim = full.ssim;
    result.summary.psnr = meanDefined(full.psnr);
    result.summary.ssim = meanDefined(full.ssim);
    if (full.lpips) {
      result.perFrame.lpips = full.lpips;
      result.summary.lpips = meanDefined(full.lpips);
    } else why('lpips', 'no LPIPS weights given (options.lpips: the torchvision backbone + the lpips linear layers)');
    if (full.fid) {
      const n = result.frames, d = full.fid.dim;
      if (n < 2) why('fid', `FID needs at least 2 frames (got ${n})`);
      else {
        result.summary.fid = frechetDistanceFromFeatures(full.fid.generated, n, full.fid.target, n, d);
        result.details.fidFeatures = options.fid!.name;
        result.features = full.fid;
        if (n < d) result.notes.push(`FID over ${n} frames (< ${d} feature dimensions): statistically biased, compare only like with like`);
      }
    } else why('fid', 'no FID feature network given (options.fid: Inception-v3 pool features from the user’s weights)');
    if (full.fvd) {
      const { dim, clipLength } = full.fvd;
      const clips = full.fvd.generated.length / dim;
      result.details.fvdFeatures = options.fvd!.name;
      result.details.fvdClips = clips;
      if (clips) result.clipFeatures = full.fvd;
      if (clips < 2)
        why('fvd', `FVD needs at least 2 clips of ${clipLength} frames per video (${2 * clipLength} compared frames), got ${result.frames} frame(s)${clips ? ': the clip’s features are kept for pooling in a batch' : ''}`);
      else {
        result.summary.fvd = frechetDistanceFromFeatures(full.fvd.generated, clips, full.fvd.target, clips, dim);
        if (clips * clipLength < result.frames) result.notes.push(`FVD over ${clips} clips of ${clipLength} frames: the last ${result.frames - clips * clipLength} frame(s) are not used`);
        if (clips < dim) result.notes.push(`FVD over ${clips} clips (< ${dim} feature dimensions): statistically biased, compare only like with like`);
      }
    } else why('fvd', 'no I3D weights given (options.fvd: pytorch-i3d InceptionI3d(400) weights such as i3d_pretrained_400.pt)');
  } else {
    const reason = mode === 'cross' ? 'cross-reenactment has no ground-truth frames' : 'no target video given';
    for (const id of ['psnr', 'ssim', 'lpips', 'fid', 'fvd'] as const) why(id, reason);
  }

  if (refEmbedding && emb) {
    const byIndex = new Map(emb.frameIndices.map((f, i) => [f, emb!.embeddings[i]!] as const));
    const per = result.frameIndices.map((f) => {
      const e = byIndex.get(f);
      return e ? cosine(refEmbedding!, e) : NaN;
    });
    result.perFrame.csim = per;
    const found = per.filter((v) => !Number.isNaN(v)).length;
    result.details.csimFacesFound = found;
    result.details.csimCoverage = per.length ? found / per.length : 0;
    if (found) result.summary.csim = meanDefined(per);
    else why('csim', `no confident face (${CSIM_RULE}) in any generated frame`);
    if (found < per.length) result.notes.push(`CSIM over the ${found} of ${per.length} generated frame(s) with a confident face (${CSIM_RULE})`);
  }

  if (options.flame) {
    const load = async (s: FlameParamSequence | string) => (typeof s === 'string' ? readFlameSequence(s) : s);
    const [fg, fd] = [await load(options.flame.generated), await load(options.flame.driving)];
    const idx = result.frameIndices;
    const sg = selectRows(fg, idx), sd = selectRows(fd, idx);
    const p = apd(sg, sd), e = aed(sg, sd, { includeJaw: options.aedIncludesJaw });
    if (!p.frames) {
      why('apd', 'the FLAME sequences cover none of the compared frames');
      why('aed', 'the FLAME sequences cover none of the compared frames');
    } else {
      result.perFrame.apd = p.perFrame;
      result.perFrame.aed = e.perFrame;
      result.summary.apd = p.mean;
      result.summary.aed = e.mean;
      result.details.motion = MOTION_LABEL;
      if (p.frames < idx.length) result.notes.push(`APD/AED over ${p.frames} of ${idx.length} frames (the FLAME sequences are shorter)`);
    }
  } else {
    const reason = 'no FLAME parameter sequences given (options.flame: fitFlame/trackFlame output or .npz files with pose, exp)';
    why('apd', reason);
    why('aed', reason);
  }
  return result;
}

/** A result made JSON-safe (Infinity → "inf", NaN → null). */
export function resultToJson(r: MetricsResult): unknown {
  const perFrame: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.perFrame)) perFrame[k] = v!.map(jsonNumber);
  const summary: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.summary)) summary[k] = jsonNumber(v);
  const { features: _features, clipFeatures: _clipFeatures, ...rest } = r;
  return { ...rest, perFrame, summary };
}

export function resultFromJson(j: unknown): MetricsResult {
  const o = j as MetricsResult & { perFrame: Record<string, unknown[]>; summary: Record<string, unknown> };
  const perFrame: MetricsResult['perFrame'] = {};
  for (const [k, v] of Object.entries(o.perFrame ?? {})) perFrame[k as MetricId] = v.map(fromJsonNumber);
  const summary: MetricsResult['summary'] = {};
  for (const [k, v] of Object.entries(o.summary ?? {})) summary[k as MetricId] = fromJsonNumber(v);
  return { ...o, perFrame, summary };
}

/** ' (faces in 17 of 24 frames, 71%)': the frames the CSIM mean is over, shown beside it. */
export function csimCoverageText(r: Pick<MetricsResult, 'details' | 'perFrame'>): string {
  const found = r.details.csimFacesFound;
  const n = r.perFrame.csim?.length;
  if (found === undefined || !n) return '';
  return ` (faces in ${found} of ${n} frames, ${Math.round((100 * found) / n)}%)`;
}
