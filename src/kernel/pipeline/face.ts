/**
 * The face stages as notebook-friendly results: analyse a portrait (detection, 468 + 68 landmarks, descriptor,
 * reference crops) and track a driving video, each displayable with its overlays.
 */
import { resolve } from 'node:path';
import { currentRun, checkCancelled, newProgress } from '../runtime/context';
import { DISPLAY, type DisplayContext, type Displayable } from '../runtime/display';
import { MIME, type MimeBundle } from '../../shared/outputs';
import { encodePng } from '../io/png';
import { fitForDisplay, FRAME_MAX_SIDE, inlineImage } from '../runtime/inline-image';
import type { ArtifactRef } from '../../shared/outputs';
import { readImage, type AnyImage, type Image } from '../io/image';
import { readImageAsPillow } from '../io/jpeg-libjpeg';
import { probeVideo, readFrames, type VideoInfo } from '../io/video';
import { copyRgb, drawBox, drawPoints } from '../io/draw';
import {
  detectFaces,
  findFace,
  landmarks468,
  landmarks68,
  faceDescriptor,
  faceCrops,
  trackFaces,
  type Face,
  type Mesh468,
  type Landmarks68,
  type FaceCrops,
} from '../perception';
import { MagicPortraitError } from '../errors';

const GREEN = [40, 230, 60] as const;
const CYAN = [40, 200, 240] as const;
const YELLOW = [250, 220, 40] as const;

/** Paths in cells resolve against the notebook's folder. */
export function resolvePath(path: string): string {
  return resolve(currentRun().baseDir, path);
}

export function loadImage(path: string): Image {
  return readImage(resolvePath(path));
}

/** Reads an image as Pillow does (JPEG decoded by libjpeg-turbo; `mp.image` uses jpeg-js, whose chroma differs);
 * relative paths resolve against the notebook's folder. */
export function loadImageAsPillow(path: string): ReturnType<typeof readImageAsPillow> {
  return readImageAsPillow(resolvePath(path));
}

export class FaceAnalysis implements Displayable {
  constructor(
    readonly image: Image,
    readonly face: Face,
    /** Every face found, largest first; `face` is the chosen one. */
    readonly faces: Face[],
    readonly mesh: Mesh468,
    readonly landmarks68: Landmarks68,
    readonly descriptor: Float32Array,
    readonly crops: FaceCrops,
  ) {}

  /** Position of the chosen face among `faces` (largest first). */
  get faceIndex(): number {
    const b = this.face.box;
    const i = this.faces.findIndex((f) => Math.abs(f.box.x1 - b.x1) < 0.5 && Math.abs(f.box.y1 - b.y1) < 0.5 && Math.abs(f.box.x2 - b.x2) < 0.5);
    return Math.max(0, i);
  }

  /** The image with the face box (green), 468 mesh points (cyan) and 68 landmarks (yellow) drawn. */
  overlay(): Image {
    const img = copyRgb(this.image);
    const t = Math.max(1, Math.round(img.width / 300));
    for (const [i, f] of this.faces.entries()) if (i !== this.faceIndex) drawBox(img, f.box, [120, 120, 120], t);
    drawBox(img, this.face.box, GREEN, t + 1);
    drawPoints(img, this.mesh.points, CYAN, Math.max(0, t - 1), 3);
    drawPoints(img, this.landmarks68.points.flat(), YELLOW, t, 2);
    return img;
  }

  [DISPLAY](): MimeBundle {
    const b = this.face.box;
    const shown = inlineImage(this.overlay());
    return {
      [shown.mime]: shown.base64,
      'text/plain': `face ${this.faceIndex + 1} of ${this.faces.length}: score ${this.face.score.toFixed(3)}, box [${[b.x1, b.y1, b.x2, b.y2].map((v) => v.toFixed(0)).join(', ')}], 468 + 68 landmarks, ${this.descriptor.length}-d descriptor`,
    };
  }
}

/** Detection, landmarks, descriptor and the reference crops of one portrait. */
export async function analyzeFace(image: Image | string, options: { index?: number } = {}): Promise<FaceAnalysis> {
  const img = typeof image === 'string' ? loadImage(image) : image;
  const faces = await detectFaces(img);
  const face = await findFace(img, { index: options.index ?? 0, name: typeof image === 'string' ? image : 'the image' });
  const mesh = await landmarks468(img, face);
  const l68 = await landmarks68(img, face);
  const descriptor = await faceDescriptor(img, l68);
  const crops = await faceCrops(img);
  return new FaceAnalysis(img, face, faces.length ? faces : [face], mesh, l68, descriptor, crops);
}

export interface TrackedFaceFrame {
  index: number;
  face: Face | null;
  /** 68 landmarks, interleaved x,y (136 numbers); null when no face. */
  landmarks68: Float32Array | null;
  source: 'tracked' | 'detected' | 'none';
}

export class FaceTrack implements Displayable {
  constructor(
    readonly video: string,
    readonly info: VideoInfo,
    readonly frames: TrackedFaceFrame[],
    /** PNG overlays of a subsample of frames (for the scrubber), with their frame indices. */
    readonly strip: { index: number; png: Uint8Array }[],
  ) {}

  get missing(): number[] {
    return this.frames.filter((f) => !f.face).map((f) => f.index);
  }

  [DISPLAY](ctx: DisplayContext): MimeBundle {
    const refs: ArtifactRef[] = this.strip.map((s) => ctx.artifacts.put(s.png, 'png', 'image/png'));
    const found = this.frames.length - this.missing.length;
    const title = `Face track: ${found}/${this.frames.length} frames with a face`;
    // the strip's frames are stored at most FRAME_MAX_SIDE on their longer side
    const k = Math.min(1, FRAME_MAX_SIDE / Math.max(this.info.width, this.info.height));
    const w = Math.max(1, Math.round(this.info.width * k));
    const h = Math.max(1, Math.round(this.info.height * k));
    return {
      [MIME.frames]: { title, fps: Math.max(1, Math.round(this.info.fps / Math.max(1, this.strideOf()))), tracks: [{ name: 'driving + landmarks', width: w, height: h, frames: refs }] },
      'text/plain': `${title}${this.missing.length ? `; no face in frames ${this.missing.slice(0, 20).join(', ')}${this.missing.length > 20 ? '…' : ''}` : ''}`,
    };
  }

  private strideOf(): number {
    return this.strip.length > 1 ? this.strip[1]!.index - this.strip[0]!.index : 1;
  }
}

/**
 * Streams a video through detection (tracked across frames, re-detected on loss) and 68 landmarks. Frames without a
 * face are reported, not fatal. Keeps at most `stripFrames` overlay thumbnails for display.
 */
export async function trackVideoFaces(path: string, options: { maxFrames?: number; stripFrames?: number } = {}): Promise<FaceTrack> {
  const file = resolvePath(path);
  const info = probeVideo(file, { countFrames: true });
  if (info.truncated) console.warn(`⚠ ${info.truncated.message}`);
  const total = Math.min(options.maxFrames ?? Infinity, info.frameCount ?? Infinity);
  if (!Number.isFinite(total) || total <= 0) throw new MagicPortraitError(`${path}: no frames to read.`, 'bad-video');
  const stride = Math.max(1, Math.ceil(total / (options.stripFrames ?? 48)));
  const progress = newProgress(`Tracking faces in ${path}`, total, 'frames');
  const frames: TrackedFaceFrame[] = [];
  const strip: { index: number; png: Uint8Array }[] = [];
  try {
    const source = (async function* () {
      for await (const f of readFrames(file, { maxFrames: total })) yield f.image;
    })();
    for await (const t of trackFaces(source, { landmarks: ['68'] })) {
      checkCancelled('face tracking');
      const l = t.landmarks68 ? Float32Array.from(t.landmarks68.points.flat()) : null;
      frames.push({ index: t.index, face: t.face, landmarks68: l, source: t.source });
      if (t.index % stride === 0) {
        const img = copyRgb(t.image);
        if (t.face) drawBox(img, t.face.box, GREEN, 2);
        if (l) drawPoints(img, l, YELLOW, 1, 2);
        strip.push({ index: t.index, png: encodePng(fitForDisplay(img, FRAME_MAX_SIDE)) });
      }
      progress.tick();
    }
    progress.finish();
  } catch (e) {
    progress.finish((e as Error).message);
    throw e;
  }
  return new FaceTrack(path, info, frames, strip);
}

export { type Image, type Face };
export type { FaceCrops };

/** The first frames of a video as images (for displays beside the guidance; long videos stream elsewhere). */
export async function videoFrames(path: string, options: { maxFrames?: number; width?: number; height?: number } = {}): Promise<AnyImage[]> {
  const file = resolvePath(path);
  let { width, height } = options;
  // one side given: the other keeps the video's aspect ratio (even, as encoders want)
  if ((width && !height) || (height && !width)) {
    const info = probeVideo(file, { countFrames: false });
    if (width) height = Math.max(2, 2 * Math.round((info.height * width) / info.width / 2));
    else width = Math.max(2, 2 * Math.round((info.width * height!) / info.height / 2));
  }
  const out: AnyImage[] = [];
  const onWarning = (w: string) => console.warn(`⚠ ${w}`);
  for await (const f of readFrames(file, { maxFrames: options.maxFrames ?? 48, onWarning, ...(width ? { width } : {}), ...(height ? { height } : {}) })) out.push(f.image);
  return out;
}
