/**
 * `mp.sample` as a notebook stage: the pure sampler (diffusion/sample.ts) with the cell's interrupt and a live
 * progress bar (step j/N, window i/n, ETA), the provider report and the x̂0 previews shown while it runs, then the
 * videos — animation.mp4 and the reference | result | maps grid — encoded to temporary names and published (artifact
 * store, optional `outDir`) only once complete.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { throwIfCancelled } from '../task';
import type { AnyImage } from '../io/image';
import { currentRun } from '../runtime/context';
import { DISPLAY, type DisplayContext } from '../runtime/display';
import { FrameSequenceDisplay } from '../runtime/frames';
import type { MimeBundle } from '../../shared/outputs';
import { gridRow, resizeImage, asRgb } from '../diffusion/image-ops';
import { openBundle, sample, ProviderReport, SampledFrames, type SampleInput, type SampleOptions, type SamplePreview, type SampleResult } from '../diffusion/sample';
import { encodeMp4 } from '../diffusion/video-out';
import { cropImage } from '../fit/crop';
import { GuidanceSequence } from './render-guidance';
import { runCellTask, type CellTask } from './cell-task';
import { VideoOutput } from './video-output';
import { FrameFileReader, FrameFileWriter } from './frame-file';
import { stageCache } from './cache';
import { fileKey, folderKey, keyable } from './stage-keys';
import { settings } from '../settings';
import { CONTENT_KEY } from '../io/content-hash';
import type { DiffusionBundle } from '../diffusion/bundle';

export interface SampleStageOptions extends Omit<SampleOptions, 'signal' | 'onProgress' | 'onProviders'> {
  /** Show live progress, the provider report and the x̂0 previews in the cell (default true). */
  display?: boolean;
  /** Encode the MP4s (default true). */
  video?: boolean;
  /** Also write animation.mp4 and grid.mp4 into this folder (temp name, renamed when both are complete). */
  outDir?: string;
  /** Use the stage cache (default true): the frames and final latents are a frame file of the cache, keyed by the
   * reference, the guidance, the bundle's files, the noise and every option that changes the frames; the videos are
   * encoded from them again on a hit. Guidance given as a feature source is not cached. */
  cache?: boolean;
}

/** Bump when the sampler's frames change for the same inputs. */
export const SAMPLE_STAGE = { name: 'sample', version: 1 } as const;

/** `mp.sample`'s input: the sampler's, with `guidance` also a `mp.renderGuidance` result. */
export type SampleStageInput = Omit<SampleInput, 'guidance'> & { guidance: SampleInput['guidance'] | GuidanceSequence };

export interface SampleStageResult extends Omit<SampleResult, 'maps'> {
  /** animation.mp4: the result only. Null when `video: false`. */
  video: VideoOutput | null;
  /** guidance.mp4 layout: reference | result | depth | normal | render (maps given), else reference | result. */
  grid: VideoOutput | null;
  /** Files written to `outDir`, when given (guidance.mp4 with preset 'reference'). */
  files?: { animation: string; grid: string; guidance?: string };
}

/**
 * Samples a video with the diffusion stack. `guidance` may be a `mp.renderGuidance` result itself (its maps are read
 * frame by frame); when it was rendered in a photo's 512² generation crop, a `reference` given as that photo is
 * cropped the same way.
 */
export async function sampleStage(input: SampleStageInput, options: SampleStageOptions = {}): Promise<SampleStageResult> {
  const bundle = typeof input.bundle === 'string' ? await openBundle(input.bundle) : input.bundle;
  const sampleInput = { ...fromGuidanceSequence(input), bundle };
  const display = options.display ?? true;
  const { display: _d, video: _v, outDir: _o, cache, ...sampler } = options;
  const run = currentRun();
  const bundleLabel = bundle.manifest.label;
  const title = `Sampling${bundleLabel ? ` (${bundleLabel})` : ''}`;
  const key = cache === false || !stageCache().enabled ? null : await sampleKey(input, sampleInput, sampler);
  return runCellTask(title, 'network calls', display, async (task) => {
    const previews = display ? previewDisplay(title, bundleLabel) : null;
    const compute = () => sample(sampleInput, {
      ...sampler,
      signal: task.signal,
      onProgress: task.onProgress,
      ...(display ? { onProviders: (p: ProviderReport) => run.emitDisplay(providerBundle(p)) } : {}),
      ...(options.onPreview || previews ? { onPreview: async (p: SamplePreview) => { await options.onPreview?.(p); await previews?.(p); } } : {}),
    });
    const { result: r, hit } = key ? await cachedSample(key, sampleInput, compute) : { result: await compute(), hit: false };
    // a hit runs no network: say where the frames come from, with the report of the run that made them
    if (hit && display) run.emitDisplay(cacheHitNote(r));
    let published = false;
    try {
      displayable(r.frames);
      displayable(r.providers);
      const videos = options.video ?? true ? await encodeVideos(sampleInput.reference, r, options.outDir, task) : { video: null, grid: null };
      published = true;
      task.setDetail(`${r.frameCount} frames${hit ? ', from the stage cache' : ''}`);
      const { maps: _m, ...rest } = r;
      return { ...rest, ...videos };
    } finally {
      if (!published) r.frames.dispose();
    }
  });
}

/**
 * The stage-cache key of a sampling run, or null when it cannot be cached (guidance as a feature source). The
 * reference is keyed as the sampler gets it (cropped into the maps' generation crop), a guidance sequence by its own
 * content key (its maps are not read for it), a GGE result by its summed features, the bundle by its files, a noise
 * file by its bytes. Not in the key: how progress, previews and videos are shown, and the memory budget.
 */
export async function sampleKey(input: SampleStageInput, sampleInput: SampleInput, options: Omit<SampleStageOptions, 'display' | 'video' | 'outDir' | 'cache'>): Promise<{ inputs: unknown; options: unknown } | null> {
  const g = input.guidance;
  // malformed arguments are not keyed: the sampler itself says what is wrong with them
  if (!g || typeof g !== 'object' || !input.reference || typeof input.reference !== 'object') return null;
  // a rendered sequence carries its content key; one built in memory is keyed by its maps
  const guidance = g instanceof GuidanceSequence ? (CONTENT_KEY in g ? g : keyable({ maps: g.maps() })) : 'sum' in g ? { sum: g.sum } : 'maps' in g ? keyable({ maps: g.maps }) : null;
  if (!guidance) return null;
  const bundle = sampleInput.bundle as DiffusionBundle;
  if (typeof bundle?.dir !== 'string') return null;
  const noiseOf = async (n: Float32Array | string | undefined) => (typeof n === 'string' ? await fileKey(n) : n ?? null);
  const { reference, guidance: _g, bundle: _b, noise, latents, ...plain } = sampleInput;
  const rest = keyable(plain);
  if (!rest || !keyable(reference)) return null;
  return {
    inputs: { reference, guidance, bundle: folderKey(bundle.dir), noise: await noiseOf(noise), latents: await noiseOf(latents) },
    // 'auto' precision follows the execution provider
    options: { ...rest, outputSize: options.outputSize ?? 'reference', provider: settings().provider },
  };
}

/** What a cached sampling run keeps beside its frames (plane 0) and final latents (plane 1) in the frame file. */
type SampleFileMeta = Omit<SampleResult, 'frames' | 'latents' | 'providers' | 'maps'> & { placements: ProviderReport['placements']; latentsPerFrame: number };

const openFiles = new FinalizationRegistry<FrameFileReader<SampleFileMeta>>((r) => r.close());

/** The sampler's result from the stage cache's frame file, or computed and written into it. */
async function cachedSample(key: { inputs: unknown; options: unknown }, sampleInput: SampleInput, compute: () => Promise<SampleResult>): Promise<{ result: SampleResult; hit: boolean }> {
  let fresh = null as SampleResult | null;
  const { path } = await stageCache().runFile(SAMPLE_STAGE, key.inputs, key.options, 'frames', async (tmp) => {
    const r = await compute();
    fresh = r;
    const { frames, latents, providers, maps: _m, ...meta } = r;
    const perFrame = latents.length / r.frameCount;
    const writer = new FrameFileWriter<SampleFileMeta>(tmp, [r.width * r.height * 3, perFrame * 4]);
    try {
      for (let i = 0; i < r.frameCount; i++)
        writer.append([frames.get(i).data as Uint8Array, new Uint8Array(latents.buffer, latents.byteOffset + i * perFrame * 4, perFrame * 4)]);
      writer.finish({ ...meta, placements: providers.placements, latentsPerFrame: perFrame });
    } catch (e) {
      writer.abort();
      r.frames.dispose();
      throw e;
    }
  }, FrameFileReader.isComplete);
  if (fresh) return { result: fresh, hit: false };
  const reader = new FrameFileReader<SampleFileMeta>(path);
  const { placements, latentsPerFrame, ...meta } = reader.meta;
  const latents = new Float32Array(meta.frameCount * latentsPerFrame);
  const latentBytes = new Uint8Array(latents.buffer);
  for (let i = 0; i < meta.frameCount; i++) latentBytes.set(reader.read(i)[1]!, i * latentsPerFrame * 4);
  const frames = new SampledFrames({ read: (i) => reader.read(i)[0]!, dispose: () => reader.close() }, meta.frameCount, meta.width, meta.height, meta.fps, meta.label);
  // frames dropped without dispose() (a re-run cell's old result) close their file when collected
  openFiles.register(frames, reader);
  const g = sampleInput.guidance;
  return { result: { ...meta, frames, latents, providers: new ProviderReport(placements), ...('maps' in g ? { maps: g.maps } : {}) }, hit: true };
}

function cacheHitNote(r: SampleResult): MimeBundle {
  const head = `${r.frameCount} frames from the stage cache: sampled earlier with the same inputs, options and model (\`cache: false\` samples again).`;
  return { 'text/markdown': `${head}\n\nThat run's providers:\n\n${r.providers.toMarkdown()}`, 'text/plain': `${head}\n${r.providers.toString()}` };
}

/** A guidance sequence becomes the sampler's `{ maps }`; a photo reference is moved into the maps' generation crop. */
function fromGuidanceSequence(input: SampleStageInput): SampleInput {
  let { reference, guidance } = input;
  if (guidance instanceof GuidanceSequence) {
    const crop = guidance.crop;
    if (crop && reference.width === crop.source.width && reference.height === crop.source.height && (reference.channels === 3 || reference.channels === 4))
      reference = cropImage(reference as Parameters<typeof cropImage>[0], crop);
    guidance = { maps: guidance.maps() };
  }
  return { ...input, reference, guidance };
}

function providerBundle(p: ProviderReport): MimeBundle {
  return { 'text/markdown': p.toMarkdown(), 'text/plain': p.toString() };
}

/** The sampler's plain results, displayable in a cell (frames in the scrubber, the provider report as a table). */
function displayable(x: SampledFrames | ProviderReport): void {
  const show = 'toMarkdown' in x
    ? () => providerBundle(x)
    : (ctx: DisplayContext) => new FrameSequenceDisplay([{ name: 'output', frames: x }], { title: 'Sampled frames', fps: x.fps, label: x.label })[DISPLAY](ctx);
  Object.defineProperty(x, DISPLAY, { value: show, configurable: true });
}

/** The x̂0 previews, one display updated in place. */
function previewDisplay(title: string, label: string | undefined): (p: SamplePreview) => Promise<void> {
  const run = currentRun();
  const id = `diffusion-preview-${randomBytes(4).toString('hex')}`;
  let shown = false;
  return async (p) => {
    const b = await new FrameSequenceDisplay([{ name: `x̂0 at step ${p.step}/${p.steps}`, frames: p.frames }], { title: `${title}: predicted frames (x̂0), step ${p.step}/${p.steps}`, fps: 4, label })[DISPLAY]({ artifacts: run.artifacts.forDisplay() });
    if (shown) run.updateDisplay(b, id);
    else run.emitDisplay(b, id);
    shown = true;
  };
}

/** animation.mp4 and the grid into temporary files, then into the artifact store and `outDir` once complete. */
async function encodeVideos(reference: AnyImage, r: SampleResult, outDir: string | undefined, task: CellTask): Promise<Pick<SampleStageResult, 'video' | 'grid' | 'files'>> {
  task.setDetail('encoding video');
  const te = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'mp-sample-'));
  try {
    const { width: outW, height: outH, fps, frameCount: F, label } = r;
    const f0 = r.frameRange[0];
    const animPath = join(tmp, 'animation.mp4');
    const gridPath = join(tmp, 'grid.mp4');
    const officialGridPath = join(tmp, 'grid-official.mp4');
    const cancellable = function* (frames: Iterable<AnyImage>) {
      for (const f of frames) {
        throwIfCancelled(task.signal, 'sampling');
        yield f;
      }
    };
    await encodeMp4(animPath, cancellable(r.frames), fps);
    const refTile = resizeImage(asRgb(reference), outW, outH, 'lanczos');
    const mapTiles = r.maps ? (['depth', 'normal', 'render'] as const).filter((k) => r.maps![k]) : [];
    const gridFrames = function* (withMaps: boolean) {
      for (let i = 0; i < F; i++) {
        const maps = withMaps ? mapTiles.map((k) => resizeImage(asRgb(r.maps![k]![f0 + i]!), outW, outH, 'bicubic')) : [];
        yield gridRow([refTile, r.frames.get(i), ...maps], 2);
      }
    };
    await encodeMp4(gridPath, cancellable(gridFrames(true)), fps);
    // the official grid.mp4 is reference | result; its guidance.mp4 adds the maps (our `grid`)
    if (r.preset === 'reference' && outDir) await encodeMp4(officialGridPath, cancellable(gridFrames(false)), fps);
    const store = currentRun().artifacts;
    const gw = (mapTiles.length + 2) * (outW + 2) + 2;
    const video = new VideoOutput(store.put(readFileSync(animPath), 'mp4', 'video/mp4'), { title: 'Animation', width: outW, height: outH, fps, frames: F, ...(label ? { label } : {}) }, store);
    const grid = new VideoOutput(
      store.put(readFileSync(gridPath), 'mp4', 'video/mp4'),
      { title: `Reference | result${mapTiles.length ? ' | ' + mapTiles.join(' | ') : ''}`, width: gw, height: outH + 4, fps, frames: F, ...(label ? { label } : {}) },
      store,
    );
    const files = !outDir ? undefined : r.preset === 'reference'
      ? publish(outDir, { 'animation.mp4': animPath, 'grid.mp4': officialGridPath, 'guidance.mp4': gridPath })
      : publish(outDir, { 'animation.mp4': animPath, 'grid.mp4': gridPath });
    r.timings.encodeMs = performance.now() - te;
    r.timings.totalMs += r.timings.encodeMs;
    return { video, grid, ...(files ? { files } : {}) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Copies finished files into `dir` under temporary names, then renames them all (nothing half-written is visible). */
function publish(dir: string, files: Record<string, string>): { animation: string; grid: string; guidance?: string } {
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
  return { animation: join(out, 'animation.mp4'), grid: join(out, 'grid.mp4'), ...('guidance.mp4' in files ? { guidance: join(out, 'guidance.mp4') } : {}) };
}
