/**
 * State-dict plumbing for the metric networks. TEMPORARY: re-exports the `onnx/blocks.ts` API through the diffusion
 * area's copy until blocks.ts lands on main (GGE branch); then this becomes `export * from '../../onnx/blocks'`.
 */
export { WeightLookup, param, stateDictFromArrays } from '../../diffusion/graph/ops';
export type { BlockContext, KeyCoverage, StateDict, StateTensor } from '../../diffusion/graph/ops';
