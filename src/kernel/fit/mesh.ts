// The whole posed mesh of a fit, projected into the image: the geometry the photometric refinement and the overlays
// use. Projection as the reference places renders (reference-pipeline.md §2.6, §1.4): world → DECA camera → crop NDC →
// crop pixels (×224) → T⁻¹ → image pixels.

import { flameForward, prepareFlame, type PreparedFlame } from '../flame/lbs';
import type { FlameModelData } from '../flame/types';
import { invertAffine3 } from './crop-projection';

const prepCache = new WeakMap<FlameModelData, Map<string, PreparedFlame>>();

/** A float64 prepared forward for these component counts (cached per model). */
export function preparedFor(model: FlameModelData, numShape: number, numExpression: number): PreparedFlame {
  let m = prepCache.get(model);
  if (!m) { m = new Map(); prepCache.set(model, m); }
  const key = `${numShape}/${numExpression}`;
  let p = m.get(key);
  if (!p) { p = prepareFlame(model, { numShape, numExpression, dtype: 'float64', landmarks: false }); m.set(key, p); }
  return p;
}

export interface PosedMesh {
  /** V × 3 world vertices. */
  world: Float64Array;
  /** V × 2 image pixels. */
  image: Float64Array;
  /** V × 3 area-weighted unit normals of the world vertices (util.vertex_normals, §5.4). */
  normals: Float64Array;
}

export interface MeshParams {
  shape: ArrayLike<number>;
  expression: ArrayLike<number>;
  pose: ArrayLike<number>;
  cam: ArrayLike<number>;
  /** Crop transform T (image → crop pixels). */
  tform: ArrayLike<number>;
}

export function posedMesh(model: FlameModelData, p: MeshParams): PosedMesh {
  const prep = preparedFor(model, p.shape.length, p.expression.length);
  const out = flameForward(prep, { batchSize: 1, shape: p.shape, expression: p.expression, pose: p.pose });
  const V = model.numVertices;
  const world = Float64Array.from(out.vertices);
  const Ti = invertAffine3(p.tform);
  const image = new Float64Array(V * 2);
  const [s, tx, ty] = [p.cam[0], p.cam[1], p.cam[2]];
  for (let v = 0; v < V; v++) {
    const u = 112 * s * (world[3 * v] + tx) + 112, w = -112 * s * (world[3 * v + 1] + ty) + 112;
    image[2 * v] = Ti[0] * u + Ti[1] * w + Ti[2];
    image[2 * v + 1] = Ti[3] * u + Ti[4] * w + Ti[5];
  }
  return { world, image, normals: vertexNormals(world, model.faces) };
}

/** Per-vertex normals as DECA's util.vertex_normals: per face, (v2−v1)×(v0−v1) etc. summed, then n / max(‖n‖, 1e-6). */
export function vertexNormals(v: ArrayLike<number>, faces: Uint32Array): Float64Array {
  const n = new Float64Array(v.length);
  for (let f = 0; f < faces.length; f += 3) {
    const a = 3 * faces[f], b = 3 * faces[f + 1], c = 3 * faces[f + 2];
    const e1x = v[b] - v[a], e1y = v[b + 1] - v[a + 1], e1z = v[b + 2] - v[a + 2];
    const e2x = v[c] - v[a], e2y = v[c + 1] - v[a + 1], e2z = v[c + 2] - v[a + 2];
    // (v1−v0)×(v2−v0): the same vector the three per-corner cross products give for a flat triangle
    const cx = e1y * e2z - e1z * e2y, cy = e1z * e2x - e1x * e2z, cz = e1x * e2y - e1y * e2x;
    for (const i of [a, b, c]) { n[i] += cx; n[i + 1] += cy; n[i + 2] += cz; }
  }
  for (let i = 0; i < n.length; i += 3) {
    const l = Math.max(Math.hypot(n[i], n[i + 1], n[i + 2]), 1e-6);
    n[i] /= l; n[i + 1] /= l; n[i + 2] /= l;
  }
  return n;
}

/**
 * Visibility of every vertex: a depth buffer of the projected mesh (orthographic: larger world z after the pose is
 * nearer; the buffer keeps the maximum), then a vertex is visible when nothing lies in front of it (tolerance `eps`
 * in world units) and it faces the camera (n_z > 0).
 */
export function visibleVertices(mesh: PosedMesh, faces: Uint32Array, width: number, height: number, eps = 0.002): Uint8Array {
  const V = mesh.world.length / 3;
  const img = mesh.image, w = mesh.world;
  const zbuf = new Float32Array(width * height).fill(-Infinity);
  for (let f = 0; f < faces.length; f += 3) {
    const a = faces[f], b = faces[f + 1], c = faces[f + 2];
    const ax = img[2 * a], ay = img[2 * a + 1], bx = img[2 * b], by = img[2 * b + 1], cx = img[2 * c], cy = img[2 * c + 1];
    const area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
    if (!(Math.abs(area) > 1e-12)) continue;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx, cx))), x1 = Math.min(width - 1, Math.ceil(Math.max(ax, bx, cx)));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by, cy))), y1 = Math.min(height - 1, Math.ceil(Math.max(ay, by, cy)));
    if (x0 > x1 || y0 > y1) continue;
    const za = w[3 * a + 2], zb = w[3 * b + 2], zc = w[3 * c + 2];
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const w0 = ((bx - x) * (cy - y) - (by - y) * (cx - x)) / area;
        const w1 = ((cx - x) * (ay - y) - (cy - y) * (ax - x)) / area;
        const w2 = 1 - w0 - w1;
        if (w0 < -1e-6 || w1 < -1e-6 || w2 < -1e-6) continue;
        const z = w0 * za + w1 * zb + w2 * zc;
        const o = y * width + x;
        if (z > zbuf[o]) zbuf[o] = z;
      }
    }
  }
  const vis = new Uint8Array(V);
  for (let v = 0; v < V; v++) {
    if (!(mesh.normals[3 * v + 2] > 0)) continue;
    const x = Math.round(img[2 * v]), y = Math.round(img[2 * v + 1]);
    if (x < 0 || y < 0 || x >= width || y >= height) continue;
    const zc = zbuf[y * width + x];
    if (!Number.isFinite(zc) || w[3 * v + 2] >= zc - eps) vis[v] = 1;
  }
  return vis;
}

