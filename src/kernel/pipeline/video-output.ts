/** A video in the artifact store as a notebook output (the video renderer's MIME type). */
import { readFileSync } from 'node:fs';
import type { ArtifactStore } from '../runtime/artifacts';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { MIME, type ArtifactRef, type MimeBundle, type VideoOutputData } from '../../shared/outputs';

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
    const data: VideoOutputData = { title: i.title, video: ref, width: i.width, height: i.height, fps: i.fps, frames: i.frames, ...(i.label ? { label: i.label } : {}) };
    return {
      [MIME.video]: data,
      'text/plain': `${i.title}${i.label ? ` (${i.label})` : ''}: ${i.frames} frames ${i.width}×${i.height} at ${i.fps} fps (H.264 MP4, ${(this.ref.size / 1024).toFixed(0)} KiB)`,
    };
  }
}
