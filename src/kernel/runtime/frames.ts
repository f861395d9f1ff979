/**
 * Frame sequences as notebook outputs: each frame is stored once as a PNG artifact, and the output lists tracks
 * of artifact references for the synchronised frame scrubber.
 */
import { fitForDisplay, FRAME_MAX_SIDE } from './inline-image';
import { encodePng } from '../io/png';
import { type AnyImage } from '../io/image';
import { DISPLAY, type DisplayContext, type Displayable } from './display';
import { MIME, type FramesOutput, type MimeBundle } from '../../shared/outputs';
import type { ArtifactRef } from '../../shared/outputs';



export interface FrameTrack {
  name: string;
  frames: Iterable<AnyImage> | AsyncIterable<AnyImage>;
}


export class FrameSequenceDisplay implements Displayable {
  constructor(
    private readonly tracks: FrameTrack[],
    private readonly options: { title?: string; fps?: number; label?: string } = {},
  ) {}

  async [DISPLAY](ctx: DisplayContext): Promise<MimeBundle> {
    const out: FramesOutput = { title: this.options.title ?? 'Frames', fps: this.options.fps ?? 24, tracks: [] };
    if (this.options.label) out.label = this.options.label;
    // frame-major: frame i of every track, then frame i + 1 (tracks read from one source, e.g. the maps of one
    // guidance frame, are read once; only one frame per track is in memory)
    const its = this.tracks.map((t) => {
      const src = t.frames as AsyncIterable<AnyImage> & Iterable<AnyImage>;
      return typeof src[Symbol.asyncIterator] === 'function' ? src[Symbol.asyncIterator]() : src[Symbol.iterator]();
    });
    const outs = this.tracks.map((t) => ({ name: t.name, width: 0, height: 0, frames: [] as ArtifactRef[] }));
    const live = its.map(() => true);
    while (live.some(Boolean)) {
      for (let k = 0; k < its.length; k++) {
        if (!live[k]) continue;
        const r = await its[k]!.next();
        if (r.done) {
          live[k] = false;
          continue;
        }
        // the scrubber shows large frames (a 48-MP photo) averaged down; the sizes it reports are the shown ones
        const shown = fitForDisplay(r.value, FRAME_MAX_SIDE);
        outs[k]!.width = shown.width;
        outs[k]!.height = shown.height;
        outs[k]!.frames.push(ctx.artifacts.put(encodePng(shown), 'png', 'image/png'));
      }
    }
    out.tracks.push(...outs);
    const counts = out.tracks.map((t) => `${t.name}: ${t.frames.length} frames ${t.width}×${t.height}`).join('; ');
    return { [MIME.frames]: out, 'text/plain': `${out.title}${out.label ? ` (${out.label})` : ''} — ${counts}` };
  }
}
