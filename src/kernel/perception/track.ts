/**
 * Face tracking through a frame stream: the detector runs on a region around the previous face (cheap and robust
 * to small faces); when that loses the face, the whole frame is searched again. Frames without a face are reported,
 * not fatal.
 */
import type { Image } from '../io/image';
import type { VideoFrame } from '../io/video';
import { boxArea, detectFaces, detectInRegion, type Box, type DetectOptions, type Face } from './detect';
import { landmarks468, landmarks68, type Landmarks68, type Mesh468 } from './landmarks';

export interface TrackOptions extends DetectOptions {
  /** Which face to follow in the first frame with faces (largest first; default 0). */
  index?: number;
  /** Also compute the 468 mesh and/or the 68 landmarks per frame. */
  landmarks?: readonly ('468' | '68')[];
  /** Region around the previous box, as a multiple of its larger side (default 2). */
  searchScale?: number;
}

export interface TrackedFrame {
  index: number;
  /** The frame itself (passed through, so consumers can crop it). */
  image: Image;
  /** null when no face was found in this frame. */
  face: Face | null;
  /** How the face was found: from the previous frame's region, or by a full-frame detection. */
  source: 'tracked' | 'detected' | 'none';
  mesh?: Mesh468;
  landmarks68?: Landmarks68;
}

function iou(a: Box, b: Box): number {
  const iw = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const ih = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = iw * ih;
  const u = boxArea(a) + boxArea(b) - inter;
  return u > 0 ? inter / u : 0;
}

function closest(faces: Face[], prev: Box): Face | null {
  let best: Face | null = null;
  let bestIou = 0;
  for (const f of faces) {
    const v = iou(f.box, prev);
    if (v > bestIou) {
      bestIou = v;
      best = f;
    }
  }
  return best;
}

/** Tracks one face through frames (images or decoded video frames), yielding a result per frame in order. */
export async function* trackFaces(
  frames: AsyncIterable<Image | VideoFrame> | Iterable<Image | VideoFrame>,
  options: TrackOptions = {},
): AsyncGenerator<TrackedFrame> {
  const scale = options.searchScale ?? 2;
  const minScore = options.minScore ?? 0.5;
  const iouT = options.iouThreshold ?? 0.3;
  let prev: Box | null = null; // the previous frame's box (null after a frame without a face)
  let last: Box | null = null; // the last box seen, to keep following the same person after a loss
  let k = 0;
  for await (const item of frames as AsyncIterable<Image | VideoFrame>) {
    const isFrame = 'image' in item;
    const image = isFrame ? item.image : item;
    const index = isFrame ? item.index : k;
    k++;
    let face: Face | null = null;
    let source: TrackedFrame['source'] = 'none';
    if (prev) {
      const side = Math.max(prev.x2 - prev.x1, prev.y2 - prev.y1) * scale;
      const cx = (prev.x1 + prev.x2) / 2 + 0.5;
      const cy = (prev.y1 + prev.y2) / 2 + 0.5;
      const found = await detectInRegion(image, { x0: cx - side / 2, y0: cy - side / 2, side }, 'short', minScore, iouT);
      face = closest(found, prev);
      if (face) source = 'tracked';
    }
    if (!face) {
      const faces = await detectFaces(image, options);
      face = last ? (closest(faces, last) ?? faces[0] ?? null) : (faces[Math.min(options.index ?? 0, faces.length - 1)] ?? null);
      if (face) source = 'detected';
    }
    const result: TrackedFrame = { index, image, face, source };
    prev = face ? face.box : null;
    if (face) {
      last = face.box;
      if (options.landmarks?.includes('468')) result.mesh = await landmarks468(image, face);
      if (options.landmarks?.includes('68')) result.landmarks68 = await landmarks68(image, face);
    }
    yield result;
  }
}

