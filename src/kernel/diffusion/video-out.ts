/**
 * H.264 MP4 output of the sampler, and the video display value (MIME.video). Encoding is `src/kernel/io/video.ts`
 * `writeVideo` (yuv420p, +faststart, streamed from a frame iterator, ffmpeg located by io/ffmpeg).
 */
import { readFileSync } from 'node:fs';
import { writeVideo } from '../io/video';
import type { ArtifactRef, ArtifactStore } from '../runtime/artifacts';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import type { RgbImage } from '../runtime/frames';
import { MIME, type MimeBundle } from '../runtime/protocol';
import { asRgb } from './image-ops';

type Frames = AsyncIterable<RgbImage> | Iterable<RgbImage>;

/** Grey frames become RGB (writeVideo takes RGB or RGBA), streamed one at a time. */
async function* rgbFrames(frames: Frames): AsyncGenerator<{ width: number; height: number; channels: 3 | 4; data: Uint8Array }> {
  for await (const f of frames as AsyncIterable<RgbImage>) {
    const rgb = f.channels === 1 ? asRgb(f) : f;
    const data = rgb.data instanceof Uint8Array ? rgb.data : new Uint8Array(rgb.data.buffer, rgb.data.byteOffset, rgb.data.byteLength);
    yield { width: rgb.width, height: rgb.height, channels: rgb.channels as 3 | 4, data };
  }
}

/** Encodes frames to an H.264 yuv420p +faststart MP4 at `path`. Returns the frame count. */
export async function encodeMp4(path: string, frames: Frames, fps: number): Promise<number> {
  return writeVideo(path, rgbFrames(frames), { fps, crf: 18, preset: 'medium' });
}

export interface VideoInfo {
  title: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** e.g. 'untrained demo weights'. */
  label?: string;
}

/** An MP4 in the artifact store, displayable as the video renderer's MIME type. */
export class VideoOutput implements Displayable {
  constructor(
    readonly ref: ArtifactRef,
    readonly info: VideoInfo,
    private readonly store: ArtifactStore,
  ) {}

  /** The MP4 file (inside the artifact store). */
  get path(): string {
    return this.store.path(this.ref);
  }

  [DISPLAY](ctx: DisplayContext): MimeBundle {
    // content-addressed: putting into another store (another notebook) is a copy, into the same one a no-op
    const ref = ctx.artifacts.dir === this.store.dir ? this.ref : ctx.artifacts.put(readFileSync(this.path), 'mp4', 'video/mp4');
    const i = this.info;
    return {
      [MIME.video]: { title: i.title, video: ref, width: i.width, height: i.height, fps: i.fps, frames: i.frames, ...(i.label ? { label: i.label } : {}) },
      'text/plain': `${i.title}${i.label ? ` (${i.label})` : ''}: ${i.frames} frames ${i.width}×${i.height} at ${i.fps} fps (H.264 MP4, ${(this.ref.size / 1024).toFixed(0)} KiB)`,
    };
  }
}
