/**
 * CSIM: identity preservation as the cosine similarity of face-recognition embeddings between the reference
 * (source) image and each generated frame. The embedding is the dlib 128-d ResNet descriptor (perception's
 * `faceDescriptor`, on a dlib-aligned 150×150 chip of the largest detected face). The paper's CSIM uses an ArcFace
 * embedding, so absolute values differ from its table; the ranking (same identity high, different low) is what
 * this measures reliably.
 */
import { MagicPortraitError } from '../errors';
import type { Image } from '../io/image';
import { CONVERTER_VERSION, detectFaces, FACE_CHIP_VERSION, faceDescriptor, identitySimilarity, landmarks468, prepareModel, type DescriptorOptions } from '../perception';

export const CSIM_EMBEDDING = 'dlib ResNet 128-d descriptor (cosine)';

/**
 * A frame counts for CSIM only when its face is a confident detection: BlazeFace score ≥ CSIM_MIN_DETECTION and the
 * face mesh's face-presence score ≥ CSIM_MIN_PRESENCE. Untrained or failed generations are noise in which the
 * detector "sees" faces at scores 0.3–0.6 with a presence of ~0 (measured on the quickstart's untrained output),
 * while real faces score ≥ 0.85 with presence ~1 (the shared clips): counting the former made noise look like the
 * reference (CSIM 0.88 on 7 of 24 noise frames).
 */
export const CSIM_MIN_DETECTION = 0.75;
export const CSIM_MIN_PRESENCE = 0.5;
export const CSIM_RULE = `BlazeFace score ≥ ${CSIM_MIN_DETECTION} and face-mesh presence ≥ ${CSIM_MIN_PRESENCE}`;

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
      rule: CSIM_RULE,
      models: (['blazeface128', 'blazeface256', 'facemesh468', 'landmarks68', 'descriptor'] as const).map((id) => {
        const m = prepareModel(id);
        return [id, m.package, m.version, m.sourceHash];
      }),
    };
  return modelKey;
}

/**
 * The descriptor of the largest face, or null when there is no confident face (CSIM_RULE; `confident: false` takes
 * any detection). CSIM uses the plain descriptor (no jitters); `options.jitters` averages dlib-style jittered chips
 * (n times the cost) where a steadier descriptor matters.
 */
export async function identityEmbedding(image: Image, options: DescriptorOptions & { confident?: boolean } = {}): Promise<Float32Array | null> {
  const { confident = true, ...descriptor } = options;
  const faces = await detectFaces(image);
  const face = faces[0];
  if (!face) return null;
  if (confident) {
    if (face.score < CSIM_MIN_DETECTION) return null;
    if ((await landmarks468(image, face)).score < CSIM_MIN_PRESENCE) return null;
  }
  return faceDescriptor(image, face, descriptor);
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
  /** Frames with a confident face (CSIM_RULE): the only ones the mean counts. */
  facesFound: number;
  frames: number;
  /** facesFound / frames. */
  coverage: number;
  embedding: string;
  rule: string;
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
  return { perFrame, mean: found ? sum / found : NaN, facesFound: found, frames: perFrame.length, coverage: perFrame.length ? found / perFrame.length : 0, embedding: CSIM_EMBEDDING, rule: CSIM_RULE };
}
