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
 * cannot see the reference). Everything is float32 except the fp16 bank, as in the reference. Frames and guidance
 * features are streamed through stores that spill to a temporary file when large; the latent itself is small.
 *
 * Live: a progress bar (step j/N, window i/n, ETA), previews of the predicted x̂0 every few steps (display + callback),
 * cancellation between network calls. Videos are encoded to temporary names and only published (artifact store,
 * optional `outDir`) once complete.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { createSession, ort } from '../onnx/session';
import { checkCancelled, currentRun } from '../runtime/context';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { FrameSequenceDisplay, type RgbImage } from '../runtime/frames';
import { Progress } from '../runtime/progress';
import type { MimeBundle } from '../runtime/protocol';
import { type DiffusionBundle, type ModelRole, MANIFEST, MODEL_ROLES, loadBundle, modelPath, readTextEmbeds } from './bundle';
import { type ContextOptions, WindowAggregator, contextWindows, gatherFrames } from './context';
import { bankName, bankSites, latentSize } from './graph/config';
import { GUIDANCE_IO } from './graph/guidance';
import { UNET_IO } from './graph/unet';
import { VAE_IO } from './graph/vae';
import { asRgb, bilinearResize, gridRow, planarToRgb8, resizeImage, toPlanar } from './image-ops';
import { loadNoiseNpy, seededLatentNoise } from './noise';
import { DDIMScheduler, applyGuidance } from './scheduler';
import { FloatRecordStore, RecordStore } from './store';
import { VideoOutput, encodeMp4 } from './video-out';

export type GuidanceType = 'depth' | 'normal' | 'render';

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
  | { maps: Partial<Record<GuidanceType, readonly RgbImage[]>> };

export interface SampleInput {
  /** The identity image (8-bit). Resized to the model size with Lanczos when it differs (§7.4). */
  reference: RgbImage;
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
  /** Use only the first n guidance frames (the reference's frame_range). */
  frames?: number;
  /** Context-window overrides (default: the bundle's, 12 frames, overlap 1, closed loop). */
  context?: Partial<ContextOptions>;
}

export interface SamplePreview {
  /** 1-based step just finished, and the total. */
  step: number;
  steps: number;
  timestep: number;
  /** Which frames are shown. */
  frameIndices: number[];
  /** The predicted clean frames x̂0 at this step, decoded (model size). */
  frames: RgbImage[];
}

export interface SampleOptions {
  onPreview?: (p: SamplePreview) => void | Promise<void>;
  /** Preview every n steps (and after the last); 0 disables previews. Default 5. */
  previewEvery?: number;
  /** Frames decoded per preview (evenly spaced). Default 4. */
  previewFrames?: number;
  /** Emit live progress and preview displays into the current run (default true). */
  display?: boolean;
  /** Encode the MP4s (default true). */
  video?: boolean;
  /** Also write animation.mp4 and grid.mp4 into this folder (temp name, renamed when both are complete). */
  outDir?: string;
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

/** Decoded output frames, kept in memory or a temp file; iterable, displayable as a frame sequence. */
export class SampledFrames implements Displayable {
  constructor(
    private readonly store: RecordStore,
    readonly count: number,
    readonly width: number,
    readonly height: number,
    readonly fps: number,
    readonly label?: string,
  ) {}

  get(i: number): RgbImage {
    return { width: this.width, height: this.height, channels: 3, data: this.store.read(i) };
  }

  *[Symbol.iterator](): Iterator<RgbImage> {
    for (let i = 0; i < this.count; i++) yield this.get(i);
  }

  /** Frees the temporary file of a large sequence. */
  dispose(): void {
    this.store.dispose();
  }

  [DISPLAY](ctx: DisplayContext): Promise<MimeBundle> {
    return new FrameSequenceDisplay([{ name: 'output', frames: this }], { title: 'Sampled frames', fps: this.fps, label: this.label })[DISPLAY](ctx);
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
  /** animation.mp4: the result only. Null when `video: false`. */
  video: VideoOutput | null;
  /** guidance.mp4 layout: reference | result | depth | normal | render (maps given), else reference | result. */
  grid: VideoOutput | null;
  /** Files written to `outDir`, when given. */
  files?: { animation: string; grid: string };
  windows: number[][];
  timesteps: number[];
  steps: number;
  guidanceScale: number;
  /** The seed used, or null when the noise was injected. */
  seed: number | null;
  timings: SampleTimings;
}

// ------------------------------------------------------------------------------------------------------------------
// Sessions

type Sessions = Record<ModelRole, ort.InferenceSession>;
const sessionCache = new WeakMap<DiffusionBundle, Promise<Sessions>>();

/** The bundle's ONNX sessions (created once per bundle object, through the one session factory). */
export function bundleSessions(b: DiffusionBundle): Promise<Sessions> {
  let p = sessionCache.get(b);
  if (!p) {
    p = (async () => {
      const out = {} as Sessions;
      for (const role of MODEL_ROLES) {
        const s = await createSession(modelPath(b, role), { label: `${b.manifest.models[role].file.path} (diffusion bundle ${b.dir})` });
        const want = b.manifest.io[role];
        const missing = [...want.inputs.filter((n) => !s.inputNames.includes(n)), ...want.outputs.filter((n) => !s.outputNames.includes(n))];
        if (missing.length) throw new MagicPortraitError(`${modelPath(b, role)} lacks the graph inputs/outputs ${missing.join(', ')} that its manifest lists.`, 'bad-bundle');
        out[role] = s;
      }
      return out;
    })();
    sessionCache.set(b, p);
    p.catch(() => sessionCache.delete(b));
  }
  return p;
}

/** Releases the ONNX sessions held for a bundle. */
export async function releaseBundleSessions(b: DiffusionBundle): Promise<void> {
  const p = sessionCache.get(b);
  sessionCache.delete(b);
  if (!p) return;
  const s = await p.catch(() => null);
  if (s) for (const role of MODEL_ROLES) await s[role].release();
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
// Progress with a live detail line

function liveProgress(title: string, total: number, enabled: boolean) {
  const run = currentRun();
  const id = `diffusion-progress-${randomBytes(4).toString('hex')}`;
  const p = new Progress(title, total, (bundle, first) => {
    if (!enabled) return;
    if (first) run.emitDisplay(bundle, id);
    else run.updateDisplay(bundle, id);
  }, 'network calls');
  return {
    tick(d?: string) {
      if (d !== undefined) p.setDetail(d);
      p.tick();
    },
    setDetail(d: string) {
      p.setDetail(d);
    },
    finish(failed?: string) {
      p.finish(failed);
    },
  };
}

// ------------------------------------------------------------------------------------------------------------------

interface GuidanceFrames {
  count: number;
  get(i: number): Promise<Float32Array>;
  maps?: Partial<Record<GuidanceType, readonly RgbImage[]>>;
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

/**
 * Samples a video. See the module comment for the algorithm; `SampleResult` for what comes back.
 */
export async function sample(input: SampleInput, options: SampleOptions = {}): Promise<SampleResult> {
  const t0 = performance.now();
  const bundle = typeof input.bundle === 'string' ? await openBundle(input.bundle) : input.bundle;
  const m = bundle.manifest;
  const arch = m.architecture;
  const label = m.label;
  const S = arch.imageSize;
  const lat = latentSize(arch);
  const C = arch.unet.inChannels;
  const C0 = arch.unet.blockOutChannels[0]!;
  const latFrame = C * lat * lat;
  const featFrame = C0 * lat * lat;
  const steps = input.steps ?? m.sampling.steps;
  const scale = input.guidanceScale ?? m.sampling.guidanceScale;
  if (!Number.isFinite(scale)) throw new MagicPortraitError(`guidanceScale must be a number, got ${scale}.`, 'bad-argument');
  const available = guidanceCount(input.guidance);
  const F = input.frames === undefined ? available : Math.min(input.frames, available);
  if (!Number.isInteger(F) || F < 1) throw new MagicPortraitError(`Nothing to sample: ${available} guidance frame(s), frames = ${input.frames}.`, 'bad-input');
  const windows = contextWindows(F, { ...m.sampling.context, ...input.context }, arch.unet.motion.maxLen);
  const scheduler = new DDIMScheduler(m.scheduler);
  const timesteps = [...scheduler.setTimesteps(steps)];
  const mapsGiven = 'maps' in input.guidance;
  const budget = options.memoryBudget ?? 256 * 1024 ** 2;
  const display = options.display ?? true;
  const previewEvery = options.previewEvery ?? 5;
  const previewFrames = Math.max(1, Math.min(options.previewFrames ?? 4, F));
  const timings: SampleTimings = { totalMs: 0, guidanceMs: 0, referenceMs: 0, unetCalls: 0, unetMs: 0, decodeMs: 0, encodeMs: 0 };

  // initial latent (checked before any network runs)
  let x: Float32Array;
  let seed: number | null = null;
  if (input.noise === undefined) {
    seed = input.seed ?? 42;
    x = seededLatentNoise(seed, F, C, lat, lat);
  } else if (typeof input.noise === 'string') x = loadNoiseNpy(input.noise, { frames: F, channels: C, height: lat, width: lat });
  else {
    if (input.noise.length !== F * latFrame)
      throw new MagicPortraitError(`Injected noise has ${input.noise.length} values; ${F} frames need ${F}×${C}×${lat}×${lat} = ${F * latFrame} (frame-major).`, 'bad-shape');
    x = Float32Array.from(input.noise);
  }

  const title = `Sampling${label ? ` (${label})` : ''}`;
  const total = (mapsGiven ? F : 0) + 2 + steps * windows.length * 2 + F;
  const progress = liveProgress(title, total, display);
  const sessions = await bundleSessions(bundle);
  const text = f32(readTextEmbeds(bundle), [1, arch.text.tokens, arch.text.dim]);
  let guidance: GuidanceFrames | null = null;
  let frameStore: RecordStore | null = null;
  const tmp = mkdtempSync(join(tmpdir(), 'mp-sample-'));
  let published = false;
  try {
    // ---- guidance features
    const tg = performance.now();
    guidance = await prepareGuidance(input.guidance, F, featFrame, S, sessions.guidanceEncoder, arch.guidance.types, budget, () => progress.tick('encoding guidance'));
    timings.guidanceMs = performance.now() - tg;

    // ---- reference: VAE mean → reference UNet bank (fp16), once
    checkCancelled('sampling');
    const tr = performance.now();
    const ref = resizeImage(asRgb(input.reference), S, S, 'lanczos');
    const refImg = toPlanar(ref, 2, -1);
    const zr = (await sessions.vaeEncoder.run({ [VAE_IO.image]: f32(refImg, [1, 3, S, S]) }))[VAE_IO.latent]!;
    progress.tick('encoding the reference');
    checkCancelled('sampling');
    const bankOut = await sessions.referenceUnet.run({
      [UNET_IO.refLatents]: zr,
      [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
      [UNET_IO.text]: text,
    });
    const sites = bankSites(arch);
    const bank: Record<string, ort.Tensor> = {};
    const noBank: Record<string, ort.Tensor> = {};
    sites.forEach((s, i) => {
      bank[bankName(i)] = bankOut[bankName(i)]!;
      noBank[bankName(i)] = new ort.Tensor('float16', new Uint16Array(0), [1, 0, s.channels]);
    });
    progress.tick('reference attention bank');
    timings.referenceMs = performance.now() - tr;

    // ---- denoising loop
    const aggU = new WindowAggregator(F, latFrame);
    const aggC = new WindowAggregator(F, latFrame);
    const v = new Float32Array(F * latFrame);
    const x0 = new Float32Array(F * latFrame);
    const runUnet = async (xs: Float32Array, gs: Float32Array, t: number, banks: Record<string, ort.Tensor>) => {
      checkCancelled('sampling');
      const n = xs.length / latFrame;
      const tu = performance.now();
      const out = await sessions.denoisingUnet.run({
        [UNET_IO.sample]: f32(xs, [n, C, lat, lat]),
        [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(BigInt(t)), [1]),
        [UNET_IO.text]: text,
        [UNET_IO.guidance]: f32(gs, [n, C0, lat, lat]),
        ...banks,
      });
      timings.unetMs += performance.now() - tu;
      timings.unetCalls++;
      return out[UNET_IO.out]!.data as Float32Array;
    };
    const previewDisplayId = `diffusion-preview-${randomBytes(4).toString('hex')}`;
    let previewShown = false;
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
        aggU.add(w, await runUnet(xs, gs, t, noBank));
        progress.tick();
        aggC.add(w, await runUnet(xs, gs, t, bank));
        progress.tick();
      }
      applyGuidance(aggU.average(), aggC.average(), scale, v);
      scheduler.step(v, t, x, x, x0);
      const last = j === steps - 1;
      if (previewEvery > 0 && ((j + 1) % previewEvery === 0 || last) && (options.onPreview || display)) {
        checkCancelled('sampling');
        const idx = Array.from({ length: previewFrames }, (_, k) => Math.round((k * (F - 1)) / Math.max(1, previewFrames - 1)));
        const frames: RgbImage[] = [];
        for (const fi of idx) frames.push(await decodeFrame(sessions.vaeDecoder, x0.subarray(fi * latFrame, (fi + 1) * latFrame), C, lat, S, S, S));
        const p: SamplePreview = { step: j + 1, steps, timestep: t, frameIndices: idx, frames };
        await options.onPreview?.(p);
        if (display) {
          const run = currentRun();
          const b = await new FrameSequenceDisplay([{ name: `x̂0 at step ${j + 1}/${steps}`, frames }], { title: `${title}: predicted frames (x̂0), step ${j + 1}/${steps}`, fps: 4, label })[DISPLAY]({ artifacts: run.artifacts });
          if (previewShown) run.updateDisplay(b, previewDisplayId);
          else run.emitDisplay(b, previewDisplayId);
          previewShown = true;
        }
      }
    }

    // ---- decode, one frame at a time, into the frame store
    const outW = options.outputSize === 'model' ? S : input.reference.width;
    const outH = options.outputSize === 'model' ? S : input.reference.height;
    frameStore = new RecordStore(outW * outH * 3, F, budget);
    const td = performance.now();
    for (let i = 0; i < F; i++) {
      checkCancelled('sampling');
      progress.setDetail(`decoding frame ${i + 1}/${F}`);
      const img = await decodeFrame(sessions.vaeDecoder, x.subarray(i * latFrame, (i + 1) * latFrame), C, lat, S, outH, outW);
      frameStore.write(i, img.data as Uint8Array);
      progress.tick();
    }
    timings.decodeMs = performance.now() - td;
    const frames = new SampledFrames(frameStore, F, outW, outH, m.sampling.fps, label);

    // ---- videos: temp files first, published only when complete
    let video: VideoOutput | null = null;
    let grid: VideoOutput | null = null;
    let files: SampleResult['files'];
    if (options.video ?? true) {
      progress.setDetail('encoding video');
      const te = performance.now();
      const fps = m.sampling.fps;
      const animPath = join(tmp, 'animation.mp4');
      const gridPath = join(tmp, 'grid.mp4');
      await encodeMp4(animPath, cancellable(frames), fps);
      const refTile = resizeImage(asRgb(input.reference), outW, outH, 'lanczos');
      const mapTiles = mapsGiven ? (['depth', 'normal', 'render'] as const).filter((k) => guidance!.maps![k]) : [];
      const gridFrames = function* () {
        for (let i = 0; i < F; i++) {
          checkCancelled('sampling');
          const tiles = [refTile, frames.get(i), ...mapTiles.map((k) => resizeImage(asRgb(guidance!.maps![k]![i]!), outW, outH, 'bicubic'))];
          yield gridRow(tiles, 2);
        }
      };
      await encodeMp4(gridPath, gridFrames(), fps);
      const run = currentRun();
      const gw = (mapTiles.length + 2) * (outW + 2) + 2;
      video = new VideoOutput(run.artifacts.put(readFileSync(animPath), 'mp4', 'video/mp4'), { title: 'Animation', width: outW, height: outH, fps, frames: F, label }, run.artifacts);
      grid = new VideoOutput(
        run.artifacts.put(readFileSync(gridPath), 'mp4', 'video/mp4'),
        { title: `Reference | result${mapTiles.length ? ' | ' + mapTiles.join(' | ') : ''}`, width: gw, height: outH + 4, fps, frames: F, label },
        run.artifacts,
      );
      if (options.outDir) files = publish(options.outDir, { 'animation.mp4': animPath, 'grid.mp4': gridPath });
      timings.encodeMs = performance.now() - te;
    }
    published = true;
    progress.setDetail(`${F} frames`);
    progress.finish();
    timings.totalMs = performance.now() - t0;
    return {
      ...(label ? { label } : {}),
      frames,
      frameCount: F,
      width: outW,
      height: outH,
      fps: m.sampling.fps,
      latents: x,
      video,
      grid,
      ...(files ? { files } : {}),
      windows,
      timesteps,
      steps,
      guidanceScale: scale,
      seed,
      timings,
    };
  } catch (e) {
    progress.finish((e as Error).name === 'CancelledError' ? 'cancelled' : (e as Error).message);
    if (!published) frameStore?.dispose();
    throw e;
  } finally {
    guidance?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Copies finished files into `dir` under temporary names, then renames them all (nothing half-written is visible). */
function publish(dir: string, files: Record<string, string>): { animation: string; grid: string } {
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  const staged: [string, string][] = [];
  try {
    for (const [name, src] of Object.entries(files)) {
      const part = join(out, `.${name}.${randomBytes(4).toString('hex')}.partial`);
      copyFileSync(src, part);
      staged.push([part, join(out, name)]);
    }
    for (const [part, final] of staged) renameSync(part, final);
  } catch (e) {
    for (const [part] of staged) rmSync(part, { force: true });
    throw new MagicPortraitError(`Could not write the videos to ${out}: ${(e as Error).message}`, 'write-failed');
  }
  return { animation: join(out, 'animation.mp4'), grid: join(out, 'grid.mp4') };
}

function* cancellable(frames: Iterable<RgbImage>): Generator<RgbImage> {
  for (const f of frames) {
    checkCancelled('sampling');
    yield f;
  }
}

/** VAE-decodes one frame's latent (4, h, w) → 8-bit RGB at outH×outW (bilinear resize, then trunc(255·x)). */
async function decodeFrame(dec: ort.InferenceSession, z: Float32Array, C: number, lat: number, S: number, outH: number, outW: number): Promise<RgbImage> {
  const out = await dec.run({ [VAE_IO.latent]: f32(z.slice(), [1, C, lat, lat]) });
  const img = out[VAE_IO.image]!.data as Float32Array;
  return planarToRgb8(bilinearResize(img, 3, S, S, outH, outW), outH, outW);
}

async function prepareGuidance(
  g: GuidanceInput,
  F: number,
  featFrame: number,
  S: number,
  encoder: ort.InferenceSession,
  types: readonly GuidanceType[],
  budget: number,
  tick: () => void,
): Promise<GuidanceFrames> {
  const check = (v: Float32Array, i: number) => {
    if (!(v instanceof Float32Array) || v.length !== featFrame)
      throw new MagicPortraitError(`Guidance features of frame ${i} have ${v?.length} values; the bundle's UNet needs ${featFrame} (C0·h·w).`, 'bad-shape');
    return v;
  };
  if ('sum' in g) return { count: F, get: async (i) => check(g.sum[i]!, i), dispose: () => {} };
  if ('features' in g) {
    const src = g.features;
    if (Array.isArray(src)) {
      const arr = src as readonly Float32Array[];
      return { count: F, get: async (i) => check(arr[i]!, i), dispose: () => {} };
    }
    const lazy = src as { get(i: number): Float32Array | Promise<Float32Array> };
    return { count: F, get: async (i) => check(await lazy.get(i), i), dispose: () => {} };
  }
  // maps → the bundle's guidance encoders, one frame at a time, into a store
  const maps = g.maps;
  for (const t of types) if (!maps[t]) throw new MagicPortraitError(`Guidance maps: '${t}' is missing (the bundle encodes ${types.join(', ')}).`, 'bad-input');
  const store = new FloatRecordStore(featFrame, F, budget);
  try {
    for (let i = 0; i < F; i++) {
      checkCancelled('sampling');
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of types) feeds[t] = f32(toPlanar(resizeImage(asRgb(maps[t]![i]!), S, S, 'bicubic')), [1, 3, S, S]);
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
