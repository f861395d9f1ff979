// Public surface of the diffusion stage (scheduler, context windows, noise, bundle, sampler).
export { DDIMScheduler, REFERENCE_SCHEDULER, DEFAULT_STEPS, DEFAULT_GUIDANCE_SCALE, applyGuidance, type DDIMConfig, type DDIMStepResult } from './scheduler';
export { contextWindows, WindowAggregator, gatherFrames, REFERENCE_CONTEXT, MAX_WINDOW_FRAMES, type ContextOptions } from './context';
export { seededLatentNoise, torchCpuRandn, loadNoiseNpy, Mt19937 } from './noise';
export {
  tinyBundle,
  loadBundle,
  writeBundle,
  readTextEmbeds,
  GeneratedWeights,
  UNTRAINED_LABEL,
  BUNDLE_FORMAT,
  MODEL_ROLES,
  type DiffusionBundle,
  type BundleManifest,
  type ModelRole,
  type ModelWeights,
  type WeightSource,
  type TinyBundleOptions,
} from './bundle';
export {
  sample,
  openBundle,
  bundleSessions,
  releaseBundleSessions,
  roleSession,
  releaseRoleSession,
  ProviderReport,
  SampledFrames,
  type SampleInput,
  type SampleOptions,
  type SampleResult,
  type SamplePreview,
  type SampleTimings,
  type GuidanceInput,
  type GuidanceFeatureSource,
} from './sample';
export { encodeMp4 } from './video-out';
export { REFERENCE_ARCH, TINY_ARCH, bankSites, latentSize, validateArch, type DiffusionArch } from './graph/config';
export { unetCallCost, vaeDecodeCost, type CallCost } from './graph/cost';
export { importMagicPortrait, estimateImport, planImport, type ImportPaths, type ImportOptions, type ImportReport, type ImportEstimate, type ImportProgress } from './import';
export { ClipTokenizer } from './tokenizer';
export { encodePrompt, clipTextForward } from './text-encoder';
