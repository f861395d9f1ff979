/**
 * What a host process — the VS Code extension — uses of the kernel, and nothing else (the import rules keep the
 * extension to this file and src/shared/): starting and talking to kernel processes, the .mpnb format, the artifact
 * store's bookkeeping, the stage cache's size, the CUDA runtime installer, the settings a kernel is started with.
 * Nothing here loads ONNX Runtime or a model: the extension host never computes.
 */
export { CancelledError, MagicPortraitError } from './errors';
export { KernelClient } from './runtime/client';
export { newCodeCell, parametersCellIndex, parseNotebook, serializeNotebook, type CellData, type NotebookData, type OutputData } from './notebook/nbformat';
export { ArtifactStore, CELL_METADATA_KEY, referencedHashes, unreferencedWrites, withKeptArtifacts } from './runtime/artifacts';
export { StageCache } from './pipeline/cache';
export { describeCache, formatBytes } from './pipeline/cache-cli';
export { describeCudaCheck } from './onnx/cuda-runtime';
export { CUDA_PACKAGE, installCudaProvider } from './onnx/install-cuda';
export { ENV, environmentSettings } from './settings';
