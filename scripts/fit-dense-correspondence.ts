/**
 * Generates the dense correspondence between MediaPipe's 468 face-mesh points and the demo head
 * (src/kernel/fit/data/demo-head-dense468.json), by fitting once and back-projecting:
 *
 *   node --import tsx scripts/fit-dense-correspondence.ts [--data ../shared/data] [--out src/kernel/fit/data/demo-head-dense468.json]
 *
 * 1. Calibration images: liveportrait/s1, s5, s7 and every 3rd frame of liveportrait/d3.mp4 (not the images the fit
 *    tests measure: boy, boy_cropped, driving.mp4, d0.mp4).
 * 2. Each is fitted with the 68 landmarks only (fitFlame, dense off).
 * 3. Every MediaPipe point is back-projected along the (orthographic) view ray onto the fitted mesh: the front-most
 *    camera-facing skin triangle under it (eyeballs and the mouth interior excluded; a hit more than 1.5 cm behind the
 *    front-most surface is refused) gives a face and barycentrics, i.e. a point of the model's surface.
 * 4. That surface point is taken back to the neutral template (same face and barycentrics, zero shape / expression /
 *    pose), and per MediaPipe index the median of these template positions over all images is snapped to the nearest
 *    skin surface point of the template.
 * 5. Weight = hit rate × exp(−(spread / 4 mm)²), spread = median distance of the per-image positions to the median:
 *    points that slide over the surface with the pose (the face oval, a silhouette like FLAME's jaw contour) or that the
 *    model's anatomy does not reproduce get little weight; points hit in fewer than half the images get weight 0.
 *
 * The table stores the demo head's mesh fingerprint; the fit refuses it when the demo head changes (rerun this then).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readImage, type Image } from '../src/kernel/io/image';
import { readFrames } from '../src/kernel/io/video';
import { detectFaces } from '../src/kernel/perception/detect';
import { landmarks468, landmarks68 } from '../src/kernel/perception/landmarks';
import { createDemoHead, demoHeadFaceKinds } from '../src/kernel/flame/demo-head';
import { fitFlame } from '../src/kernel/fit/fit';
import { posedMesh } from '../src/kernel/fit/mesh';
import { denseToJson, meshFingerprint, type DenseCorrespondence } from '../src/kernel/fit/dense';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const root = join(__dirname, '..');
const data = arg('--data', join(root, '..', 'shared', 'data'));
const outFile = arg('--out', join(root, 'src', 'kernel', 'fit', 'data', 'demo-head-dense468.json'));

interface Hit { face: number; bary: [number, number, number] }

/** Faces binned by their projected bounding boxes (cells of `cell` pixels). */
function faceGrid(pts2: Float64Array, faces: Uint32Array, width: number, height: number, cell: number): { cell: number; nx: number; bins: number[][] } {
  const nx = Math.ceil(width / cell), ny = Math.ceil(height / cell);
  const bins: number[][] = Array.from({ length: nx * ny }, () => []);
  for (let f = 0; f < faces.length / 3; f++) {
    const xs = [0, 1, 2].map((q) => pts2[2 * faces[3 * f + q]!]!), ys = [0, 1, 2].map((q) => pts2[2 * faces[3 * f + q]! + 1]!);
    const x0 = Math.max(0, Math.floor(Math.min(...xs) / cell)), x1 = Math.min(nx - 1, Math.floor(Math.max(...xs) / cell));
    const y0 = Math.max(0, Math.floor(Math.min(...ys) / cell)), y1 = Math.min(ny - 1, Math.floor(Math.max(...ys) / cell));
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) bins[y * nx + x]!.push(f);
  }
  return { cell, nx, bins };
}

/** Front-most camera-facing allowed triangle under a query point (image pixels). */
function backProject(pts2: Float64Array, world: Float64Array, faces: Uint32Array, allowed: Uint8Array, grid: ReturnType<typeof faceGrid>, qx: number, qy: number): Hit | null {
  let best: Hit | null = null, bestZ = -Infinity, frontZ = -Infinity;
  const gx = Math.floor(qx / grid.cell), gy = Math.floor(qy / grid.cell);
  if (gx < 0 || gy < 0 || gx >= grid.nx || gy * grid.nx + gx >= grid.bins.length) return null;
  for (const f of grid.bins[gy * grid.nx + gx]!) {
    const a = faces[3 * f], b = faces[3 * f + 1], c = faces[3 * f + 2];
    const ax = pts2[2 * a], ay = pts2[2 * a + 1], bx = pts2[2 * b], by = pts2[2 * b + 1], cx = pts2[2 * c], cy = pts2[2 * c + 1];
    if (qx < Math.min(ax, bx, cx) || qx > Math.max(ax, bx, cx) || qy < Math.min(ay, by, cy) || qy > Math.max(ay, by, cy)) continue;
    const area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
    if (Math.abs(area) < 1e-12) continue;
    const w0 = ((bx - qx) * (cy - qy) - (by - qy) * (cx - qx)) / area;
    const w1 = ((cx - qx) * (ay - qy) - (cy - qy) * (ax - qx)) / area;
    const w2 = 1 - w0 - w1;
    if (w0 < 0 || w1 < 0 || w2 < 0) continue;
    const z = w0 * world[3 * a + 2] + w1 * world[3 * b + 2] + w2 * world[3 * c + 2];
    if (z > frontZ) frontZ = z;
    // camera-facing in the image: y down flips the winding of a front-facing (counter-clockwise) triangle
    if (!allowed[f] || area >= 0) continue;
    if (z > bestZ) { bestZ = z; best = { face: f, bary: [w0, w1, w2] }; }
  }
  if (best && bestZ < frontZ - 0.015) return null;
  return best;
}

/** Closest point of triangle abc to p (Ericson), as barycentrics. */
function closestBary(p: number[], a: number[], b: number[], c: number[]): [number, number, number] {
  const sub = (u: number[], v: number[]) => [u[0]! - v[0]!, u[1]! - v[1]!, u[2]! - v[2]!];
  const dot = (u: number[], v: number[]) => u[0]! * v[0]! + u[1]! * v[1]! + u[2]! * v[2]!;
  const ab = sub(b, a), ac = sub(c, a), ap = sub(p, a);
  const d1 = dot(ab, ap), d2 = dot(ac, ap);
  if (d1 <= 0 && d2 <= 0) return [1, 0, 0];
  const bp = sub(p, b), d3 = dot(ab, bp), d4 = dot(ac, bp);
  if (d3 >= 0 && d4 <= d3) return [0, 1, 0];
  const vc = d1 * d4 - d3 * d2;
  if (vc <= 0 && d1 >= 0 && d3 <= 0) { const v = d1 / (d1 - d3); return [1 - v, v, 0]; }
  const cp = sub(p, c), d5 = dot(ab, cp), d6 = dot(ac, cp);
  if (d6 >= 0 && d5 <= d6) return [0, 0, 1];
  const vb = d5 * d2 - d1 * d6;
  if (vb <= 0 && d2 >= 0 && d6 <= 0) { const w = d2 / (d2 - d6); return [1 - w, 0, w]; }
  const va = d3 * d6 - d5 * d4;
  if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0) { const w = (d4 - d3) / (d4 - d3 + (d5 - d6)); return [0, 1 - w, w]; }
  const den = 1 / (va + vb + vc);
  const v = vb * den, w = vc * den;
  return [1 - v - w, v, w];
}

async function main(): Promise<void> {
  const model = createDemoHead();
  const kinds = demoHeadFaceKinds();
  const F = model.numFaces;
  const allowed = new Uint8Array(F);
  for (let f = 0; f < F; f++) allowed[f] = kinds[f] === 0 || kinds[f] === 3 ? 1 : 0;
  const T = model.vTemplate, faces = model.faces;
  const positions: number[][][] = Array.from({ length: 468 }, () => []);
  let images = 0;

  const handle = async (img: Image, name: string) => {
    const face = (await detectFaces(img))[0];
    if (!face) { console.error(`  ${name}: no face`); return; }
    const lm = await landmarks68(img, face);
    const mesh = await landmarks468(img, face);
    const fit = await fitFlame({ image: img, face, landmarks68: lm, name }, { dense: false, photometric: false, overlay: false });
    if (fit.quality === 'poor' || fit.quality === 'failed') { console.error(`  ${name}: fit ${fit.quality}, skipped`); return; }
    const posed = posedMesh(model, fit);
    const grid = faceGrid(posed.image, faces, img.width, img.height, 8);
    images++;
    for (let k = 0; k < 468; k++) {
      const h = backProject(posed.image, posed.world, faces, allowed, grid, mesh.points[3 * k]!, mesh.points[3 * k + 1]!);
      if (!h) continue;
      const p = [0, 0, 0];
      for (let c = 0; c < 3; c++) for (let q = 0; q < 3; q++) p[c] += h.bary[q] * T[3 * faces[3 * h.face + q]! + c]!;
      positions[k]!.push(p);
    }
    console.error(`  ${name}: NME ${(fit.nme * 100).toFixed(2)}%`);
  };

  for (const f of ['liveportrait/s1.jpg', 'liveportrait/s5.jpg', 'liveportrait/s7.jpg']) await handle(readImage(join(data, f)), f);
  for await (const fr of readFrames(join(data, 'liveportrait', 'd3.mp4'), { step: 3 })) await handle(fr.image, `d3.mp4#${fr.index}`);

  const mpIndex: number[] = [], outFaces: number[] = [], bary: number[] = [], weights: number[] = [];
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]!; };
  for (let k = 0; k < 468; k++) {
    const ps = positions[k]!;
    const rate = ps.length / images;
    if (rate < 0.5) continue;
    const m = [0, 1, 2].map((c) => median(ps.map((p) => p[c]!)));
    const spread = median(ps.map((p) => Math.hypot(p[0]! - m[0]!, p[1]! - m[1]!, p[2]! - m[2]!)));
    // snap to the nearest allowed template surface point
    let best = { d: Infinity, f: -1, b: [1, 0, 0] as [number, number, number] };
    for (let f = 0; f < F; f++) {
      if (!allowed[f]) continue;
      const vs = [0, 1, 2].map((q) => [0, 1, 2].map((c) => T[3 * faces[3 * f + q]! + c]!));
      if (Math.min(...vs.map((v) => Math.hypot(v[0]! - m[0]!, v[1]! - m[1]!, v[2]! - m[2]!))) > 0.03) continue;
      const b = closestBary(m, vs[0]!, vs[1]!, vs[2]!);
      const q = [0, 1, 2].map((c) => b[0] * vs[0]![c]! + b[1] * vs[1]![c]! + b[2] * vs[2]![c]!);
      const d = Math.hypot(q[0]! - m[0]!, q[1]! - m[1]!, q[2]! - m[2]!);
      if (d < best.d) best = { d, f, b };
    }
    if (best.f < 0) continue;
    mpIndex.push(k);
    outFaces.push(best.f);
    bary.push(...best.b);
    weights.push(Math.min(1, rate) * Math.exp(-((spread / 0.004) ** 2)));
  }
  const table: DenseCorrespondence = {
    fingerprint: meshFingerprint(model),
    source: `generated by scripts/fit-dense-correspondence.ts from ${images} calibration images (s1, s5, s7, d3.mp4 every 3rd frame)`,
    mpIndex: Int32Array.from(mpIndex), faces: Int32Array.from(outFaces), bary: Float64Array.from(bary), weights: Float64Array.from(weights),
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, denseToJson(table) + '\n');
  const w = weights.slice().sort((a, b) => a - b);
  console.error(`${mpIndex.length} MediaPipe points from ${images} images → ${outFile}; weights median ${w[w.length >> 1]!.toFixed(2)}, ${weights.filter((x) => x > 0.5).length} above 0.5`);
}

void main();
