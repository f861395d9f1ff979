/**
 * The reference's three crops for one image, with our detectors standing in for insightface (512 crop),
 * face_alignment (DECA 68 points) and MediaPipe FaceLandmarker (SMIRK): reference-pipeline.md §1.1–1.3.
 */
import type { Image } from '../io/image';
import { decaCrop, generationCrop, skimageIdentityResize, smirkCrop, type EncoderCrop, type GenerationCrop } from './crops';
import { detectFaces, findFace, type Face, type SelectFaceOptions } from './detect';
import { landmarks468, landmarks68 } from './landmarks';

export interface FaceCrops {
  /** The face chosen in the input image. */
  face: Face;
  /** §1.1 512×512 crop and its matrix (input pixels → crop pixels). */
  generation: GenerationCrop;
  /** §1.2 DECA crop of the 512 crop (after scikit-image's byte round trip), tform: 512-crop pixels → 224. */
  deca: EncoderCrop | null;
  /** §1.3 SMIRK crop of the 512 crop, tform: 512-crop pixels → 224; null tform when no face (whole-frame fallback). */
  smirk: ReturnType<typeof smirkCrop>;
}

/** Detects the face (largest by default), makes the 512 generation crop, then the two 224 encoder crops from it. */
export async function faceCrops(image: Image, options: SelectFaceOptions = {}): Promise<FaceCrops> {
  const face = await findFace(image, options);
  const generation = generationCrop(image, face.box);
  const crop = generation.image;
  const inCrop = (await detectFaces(crop))[0];
  let deca: EncoderCrop | null = null;
  let dense: [number, number][] | null = null;
  if (inCrop) {
    const image512 = skimageIdentityResize(crop);
    deca = decaCrop(image512, (await landmarks68(image512, inCrop)).points);
    const mesh = await landmarks468(crop, inCrop);
    dense = Array.from({ length: 468 }, (_, i) => [mesh.points[3 * i]!, mesh.points[3 * i + 1]!]);
  }
  return { face, generation, deca, smirk: smirkCrop(crop, dense) };
}
