/**
 * Face perception: detection, tracking, 468 mesh, 68 landmarks, the 128-d descriptor, reference crops, and the
 * one-time model conversion (`prepareModels`, the CLI step).
 */
export { detectFaces, findFace, detectInRegion, fullRegion, boxArea, KEYPOINT_NAMES } from './detect';
export type { Box, Face, Point, DetectOptions, SelectFaceOptions, Region } from './detect';
export {
  landmarks468,
  landmarks68,
  faceDescriptor,
  faceChip,
  descriptorFromChip,
  identitySimilarity,
  descriptorDistance,
  roiFromDetection,
  roiFromMesh,
  roi68,
  CHIP_SIZE,
  CHIP_PADDING,
  FACE_CHIP_VERSION,
} from './landmarks';
export type { Mesh468, Landmarks68, FaceChip, Roi, DescriptorOptions } from './landmarks';
export { jitterChip, jitterRandom } from './jitter';
export { trackFaces } from './track';
export type { TrackOptions, TrackedFrame } from './track';
export {
  generationCrop,
  generationCropCorners,
  GENERATION_BOX_512,
  decaCrop,
  decaCropAt,
  smirkCrop,
  encoderTform,
  skimageIdentityResize,
  transformationFromPoints,
  similarityTransform,
} from './crops';
export type { GenerationCrop, EncoderCrop } from './crops';
export { prepareModel, prepareModels, modelCacheDir, resolveModelPackage, MODEL_IDS, CONVERTER_VERSION } from './models';
export type { ModelId, PreparedModel } from './models';
export type { Affine, Matrix3 } from './warp';
export { invertAffine, applyAffine, composeAffine, affineToMatrix3, matrix3ToAffine } from './warp';
export { faceCrops } from './faceCrops';
export type { FaceCrops } from './faceCrops';
