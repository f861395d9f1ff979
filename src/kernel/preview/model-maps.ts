// Per-model tables of the preview, computed once per model from its template: the left–right mirror of every
// vertex (for filling texels the reference never saw), the blend weight of every vertex (which part of the head the
// preview moves), and the faces that are inside the mouth.

import { demoHeadFaceKinds, templateLandmarks, type FlameModelData } from '../flame';

/** Which part of the head follows the driving motion; the rest of the reference stays where it is. */
export type PreviewRegion = 'face' | 'head';

const mirrorCache = new WeakMap<FlameModelData, Int32Array>();

/**
 * For every vertex, the template vertex nearest to its mirror image across x = 0 (FLAME and the demo head are
 * left–right symmetric; the nearest vertex is exact for symmetric vertices and a close stand-in otherwise).
 */
export function mirrorVertices(model: FlameModelData): Int32Array {
  let m = mirrorCache.get(model);
  if (m) return m;
  const V = model.numVertices, t = model.vTemplate;
  // a uniform grid over the template's bounding box keeps this O(V) instead of O(V²)
  let lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let v = 0; v < V; v++) for (let c = 0; c < 3; c++) { lo[c] = Math.min(lo[c]!, t[3 * v + c]!); hi[c] = Math.max(hi[c]!, t[3 * v + c]!); }
  lo = lo.map((x, c) => Math.min(x, -hi[c]!)); // include the mirrored x range
  hi = hi.map((x, c) => (c === 0 ? Math.max(x, -lo[0]!) : x));
  const n = Math.max(4, Math.round(Math.cbrt(V / 2)));
  const cell = (c: number, x: number) => Math.min(n - 1, Math.max(0, Math.floor(((x - lo[c]!) / (hi[c]! - lo[c]! || 1)) * n)));
  const buckets = new Map<number, number[]>();
  for (let v = 0; v < V; v++) {
    const k = (cell(0, t[3 * v]!) * n + cell(1, t[3 * v + 1]!)) * n + cell(2, t[3 * v + 2]!);
    let b = buckets.get(k);
    if (!b) buckets.set(k, (b = []));
    b.push(v);
  }
  m = new Int32Array(V);
  for (let v = 0; v < V; v++) {
    const x = -t[3 * v]!, y = t[3 * v + 1]!, z = t[3 * v + 2]!;
    const cx = cell(0, x), cy = cell(1, y), cz = cell(2, z);
    let best = v, bestD = Infinity;
    for (let r = 1; r <= n && best === v; r++) {
      for (let i = Math.max(0, cx - r); i <= Math.min(n - 1, cx + r); i++)
        for (let j = Math.max(0, cy - r); j <= Math.min(n - 1, cy + r); j++)
          for (let k = Math.max(0, cz - r); k <= Math.min(n - 1, cz + r); k++)
            for (const u of buckets.get((i * n + j) * n + k) ?? []) {
              const d = (t[3 * u]! - x) ** 2 + (t[3 * u + 1]! - y) ** 2 + (t[3 * u + 2]! - z) ** 2;
              if (d < bestD) { bestD = d; best = u; }
            }
      if (bestD === Infinity) best = v; // nothing within this ring: widen
      else break;
    }
    m[v] = best;
  }
  mirrorCache.set(model, m);
  return m;
}

const smooth = (e0: number, e1: number, x: number) => {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};

const weightCache = new WeakMap<FlameModelData, Map<PreviewRegion, Float32Array>>();

/**
 * Blend weight per vertex in [0, 1]: 1 where the preview shows the warped reference, 0 where the reference pixel
 * stays. 'face': an ellipse around the 68 landmarks of the template (jaw contour to the forehead), front of the head
 * only, soft edge, so hair, ears, neck and background keep their place. 'head': the whole head, fading out down the
 * neck so the neck stays attached to the body. Without a landmark embedding both are the whole mesh.
 */
export function regionWeights(model: FlameModelData, region: PreviewRegion): Float32Array {
  let m = weightCache.get(model);
  if (!m) weightCache.set(model, (m = new Map()));
  const hit = m.get(region);
  if (hit) return hit;
  const V = model.numVertices, t = model.vTemplate;
  const w = new Float32Array(V).fill(1);
  if (model.landmarks) {
    const L = templateLandmarks(model);
    let minX = Infinity, maxX = -Infinity, chinY = Infinity, browY = -Infinity, backZ = Infinity;
    for (let l = 0; l < 17; l++) {
      minX = Math.min(minX, L[3 * l]!);
      maxX = Math.max(maxX, L[3 * l]!);
      chinY = Math.min(chinY, L[3 * l + 1]!);
      backZ = Math.min(backZ, L[3 * l + 2]!);
    }
    for (let l = 17; l < 27; l++) browY = Math.max(browY, L[3 * l + 1]!);
    const faceH = browY - chinY;
    const top = browY + 0.35 * faceH;
    const cx = (minX + maxX) / 2, cy = (chinY + top) / 2, ax = (maxX - minX) / 2, ay = (top - chinY) / 2;
    for (let v = 0; v < V; v++) {
      const x = t[3 * v]!, y = t[3 * v + 1]!, z = t[3 * v + 2]!;
      // the neck below the chin fades out in both regions
      let a = smooth(chinY - 0.6 * faceH, chinY - 0.15 * faceH, y);
      if (region === 'face') {
        const r = Math.hypot((x - cx) / ax, (y - cy) / ay);
        a *= 1 - smooth(0.95, 1.2, r);
        a *= smooth(backZ - 0.25 * faceH, backZ, z);
      }
      w[v] = a;
    }
  }
  m.set(region, w);
  return w;
}

const featureCache = new WeakMap<FlameModelData, Float32Array>();

/**
 * Per vertex in [0, 1]: the inner face that holds the features (between the chin and just above the brows, inside
 * the jaw contour), where a face that moved away would leave a ghost of eyes, nose or mouth. Hairline, temples and
 * cheek sides get 0 (they often hold hair in a portrait). Without a landmark embedding: 0 everywhere.
 */
export function featureWeights(model: FlameModelData): Float32Array {
  let w = featureCache.get(model);
  if (w) return w;
  const V = model.numVertices, t = model.vTemplate;
  w = new Float32Array(V);
  if (model.landmarks) {
    const L = templateLandmarks(model);
    let minX = Infinity, maxX = -Infinity, chinY = Infinity, browY = -Infinity;
    for (let l = 0; l < 17; l++) { minX = Math.min(minX, L[3 * l]!); maxX = Math.max(maxX, L[3 * l]!); chinY = Math.min(chinY, L[3 * l + 1]!); }
    for (let l = 17; l < 27; l++) browY = Math.max(browY, L[3 * l + 1]!);
    const faceH = browY - chinY, cx = (minX + maxX) / 2, ax = (maxX - minX) / 2;
    for (let v = 0; v < V; v++) {
      const x = t[3 * v]!, y = t[3 * v + 1]!;
      w[v] = (1 - smooth(browY, browY + 0.12 * faceH, y)) * smooth(chinY - 0.05 * faceH, chinY + 0.05 * faceH, y) * (1 - smooth(0.6, 0.85, Math.abs(x - cx) / ax));
    }
  }
  featureCache.set(model, w);
  return w;
}

let faceKinds: Uint8Array | undefined;

/** 1 for faces inside the mouth (the demo head models the mouth cavity; FLAME has none: all 0). */
export function mouthFaces(model: FlameModelData): Uint8Array {
  const out = new Uint8Array(model.numFaces);
  if (model.kind === 'demo-head') {
    const kinds = (faceKinds ??= demoHeadFaceKinds());
    if (kinds.length === model.numFaces) for (let f = 0; f < kinds.length; f++) out[f] = kinds[f] === 1 ? 1 : 0;
  }
  return out;
}
