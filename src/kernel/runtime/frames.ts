/**
 * Frame sequences as notebook outputs: each frame is stored once as a PNG artifact, and the output lists tracks
 * of artifact references for the synchronised frame scrubber.
 */
import { PNG } from 'pngjs';
import { DISPLAY, type DisplayContext, type Displayable } from './display';
import { MIME, type MimeBundle } from './protocol';
import type { ArtifactRef } from './artifacts';

/** An 8-bit image, row-major, 1 (grey), 3 (RGB) or 4 (RGBA) channels. */
export interface RgbImage {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

export interface FrameTrack {
  name: string;
  frames: Iterable<RgbImage> | AsyncIterable<RgbImage>;
}

export interface FramesOutput {
  title: string;
  fps: number;
  label?: string;
  tracks: { name: string; width: number; height: number; frames: ArtifactRef[] }[];
}

export function encodePng(img: RgbImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  const src = img.data;
  const dst = png.data;
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    if (img.channels === 1) {
      const v = src[i]!;
      dst[4 * i] = v;
      dst[4 * i + 1] = v;
      dst[4 * i + 2] = v;
      dst[4 * i + 3] = 255;
    } else {
      dst[4 * i] = src[img.channels * i]!;
      dst[4 * i + 1] = src[img.channels * i + 1]!;
      dst[4 * i + 2] = src[img.channels * i + 2]!;
      dst[4 * i + 3] = img.channels === 4 ? src[4 * i + 3]! : 255;
    }
  }
  return PNG.sync.write(png);
}

export class FrameSequenceDisplay implements Displayable {
  constructor(
    private readonly tracks: FrameTrack[],
    private readonly options: { title?: string; fps?: number; label?: string } = {},
  ) {}

  async [DISPLAY](ctx: DisplayContext): Promise<MimeBundle> {
    const out: FramesOutput = { title: this.options.title ?? 'Frames', fps: this.options.fps ?? 24, tracks: [] };
    if (this.options.label) out.label = this.options.label;
    for (const track of this.tracks) {
      const refs: ArtifactRef[] = [];
      let width = 0;
      let height = 0;
      for await (const frame of track.frames) {
        width = frame.width;
        height = frame.height;
        refs.push(ctx.artifacts.put(encodePng(frame), 'png', 'image/png'));
      }
      out.tracks.push({ name: track.name, width, height, frames: refs });
    }
    const counts = out.tracks.map((t) => `${t.name}: ${t.frames.length} frames ${t.width}×${t.height}`).join('; ');
    return { [MIME.frames]: out, 'text/plain': `${out.title}${out.label ? ` (${out.label})` : ''} — ${counts}` };
  }
}
