// The instant preview as a notebook stage: resolve the inputs, project the reference onto its fitted mesh once,
// warp every driving frame (progress bar, cancellable between frames), encode an H.264 MP4 into the artifact store,
// and display the frames in the scrubber beside the driving video and the guidance maps.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCancelled, currentRun, newProgress } from '../runtime/context';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { FrameSequenceDisplay, type FrameTrack, type RgbImage } from '../runtime/frames';
import type { MimeBundle } from '../runtime/protocol';
import { VideoOutput } from '../diffusion/video-out';
import { writeVideo } from '../io/video';
import type { FlameModelData } from '../flame';
import type { Image } from '../io/image';
import type { GuidanceSequence } from '../pipeline/guidance';
import { MeshPoser } from './pose';
import { ReferenceTexture } from './reference';
import { PreviewWarper, warpTables, type WarpTables } from './warp';
import { renderPreviewFramesParallel } from './parallel';
import { featureWeights, type PreviewRegion } from './model-maps';
import { resolvePreview, type PreviewDriving, type PreviewReference, type ResolvedPreview } from './inputs';

export interface PreviewRenderOptions {
  /** Which part follows the motion (default 'face': hair, ears, neck and background stay). */
  region?: PreviewRegion;
  /** Keep a fill mask per frame (default true). */
  mask?: boolean;
  /** Called after each frame (frames done); may throw (e.g. CancelledError) to stop. */
  onFrame?: (done: number) => void;
}

export interface PreviewFrames {
  frames: RgbImage[];
  /** One channel per frame: 255 where the pixel was filled (not seen in the reference), else 0; null when not kept. */
  masks: RgbImage[] | null;
  /** Milliseconds: projecting the reference (once), and warping all frames. */
  setupMs: number;
  framesMs: number;
}

/** What a preview computes once: the poser, the reference projected onto its mesh, and the model's warp tables. */
export function prepareReference(r: ResolvedPreview, image: Image, region: PreviewRegion): { poser: MeshPoser; texture: ReferenceTexture; tables: WarpTables } {
  const { model } = r.rig;
  const poser = new MeshPoser(r.rig);
  const refMesh = poser.posed(r.reference);
  const tables = warpTables(model, region);
  const texture = new ReferenceTexture({
    model, image, world: Float32Array.from(refMesh.world), ndc: Float32Array.from(refMesh.ndc), depthPerPx: poser.scale().depthPerPx,
    mirror: tables.mirror, weight: tables.weight, features: featureWeights(model), albedo: r.albedo,
  });
  return { poser, texture, tables };
}

/** The warp itself on the calling thread, with no runtime around it (scripts, tests): every frame of a resolved preview. */
export function renderPreviewFrames(r: ResolvedPreview, image: Image, options: PreviewRenderOptions = {}): PreviewFrames {
  const t0 = performance.now();
  const { poser, texture, tables } = prepareReference(r, image, options.region ?? 'face');
  const warper = new PreviewWarper(tables, texture);
  const t1 = performance.now();
  const W = image.width, H = image.height;
  const keepMask = options.mask ?? true;
  const frames: RgbImage[] = [], masks: RgbImage[] = [];
  const ndc = new Float32Array(r.rig.model.numVertices * 3);
  for (let i = 0; i < r.frames.length; i++) {
    poser.posed(r.frames[i]!, ndc);
    const data = new Uint8Array(W * H * 3);
    const mask = keepMask ? new Uint8Array(W * H) : undefined;
    warper.render(ndc, data, mask);
    frames.push({ width: W, height: H, channels: 3, data });
    if (mask) masks.push({ width: W, height: H, channels: 1, data: mask });
    options.onFrame?.(i + 1);
  }
  return { frames, masks: keepMask ? masks : null, setupMs: t1 - t0, framesMs: performance.now() - t1 };
}

export interface PreviewOptions extends Omit<PreviewRenderOptions, 'onFrame'> {
  /** The model of an aligned sequence (default the demo head, as mp.fit uses). */
  model?: FlameModelData;
  /** Worker threads for the frames (default 2; 0 renders on the kernel's thread). */
  workers?: number;
  /** Encode an H.264 MP4 into the artifact store (default true). */
  video?: boolean;
  /** Driving video frames to show beside the preview in the scrubber (e.g. `await mp.videoFrames(path)`). */
  driving?: readonly RgbImage[];
  /** Guidance maps of the same sequence to show beside it (`await mp.renderGuidance(aligned)`). */
  guidance?: GuidanceSequence;
}

export class PreviewResult implements Displayable {
  constructor(
    readonly frames: RgbImage[],
    /** Fill masks (1 channel, 255 = filled, not seen in the reference), or null. */
    readonly masks: RgbImage[] | null,
    readonly fps: number,
    readonly label: string,
    /** The H.264 MP4 in the artifact store (`display(preview.video)`), or null with `video: false`. */
    readonly video: VideoOutput | null,
    readonly timings: { setupMs: number; framesMs: number; encodeMs: number; mode: 'workers' | 'inline' },
    private readonly extras: { driving?: readonly RgbImage[]; guidance?: GuidanceSequence } = {},
  ) {}

  get length(): number {
    return this.frames.length;
  }

  get width(): number {
    return this.frames[0]!.width;
  }

  get height(): number {
    return this.frames[0]!.height;
  }

  [DISPLAY](ctx: DisplayContext): Promise<MimeBundle> {
    const g = this.extras.guidance;
    const kinds = g ? (['depth', 'normal', 'render'] as const).filter((k) => g.frames[0]?.[k]) : [];
    const tracks: FrameTrack[] = [
      ...(this.extras.driving ? [{ name: 'driving', frames: this.extras.driving }] : []),
      { name: 'preview', frames: this.frames },
      ...(this.masks ? [{ name: 'filled (not seen in the reference)', frames: this.masks }] : []),
      ...kinds.map((k) => ({ name: k, frames: g!.images(k) })),
    ];
    return new FrameSequenceDisplay(tracks, {
      title: `Instant preview: ${this.length} frames at ${this.width}×${this.height} (reference warped through the fitted mesh)`,
      fps: this.fps,
      label: this.label,
    })[DISPLAY](ctx);
  }
}

/**
 * The reference portrait following the driving motion, rendered on the CPU by warping it through the fitted 3D face
 * (see README.md). `reference`: `{ image, fit }` (fit optional with a FlameSequence: its neutral head is then the
 * reference, as `mp.demo.portrait` renders it). `driving`: `mp.fit.align(...)` or a FlameSequence.
 */
export async function preview(reference: PreviewReference, driving: PreviewDriving, options: PreviewOptions = {}): Promise<PreviewResult> {
  const resolved = resolvePreview(reference, driving, options.model);
  const n = resolved.frames.length;
  const wantVideo = options.video ?? true;
  const progress = newProgress('Instant preview', n, 'frames');
  let tmp: string | null = null;
  try {
    checkCancelled('preview');
    const out = await renderPreviewFramesParallel(resolved, reference.image, {
      ...(options.workers !== undefined ? { workers: options.workers } : {}),
      ...(options.region ? { region: options.region } : {}),
      ...(options.mask !== undefined ? { mask: options.mask } : {}),
      onFrame: (done) => {
        progress.update(done);
        checkCancelled('preview');
      },
    });
    let video: VideoOutput | null = null;
    let encodeMs = 0;
    if (wantVideo) {
      // encoded to a temporary file and stored only when complete: a cancelled run stores nothing
      const te = performance.now();
      tmp = mkdtempSync(join(tmpdir(), 'mp-preview-'));
      const file = join(tmp, 'preview.mp4');
      const frames = out.frames;
      // a preview is for looking, not for keeping: x264 'veryfast' encodes several times faster than the sampler's
      // 'medium' at a slightly larger file
      await writeVideo(file, (function* () {
        for (let i = 0; i < frames.length; i++) {
          checkCancelled('preview');
          if (i % 24 === 0) progress.setDetail(`encoding H.264: frame ${i + 1}/${frames.length}`);
          yield frames[i]! as Image;
        }
      })(), { fps: resolved.fps, crf: 18, preset: 'veryfast' });
      checkCancelled('preview');
      const run = currentRun();
      const { width, height } = reference.image;
      video = new VideoOutput(run.artifacts.put(readFileSync(file), 'mp4', 'video/mp4'), { title: 'Instant preview', width, height, fps: resolved.fps, frames: n, label: resolved.label }, run.artifacts);
      encodeMs = performance.now() - te;
    }
    progress.setDetail(`${n} frames`);
    progress.finish();
    return new PreviewResult(out.frames, out.masks, resolved.fps, resolved.label, video, { setupMs: out.setupMs, framesMs: out.framesMs, encodeMs, mode: out.mode }, {
      ...(options.driving ? { driving: options.driving } : {}),
      ...(options.guidance ? { guidance: options.guidance } : {}),
    });
  } catch (e) {
    progress.finish((e as Error).name === 'CancelledError' ? 'cancelled' : (e as Error).message);
    throw e;
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
