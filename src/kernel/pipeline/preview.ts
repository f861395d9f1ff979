// The instant preview as a notebook stage: resolve the inputs, project the reference onto its fitted mesh once,
// warp every driving frame (progress bar, cancellable between frames), encode an H.264 MP4 into the artifact store,
// and display the frames in the scrubber beside the driving video and the guidance maps.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCancelled, currentRun, newProgress } from '../runtime/context';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { FrameSequenceDisplay, type FrameTrack } from '../runtime/frames';
import type { AnyImage, Image } from '../io/image';
import type { MimeBundle } from '../../shared/outputs';
import { VideoOutput } from './video-output';
import { writeVideo } from '../io/video';
import type { FlameModelData } from '../flame';
import type { GuidanceSequence } from './render-guidance';
import { renderPreviewFramesParallel } from '../preview/parallel';
import type { PreviewRenderOptions } from '../preview/frames';
import { placePreview, resolvePreview, type PreviewDriving, type PreviewReference } from '../preview/inputs';
import { RecordStore } from '../diffusion/store';
import { FrameFileReader, FrameFileWriter, lazyArray } from './frame-file';
import { stageCache } from './cache';
import { dataKey, keyable } from './stage-keys';
import type { PortraitCrop } from '../fit/types';

export interface PreviewOptions extends Omit<PreviewRenderOptions, 'onFrame' | 'sink'> {
  /** The model of an aligned sequence (default the demo head, as mp.fit uses). */
  model?: FlameModelData;
  /** Worker threads for the frames (default 2; 0 renders on the kernel's thread). */
  workers?: number;
  /** Encode an H.264 MP4 into the artifact store (default true). */
  video?: boolean;
  /** Driving video frames to show beside the preview in the scrubber (e.g. `await mp.videoFrames(path)`). */
  driving?: readonly AnyImage[];
  /** Guidance maps of the same sequence to show beside it (`await mp.renderGuidance(aligned)`). */
  guidance?: GuidanceSequence;
  /** 'auto' (default): a non-square photo is previewed in its 512² generation crop (`result.crop`), as the method
   * and the guidance maps see it; 'none': in the photo's own frame. */
  crop?: 'auto' | 'none';
  /** Bytes of frames kept in memory before they spill to a temporary file (default 256 MB). */
  memoryBudget?: number;
  /** At most this many frames in the scrubber display (evenly spaced; default 300). */
  displayFrames?: number;
  /** Use the stage cache (default true): the frames and fill masks are a frame file of the cache, keyed by the
   * reference image and fit, the driving sequence (its model by content), the model, crop, region and mask; the MP4 is
   * encoded from them again on a hit. */
  cache?: boolean;
}

/** Bump when the preview's frames change for the same inputs. */
export const PREVIEW_STAGE = { name: 'preview', version: 1 } as const;

/** Records read by index: a record store (memory while small, a temporary file when long) or a cache frame file. */
interface Records {
  readonly count: number;
  read(i: number): Uint8Array;
  dispose(): void;
}

/** Frames (RGB) and fill masks. */
interface PreviewStore {
  frames: Records;
  masks: Records | null;
  width: number;
  height: number;
}

const disposeStores = new FinalizationRegistry<PreviewStore>((s) => { s.frames.dispose(); s.masks?.dispose(); });

export class PreviewResult implements Displayable {
  private readonly store: PreviewStore | null;
  private readonly arrays: { frames: AnyImage[]; masks: AnyImage[] | null } | null;

  constructor(
    frames: AnyImage[] | PreviewStore,
    /** Fill masks (1 channel, 255 = filled, not seen in the reference), or null. */
    masks: AnyImage[] | null,
    readonly fps: number,
    readonly label: string,
    /** The H.264 MP4 in the artifact store (`display(preview.video)`), or null with `video: false`. */
    readonly video: VideoOutput | null,
    readonly timings: { setupMs: number; framesMs: number; encodeMs: number; mode: 'workers' | 'inline' },
    private readonly extras: { driving?: readonly AnyImage[]; guidance?: GuidanceSequence; displayFrames?: number } = {},
    /** The photo crop the preview is in (a non-square photo's 512² generation crop; `mp.composite` puts it back), or null. */
    readonly crop: PortraitCrop | null = null,
  ) {
    if (Array.isArray(frames)) {
      this.arrays = { frames, masks };
      this.store = null;
    } else {
      this.arrays = null;
      this.store = frames;
      disposeStores.register(this, frames);
    }
  }

  get length(): number {
    return this.arrays ? this.arrays.frames.length : this.store!.frames.count;
  }

  get width(): number {
    return this.arrays ? this.arrays.frames[0]!.width : this.store!.width;
  }

  get height(): number {
    return this.arrays ? this.arrays.frames[0]!.height : this.store!.height;
  }

  /** The preview frames (a long preview reads each from its temporary file when accessed). */
  get frames(): AnyImage[] {
    if (this.arrays) return this.arrays.frames;
    const s = this.store!;
    return lazyArray(s.frames.count, (i) => ({ width: s.width, height: s.height, channels: 3, data: s.frames.read(i) }));
  }

  get masks(): AnyImage[] | null {
    if (this.arrays) return this.arrays.masks;
    const s = this.store!;
    if (!s.masks) return null;
    const m = s.masks;
    return lazyArray(m.count, (i) => ({ width: s.width, height: s.height, channels: 1, data: m.read(i) }));
  }

  [DISPLAY](ctx: DisplayContext): Promise<MimeBundle> {
    const g = this.extras.guidance;
    const n = this.length;
    const shown = Math.max(1, Math.min(n, this.extras.displayFrames ?? 300));
    const picks = Array.from({ length: shown }, (_, j) => Math.min(n - 1, Math.floor((j * n) / shown)));
    // the picked frames are read one at a time as the display encodes them (never all in memory)
    const pick = <T,>(a: readonly T[]): readonly T[] => {
      if (shown >= n) return a;
      const at = picks.filter((i) => i < a.length);
      return lazyArray(at.length, (j) => a[at[j]!]!);
    };
    const first = g && g.length ? g.frame(0) : null;
    const kinds = first ? (['depth', 'normal', 'render'] as const).filter((k) => first[k]) : [];
    const masks = this.masks;
    const tracks: FrameTrack[] = [
      ...(this.extras.driving ? [{ name: 'driving', frames: pick(this.extras.driving) }] : []),
      { name: 'preview', frames: pick(this.frames) },
      ...(masks ? [{ name: 'filled (not seen in the reference)', frames: pick(masks) }] : []),
      ...kinds.map((k) => ({ name: k, frames: pick(g!.images(k)) })),
    ];
    const every = shown < n ? `, every ${(n / shown).toFixed(1).replace(/\.0$/, '')}th frame shown` : '';
    return new FrameSequenceDisplay(tracks, {
      title: `Instant preview: ${n} frames at ${this.width}×${this.height} (reference warped through the fitted mesh${this.crop ? ', in the photo\'s 512² generation crop' : ''})${every}`,
      fps: shown < n ? Math.max(1, Math.round((this.fps * shown) / n)) : this.fps,
      label: this.label,
    })[DISPLAY](ctx);
  }
}

/**
 * The reference portrait following the driving motion, rendered on the CPU by warping it through the fitted 3D face
 * (see README.md). `reference`: `{ image, fit }` (fit optional with a FlameSequence: its neutral head is then the
 * reference, as `mp.demo.portrait` renders it). `driving`: `mp.fit.align(...)` or a FlameSequence. A non-square photo
 * is previewed in its 512² generation crop (`result.crop`). Frames stream into a store (memory while small, a
 * temporary file when long) and into the MP4, so a long clip never sits in memory.
 */
export async function preview(referenceIn: PreviewReference, drivingIn: PreviewDriving, options: PreviewOptions = {}): Promise<PreviewResult> {
  const key = options.cache === false || !stageCache().enabled ? null : previewKey(referenceIn, drivingIn, options);
  if (!key) return computePreview(referenceIn, drivingIn, options);
  let fresh = null as PreviewResult | null;
  const { path } = await stageCache().runFile(PREVIEW_STAGE, key.inputs, key.options, 'frames', async (tmp) => {
    const r = await computePreview(referenceIn, drivingIn, options);
    fresh = r;
    const masks = r.masks;
    const writer = new FrameFileWriter<PreviewFileMeta>(tmp, [r.width * r.height * 3, ...(masks ? [r.width * r.height] : [])]);
    try {
      const frames = r.frames;
      for (let i = 0; i < r.length; i++) writer.append([frames[i]!.data as Uint8Array, ...(masks ? [masks[i]!.data as Uint8Array] : [])]);
      writer.finish({ width: r.width, height: r.height, fps: r.fps, label: r.label, timings: r.timings, crop: r.crop });
    } catch (e) {
      writer.abort();
      throw e;
    }
  }, FrameFileReader.isComplete);
  if (fresh) return fresh;
  return cachedPreview(new FrameFileReader<PreviewFileMeta>(path), options);
}

/**
 * The stage-cache key of a preview, or null when it cannot be cached. Not in the key: the worker count (the frames
 * are the same on any), the video flag (encoded from the frames on a hit), what is shown beside the preview, the
 * memory budget.
 */
export function previewKey(reference: PreviewReference, driving: PreviewDriving, options: PreviewOptions): { inputs: unknown; options: unknown } | null {
  // malformed arguments are not keyed: the preview itself says what is wrong with them
  if (!reference || typeof reference !== 'object' || !driving || typeof driving !== 'object') return null;
  const { model, workers: _w, video: _v, driving: _d, guidance: _g, memoryBudget: _m, displayFrames: _f, cache: _c, ...plain } = options;
  const drivingKey = keyable('model' in driving && driving.model && typeof driving.model === 'object' ? { ...driving, model: dataKey(driving.model) } : driving);
  // the fit's overlay (an image at the photo's size) does not change the preview
  const referenceKey = keyable(reference.fit ? { ...reference, fit: { ...reference.fit, overlay: null } } : reference);
  const rest = keyable(plain);
  if (!drivingKey || !referenceKey || !rest) return null;
  return {
    inputs: { reference: referenceKey, driving: drivingKey, model: model && typeof model === 'object' ? dataKey(model) : null },
    options: { ...rest, crop: options.crop ?? 'auto', mask: options.mask ?? true },
  };
}

/** What a cached preview keeps beside its frames (plane 0) and fill masks (plane 1, when kept). */
interface PreviewFileMeta {
  width: number;
  height: number;
  fps: number;
  label: string;
  timings: PreviewResult['timings'];
  crop: PortraitCrop | null;
}

/** A preview from the stage cache: frames read from its frame file; the MP4 encoded from them when asked for. */
async function cachedPreview(reader: FrameFileReader<PreviewFileMeta>, options: PreviewOptions): Promise<PreviewResult> {
  const m = reader.meta;
  const hasMasks = reader.count > 0 && reader.read(0).length > 1;
  let open = hasMasks ? 2 : 1;
  const close = () => { if (--open === 0) reader.close(); };
  const store: PreviewStore = {
    frames: { count: reader.count, read: (i) => reader.read(i)[0]!, dispose: close },
    masks: hasMasks ? { count: reader.count, read: (i) => reader.read(i)[1]!, dispose: close } : null,
    width: m.width, height: m.height,
  };
  let video: VideoOutput | null = null;
  let encodeMs = 0;
  try {
    if (options.video ?? true) {
      const progress = newProgress('Instant preview (cached): encoding', reader.count, 'frames');
      const tmp = mkdtempSync(join(tmpdir(), 'mp-preview-'));
      try {
        const file = join(tmp, 'preview.mp4');
        const te = performance.now();
        await writeVideo(file, (function* () {
          for (let i = 0; i < reader.count; i++) {
            checkCancelled('preview');
            progress.update(i + 1);
            yield { width: m.width, height: m.height, channels: 3 as const, data: store.frames.read(i) } as Image;
          }
        })(), { fps: m.fps, crf: 18, preset: 'veryfast' });
        encodeMs = performance.now() - te;
        const run = currentRun();
        video = new VideoOutput(run.artifacts.put(readFileSync(file), 'mp4', 'video/mp4'), { title: 'Instant preview', width: m.width, height: m.height, fps: m.fps, frames: reader.count, label: m.label }, run.artifacts);
        progress.finish();
      } catch (e) {
        progress.finish((e as Error).name === 'CancelledError' ? 'cancelled' : (e as Error).message);
        throw e;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  } catch (e) {
    reader.close();
    throw e;
  }
  return new PreviewResult(store, null, m.fps, m.label, video, { ...m.timings, encodeMs }, {
    ...(options.driving ? { driving: options.driving } : {}),
    ...(options.guidance ? { guidance: options.guidance } : {}),
    ...(options.displayFrames ? { displayFrames: options.displayFrames } : {}),
  }, m.crop);
}

/** The preview computed (see preview). */
async function computePreview(referenceIn: PreviewReference, drivingIn: PreviewDriving, options: PreviewOptions): Promise<PreviewResult> {
  const placed = placePreview(referenceIn, drivingIn, options.crop ?? 'auto');
  const reference = placed.reference;
  const resolved = resolvePreview(reference, placed.driving, options.model);
  const n = resolved.frames.length;
  const wantVideo = options.video ?? true;
  const progress = newProgress('Instant preview', n, 'frames');
  const { width: W, height: H } = reference.image;
  const keepMask = options.mask ?? true;
  const budget = options.memoryBudget ?? 256 * 1024 ** 2;
  const store: PreviewStore & { frames: RecordStore; masks: RecordStore | null } = {
    frames: new RecordStore(W * H * 3, n, keepMask ? (budget * 3) / 4 : budget),
    masks: keepMask ? new RecordStore(W * H, n, budget / 4) : null,
    width: W, height: H,
  };
  let tmp: string | null = null;
  let ok = false;
  let rendering: Promise<unknown> | null = null;
  let stopped: unknown = null;
  try {
    checkCancelled('preview');
    // frames arrive in any order; the MP4 encoder takes them in order as soon as they are there
    const written = new Uint8Array(n);
    let nextOut = 0;
    let wake: (() => void) | null = null;
    let renderError: unknown = null;
    rendering = renderPreviewFramesParallel(resolved, reference.image, {
      ...(options.workers !== undefined ? { workers: options.workers } : {}),
      ...(options.region ? { region: options.region } : {}),
      mask: keepMask,
      sink: (i, rgb, mask) => {
        store.frames.write(i, rgb);
        if (mask && store.masks) store.masks.write(i, mask);
        written[i] = 1;
        wake?.();
      },
      onFrame: (done) => {
        if (stopped) throw stopped;
        progress.update(done);
        checkCancelled('preview');
      },
    }).then((r) => r, (e) => { renderError = e; wake?.(); throw e; });
    rendering.catch(() => undefined); // awaited below; an encoder failure must not leave it unhandled
    let video: VideoOutput | null = null;
    let encodeMs = 0;
    if (wantVideo) {
      // encoded to a temporary file while the frames are drawn, stored only when complete: a cancelled run stores nothing
      tmp = mkdtempSync(join(tmpdir(), 'mp-preview-'));
      const file = join(tmp, 'preview.mp4');
      const te = performance.now();
      let waited = 0;
      // a preview is for looking, not for keeping: x264 'veryfast' encodes several times faster than the sampler's
      // 'medium' at a slightly larger file
      await writeVideo(file, (async function* () {
        for (; nextOut < n; nextOut++) {
          const tw = performance.now();
          while (!written[nextOut]) {
            if (renderError) throw renderError;
            await new Promise<void>((r) => (wake = r));
            wake = null;
          }
          waited += performance.now() - tw;
          checkCancelled('preview');
          yield { width: W, height: H, channels: 3 as const, data: store.frames.read(nextOut) } as Image;
        }
      })(), { fps: resolved.fps, crf: 18, preset: 'veryfast' });
      encodeMs = performance.now() - te - waited;
      checkCancelled('preview');
    }
    const out = (await rendering) as Awaited<ReturnType<typeof renderPreviewFramesParallel>>;
    if (wantVideo) {
      const run = currentRun();
      video = new VideoOutput(run.artifacts.put(readFileSync(join(tmp!, 'preview.mp4')), 'mp4', 'video/mp4'), { title: 'Instant preview', width: W, height: H, fps: resolved.fps, frames: n, label: resolved.label }, run.artifacts);
    }
    progress.setDetail(`${n} frames`);
    progress.finish();
    ok = true;
    return new PreviewResult(store, null, resolved.fps, resolved.label, video, { setupMs: out.setupMs, framesMs: out.framesMs, encodeMs, mode: out.mode }, {
      ...(options.driving ? { driving: options.driving } : {}),
      ...(options.guidance ? { guidance: options.guidance } : {}),
      ...(options.displayFrames ? { displayFrames: options.displayFrames } : {}),
    }, placed.crop);
  } catch (e) {
    // the frames still being drawn stop at their next frame; wait, so the workers are free for the next preview
    stopped = e;
    await rendering?.catch(() => undefined);
    progress.finish((e as Error).name === 'CancelledError' ? 'cancelled' : (e as Error).message);
    throw e;
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (!ok) { store.frames.dispose(); store.masks?.dispose(); }
  }
}
