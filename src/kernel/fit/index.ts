// Public surface of the fit area: fitting a FLAME-structured model to a portrait, tracking a driving video,
// structured face alignment, and their displays.
export { fitFlame, rescaleFit, fitRigFor, headAngles, interOcular, qualityOf } from './fit';
export type { FitFlameOptions, FitInput, FitLandmarkInput, FitInitialiser, FitInitContext, FitInitialGuess, FlameFit, FitQuality } from './fit';
export { trackFlame, smoothTrack, jitterReport, trackLandmarks } from './track';
export type { TrackFlameOptions, FlameTrack, TrackFrameInfo, TrackSeries, JitterReport, JitterGroup, TrackFrameState } from './track';
export { align, alignedFrame } from './align';
export type { AlignOptions, AlignedSequence, ParamSource } from './align';
export { DEFAULT_WEIGHTS, POSE_LIMITS, type FitWeights } from './solve';
export { defaultDenseCorrespondence, loadDenseCorrespondence, loadMediapipeEmbedding, meshFingerprint, denseToJson } from './dense';
export type { DenseCorrespondence } from './dense';
export { butter2, filtfilt, oneEuro, fillGaps, smoothSeries, diffVariance, type SmoothingOptions } from './smooth';
export { photometricFit, solvePhotometric, shBasis, SH_CONSTANTS, type PhotometricResult } from './photometric';
export { posedMesh, vertexNormals, visibleVertices } from './mesh';
export { decaCropTform } from './camera';
export { openDecaSmirk, decaSmirkInitialiser, mergeDecaSmirk, defaultEncoderDir, closeFitEncoders } from './encoder-init';
export type { FitEncoder, DecaSmirkEncoders, DecaSmirkResult } from './encoder-init';
export { drawFitOverlay } from './draw';
export { fitOverlayView, trackPlot, TrackPlot, alignedView, type AlignedViewOptions } from './display';
