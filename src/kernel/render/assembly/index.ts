// Entry point of the render kernel module (see ../wasm-arena.ts).
export { configure, shade } from './shade';
export { vertexNormals } from './normals';
export { rasterSetup, rasterize, rasterRowMin, rasterRowMax } from './raster';
