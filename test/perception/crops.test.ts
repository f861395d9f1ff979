/** The reference crop rules against golden values from numpy / scikit-image (golden/crops.py). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImage, type Image } from '../../src/kernel/io/image';
import { detectFaces } from '../../src/kernel/perception/detect';
import { faceCrops } from '../../src/kernel/perception/faceCrops';
import { dataDir, FACE_API, FACE_MESH, missingPackage } from './helpers';
import type { Point } from '../../src/kernel/perception/detect';
import {
  decaCrop,
  generationCrop,
  generationCropCorners,
  GENERATION_BOX_512,
  similarityTransform,
  skimageIdentityResize,
  smirkCrop,
  transformationFromPoints,
} from '../../src/kernel/perception/crops';
import { applyAffine } from '../../src/kernel/perception/warp';

const golden = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'crops.json'), 'utf8'));

/** The same low-entropy image as golden/crops.py. */
function synthetic(h: number, w: number): Image {
  const d = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let px = [Math.floor((x * 255) / (w - 1)), Math.floor((y * 255) / (h - 1)), (x + 2 * y) % 256];
      if (y >= 100 && y < 180 && x >= 150 && x < 300) px = [200, 40, 90];
      if (y >= 300 && y < 420 && x >= 60 && x < 140) px = [15, 220, 120];
      d.set(px, (y * w + x) * 3);
    }
  return { width: w, height: h, channels: 3, data: d };
}

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

function checkMatrix(ours: number[], ref: number[][], tol: number, what: string) {
  const flat = [ref[0]![0]!, ref[0]![1]!, ref[0]![2]!, ref[1]![0]!, ref[1]![1]!, ref[1]![2]!];
  flat.forEach((v, i) => close(ours[i]!, v, tol, `${what}[${i}]`));
}

test('§1.1 generation crop transform: square from the box width, Procrustes to the 512 target', () => {
  const [x1, y1, x2, y2] = golden.generation.box;
  const box = { x1, y1, x2, y2 };
  const m = transformationFromPoints(generationCropCorners(box), GENERATION_BOX_512);
  checkMatrix(m, golden.generation.matrix, 1e-9, 'M');
  // closed form: scale = 176 / (0.75·side), centre → (256, 256)
  close(m[0], 176 / (0.75 * (x2 - x1)), 1e-12, 'scale');
  const [u, v] = applyAffine(m, (x1 + x2) / 2, (y1 + y2) / 2);
  close(u, 256, 1e-9, 'cx');
  close(v, 256, 1e-9, 'cy');
});

test('transformation_from_points on general and mirrored point sets (numpy SVD)', () => {
  for (const key of ['procrustes', 'procrustes_reflect']) {
    const g = golden[key];
    checkMatrix(transformationFromPoints(g.points1 as Point[], g.points2 as Point[]), g.matrix, 1e-9, key);
  }
});

test('generation crop pixels: at scale 1 the crop is the source shifted; outside the image is zero', () => {
  const img = synthetic(512, 512);
  const half = 352 / 3; // side = 176 / 0.75 → scale 1
  const crop = generationCrop(img, { x1: 300 - half, y1: 280 - 50, x2: 300 + half, y2: 280 + 50 });
  assert.deepEqual([crop.image.width, crop.image.height], [512, 512]);
  close(crop.matrix[0], 1, 1e-12, 'scale');
  for (const [u, v] of [[0, 0], [100, 37], [400, 300], [467, 487]]) {
    const o = (v! * 512 + u!) * 3;
    const i = ((v! + 24) * 512 + u! + 44) * 3;
    assert.deepEqual([...crop.image.data.subarray(o, o + 3)], [...img.data.subarray(i, i + 3)], `pixel (${u},${v})`);
  }
  const o = (10 * 512 + 500) * 3; // source x = 544: outside
  assert.deepEqual([...crop.image.data.subarray(o, o + 3)], [0, 0, 0]);
});

test('§1.2 DECA crop: tform and pixels match scikit-image', () => {
  const g = golden.deca;
  const crop = decaCrop(synthetic(512, 512), g.landmarks as Point[]);
  assert.equal(crop.size, g.size);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) close(crop.tform[r]![c]!, g.tform[r][c], 1e-9, `tform[${r}][${c}]`);
  for (const [r, c, rgb] of g.samples as [number, number, number[]][])
    for (let k = 0; k < 3; k++) close(crop.image[k * 224 * 224 + r * 224 + c]!, rgb[k]!, 2e-5, `deca (${r},${c},${k})`);
});

test('§1.3 SMIRK crop: tform and truncated uint8 pixels match scikit-image (zero outside the frame)', () => {
  const g = golden.smirk;
  const crop = smirkCrop(synthetic(512, 512), g.landmarks as Point[]);
  assert.ok(crop.tform);
  assert.equal(crop.size, g.size);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) close(crop.tform![r]![c]!, g.tform[r][c], 1e-9, `tform[${r}][${c}]`);
  let off = 0;
  for (const [r, c, rgb] of g.samples as [number, number, number[]][])
    for (let k = 0; k < 3; k++) {
      const d = Math.abs(crop.image[k * 224 * 224 + r * 224 + c]! - rgb[k]!);
      // Truncation can flip by one level where the bilinear value sits on an integer: allow 1/255 rarely.
      if (d > 1e-6) off++;
      assert.ok(d <= 1 / 255 + 1e-6, `smirk (${r},${c},${k}) ${crop.image[k * 224 * 224 + r * 224 + c]} vs ${rgb[k]}`);
    }
  assert.ok(off <= 3, `${off} samples off by one level`);
  const fallback = smirkCrop(synthetic(300, 200), null);
  assert.equal(fallback.tform, null);
  assert.equal(fallback.image.length, 3 * 224 * 224);
});

test('§1.2 step 2: the 512→512 scikit-image round trip lowers exactly the 24 documented byte values', () => {
  const ramp: Image = { width: 256, height: 1, channels: 3, data: new Uint8Array(768) };
  for (let v = 0; v < 256; v++) ramp.data.fill(v, 3 * v, 3 * v + 3);
  const out = skimageIdentityResize(ramp);
  const changed = [];
  for (let v = 0; v < 256; v++) if (out.data[3 * v] !== v) changed.push(v);
  assert.deepEqual(changed, golden.identity_resize_changed);
});

test('least-squares similarity recovers a known rotation, scale and shift', () => {
  const a = 0.3, s = 1.7;
  const src: Point[] = [[10, 20], [50, 25], [30, 80], [70, 90]];
  const dst = src.map(([x, y]): Point => [s * (Math.cos(a) * x - Math.sin(a) * y) + 5, s * (Math.sin(a) * x + Math.cos(a) * y) - 3]);
  const m = similarityTransform(src, dst);
  checkMatrix(m, [[s * Math.cos(a), -s * Math.sin(a), 5], [s * Math.sin(a), s * Math.cos(a), -3]], 1e-9, 'similarity');
});

test('faceCrops on a real portrait: the face sits in the middle of the 512 crop, encoder crops cover it', { skip: missingPackage(FACE_API) || missingPackage(FACE_MESH) }, async () => {
  const img = readImage(join(dataDir, 'liveportrait/s5.jpg'));
  const c = await faceCrops(img);
  assert.deepEqual([c.generation.image.width, c.generation.image.height], [512, 512]);
  const again = (await detectFaces(c.generation.image))[0]!;
  const cx = (again.box.x1 + again.box.x2) / 2, w = again.box.x2 - again.box.x1;
  assert.ok(Math.abs(cx - 256) < 20, `face centre x ${cx}`);
  assert.ok(Math.abs(w - 352 / 1.5) < 40, `face width ${w} ≈ 352/1.5 (box side mapped to the 352-px target ÷ 1.5)`);
  assert.ok(c.deca && c.smirk.tform);
  // both encoder crops are centred near the face centre in the 512 crop
  for (const e of [c.deca!, c.smirk]) assert.ok(Math.hypot(e.centre[0] - cx, e.centre[1] - (again.box.y1 + again.box.y2) / 2) < 40);
});
