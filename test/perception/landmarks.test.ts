import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dataDir, FACE_API, FACE_MESH, missingPackage, PORTRAITS } from './helpers';
import { readImage } from '../../src/kernel/io/image';
import { findFace } from '../../src/kernel/perception/detect';
import { descriptorDistance, faceChip, faceDescriptor, identitySimilarity, landmarks468, landmarks68, roiFromMesh } from '../../src/kernel/perception/landmarks';
import { applyAffine, warpImage, type Affine } from '../../src/kernel/perception/warp';
import { DLIB_MEAN_FACE_X, DLIB_MEAN_FACE_Y } from '../../src/kernel/perception/templates';

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
  for (let i = 17; i < 68; i++) {
    const [u, v] = applyAffine(chip.matrix, lm.points[i]![0], lm.points[i]![1]);
    err += Math.hypot(u - ((0.25 + DLIB_MEAN_FACE_X[i - 17]!) / 1.5) * 150, v - ((0.25 + DLIB_MEAN_FACE_Y[i - 17]!) / 1.5) * 150) / 51;
  }
  assert.ok(err < 4, `mean residual to the template ${err} px`);
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
