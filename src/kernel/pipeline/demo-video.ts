/**
 * The demo's driving video: the synthetic demo motion rendered as the demo head on the portrait's studio backdrop.
 * It plays the part a real driving video plays in the reference pipeline, so the quickstart (which needs no files)
 * can show its driving input and score its output against it. Because the demo portrait is the same head rendered
 * the same way, this is a self-reenactment with ground truth: frame i is exactly what a perfect result would show.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlameModelData } from '../flame';
import { encodeMp4 } from '../diffusion/video-out';
import { VideoOutput } from './video-output';
import { currentRun } from '../runtime/context';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import type { Image } from '../io/image';
import type { MimeBundle } from '../../shared/outputs';
import { demoDrivingSequence, onStudioBackdrop, renderGuidanceSequence, type FlameSequence } from './render-guidance';

export class DemoDrivingVideo implements Displayable {
  constructor(
    /** The frames, in order (RGB, size × size). */
    readonly frames: readonly Image[],
    /** The H.264 MP4 in the artifact store. */
    readonly video: VideoOutput,
  ) {}

  /** The MP4 file: pass it wherever a driving video path is expected (metrics, tracking). */
  get path(): string {
    return this.video.path;
  }

  get length(): number {
    return this.frames.length;
  }

  [DISPLAY](ctx: DisplayContext): MimeBundle | Promise<MimeBundle> {
    return this.video[DISPLAY](ctx);
  }
}

/**
 * Renders `sequence` (default: the demo motion of `model`, 48 frames) as a video of the demo head over the studio
 * backdrop, at `size` (default 512). The renders come from the guidance stage (cached), the MP4 goes to the artifact
 * store only once it is complete.
 */
export async function demoDrivingVideo(model: FlameModelData, sequence?: FlameSequence, options: { size?: number } = {}): Promise<DemoDrivingVideo> {
  const seq = sequence ?? demoDrivingSequence(model);
  const size = options.size ?? 512;
  const maps = await renderGuidanceSequence(seq, { size, maps: ['render', 'mask'] });
  const frames = maps.frames.map(onStudioBackdrop);
  const fps = seq.fps ?? 24;
  const tmp = mkdtempSync(join(tmpdir(), 'mp-demo-video-'));
  try {
    const file = join(tmp, 'driving.mp4');
    await encodeMp4(file, frames, fps);
    const store = currentRun().artifacts;
    const ref = store.put(readFileSync(file), 'mp4', 'video/mp4');
    const title = `Driving video (${seq.label ?? 'demo motion'}, rendered)`;
    return new DemoDrivingVideo(frames, new VideoOutput(ref, { title, width: size, height: size, fps, frames: frames.length }, store));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
