import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dataDir, FACE_API, FACE_MESH, maxAbsDiff, missingPackage, PORTRAITS } from './helpers';
import { readImage } from '../../src/kernel/io/image';
import { findFace } from '../../src/kernel/perception/detect';
import { descriptorDistance, faceChip, faceDescriptor, identitySimilarity, landmarks468, landmarks68, roiFromMesh } from '../../src/kernel/perception/landmarks';
import { applyAffine, invertAffine, warpImage, type Affine } from '../../src/kernel/perception/warp';
import { DLIB_CHIP_LANDMARKS68, DLIB_MEAN_FACE_X, DLIB_MEAN_FACE_Y } from '../../src/kernel/perception/templates';
import { jitterChip, jitterRandom } from '../../src/kernel/perception/jitter';
import { MagicPortraitError } from '../../src/kernel/errors';

const skipApi = missingPackage(FACE_API);
const skipMesh = missingPackage(FACE_MESH);

test('68 landmarks on every portrait: eyes above the mouth, brows above the eyes, inner points inside the box', { skip: skipApi }, async () => {
  for (const f of PORTRAITS) {
    const img = readImage(join(dataDir, f));
    const face = await findFace(img, { name: f });
    const { points } = await landmarks68(img, face);
    assert.equal(points.length, 68);
    const ys = (a: number, b: number) => points.slice(a, b).map((p) => p[1]);
    assert.ok(Math.max(...ys(36, 48)) < Math.min(...ys(48, 68)), `${f}: eyes above mouth`);
    assert.ok(Math.max(...ys(17, 27)) < Math.max(...ys(36, 48)), `${f}: brows above eyes`);
    assert.ok(points[36]![0] < points[45]![0], `${f}: right eye corner left of the left eye corner in the image`);
    const { x1, y1, x2, y2 } = face.box;
    const m = 0.1 * (x2 - x1);
    for (const [x, y] of points.slice(17)) assert.ok(x > x1 - m && x < x2 + m && y > y1 - m && y < y2 + m, `${f}: (${x},${y}) outside the face box`);
    // chin below the mouth
    assert.ok(points[8]![1] > Math.max(...ys(48, 68)), `${f}: chin below mouth`);
  }
});

test('468 mesh agrees with the 68 landmarks (eye corners, mouth corners, chin within 10% of the eye distance)', { skip: skipApi || skipMesh }, async () => {
  const pairs = [[36, 33], [45, 263], [48, 61], [54, 291], [8, 152]];
  for (const f of PORTRAITS) {
    const img = readImage(join(dataDir, f));
    const face = await findFace(img);
    const mesh = await landmarks468(img, face);
    assert.ok(mesh.score > 0.5, `${f}: mesh face score ${mesh.score}`);
    const lm = (await landmarks68(img, face)).points;
    const P = mesh.points;
    const iod = Math.hypot(P[99]! - P[789]!, P[100]! - P[790]!);
    for (const [a, b] of pairs) {
      const d = Math.hypot(lm[a!]![0] - P[3 * b!]!, lm[a!]![1] - P[3 * b! + 1]!) / iod;
      assert.ok(d < 0.1, `${f}: 68#${a} vs mesh#${b}: ${d.toFixed(3)} of the eye distance`);
    }
    // Tracking ROI from the mesh covers the face like the detection ROI does.
    const roi = roiFromMesh(P);
    assert.ok(Math.abs(roi.cx - mesh.roi.cx) < 0.15 * mesh.roi.size && Math.abs(roi.size / mesh.roi.size - 1) < 0.35, `${f}: mesh ROI`);
  }
});

test('aligned chip puts the landmarks on the dlib template; descriptors: same photo ≈, different people far', { skip: skipApi }, async () => {
  const boy = readImage(join(dataDir, 'magicportrait/boy.jpeg'));
  const face = await findFace(boy);
  const lm = await landmarks68(boy, face);
  const chip = faceChip(boy, lm);
  let err = 0;
  for (const i of DLIB_CHIP_LANDMARKS68) {
    const [u, v] = applyAffine(chip.matrix, lm.points[i]![0], lm.points[i]![1]);
    err += Math.hypot(u - ((0.25 + DLIB_MEAN_FACE_X[i - 17]!) / 1.5) * 150, v - ((0.25 + DLIB_MEAN_FACE_Y[i - 17]!) / 1.5) * 150) / DLIB_CHIP_LANDMARKS68.length;
  }
  assert.ok(err < 3, `mean residual to the template ${err} px`);
  const dBoy = await faceDescriptor(boy, lm);
  assert.equal(dBoy.length, 128);
  const cropped = readImage(join(dataDir, 'magicportrait/boy_cropped.jpg'));
  const dCropped = await faceDescriptor(cropped, await findFace(cropped));
  const s1 = readImage(join(dataDir, 'liveportrait/s1.jpg'));
  const dS1 = await faceDescriptor(s1, await findFace(s1));
  const same = descriptorDistance(dBoy, dCropped);
  const diff = descriptorDistance(dBoy, dS1);
  console.log(`# identity: boy vs boy_cropped ${same.toFixed(3)}, boy vs s1 ${diff.toFixed(3)}; cosine ${identitySimilarity(dBoy, dCropped).toFixed(3)} / ${identitySimilarity(dBoy, dS1).toFixed(3)}`);
  assert.ok(same < 0.4, `same person ${same}`);
  assert.ok(diff > 0.5, `different people ${diff}`);
  assert.ok(identitySimilarity(dBoy, dCropped) > identitySimilarity(dBoy, dS1));
  assert.ok(Math.abs(identitySimilarity(dBoy, dBoy) - 1) < 1e-6);
});

test('face chip geometry is dlib\'s: template points placed by a known similarity give its chip rectangle; brows and lower lip do not move it', () => {
  const img = { width: 400, height: 400, channels: 3 as const, data: new Uint8Array(400 * 400 * 3).fill(100) };
  // A chip → image similarity: scale 2.3, rotation 10°, translation (40, 55).
  const s = 2.3, a = (10 * Math.PI) / 180, c = s * Math.cos(a), n = s * Math.sin(a);
  const S = (u: number, v: number): [number, number] => [c * u - n * v + 40, n * u + c * v + 55];
  const points = Array.from({ length: 68 }, (_, i): [number, number] =>
    i < 17 ? [100 + 7 * i, 300] : S(((0.25 + DLIB_MEAN_FACE_X[i - 17]!) / 1.5) * 150, ((0.25 + DLIB_MEAN_FACE_Y[i - 17]!) / 1.5) * 150),
  );
  // dlib: the rectangle of side 150·s (centered_drect: 150·s − 1 between corner pixels) around S(75, 75), rotated by
  // 10°; chip pixel u ↦ S(75, 75) + R·(150·s − 1)/149·(u − 74.5).
  const k = (150 * s - 1) / 149 / s, [cx, cy] = S(75, 75);
  const toImage: Affine = [c * k, -n * k, cx - (c - n) * k * 74.5, n * k, c * k, cy - (n + c) * k * 74.5];
  const chip = faceChip(img, points);
  assert.ok(maxAbsDiff(chip.matrix, invertAffine(toImage)) < 1e-9, `${chip.matrix} vs ${invertAffine(toImage)}`);
  // Raised brows and an open mouth (the lower lip) leave the chip where it was; a moved nose does not.
  const moved = points.map(([x, y], i): [number, number] => (i >= 17 && i <= 26 ? [x, y - 12] : (i >= 55 && i <= 59) || i >= 65 ? [x, y + 20] : [x, y]));
  assert.ok(maxAbsDiff(faceChip(img, moved).matrix, chip.matrix) < 1e-9);
  const nose = points.map(([x, y], i): [number, number] => (i >= 27 && i <= 35 ? [x + 8, y] : [x, y]));
  assert.ok(maxAbsDiff(faceChip(img, nose).matrix, chip.matrix) > 0.01);
  assert.throws(() => faceChip(img, points.slice(0, 5)), MagicPortraitError);
  assert.throws(() => faceChip(img, points.map((): [number, number] => [10, 10])), MagicPortraitError);
});

test('jittered chips follow dlib\'s jitter_image: shifts within 2% of the chip, zoom ≤ 3%, rotation ≤ 3°, mirrored half the time', () => {
  // A chip with a bright blob left of the centre, at (50, 74.5): after a jitter it lies near x = 50 or, mirrored, x = 99.
  const N = 150;
  const chip = new Float32Array(N * N * 3);
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) chip.fill(255 * Math.exp(-((x - 50) ** 2 + (y - 74.5) ** 2) / 8), 3 * (y * N + x), 3 * (y * N + x) + 3);
  const random = jitterRandom(7);
  let mirrored = 0;
  const draws = 60;
  for (let j = 0; j < draws; j++) {
    const out = jitterChip(chip, N, random);
    let sx = 0, sy = 0, sw = 0;
    for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
      const w = out[3 * (y * N + x)]!;
      sx += w * x;
      sy += w * y;
      sw += w;
    }
    const [x, y] = [sx / sw, sy / sw];
    const flipped = x > 74.5;
    if (flipped) mirrored++;
    // shift ≤ round(0.02·144) = 3 px per axis, zoom ≤ 1/0.97 about the (shifted) centre, rotation ≤ 3° of a 24.5 px arm
    const ex = flipped ? 99 : 50;
    assert.ok(Math.abs(x - ex) < 3 + 24.5 * 0.04 + 0.5 && Math.abs(y - 74.5) < 3 + 24.5 * Math.sin((3 * Math.PI) / 180) + 0.5, `draw ${j}: blob at (${x.toFixed(2)}, ${y.toFixed(2)})`);
  }
  assert.ok(mirrored > 0.3 * draws && mirrored < 0.7 * draws, `${mirrored}/${draws} mirrored`);
});

test('jitters: dlib-style averaged descriptors are reproducible per seed and stay close to the plain descriptor', { skip: skipApi }, async () => {
  const img = readImage(join(dataDir, 'liveportrait/s5.jpg'));
  const lm = await landmarks68(img, await findFace(img));
  const plain = await faceDescriptor(img, lm);
  const a = await faceDescriptor(img, lm, { jitters: 5 });
  const b = await faceDescriptor(img, lm, { jitters: 5 });
  const c = await faceDescriptor(img, lm, { jitters: 5, seed: 1 });
  assert.deepEqual(a, b);
  assert.ok(maxAbsDiff(a, c) > 0);
  console.log(`# jitters 5: to the plain descriptor ${descriptorDistance(a, plain).toFixed(3)}, seed 0 vs 1 ${descriptorDistance(a, c).toFixed(3)}`);
  assert.ok(descriptorDistance(a, plain) < 0.2 && descriptorDistance(a, c) < 0.15);
  await assert.rejects(faceDescriptor(img, lm, { jitters: 0 }), MagicPortraitError);
  await assert.rejects(faceDescriptor(img, lm, { jitters: 2.5 }), MagicPortraitError);
});

test('a tilted head (30°): mesh and 68 points follow the rotation', { skip: skipApi || skipMesh }, async () => {
  const img = readImage(join(dataDir, 'liveportrait/s5.jpg'));
  const a = (30 * Math.PI) / 180;
  const cx = img.width / 2, cy = img.height / 2;
  // rotated(p) = R·(p − c) + c ; the warp needs the inverse map (rotated → original)
  const inv: Affine = [Math.cos(a), Math.sin(a), cx - Math.cos(a) * cx - Math.sin(a) * cy, -Math.sin(a), Math.cos(a), cy + Math.sin(a) * cx - Math.cos(a) * cy];
  const rot = warpImage(img, inv, img.width, img.height);
  const fwd = (x: number, y: number): [number, number] => [Math.cos(a) * (x - cx) - Math.sin(a) * (y - cy) + cx, Math.sin(a) * (x - cx) + Math.cos(a) * (y - cy) + cy];
  const f0 = await findFace(img);
  const f1 = await findFace(rot);
  const m0 = await landmarks468(img, f0);
  const m1 = await landmarks468(rot, f1);
  const iod = Math.hypot(m0.points[99]! - m0.points[789]!, m0.points[100]! - m0.points[790]!);
  let e = 0;
  for (let i = 0; i < 468; i++) {
    const [x, y] = fwd(m0.points[3 * i]!, m0.points[3 * i + 1]!);
    e += Math.hypot(x - m1.points[3 * i]!, y - m1.points[3 * i + 1]!) / 468;
  }
  assert.ok(e / iod < 0.05, `mesh: mean error ${(e / iod).toFixed(3)} of the eye distance`);
  const l0 = (await landmarks68(img, f0)).points;
  const l1 = (await landmarks68(rot, f1)).points;
  let e68 = 0;
  for (let i = 17; i < 68; i++) {
    const [x, y] = fwd(l0[i]![0], l0[i]![1]);
    e68 += Math.hypot(x - l1[i]![0], y - l1[i]![1]) / 51;
  }
  console.log(`# tilted 30°: mesh error ${(e / iod).toFixed(3)}, 68-point error ${(e68 / iod).toFixed(3)} of the eye distance`);
  assert.ok(e68 / iod < 0.08, `68: mean error ${(e68 / iod).toFixed(3)} of the eye distance`);
});
