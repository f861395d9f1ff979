/**
 * Parity of our ONNX conversions against the original runtimes on the same inputs:
 * - face mesh: the TFLite graph and weights executed op by op with TensorFlow.js (pure-JS CPU backend);
 * - 68 landmarks and descriptor: face-api's own network code (its node-wasm build on the tfjs CPU backend).
 * Inputs: seeded random tensors and real crops from ../shared/data.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { MagicPortraitError } from '../../src/kernel/errors';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { cosine, dataDir, FACE_API, FACE_MESH, maxAbsDiff, missingPackage, rng } from './helpers';
import { readImage } from '../../src/kernel/io/image';
import { extractPackedFile, modelCacheDir, prepareModel, resolveModelPackage } from '../../src/kernel/perception/models';
import { readTflite } from '../../src/kernel/perception/convert/tflite';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { detectFaces } from '../../src/kernel/perception/detect';
import { faceChip, landmarks68, roi68, roiFromDetection } from '../../src/kernel/perception/landmarks';
import { continuousToCentre, warpToTensor, type Affine } from '../../src/kernel/perception/warp';
import { runTfliteOnTfjs } from './reference/tfliteOnTfjs';

before(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

/** An N×N crop of a ROI (axis-aligned or rotated) from a real image, as raw 0..255 floats. */
function realCrop(file: string, n: number, roiOf: 'mesh' | '68') {
  return async () => {
    const img = readImage(join(dataDir, file));
    const face = (await detectFaces(img))[0]!;
    const roi = roiOf === 'mesh' ? roiFromDetection(face) : roi68(face);
    const c = Math.cos(roi.angle), s = Math.sin(roi.angle), k = roi.size / n;
    const m: Affine = [c * k, -s * k, roi.cx - (c - s) * (n / 2) * k, s * k, c * k, roi.cy - (s + c) * (n / 2) * k];
    return warpToTensor(img, continuousToCentre(m), n, n, new Float32Array(n * n * 3));
  };
}

const randomImage = (n: number, seed: number, max: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n * n * 3 }, () => r() * max);
};

test('face mesh 468: ONNX conversion matches the TFLite graph run by TF.js (max abs ≤ 2e-4)', { skip: missingPackage(FACE_MESH) }, async () => {
  const model = readTflite(extractPackedFile(resolveModelPackage(FACE_MESH).dir, 'face_landmark.tflite'));
  const session = await createSession(prepareModel('facemesh468').path);
  const inputs: [string, Float32Array][] = [
    ['random #1', randomImage(192, 1, 1)],
    ['boy.jpeg crop', (await realCrop('magicportrait/boy.jpeg', 192, 'mesh')()).map((v) => v / 255)],
    ['s7.jpg crop', (await realCrop('liveportrait/s7.jpg', 192, 'mesh')()).map((v) => v / 255)],
  ];
  for (const [label, x] of inputs) {
    const ref = runTfliteOnTfjs(model, tf.tensor4d(x, [1, 192, 192, 3]));
    const out = await session.run({ input: new ort.Tensor('float32', x, [1, 192, 192, 3]) });
    const dMesh = maxAbsDiff(out.landmarks!.data as Float32Array, ref.conv2d_21!);
    const dFlag = maxAbsDiff(out.face_flag!.data as Float32Array, ref.conv2d_31!);
    console.log(`# parity facemesh ${label}: mesh max|Δ| ${dMesh.toExponential(2)} px, flag |Δ| ${dFlag.toExponential(2)}`);
    assert.ok(dMesh <= 2e-4, `${label}: mesh max abs diff ${dMesh}`);
    assert.ok(dFlag <= 2e-4, `${label}: face flag diff ${dFlag}`);
  }
});

async function faceApi() {
  const dir = resolveModelPackage(FACE_API).dir;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require(join(dir, 'dist', 'face-api.node-wasm.js'));
  await api.nets.faceLandmark68Net.loadFromDisk(join(dir, 'model'));
  await api.nets.faceRecognitionNet.loadFromDisk(join(dir, 'model'));
  return api;
}

test('68 landmarks: ONNX conversion matches face-api FaceLandmark68Net (max abs ≤ 2e-4)', { skip: missingPackage(FACE_API) }, async () => {
  const api = await faceApi();
  const session = await createSession(prepareModel('landmarks68').path);
  const inputs: [string, Float32Array][] = [
    ['random #2', randomImage(112, 2, 255)],
    ['random #3', randomImage(112, 3, 255)],
    ['boy.jpeg crop', await realCrop('magicportrait/boy.jpeg', 112, '68')()],
    ['s5.jpg crop', await realCrop('liveportrait/s5.jpg', 112, '68')()],
  ];
  for (const [label, x] of inputs) {
    const ref = api.nets.faceLandmark68Net.runNet(await api.toNetInput(tf.tensor3d(x, [112, 112, 3]))).dataSync() as Float32Array;
    const ours = (await session.run({ input: new ort.Tensor('float32', x, [1, 112, 112, 3]) })).landmarks!.data as Float32Array;
    const d = maxAbsDiff(ours, ref) * 112; // in crop pixels
    console.log(`# parity landmarks68 ${label}: max|Δ| ${d.toExponential(2)} px (112-px crop)`);
    assert.ok(d <= 2e-4, `${label}: max abs diff ${d} px`);
  }
});

test('descriptor: ONNX conversion matches face-api FaceRecognitionNet (cosine ≥ 0.9999)', { skip: missingPackage(FACE_API) }, async () => {
  const api = await faceApi();
  const session = await createSession(prepareModel('descriptor').path);
  const boy = readImage(join(dataDir, 'magicportrait/boy.jpeg'));
  const s1 = readImage(join(dataDir, 'liveportrait/s1.jpg'));
  const inputs: [string, Float32Array][] = [
    ['random #4', randomImage(150, 4, 255)],
    ['boy.jpeg chip', faceChip(boy, await landmarks68(boy, (await detectFaces(boy))[0]!)).tensor],
    ['s1.jpg chip', faceChip(s1, await landmarks68(s1, (await detectFaces(s1))[0]!)).tensor],
  ];
  for (const [label, x] of inputs) {
    const ref = (await api.nets.faceRecognitionNet.computeFaceDescriptor(tf.tensor3d(x, [150, 150, 3]))) as Float32Array;
    const ours = (await session.run({ input: new ort.Tensor('float32', x, [1, 150, 150, 3]) })).descriptor!.data as Float32Array;
    const cos = cosine(ours, ref);
    console.log(`# parity descriptor ${label}: cosine ${cos.toFixed(9)}, max|Δ| ${maxAbsDiff(ours, ref).toExponential(2)}`);
    assert.ok(cos >= 0.9999, `${label}: cosine ${cos}`);
  }
});

test('conversion is cached by package version + source hash + converter version', { skip: missingPackage(FACE_API) }, () => {
  const first = prepareModel('landmarks68');
  assert.ok(first.path.startsWith(modelCacheDir()));
  assert.match(first.path, new RegExp(`landmarks68-${first.version.replace(/\./g, '\\.')}-${first.sourceHash.slice(0, 16)}-c\\d+\\.onnx$`));
  const again = prepareModel('landmarks68');
  assert.equal(again.converted, false);
  assert.equal(again.path, first.path);
  const forced = prepareModel('landmarks68', { force: true });
  assert.equal(forced.converted, true);
  assert.ok(existsSync(forced.path));
  assert.ok(!readdirSync(modelCacheDir()).some((f) => f.includes('.tmp-')), 'no temporary files left behind');
});

test('an unwritable cache folder and a missing model package give clear errors', { skip: missingPackage(FACE_API) }, () => {
  const file = join(modelCacheDir(), '..', 'not-a-folder');
  writeFileSync(file, 'x');
  assert.throws(() => prepareModel('landmarks68', { cacheDir: join(file, 'models'), force: true }), (e: Error) => e instanceof MagicPortraitError && /MAGICPORTRAIT_CACHE/.test(e.message));
  assert.throws(() => resolveModelPackage('@magicportrait/no-such-model-package'), (e: Error) => e instanceof MagicPortraitError && e.code === 'missing-model' && /no-such-model-package/.test(e.message));
});
