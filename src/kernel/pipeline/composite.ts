/**
 * Results made in a photo's 512² generation crop (the sampled video, the instant preview) pasted back into the
 * original photo, frame by frame, with a feathered border: the crop transform inverted (fit/crop.ts compositeFrame).
 * Frames stream from their source into the H.264 encoder; the MP4 goes to the artifact store once complete.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';
import { compositeFrame, type CompositeOptions } from '../fit/crop';
import { type PortraitCrop } from '../fit/types';
import { toRGB, type Image } from '../io/image';
import { probeVideo, readFrames, writeVideo } from '../io/video';
import { resizeImage } from '../diffusion/image-ops';
import { VideoOutput } from './video-output';
import { checkCancelled, currentRun, newProgress } from '../runtime/context';
import type { AnyImage } from '../io/image';

/** What can be composited: frames, a preview or sampling result (`.frames`), or a video (`result.video`, a path). */
export type CompositeSource = Iterable<AnyImage> | AsyncIterable<AnyImage> | { frames: Iterable<AnyImage>; fps?: number } | { path: string } | string;

export interface CompositeVideoOptions extends CompositeOptions {
  /** The composite is encoded at the photo's size, scaled down so its longer side is at most this (default 1280). */
  maxSide?: number;
  /** Frame rate (default: the source's, else 24). */
  fps?: number;
  title?: string;
}

function frameSource(src: CompositeSource, size: number): { frames: AsyncIterable<AnyImage> | Iterable<AnyImage>; fps?: number; total: number } {
  const path = typeof src === 'string' ? src : src && typeof src === 'object' && 'path' in src && typeof src.path === 'string' ? src.path : null;
  if (path) {
    const info = probeVideo(path, { countFrames: false });
    return { frames: (async function* () { for await (const f of readFrames(path, { width: size, height: size })) yield f.image; })(), fps: info.fps, total: info.frameCount };
  }
  const countOf = (x: unknown) => {
    const o = x as { length?: unknown; count?: unknown };
    return typeof o.length === 'number' ? o.length : typeof o.count === 'number' ? o.count : 0;
  };
  if (src && typeof src === 'object' && 'frames' in src && !(Symbol.iterator in src)) return { frames: src.frames, ...(src.fps ? { fps: src.fps } : {}), total: countOf(src.frames) };
  return { frames: src as Iterable<AnyImage>, total: countOf(src) };
}

/**
 * Composites crop-sized frames back into `photo` (see the file header) and returns the MP4 (displayable). `crop` is
 * the transform the frames were made in: `guidance.crop`, `preview.crop`.
 */
export async function compositeVideo(photo: Image, source: CompositeSource, crop: PortraitCrop | null | undefined, options: CompositeVideoOptions = {}): Promise<VideoOutput> {
  if (!crop) throw new MagicPortraitError('composite: no crop transform given (pass guidance.crop or preview.crop; a square photo in its own frame needs no compositing).', 'bad-argument');
  if (photo.width !== crop.source.width || photo.height !== crop.source.height)
    throw new MagicPortraitError(`composite: the crop was made for a ${crop.source.width}×${crop.source.height} photo, this one is ${photo.width}×${photo.height}.`, 'bad-argument');
  // a large photo is composited at a display size: the photo scaled by s, the crop transform through s⁻¹
  const maxSide = options.maxSide ?? 1280;
  const s = Math.min(1, maxSide / Math.max(photo.width, photo.height));
  const W = Math.max(2, Math.round(photo.width * s)), H = Math.max(2, Math.round(photo.height * s));
  const sx = W / photo.width, sy = H / photo.height;
  const rgb = toRGB(photo);
  const base: Image = s < 1 ? (resizeImage(rgb, W, H, 'bilinear') as Image) : rgb;
  const m = crop.matrix;
  // p_photo = ((p' + ½)/s − ½): crop = M · that
  const ax = 1 / sx, bx = 0.5 / sx - 0.5, ay = 1 / sy, by = 0.5 / sy - 0.5;
  const matrix: PortraitCrop['matrix'] = [m[0] * ax, m[1] * ay, m[0] * bx + m[1] * by + m[2], m[3] * ax, m[4] * ay, m[3] * bx + m[4] * by + m[5]];
  const det = matrix[0] * matrix[4] - matrix[1] * matrix[3];
  const inverse: PortraitCrop['matrix'] = [matrix[4] / det, -matrix[1] / det, (matrix[1] * matrix[5] - matrix[4] * matrix[2]) / det,
    -matrix[3] / det, matrix[0] / det, (matrix[3] * matrix[2] - matrix[0] * matrix[5]) / det];
  const scaled: PortraitCrop = { ...crop, matrix, inverse, source: { width: W, height: H } };
  const { frames, fps: srcFps, total } = frameSource(source, crop.size);
  const fps = options.fps ?? srcFps ?? 24;
  const progress = newProgress('Compositing into the photo', total, 'frames');
  const tmp = mkdtempSync(join(tmpdir(), 'mp-composite-'));
  try {
    const out: Image = { width: W, height: H, channels: 3, data: new Uint8Array(W * H * 3) };
    let n = 0;
    const file = join(tmp, 'composite.mp4');
    await writeVideo(file, (async function* () {
      for await (const f of frames as AsyncIterable<AnyImage>) {
        checkCancelled('compositing');
        if (f.channels !== 3 && f.channels !== 4) throw new MagicPortraitError(`composite: frame ${n} has ${f.channels} channel(s); RGB frames are needed.`, 'bad-argument');
        out.data.set(base.data);
        yield compositeFrame(base, f as Image, scaled, options, out);
        progress.update(++n);
      }
    })(), { fps, crf: 18, preset: 'veryfast' });
    progress.finish();
    const run = currentRun();
    return new VideoOutput(run.artifacts.put(readFileSync(file), 'mp4', 'video/mp4'), { title: options.title ?? 'Composited into the photo', width: W, height: H, fps, frames: n }, run.artifacts);
  } catch (e) {
    progress.finish((e as Error).message);
    throw e;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
