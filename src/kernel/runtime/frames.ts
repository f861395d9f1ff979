/**
 * Frame sequences as notebook outputs: each frame is stored once as a PNG artifact, and the output lists tracks
 * of artifact references for the synchronised frame scrubber.
 */
import { encodePng, type RgbImage } from './png';
import { DISPLAY, type DisplayContext, type Displayable } from './display';
import { MIME, type MimeBundle } from './protocol';
import type { ArtifactRef } from './artifacts';

export { encodePng, type RgbImage };

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
