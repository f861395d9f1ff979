/**
 * Metrics and evaluation: PSNR / SSIM (scikit-image definitions), LPIPS (imported network), CSIM (dlib descriptor),
 * APD / AED (FLAME parameter sequences), FID / FVD (imported Inception-v3 / I3D + the Fréchet distance), the paper's table, plots, and the
 * batch evaluation behind `magicportrait eval`.
 */
export { psnr, ssim, ssimChannels, mse, gaussianWeights } from './image';
export { identityEmbedding, csim, csimFrames, CSIM_EMBEDDING } from './identity';
export type { CsimResult } from './identity';
export { apd, aed, readFlameSequence, MOTION_LABEL } from './motion';
export type { FlameParamSequence, MotionResult } from './motion';
export { frechetDistance, frechetDistanceFromFeatures, gaussianStats, traceSqrtProduct } from './frechet';
export type { GaussianStats, TraceSqrtMethod } from './frechet';
export { symmetricEigen } from './linalg';
export { Lpips, buildLpipsGraph, lpipsInput } from './nets/lpips';
export type { LpipsNet, LpipsWeights } from './nets/lpips';
export { InceptionFeatures, buildInceptionGraph, INCEPTION_DIM } from './nets/inception';
export { I3dFeatures, buildI3dGraph, i3dResize, I3D_CLIP, I3D_MIN_CLIP, I3D_CLASSES } from './nets/i3d';
export type { I3dOptions, I3dVariant } from './nets/i3d';
export { runEval, mergeEval } from './batch/run';
export type { EvalRunOptions, EvalRunSummary, MergeOptions } from './batch/run';
export { readManifest, parseManifest, parseShard } from './batch/manifest';
export type { EvalManifest, ManifestPair, Shard } from './batch/manifest';
export { evaluate, frameStream, loadReference, resultToJson, resultFromJson, csimCoverageText } from './evaluate';
export type { EvaluateOptions, MetricsResult, FrameSource, FeatureNetwork, ClipFeatureNetwork, ClipFeatures, ReferenceSource } from './evaluate';
export { metricsPlot, perFrameFigure, summaryFigure, paperComparisonFigure, motionFigure } from './display';
export type { PlotPayload, PlotFigure } from '../../shared/outputs';
export { PAPER_TABLE_I, PAPER_TABLE_II, PAPER_TABLE_III, PAPER_TABLES, PAPER_CITATION, METRIC_NETWORKS_NOTE, paperTableMarkdown, parsePaperRows, readPaperRows } from './paper';
export type { PaperRow, PaperTable } from './paper';
export { METRICS, METRIC_IDS } from './types';
export type { MetricId, MetricInfo } from './types';
