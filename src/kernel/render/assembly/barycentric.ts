// AssemblyScript (see ../wasm-arena.ts). A face's barycentric coefficients, shared by the rasteriser's resolve pass
// and the shading pass: `w0 = c0 + a0·dx + b0·dy`, `w1 = a1·dx + b1·dy`, `w2 = a2·dx + b2·dy` about v0 = (x0, y0),
// i.e. the reference's `edge_k / (area + 1e-8)` expanded about v0 (Rasterizer.coefficients documents them).

export let bc0: f64 = 0;
export let ba0: f64 = 0;
export let bb0: f64 = 0;
export let ba1: f64 = 0;
export let bb1: f64 = 0;
export let ba2: f64 = 0;
export let bb2: f64 = 0;

/** Sets bc0 … bb2 for the triangle (x0, y0), (x1, y1), (x2, y2). */
@inline export function barycentricCoefficients(x0: f64, y0: f64, x1: f64, y1: f64, x2: f64, y2: f64): void {
  const ib = 1 / ((x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0) + 1e-8);
  bc0 = ((x0 - x1) * (y2 - y1) - (y0 - y1) * (x2 - x1)) * ib;
  ba0 = (y2 - y1) * ib;
  bb0 = -(x2 - x1) * ib;
  ba1 = (y0 - y2) * ib;
  bb1 = -(x0 - x2) * ib;
  ba2 = (y1 - y0) * ib;
  bb2 = -(x1 - x0) * ib;
}
