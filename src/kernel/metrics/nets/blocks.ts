/** State-dict plumbing for the metric networks: the shared building blocks of `onnx/blocks.ts`. */
export { WeightLookup, param, stateDictFromArrays, formatCoverage } from '../../onnx/blocks';
export type { BlockContext, KeyCoverage, StateDict, StateTensor } from '../../onnx/blocks';
