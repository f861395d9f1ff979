/** The Geometric Guidance Encoder: import user checkpoints, the untrained demo, running, attention exploration. */
export { importGGE, type GGEFiles, type GGEImportOptions } from './import';
export { createDemoGGE, demoGGEStateDict, DEMO_LABEL } from './demo';
export { loadGGEBundle, writeGGEBundle, type GGEBundle, type GGEBundleManifest } from './bundle';
export {
  runGGE,
  releaseGGE,
  type GGEResult,
  type GGEAttention,
  type GGEAttentionRows,
  type GuidanceImage,
  type GuidanceMapsByType,
  type RunGGEOptions,
} from './run';
export { GUIDANCE_TYPES, GGE_CONFIG, type GGEConfig, ggeGridSize, ggeEncoder, ggeRequiredKeys, buildGGEFeaturesGraph, buildGGEMainGraph, buildGGERowsGraph } from './model';
export { type GuidanceType } from '../../shared/attention';
