/**
 * CSIM: identity preservation as the cosine similarity of face-recognition embeddings between the reference
 * (source) image and each generated frame. The embedding is the dlib 128-d ResNet descriptor (perception's
 * `faceDescriptor`, on a dlib-aligned 150×150 chip of the largest detected face). The paper's CSIM uses an ArcFace
 * embedding, so absolute values differ from its table; the ranking (same identity high, different low) is what
 * this measures reliably.
 */
import { MagicPortraitError } from '../errors';
import type { Image } from '../io/image';
import { CONVERTER_VERSION, detectFaces, FACE_CHIP_VERSION, faceDescriptor, identitySimilarity, prepareModel, type DescriptorOptions } from '../perception';

export const CSIM_EMBEDDING = 'dlib ResNet 128-d descriptor (cosine)';

let modelKey: unknown = null;

/**
 * What identity embeddings depend on besides the image: the face models (package, version, source hash) and the
 * converter version. Part of the cache keys of embedding stages and batch pairs (prepares the models if needed).
 */
export function identityModelKey(): unknown {
  if (!modelKey)
    modelKey = {
      converter: CONVERTER_VERSION,
      chip: FACE_CHIP_VERSION,
      models: (['blazeface128', 'blazeface256', 'landmarks68', 'descriptor'] as const).map((id) => {
        const m = prepareModel(id);
        return [id, m.package, m.version, m.sourceHash];
      }),
    };
  return modelKey;
}

/**
 * The descriptor of the largest face, or null when no face is found. CSIM uses the plain descriptor (no jitters);
 * `options.jitters` averages dlib-style jittered chips (n times the cost) where a steadier descriptor matters.
 */
export async function identityEmbedding(image: Image, options: DescriptorOptions = {}): Promise<Float32Array | null> {
  const faces = await detectFaces(image);
  if (!faces.length) return null;
  return faceDescriptor(image, faces[0]!, options);
}

/** Cosine similarity of two descriptors (1 = same direction). */
export function csim(a: Float32Array, b: Float32Array): number {
  return identitySimilarity(a, b);
}

export interface CsimResult {
  /** Per frame; NaN where no face was found in the frame. */
  perFrame: number[];
  /** Mean over frames with a face (NaN when none had one). */
  mean: number;
  /** Frames with a detected face. */
  facesFound: number;
  frames: number;
  embedding: string;
}

/** CSIM of each frame against the reference (an image, or its precomputed descriptor). */
export async function csimFrames(reference: Image | Float32Array, frames: Iterable<Image> | AsyncIterable<Image>, name = 'the reference image'): Promise<CsimResult> {
  const ref = reference instanceof Float32Array ? reference : await identityEmbedding(reference);
  if (!ref) throw new MagicPortraitError(`CSIM: no face found in ${name}; the identity metric needs the reference face.`, 'no-face');
  const perFrame: number[] = [];
  let sum = 0, found = 0;
  for await (const im of frames as AsyncIterable<Image>) {
    const e = await identityEmbedding(im);
    const v = e ? csim(ref, e) : NaN;
    perFrame.push(v);
    if (e) {
      sum += v;
      found++;
    }
  }
  return { perFrame, mean: found ? sum / found : NaN, facesFound: found, frames: perFrame.length, embedding: CSIM_EMBEDDING };
}
