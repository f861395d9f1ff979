// Types of scripts/build-wasm.mjs for the TypeScript that imports it (test/render/wasm-binary.test.ts).
export function compileRenderKernel(): Promise<Buffer>;
export function binaryModule(wasm: Buffer): string;
