// Public surface of the fit area: fitting a FLAME-structured model to a portrait, tracking a driving video,
// structured face alignment, and their displays.
export { fitFlame, rescaleFit } from './fit';
export { fitRigFor, headAngles, interOcular, qualityOf } from './frame-targets';
export type { FitFlameOptions, FitInput, FitLandmarkInput } from './fit';
export type { FitInitialiser, FitInitContext, FitInitialGuess, FlameFit, FitQuality, FitFaceChoice } from './types';
export { portraitCrop, portraitCropOfFit, cropImage, fitInCrop, alignedInCrop, compositeFrame, GENERATION_SIZE, type CompositeOptions } from './crop';
export { type PortraitCrop } from './types';
export { trackFlame, MIN_TRACKED_FRACTION } from './track';
export { smoothTrack, jitterReport, trackLandmarks } from './track-smoothing';
export type { TrackFlameOptions } from './track';
export type { FlameTrack, TrackFrameInfo, TrackSeries, JitterReport, JitterGroup, TrackFrameState } from './types';
export { align, alignedFrame } from './align';
export type { AlignOptions, AlignedSequence, ParamSource } from './types';
export { DEFAULT_WEIGHTS, POSE_LIMITS, type FitWeights } from './solve';
export { defaultDenseCorrespondence, loadDenseCorrespondence, loadMediapipeEmbedding, meshFingerprint, denseToJson } from './dense';
export type { DenseCorrespondence } from './dense';
export { butter2, filtfilt, oneEuro, fillGaps, smoothSeries, diffVariance, type SmoothingOptions } from './smooth';
export { photometricFit, solvePhotometric, shBasis, SH_CONSTANTS, type PhotometricResult } from './photometric';
export { posedMesh, vertexNormals, visibleVertices } from './mesh';
export { decaCropTform } from './crop-projection';
export { openDecaSmirk, decaSmirkInitialiser, mergeDecaSmirk, defaultEncoderDir, closeFitEncoders } from './encoder-init';
export type { FitEncoder, DecaSmirkEncoders, DecaSmirkResult } from './encoder-init';
export { drawFitOverlay } from './overlay';
export { missingReferenceModels, referenceModels, trackReference, isReferenceTrack, firstFrameCrop, applyCrop, REFERENCE_NUM_SHAPE, REFERENCE_NUM_EXPRESSION } from './reference';
export type { ReferenceModelOptions, ReferenceTrackOptions, ReferenceTrackExtras, FirstFrameCrop } from './reference';
export type { EstimatorPreset } from './types';
export { trackDifference, type TrackDifference } from './compare';
// their displays (overlay, plot, aligned view, comparison) are stages' business: pipeline/fit-display.ts
