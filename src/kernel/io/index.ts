// Public surface of the kernel's file readers.
export * from './ndarray';
export * from './pickle';
export * from './pickle-globals';
export { TORCH_GLOBALS, TORCH_NUMPY_GLOBALS, TorchTensorRef, loadTensor, type TorchStorage } from './torch-pickle';
export * from './npy';
export * from './torch-checkpoint';
export * from './safetensors';
export * from './obj';
export * from './source';
export { parseNumpyDescr } from './numpy-dtype';
export * from './image';
export * from './video';
export { locateFfmpeg, setFfmpegPath, type FfmpegLocation } from './ffmpeg';
