// Instant preview: the reference portrait re-enacted on the CPU by warping it through the fitted 3D face.
export { renderPreviewFramesParallel, closePreviewWorkers, type ParallelPreviewOptions } from './parallel';
export { renderPreviewFrames, prepareReference, type PreviewRenderOptions, type PreviewFrames } from './frames';
// the stage (progress, MP4, display) is mp.preview: pipeline/preview.ts
export { resolvePreview, type PreviewReference, type PreviewDriving, type ResolvedPreview } from './inputs';
export { MeshPoser, type PreviewRig, type PreviewFrameParams } from './pose';
export { ReferenceTexture } from './reference';
export { PreviewWarper } from './warp';
export { mirrorVertices, regionWeights, featureWeights, mouthFaces, type PreviewRegion } from './model-maps';
