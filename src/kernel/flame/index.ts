// Public surface of the FLAME area: model data, file loading, the demo head, the forward, landmarks,
// FLAMETex, the camera and rotation conventions.
export * from './types';
export * from './rotations';
export * from './landmarks';
export { prepareFlame, flameForward, allocFlameOutput, decaFullPose } from './lbs';
export type { FlameForwardOptions, FlameParams, FlameOutput, PreparedFlame } from './lbs';
export * from './orthographic';
export * from './texture';
export { loadFlame, type LoadFlameOptions } from './model-files';
export {
  createDemoHead, buildDemoHead, demoHeadFaceKinds, DEMO_HEAD_NAME, DEMO_SHAPE_NAMES, DEMO_EXPRESSION_NAMES, DEMO_TEXTURE_NAMES,
} from './demo-head';
export { flameRigData, type FlameRigData } from './viewer-rig';
