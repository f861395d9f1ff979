/**
 * Video diffusion sampling on ONNX Runtime: the reference algorithm of reference-pipeline.md §7.8.
 *
 *   z_r  = 0.18215 · VAE.mean(2·ref/255 − 1)                         reference, Lanczos-resized to the model size
 *   bank = fp16(RefUNet norm1 taps (z_r, t = 0, E))                   once, before the first step
 *   x    = noise (seeded, or injected)                                frame-major (F, 4, h, w)
 *   for t in DDIM timesteps:
 *     for each context window w:  v_u[w] += UNet(x[w], t, E, G[w], no bank);  v_c[w] += UNet(x[w], t, E, G[w], bank)
 *     v = avg(v_u) + s·(avg(v_c) − avg(v_u));  x = DDIM_v(x, v, t)
 *   frames = trunc(255 · clamp(VAE.dec(x / 0.18215)/2 + 0.5, 0, 1))   one frame at a time
 *
 * Both CFG branches run as separate batch-F_w calls of the same graph (the unconditional one with empty banks, so it
 * cannot see the reference). Everything is float32 except the fp16 bank, as in the reference.
 *
 * `preset: 'reference'` reproduces the official run's defaults where they differ from ours: `frameRange` [0, 100]
 * (the yaml's `frame_range`, a Python slice of the guidance frames; 'studio' samples every frame), and a guidance
 * scale ≤ 1 turns CFG off as `pipeline_aggregation.py` does — only the conditional branch (with the reference bank)
 * runs and the window predictions are summed without dividing by the per-frame window count (a frame in two windows
 * gets twice the prediction; the 'studio' preset always computes u + s·(c − u) from window averages). With `outDir`
 * it writes the official files: animation.mp4, grid.mp4 (reference | result) and guidance.mp4 (reference | result |
 * maps). The official initial noise comes from a CUDA generator (Philox, GPU-dependent) and cannot be regenerated off
 * the GPU: to match an official run exactly, inject its initial latent (`latents`, a .npy in (1, 4, F, h, w)). Frames and guidance
 * features are streamed through stores that spill to a temporary file when large; the latent itself is small.
 *
 * The steps, as diffusers' pipelines name theirs: planSampling (check the inputs, the frame range, windows and
 * timesteps), prepareLatents, prepareGuidance, encodeReference (the attention bank), denoise (with x̂0 previews every
 * few steps through `onPreview`), decodeLatents. Pure: progress (`onProgress`, with the phase as its detail) and
 * cancellation (`signal`, checked between network calls) come from the caller; the stage (pipeline/sample.ts) shows
 * them in the cell, displays the previews and the provider report, and encodes and publishes the videos.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GuidanceType } from '../../shared/attention';
import { MagicPortraitError } from '../errors';
import { type ExecutionProviderName, type Precision, createSession, ort, sessionPlacement } from '../onnx/session';
import { type AnyImage } from '../io/image';
import { throwIfCancelled, type TaskOptions } from '../task';
import { type DiffusionBundle, type ModelRole, MANIFEST, MODEL_ROLES, loadBundle, modelPath, readTextEmbeds } from './bundle';
import { type ContextOptions, WindowAggregator, contextWindows, gatherFrames } from './context';
import { bankName, bankSites, latentSize } from './graph/config';
import { GUIDANCE_IO } from './graph/gge-graph';
import { UNET_IO } from './graph/unet';
import { VAE_IO } from './graph/vae';
import { asRgb, bilinearResize, planarToRgb8, resizeImage, toPlanar } from './image-ops';
import { loadNoiseNpy, seededLatentNoise } from './noise';
import { DDIMScheduler, applyGuidance, type DDIMConfig } from './scheduler';
import { FloatRecordStore, RecordStore } from './store';

export type SamplePreset = 'studio' | 'reference';

/** The official config's frame_range (configs/inference/inference.yaml). */
export const REFERENCE_FRAME_RANGE: readonly [number, number] = [0, 100];

/** Python's `list[a:b]` bounds for a list of n items (step 1): [start, end) with 0 ≤ start ≤ end ≤ n. */
export function pythonSlice(n: number, a: number, b: number): [number, number] {
  const norm = (v: number) => (v < 0 ? Math.max(0, n + v) : Math.min(v, n));
  const s = norm(a), e = norm(b);
  return [s, Math.max(s, e)];
}

/** The guidance frames a sample call uses: [start, end) after the preset's frame range and `frames`. */
export function selectFrames(available: number, input: Pick<SampleInput, 'frameRange' | 'frames' | 'preset'>): [number, number] {
  const preset = input.preset ?? 'studio';
  if (preset !== 'studio' && preset !== 'reference') throw new MagicPortraitError(`preset must be 'studio' or 'reference', got '${String(preset)}'.`, 'bad-argument');
  const range = input.frameRange === undefined ? (preset === 'reference' ? REFERENCE_FRAME_RANGE : null) : input.frameRange;
  let [a, b] = [0, available];
  if (range && range.length) {
    if (range.length !== 2 || !range.every((v) => Number.isInteger(v)))
      throw new MagicPortraitError(`frameRange must be two integers [start, end], got ${JSON.stringify(range)}.`, 'bad-argument');
    [a, b] = pythonSlice(available, range[0]!, range[1]!);
  }
  if (input.frames !== undefined) b = Math.min(b, a + input.frames);
  if (!(b > a)) throw new MagicPortraitError(`Nothing to sample: ${available} guidance frame(s), frame range ${JSON.stringify(range ?? null)}, frames = ${input.frames}.`, 'bad-input');
  return [a, b];
}

/** Per-frame guidance features (C0·h·w, CHW), e.g. the `sum` of a GGE result, or a lazy provider. */
export type GuidanceFeatureSource =
  | readonly Float32Array[]
  | { readonly count: number; get(frame: number): Float32Array | Promise<Float32Array> };

export type GuidanceInput =
  /** Features as the UNet adds them after conv_in (summed over guidance types). */
  | { features: GuidanceFeatureSource }
  /** A GGE result (its per-frame `sum`). */
  | { sum: readonly Float32Array[] }
  /** Guidance maps, encoded here with the bundle's guidance encoders (resized to the model size, bicubic). */
  | { maps: Partial<Record<GuidanceType, readonly AnyImage[]>> };

export interface SampleInput {
  /** The identity image (8-bit). Resized to the model size with Lanczos when it differs (§7.4). */
  reference: AnyImage;
  guidance: GuidanceInput;
  /** A loaded bundle or its folder. */
  bundle: DiffusionBundle | string;
  /** DDIM steps (default: the bundle's, 20). */
  steps?: number;
  /** CFG scale (default: the bundle's, 3.5). */
  guidanceScale?: number;
  /** Seed of our generator (default 42): PyTorch's CPU `randn` stream, see noise.ts. Ignored when `noise` is given. */
  seed?: number;
  /** Initial latent: frame-major (F, 4, h, w) values, or a .npy path in the reference's (1, 4, F, h, w) layout. */
  noise?: Float32Array | string;
  /** The initial latent under diffusers' name (`latents`): the same as `noise`; give one of the two. */
  latents?: Float32Array | string;
  /** Use only the first n guidance frames (after `frameRange`). */
  frames?: number;
  /** The yaml's `frame_range` [start, end): a Python slice of the guidance frames (negative counts from the end);
   *  null = all. Default: [0, 100] with preset 'reference', all frames with 'studio'. */
  frameRange?: readonly [number, number] | null;
  /** 'studio' (default) or 'reference': the official pipeline's frame range, CFG ≤ 1 semantics and output files. */
  preset?: SamplePreset;
  /** Scheduler overrides (e.g. from an inference yaml's noise_scheduler_kwargs); default the bundle's. */
  scheduler?: Partial<DDIMConfig>;
  /** Context-window overrides (default: the bundle's, 12 frames, overlap 1, closed loop). */
  context?: Partial<ContextOptions>;
  /**
   * Compute precision of the two UNets: 'auto' (default) = float16 on GPU execution providers, float32 on the CPU;
   * 'float16' on the CPU emulates it (float16 values between float32 operations). The VAE, the guidance encoders, the
   * scheduler and CFG are float32 always.
   */
  precision?: Precision;
}

export interface SamplePreview {
  /** 1-based step just finished, and the total. */
  step: number;
  steps: number;
  timestep: number;
  /** Which frames are shown. */
  frameIndices: number[];
  /** The predicted clean frames x̂0 at this step, decoded (model size). */
  frames: AnyImage[];
}

export interface SampleOptions extends TaskOptions {
  /** Receives the predicted clean frames x̂0 every `previewEvery` steps (and after the last). */
  onPreview?: (p: SamplePreview) => void | Promise<void>;
  /** Preview every n steps (and after the last); 0 disables previews. Default 5. */
  previewEvery?: number;
  /** Frames decoded per preview (evenly spaced). Default 4. */
  previewFrames?: number;
  /** Called once every network is open, with where each computes. */
  onProviders?: (report: ProviderReport) => void;
  /** Output frame size: the reference image's own size (the reference's behaviour, default) or the model size. */
  outputSize?: 'reference' | 'model';
  /** Bytes of decoded frames / guidance features held in memory before spilling to a temp file (default 256 MB). */
  memoryBudget?: number;
}

export interface SampleTimings {
  totalMs: number;
  guidanceMs: number;
  referenceMs: number;
  unetCalls: number;
  unetMs: number;
  decodeMs: number;
  encodeMs: number;
}

/** Where sampled frames are read from: a record store (memory or a temp file), or a stage-cache frame file. */
export interface FrameRecords {
  read(i: number): Uint8Array;
  dispose(): void;
}

/** Decoded output frames, kept in memory or a temp file; iterable (the stage makes them displayable). */
export class SampledFrames {
  constructor(
    private readonly store: FrameRecords,
    readonly count: number,
    readonly width: number,
    readonly height: number,
    readonly fps: number,
    readonly label?: string,
  ) {}

  get(i: number): AnyImage {
    return { width: this.width, height: this.height, channels: 3, data: this.store.read(i) };
  }

  *[Symbol.iterator](): Iterator<AnyImage> {
    for (let i = 0; i < this.count; i++) yield this.get(i);
  }

  /** Frees the temporary file of a large sequence. */
  dispose(): void {
    this.store.dispose();
  }
}

export interface SampleResult {
  /** 'untrained demo weights' for the tiny bundle. */
  label?: string;
  frames: SampledFrames;
  frameCount: number;
  width: number;
  height: number;
  fps: number;
  /** The final latents, frame-major (F, 4, h, w). */
  latents: Float32Array;
  /** Guidance frames used: [start, end) of the input. */
  frameRange: [number, number];
  preset: SamplePreset;
  /** False when a guidance scale ≤ 1 turned classifier-free guidance off (preset 'reference'). */
  cfg: boolean;
  windows: number[][];
  timesteps: number[];
  steps: number;
  guidanceScale: number;
  /** The seed used, or null when the noise was injected. */
  seed: number | null;
  timings: SampleTimings;
  /** Which execution provider and precision each network ran on. */
  providers: ProviderReport;
  /** The guidance maps given (`guidance.maps`), for a grid beside the result. */
  maps?: Partial<Record<GuidanceType, readonly AnyImage[]>>;
}

// ------------------------------------------------------------------------------------------------------------------
// Sessions

type Sessions = Record<ModelRole, ort.InferenceSession>;
/** Sessions per bundle object, per role and compute precision. */
const sessionCache = new WeakMap<DiffusionBundle, Map<string, Promise<ort.InferenceSession>>>();

/** The UNets are nearly all of the work: they compute in float16 on accelerators ('auto'); the rest stays float32. */
const rolePrecision = (role: ModelRole, unets: Precision): Precision => (role === 'referenceUnet' || role === 'denoisingUnet' ? unets : 'float32');

/** One network of a bundle as a session (created once per bundle object, role and precision, through the one
 *  session factory, which picks the provider and the graph version it runs). */
export function roleSession(b: DiffusionBundle, role: ModelRole, precision: Precision = 'auto', keepOnDevice?: string[]): Promise<ort.InferenceSession> {
  let cache = sessionCache.get(b);
  if (!cache) sessionCache.set(b, (cache = new Map()));
  const key = `${role}:${rolePrecision(role, precision)}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const entry = b.manifest.models[role];
      const s = await createSession(modelPath(b, role), {
        label: `${entry.file.path} (diffusion bundle ${b.dir})`,
        precision: rolePrecision(role, precision),
        // the content hash names the derived float16 / per-provider graphs in the cache
        sourceId: `${entry.file.sha256}:${entry.data?.sha256 ?? ''}`,
        keepOnDevice,
        // each op of these networks runs for milliseconds or more: threads that spin between ops only take CPU from
        // the other one (measured on the 256² UNet: 8 % less CPU time, and faster on a loaded machine)
        allowSpinning: false,
      });
      const want = b.manifest.io[role];
      const missing = [...want.inputs.filter((n) => !s.inputNames.includes(n)), ...want.outputs.filter((n) => !s.outputNames.includes(n))];
      if (missing.length) throw new MagicPortraitError(`${modelPath(b, role)} lacks the graph inputs/outputs ${missing.join(', ')} that its manifest lists.`, 'bad-bundle');
      return s;
    })();
    cache.set(key, p);
    p.catch(() => cache!.delete(key));
  }
  return p;
}

/** Releases a bundle's sessions of one role (every precision). */
export async function releaseRoleSession(b: DiffusionBundle, role: ModelRole): Promise<void> {
  const cache = sessionCache.get(b);
  if (!cache) return;
  for (const [key, p] of [...cache]) {
    if (!key.startsWith(`${role}:`)) continue;
    cache.delete(key);
    const s = await p.catch(() => null);
    await s?.release();
  }
}

/** All of the bundle's ONNX sessions. */
export async function bundleSessions(b: DiffusionBundle, precision: Precision = 'auto'): Promise<Sessions> {
  const out = {} as Sessions;
  for (const role of MODEL_ROLES) out[role] = await roleSession(b, role, precision);
  return out;
}

/** Releases the ONNX sessions held for a bundle. */
export async function releaseBundleSessions(b: DiffusionBundle): Promise<void> {
  for (const role of MODEL_ROLES) await releaseRoleSession(b, role);
  sessionCache.delete(b);
}

/** A model file over this size counts as full-size: its session is released as soon as it is no longer needed. */
const LARGE_MODEL_BYTES = 256 * 1024 ** 2;
const modelBytes = (b: DiffusionBundle, role: ModelRole) => b.manifest.models[role].file.bytes + (b.manifest.models[role].data?.bytes ?? 0);

/** Where each network of a run computed (the cell shows this). */
export type NetworkPlacements = Partial<Record<ModelRole, { provider: ExecutionProviderName; compute: 'float32' | 'float16'; attentionDecomposed: boolean; fallback?: string }>>;

const ROLE_TITLES: Record<ModelRole, string> = {
  guidanceEncoder: 'guidance encoders',
  vaeEncoder: 'VAE encoder',
  referenceUnet: 'reference UNet (bank)',
  denoisingUnet: 'denoising UNet',
  vaeDecoder: 'VAE decoder',
};

/** Where each network computed (the sampling stage shows it in the cell, as toMarkdown()). */
export class ProviderReport {
  constructor(readonly placements: NetworkPlacements) {}

  rows(): { network: string; provider: string; compute: string; note: string }[] {
    return (['guidanceEncoder', 'vaeEncoder', 'referenceUnet', 'denoisingUnet', 'vaeDecoder'] as ModelRole[])
      .filter((r) => this.placements[r])
      .map((r) => {
        const p = this.placements[r]!;
        const note = [p.fallback ? `fell back to the CPU: ${p.fallback}` : '', p.attentionDecomposed ? 'attention decomposed for this provider' : '', p.provider !== 'cpu' ? 'nodes the provider lacks run on the CPU' : '']
          .filter(Boolean)
          .join('; ');
        return { network: ROLE_TITLES[r], provider: p.provider, compute: p.compute, note };
      });
  }

  toString(): string {
    return this.rows().map((r) => `${r.network}: ${r.provider} (${r.compute})${r.note ? ` — ${r.note}` : ''}`).join('\n');
  }

  toMarkdown(): string {
    return ['| network | execution provider | compute | |', '|---|---|---|---|', ...this.rows().map((r) => `| ${r.network} | \`${r.provider}\` | ${r.compute} | ${r.note} |`)].join('\n');
  }
}

const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

const opened = new Map<string, { mtimeMs: number; bundle: DiffusionBundle }>();

/**
 * Loads (and validates) a bundle folder once per process; later calls with the same folder return the same object,
 * so its ONNX sessions are reused. A rewritten manifest (new mtime) is loaded afresh.
 */
export async function openBundle(dir: string): Promise<DiffusionBundle> {
  const key = resolve(dir);
  let mtimeMs = -1;
  try {
    mtimeMs = statSync(join(key, MANIFEST)).mtimeMs;
  } catch {
    /* loadBundle reports it */
  }
  const hit = opened.get(key);
  if (hit && hit.mtimeMs === mtimeMs) return hit.bundle;
  if (hit) await releaseBundleSessions(hit.bundle);
  const bundle = await loadBundle(key);
  opened.set(key, { mtimeMs, bundle });
  return bundle;
}

// ------------------------------------------------------------------------------------------------------------------
// Progress in network calls, with the phase as its detail

function counter(total: number, onProgress: SampleOptions['onProgress']) {
  let done = 0;
  let detail = '';
  return {
    tick(d?: string) {
      if (d !== undefined) detail = d;
      onProgress?.(++done, total, detail);
    },
    setDetail(d: string) {
      detail = d;
      onProgress?.(done, total, detail);
    },
  };
}
type Counter = ReturnType<typeof counter>;

// ------------------------------------------------------------------------------------------------------------------

interface GuidanceFrames {
  count: number;
  get(i: number): Promise<Float32Array>;
  maps?: Partial<Record<GuidanceType, readonly AnyImage[]>>;
  dispose(): void;
}

function guidanceCount(g: GuidanceInput): number {
  if ('sum' in g) return g.sum.length;
  if ('features' in g) return Array.isArray(g.features) ? g.features.length : (g.features as { count: number }).count;
  const lens = Object.values(g.maps).filter(Boolean).map((m) => m!.length);
  if (!lens.length) throw new MagicPortraitError('Guidance maps: give at least one of depth, normal, render.', 'bad-input');
  if (lens.some((n) => n !== lens[0])) throw new MagicPortraitError(`Guidance maps have different frame counts (${lens.join(', ')}).`, 'bad-input');
  return lens[0]!;
}

/** What a sampling run will do, checked before any network runs (diffusers' `check_inputs`). */
export interface SamplingPlan {
  bundle: DiffusionBundle;
  label: string | undefined;
  /** Model image size, latent size, latent channels, the UNet's first-block channels. */
  S: number;
  lat: number;
  C: number;
  C0: number;
  latFrame: number;
  featFrame: number;
  steps: number;
  scale: number;
  preset: SamplePreset;
  /** Guidance frames used: [f0, f0 + F). */
  f0: number;
  F: number;
  cfg: boolean;
  windows: number[][];
  scheduler: DDIMScheduler;
  timesteps: number[];
}

/** Step 1: the bundle, frame range, CFG, context windows and timesteps of a run; bad settings fail here. */
export async function planSampling(input: SampleInput): Promise<SamplingPlan> {
  const bundle = typeof input.bundle === 'string' ? await openBundle(input.bundle) : input.bundle;
  const m = bundle.manifest;
  const arch = m.architecture;
  const lat = latentSize(arch);
  const C = arch.unet.inChannels;
  const C0 = arch.unet.blockOutChannels[0]!;
  const steps = input.steps ?? m.sampling.steps;
  const scale = input.guidanceScale ?? m.sampling.guidanceScale;
  if (!Number.isFinite(scale)) throw new MagicPortraitError(`guidanceScale must be a number, got ${scale}.`, 'bad-argument');
  const preset = input.preset ?? 'studio';
  const [f0, f1] = selectFrames(guidanceCount(input.guidance), input);
  const F = f1 - f0;
  const scheduler = new DDIMScheduler({ ...m.scheduler, ...input.scheduler });
  return {
    bundle, label: m.label, S: arch.imageSize, lat, C, C0, latFrame: C * lat * lat, featFrame: C0 * lat * lat, steps, scale, preset, f0, F,
    // pipeline_aggregation.py: do_classifier_free_guidance = guidance_scale > 1
    cfg: preset === 'studio' || scale > 1,
    windows: contextWindows(F, { ...m.sampling.context, ...input.context }, arch.unet.motion.maxLen),
    scheduler,
    timesteps: [...scheduler.setTimesteps(steps)],
  };
}

/** Step 2: the initial latent, frame-major (F, 4, h, w): seeded noise, or the injected `noise` / `latents`. */
export function prepareLatents(input: SampleInput, plan: SamplingPlan): { x: Float32Array; seed: number | null } {
  const { F, C, lat, latFrame } = plan;
  if (input.noise !== undefined && input.latents !== undefined) throw new MagicPortraitError('Give the initial latent as `noise` or as `latents`, not both.', 'bad-argument');
  const injected = input.noise ?? input.latents;
  if (injected === undefined) {
    const seed = input.seed ?? 42;
    return { x: seededLatentNoise(seed, F, C, lat, lat), seed };
  }
  if (typeof injected === 'string') return { x: loadNoiseNpy(injected, { frames: F, channels: C, height: lat, width: lat }), seed: null };
  if (injected.length !== F * latFrame)
    throw new MagicPortraitError(`Injected noise has ${injected.length} values; ${F} frames need ${F}×${C}×${lat}×${lat} = ${F * latFrame} (frame-major).`, 'bad-shape');
  return { x: Float32Array.from(injected), seed: null };
}

/** The networks of a run, opened on demand through the one session factory; where each computes is recorded. */
class RunSessions {
  readonly placements: NetworkPlacements = {};
  constructor(private readonly bundle: DiffusionBundle, private readonly precision: Precision) {}

  async open(role: ModelRole, keepOnDevice?: string[]): Promise<ort.InferenceSession> {
    const ses = await roleSession(this.bundle, role, this.precision, keepOnDevice);
    const p = sessionPlacement(ses);
    if (p) this.placements[role] = { provider: p.provider, compute: p.compute, attentionDecomposed: p.attentionDecomposed, ...(p.fallback ? { fallback: p.fallback } : {}) };
    return ses;
  }
}

/** The reference attention bank, and the empty bank of the unconditional branch. */
interface Banks {
  bank: Record<string, ort.Tensor>;
  noBank: Record<string, ort.Tensor>;
}

/** Step 4: reference → VAE mean → reference UNet taps (fp16), once. */
async function encodeReference(reference: AnyImage, plan: SamplingPlan, sessions: RunSessions, text: ort.Tensor, progress: Counter, signal: AbortSignal | undefined): Promise<Banks> {
  const { S, bundle } = plan;
  throwIfCancelled(signal, 'sampling');
  const ref = resizeImage(asRgb(reference), S, S, 'lanczos');
  const zr = (await (await sessions.open('vaeEncoder')).run({ [VAE_IO.image]: f32(toPlanar(ref, 2, -1), [1, 3, S, S]) }))[VAE_IO.latent]!;
  progress.tick('encoding the reference');
  throwIfCancelled(signal, 'sampling');
  const sites = bankSites(bundle.manifest.architecture);
  // WebGPU keeps the banks on the device for every denoising call (other providers take them from host memory)
  const refSession = await sessions.open('referenceUnet', sites.map((_, i) => bankName(i)));
  const bankOut = await refSession.run({
    [UNET_IO.refLatents]: zr,
    [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    [UNET_IO.text]: text,
  });
  // A full-size reference UNet on the CPU holds gigabytes for one call: release it before the denoising UNet opens
  if (modelBytes(bundle, 'referenceUnet') > LARGE_MODEL_BYTES && sessions.placements.referenceUnet?.provider === 'cpu') await releaseRoleSession(bundle, 'referenceUnet');
  const banks: Banks = { bank: {}, noBank: {} };
  sites.forEach((s, i) => {
    banks.bank[bankName(i)] = bankOut[bankName(i)]!;
    banks.noBank[bankName(i)] = new ort.Tensor('float16', new Uint16Array(0), [1, 0, s.channels]);
  });
  progress.tick('reference attention bank');
  return banks;
}

/** Step 5: the DDIM loop over the context windows, both CFG branches; x is denoised in place. */
async function denoise(
  x: Float32Array, plan: SamplingPlan, guidance: GuidanceFrames, banks: Banks, text: ort.Tensor, networks: { denoiser: ort.InferenceSession; decoder: ort.InferenceSession },
  timings: SampleTimings, progress: Counter, options: SampleOptions,
): Promise<void> {
  const { F, C, C0, lat, S, latFrame, featFrame, steps, windows, cfg, scale, scheduler, timesteps } = plan;
  const signal = options.signal;
  const previewEvery = options.onPreview ? (options.previewEvery ?? 5) : 0;
  const previewFrames = Math.max(1, Math.min(options.previewFrames ?? 4, F));
  const aggU = new WindowAggregator(F, latFrame);
  const aggC = new WindowAggregator(F, latFrame);
  const v = new Float32Array(F * latFrame);
  const x0 = new Float32Array(F * latFrame);
  const runUnet = async (xs: Float32Array, gs: Float32Array, t: number, bank: Record<string, ort.Tensor>) => {
    throwIfCancelled(signal, 'sampling');
    const n = xs.length / latFrame;
    const tu = performance.now();
    const out = await networks.denoiser.run({
      [UNET_IO.sample]: f32(xs, [n, C, lat, lat]),
      [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(BigInt(t)), [1]),
      [UNET_IO.text]: text,
      [UNET_IO.guidance]: f32(gs, [n, C0, lat, lat]),
      ...bank,
    });
    timings.unetMs += performance.now() - tu;
    timings.unetCalls++;
    return out[UNET_IO.out]!.data as Float32Array;
  };
  for (let j = 0; j < steps; j++) {
    const t = timesteps[j]!;
    aggU.reset();
    aggC.reset();
    for (let wi = 0; wi < windows.length; wi++) {
      const w = windows[wi]!;
      progress.setDetail(`step ${j + 1}/${steps}, window ${wi + 1}/${windows.length}`);
      const xs = gatherFrames(x, latFrame, w);
      const gs = new Float32Array(w.length * featFrame);
      for (let k = 0; k < w.length; k++) gs.set(await guidance.get(w[k]!), k * featFrame);
      if (cfg) {
        aggU.add(w, await runUnet(xs, gs, t, banks.noBank));
        progress.tick();
      }
      aggC.add(w, await runUnet(xs, gs, t, banks.bank));
      progress.tick();
    }
    if (cfg) applyGuidance(aggU.average(), aggC.average(), scale, v);
    else v.set(aggC.sum); // the official CFG-off path: the conditional sum, not divided by the window count
    scheduler.step(v, t, x, x, x0);
    if (previewEvery > 0 && ((j + 1) % previewEvery === 0 || j === steps - 1)) {
      throwIfCancelled(signal, 'sampling');
      const idx = Array.from({ length: previewFrames }, (_, k) => Math.round((k * (F - 1)) / Math.max(1, previewFrames - 1)));
      const frames: AnyImage[] = [];
      for (const fi of idx) frames.push(await decodeFrame(networks.decoder, x0.subarray(fi * latFrame, (fi + 1) * latFrame), C, lat, S, S, S));
      await options.onPreview!({ step: j + 1, steps, timestep: t, frameIndices: idx, frames });
    }
  }
}

/** Step 6: the latents decoded one frame at a time into a frame store (memory, or a temp file when large). */
async function decodeLatents(x: Float32Array, plan: SamplingPlan, decoder: ort.InferenceSession, size: { width: number; height: number }, budget: number, progress: Counter, signal: AbortSignal | undefined): Promise<SampledFrames> {
  const { F, C, lat, S, latFrame, bundle, label } = plan;
  const store = new RecordStore(size.width * size.height * 3, F, budget);
  try {
    for (let i = 0; i < F; i++) {
      throwIfCancelled(signal, 'sampling');
      progress.setDetail(`decoding frame ${i + 1}/${F}`);
      const img = await decodeFrame(decoder, x.subarray(i * latFrame, (i + 1) * latFrame), C, lat, S, size.height, size.width);
      store.write(i, img.data);
      progress.tick();
    }
  } catch (e) {
    store.dispose();
    throw e;
  }
  return new SampledFrames(store, F, size.width, size.height, bundle.manifest.sampling.fps, label);
}

/**
 * Samples a video: the steps above in order. See the module comment for the algorithm; `SampleResult` for what comes
 * back. `onProgress` counts network calls (guidance encodings, the reference, UNet calls, frame decodes).
 */
export async function sample(input: SampleInput, options: SampleOptions = {}): Promise<SampleResult> {
  const t0 = performance.now();
  const plan = await planSampling(input);
  const { bundle, F, f0, steps, windows, cfg, featFrame, S } = plan;
  const { x, seed } = prepareLatents(input, plan);
  const signal = options.signal;
  const budget = options.memoryBudget ?? 256 * 1024 ** 2;
  const mapsGiven = 'maps' in input.guidance;
  const timings: SampleTimings = { totalMs: 0, guidanceMs: 0, referenceMs: 0, unetCalls: 0, unetMs: 0, decodeMs: 0, encodeMs: 0 };
  const progress = counter((mapsGiven ? F : 0) + 2 + steps * windows.length * (cfg ? 2 : 1) + F, options.onProgress);
  const sessions = new RunSessions(bundle, input.precision ?? 'auto');
  const arch = bundle.manifest.architecture;
  const text = f32(readTextEmbeds(bundle), [1, arch.text.tokens, arch.text.dim]);
  let guidance: GuidanceFrames | null = null;
  try {
    const tg = performance.now();
    guidance = await prepareGuidance(input.guidance, f0, F, featFrame, S, () => sessions.open('guidanceEncoder'), arch.guidance.types, budget, () => progress.tick('encoding guidance'), signal);
    timings.guidanceMs = performance.now() - tg;
    const tr = performance.now();
    const banks = await encodeReference(input.reference, plan, sessions, text, progress, signal);
    timings.referenceMs = performance.now() - tr;
    const networks = { denoiser: await sessions.open('denoisingUnet'), decoder: await sessions.open('vaeDecoder') };
    const providers = new ProviderReport(sessions.placements);
    options.onProviders?.(providers);
    await denoise(x, plan, guidance, banks, text, networks, timings, progress, options);
    const size = options.outputSize === 'model' ? { width: S, height: S } : { width: input.reference.width, height: input.reference.height };
    const td = performance.now();
    const frames = await decodeLatents(x, plan, networks.decoder, size, budget, progress, signal);
    timings.decodeMs = performance.now() - td;
    timings.totalMs = performance.now() - t0;
    return {
      ...(plan.label ? { label: plan.label } : {}),
      frames, frameCount: F, width: size.width, height: size.height, fps: bundle.manifest.sampling.fps, latents: x,
      windows, timesteps: plan.timesteps, steps, guidanceScale: plan.scale, frameRange: [f0, f0 + F], preset: plan.preset, cfg, seed, timings, providers,
      ...(guidance.maps ? { maps: guidance.maps } : {}),
    };
  } finally {
    guidance?.dispose();
  }
}

/** VAE-decodes one frame's latent (4, h, w) → 8-bit RGB at outH×outW (bilinear resize, then trunc(255·x)). */
async function decodeFrame(dec: ort.InferenceSession, z: Float32Array, C: number, lat: number, S: number, outH: number, outW: number): Promise<AnyImage> {
  const out = await dec.run({ [VAE_IO.latent]: f32(z.slice(), [1, C, lat, lat]) });
  const img = out[VAE_IO.image]!.data as Float32Array;
  return planarToRgb8(bilinearResize(img, 3, S, S, outH, outW), outH, outW);
}

async function prepareGuidance(
  g: GuidanceInput,
  f0: number,
  F: number,
  featFrame: number,
  S: number,
  openEncoder: () => Promise<ort.InferenceSession>,
  types: readonly GuidanceType[],
  budget: number,
  tick: () => void,
  signal: AbortSignal | undefined,
): Promise<GuidanceFrames> {
  const check = (v: Float32Array, i: number) => {
    if (!(v instanceof Float32Array) || v.length !== featFrame)
      throw new MagicPortraitError(`Guidance features of frame ${i} have ${v?.length} values; the bundle's UNet needs ${featFrame} (C0·h·w).`, 'bad-shape');
    return v;
  };
  if ('sum' in g) return { count: F, get: async (i) => check(g.sum[f0 + i]!, f0 + i), dispose: () => {} };
  if ('features' in g) {
    const src = g.features;
    if (Array.isArray(src)) {
      const arr = src as readonly Float32Array[];
      return { count: F, get: async (i) => check(arr[f0 + i]!, f0 + i), dispose: () => {} };
    }
    const lazy = src as { get(i: number): Float32Array | Promise<Float32Array> };
    return { count: F, get: async (i) => check(await lazy.get(f0 + i), f0 + i), dispose: () => {} };
  }
  // maps → the bundle's guidance encoders, one frame at a time, into a store
  const maps = g.maps;
  for (const t of types) if (!maps[t]) throw new MagicPortraitError(`Guidance maps: '${t}' is missing (the bundle encodes ${types.join(', ')}).`, 'bad-input');
  const store = new FloatRecordStore(featFrame, F, budget);
  try {
    const encoder = await openEncoder();
    for (let i = 0; i < F; i++) {
      throwIfCancelled(signal, 'sampling');
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of types) feeds[t] = f32(toPlanar(resizeImage(asRgb(maps[t]![f0 + i]!), S, S, 'bicubic')), [1, 3, S, S]);
      const out = await encoder.run(feeds);
      store.write(i, out[GUIDANCE_IO.out]!.data as Float32Array);
      tick();
    }
  } catch (e) {
    store.dispose();
    throw e;
  }
  return { count: F, get: async (i) => store.read(i), maps, dispose: () => store.dispose() };
}
