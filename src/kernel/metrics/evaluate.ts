/**
 * One evaluation: a generated video against its target (self-reenactment ground truth = the driving video) and the
 * reference identity image, frame by frame, streamed (only the current frames are in memory, plus feature vectors
 * when FID is on).
 *
 *   self-reenactment:  PSNR, SSIM, LPIPS per frame (generated vs target), FID over the frame sets, CSIM per frame
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
import { checkCancelled } from '../runtime/context';
import { DISPLAY, type Displayable } from '../runtime/display';
import { MIME, type MimeBundle } from '../runtime/protocol';
import { metricsPlot, formatValue } from './display';
import { frechetDistanceFromFeatures } from './frechet';
import { CSIM_EMBEDDING, identityEmbedding, csim as cosine } from './identity';
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
  /** Row-major (frames.length × dim). */
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
  /** CSIM on (default: when a reference is given). */
  csim?: boolean;
  /** FLAME parameters of the generated and the driving video (sequences or .npz/.json files), for APD / AED. */
  flame?: { generated: FlameParamSequence | string; driving: FlameParamSequence | string };
  /** AED includes the jaw (DECA pose[3:6]). */
  aedIncludesJaw?: boolean;
  /** Called after each compared frame (progress). */
  onFrame?: (done: number) => void;
}

/** JSON-able result of one evaluation. */
export interface MetricsResult {
  mode: 'self' | 'cross';
  /** Frames compared. */
  frames: number;
  /** Indices (in the source videos) of the compared frames. */
  frameIndices: number[];
  /** Per-frame values (NaN: not available for that frame, e.g. no face). */
  perFrame: Partial<Record<MetricId, number[]>>;
  /** Aggregates: the mean over frames (per-frame metrics) or the set value (FID/FVD). Present metrics only. */
  summary: Partial<Record<MetricId, number>>;
  /** Why each missing metric is absent. */
  absent: Partial<Record<MetricId, string>>;
  details: {
    lpipsNet?: string;
    csimEmbedding?: string;
    csimFacesFound?: number;
    motion?: string;
    fidFeatures?: string;
  };
  notes: string[];
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
    const index = isFrame ? item.index : k;
    k++;
    if (!isFrame && index % step !== 0) continue;
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

/** Evaluates `generated` against `target` (null for cross-reenactment without ground truth). */
export async function evaluate(generated: FrameSource, target: FrameSource | null, options: EvaluateOptions = {}): Promise<MetricsResult> {
  const mode = options.mode ?? (target ? 'self' : 'cross');
  const fullRef = mode === 'self' && target !== null;
  const result: MetricsResult = { mode, frames: 0, frameIndices: [], perFrame: {}, summary: {}, absent: {}, details: {}, notes: [] };
  const why = (id: MetricId, reason: string) => (result.absent[id] = reason);

  // Models and reference.
  let lpips: Lpips | null = null;
  let ownLpips = false;
  if (fullRef && options.lpips) {
    lpips = options.lpips instanceof Lpips ? options.lpips : await Lpips.load(options.lpips);
    ownLpips = !(options.lpips instanceof Lpips);
    result.details.lpipsNet = `lpips v0.1 ${lpips.net}`;
  }
  const wantCsim = options.csim ?? options.reference !== undefined;
  let refEmbedding: Float32Array | null = null;
  if (wantCsim) {
    if (options.reference === undefined) why('csim', 'no reference image given (options.reference)');
    else {
      refEmbedding = await identityEmbedding(await loadReference(options.reference));
      if (!refEmbedding) why('csim', `no face found in the reference image${typeof options.reference === 'string' ? ` ${options.reference}` : ''}`);
      result.details.csimEmbedding = CSIM_EMBEDDING;
    }
  } else why('csim', options.reference === undefined ? 'no reference image given (options.reference)' : 'disabled (csim: false)');

  const per: Record<'psnr' | 'ssim' | 'lpips' | 'csim', number[]> = { psnr: [], ssim: [], lpips: [], csim: [] };
  const genFeatures: Float32Array[] = [], tgtFeatures: Float32Array[] = [];
  const stream = { step: options.step, maxFrames: options.maxFrames };
  const gen = frameStream(generated, stream);
  let tgt: AsyncGenerator<{ index: number; image: Image }> | null = null;
  let targetEnded = false;
  try {
    for await (const g of gen) {
      let t: Image | null = null;
      if (fullRef && !targetEnded) {
        if (!tgt) tgt = frameStream(target!, { ...stream, width: g.image.width, height: g.image.height });
        const n = await tgt.next();
        if (n.done) {
          targetEnded = true;
          result.notes.push(`the target has fewer frames: compared the first ${result.frames}`);
          break;
        }
        t = n.value.image;
        if (t.width !== g.image.width || t.height !== g.image.height)
          throw new MagicPortraitError(`Frame ${g.index}: the target frame is ${t.width}×${t.height}, the generated one ${g.image.width}×${g.image.height}; give frames of equal size.`, 'bad-argument');
      }
      result.frameIndices.push(g.index);
      if (t) {
        per.psnr.push(psnr(g.image, t));
        per.ssim.push(ssim(g.image, t));
        if (lpips) per.lpips.push(await lpips.distance(g.image, t));
        if (options.fid) {
          genFeatures.push(await options.fid.features([g.image]));
          tgtFeatures.push(await options.fid.features([t]));
        }
      }
      if (refEmbedding) {
        const e = await identityEmbedding(g.image);
        per.csim.push(e ? cosine(refEmbedding, e) : NaN);
      }
      result.frames++;
      options.onFrame?.(result.frames);
      checkCancelled('metrics');
    }
    if (fullRef && !targetEnded && tgt) {
      const extra = await tgt.next();
      if (!extra.done) result.notes.push(`the target has more frames than the generated video: compared the first ${result.frames}`);
    }
  } finally {
    await gen.return(undefined);
    if (tgt) await tgt.return(undefined);
    if (ownLpips && lpips) await lpips.dispose();
  }
  if (!result.frames) throw new MagicPortraitError('No frames to evaluate: the generated video is empty (or maxFrames is 0).', 'bad-argument');

  if (fullRef) {
    result.perFrame.psnr = per.psnr;
    result.perFrame.ssim = per.ssim;
    result.summary.psnr = meanDefined(per.psnr);
    result.summary.ssim = meanDefined(per.ssim);
    if (lpips) {
      result.perFrame.lpips = per.lpips;
      result.summary.lpips = meanDefined(per.lpips);
    } else why('lpips', 'no LPIPS weights given (options.lpips: the torchvision backbone + the lpips linear layers)');
    if (options.fid) {
      const n = genFeatures.length, d = options.fid.dim;
      if (n < 2) why('fid', `FID needs at least 2 frames (got ${n})`);
      else {
        const cat = (rows: Float32Array[]) => {
          const out = new Float32Array(rows.length * d);
          rows.forEach((r, i) => out.set(r, i * d));
          return out;
        };
        result.summary.fid = frechetDistanceFromFeatures(cat(genFeatures), n, cat(tgtFeatures), n, d);
        result.details.fidFeatures = options.fid.name;
        if (n < d) result.notes.push(`FID over ${n} frames (< ${d} feature dimensions): statistically biased, compare only like with like`);
      }
    } else why('fid', 'no FID feature network given (options.fid: Inception-v3 pool features from the user’s weights)');
    why('fvd', 'not implemented: the I3D feature network importer is not written yet');
  } else {
    const reason = mode === 'cross' ? 'cross-reenactment has no ground-truth frames' : 'no target video given';
    for (const id of ['psnr', 'ssim', 'lpips', 'fid', 'fvd'] as const) why(id, reason);
  }
  if (refEmbedding) {
    result.perFrame.csim = per.csim;
    const found = per.csim.filter((v) => !Number.isNaN(v)).length;
    result.details.csimFacesFound = found;
    if (found) result.summary.csim = meanDefined(per.csim);
    else why('csim', 'no face found in any generated frame');
    if (found < per.csim.length) result.notes.push(`CSIM: no face in ${per.csim.length - found} of ${per.csim.length} generated frame(s)`);
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
  return { ...r, perFrame, summary };
}

export function resultFromJson(j: unknown): MetricsResult {
  const o = j as MetricsResult & { perFrame: Record<string, unknown[]>; summary: Record<string, unknown> };
  const perFrame: MetricsResult['perFrame'] = {};
  for (const [k, v] of Object.entries(o.perFrame ?? {})) perFrame[k as MetricId] = v.map(fromJsonNumber);
  const summary: MetricsResult['summary'] = {};
  for (const [k, v] of Object.entries(o.summary ?? {})) summary[k as MetricId] = fromJsonNumber(v);
  return { ...o, perFrame, summary };
}

/** The displayable result of `mp.metrics`: per-frame curves, summary table, bars beside the paper. */
export class MetricsReport implements Displayable {
  constructor(
    readonly result: MetricsResult,
    readonly options: { title?: string; paperRows?: readonly PaperRow[] } = {},
  ) {}

  get summary(): MetricsResult['summary'] {
    return this.result.summary;
  }
  get perFrame(): MetricsResult['perFrame'] {
    return this.result.perFrame;
  }
  get absent(): MetricsResult['absent'] {
    return this.result.absent;
  }

  toJSON(): unknown {
    return resultToJson(this.result);
  }

  /** One line per metric. */
  toString(): string {
    const r = this.result;
    const lines = METRIC_IDS.map((id) => `${id.toUpperCase().padEnd(6)} ${r.summary[id] !== undefined ? formatValue(id, r.summary[id]) : `— (${r.absent[id] ?? 'not computed'})`}`);
    return [`${this.options.title ?? 'MagicPortrait metrics'}: ${r.mode}-reenactment, ${r.frames} frame(s)`, ...lines, ...r.notes.map((n) => `note: ${n}`)].join('\n');
  }

  [DISPLAY](): MimeBundle {
    return { [MIME.plot]: metricsPlot(this.result, { title: this.options.title, paperRows: this.options.paperRows }), 'text/plain': this.toString() };
  }
}
