// Guidance rendering: rasteriser, placement, maps, sequences.
export { Rasterizer, type RasterResult, type RasterOptions, type IndexArray } from './rasterizer';
export { orthProject, placeInImage, tformFromCrop, decaCropSimilarity, DECA_CROP_SIZE } from './vertex-placement';
export {
  GuidanceRenderer, renderGuidance, vertexNormals, depthAttribute, quantize, SH_FACTORS, DEFAULT_MAPS,
  type GuidanceAssets, type GuidanceOptions, type GuidanceFrame, type GuidanceMaps, type GuidanceFloatMaps, type GuidanceMapKind,
} from './guidance-maps';
export { drawLandmarkMap, defaultLandmarkStyle, LANDMARK_GROUPS, type LandmarkStyle } from './landmarkMap';
export { renderSequence, RenderPool, findWorkerEntry, type SequenceOptions, type SequenceResult } from './sequence';
