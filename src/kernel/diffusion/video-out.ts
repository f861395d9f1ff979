/**
 * H.264 MP4 output of the sampler: `src/kernel/io/video.ts` `writeVideo` (yuv420p, +faststart, streamed from a frame
 * iterator, ffmpeg located by io/ffmpeg). The video as a notebook output is the stage layer's
 * (pipeline/video-output.ts).
 */
import { writeVideo } from '../io/video';
import type { AnyImage } from '../io/image';
import { asRgb } from './image-ops';

type Frames = AsyncIterable<AnyImage> | Iterable<AnyImage>;

/** Grey frames become RGB (writeVideo takes RGB or RGBA), streamed one at a time. */
async function* rgbFrames(frames: Frames): AsyncGenerator<{ width: number; height: number; channels: 3 | 4; data: Uint8Array }> {
  for await (const f of frames as AsyncIterable<AnyImage>) {
    const rgb = f.channels === 1 ? asRgb(f) : f;
    yield { width: rgb.width, height: rgb.height, channels: rgb.channels as 3 | 4, data: rgb.data };
  }
}

/** Encodes frames to an H.264 yuv420p +faststart MP4 at `path`. Returns the frame count. */
export async function encodeMp4(path: string, frames: Frames, fps: number): Promise<number> {
  return writeVideo(path, rgbFrames(frames), { fps, crf: 18, preset: 'medium' });
}
