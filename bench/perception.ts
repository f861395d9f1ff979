/**
 * Face perception benchmark: our ONNX Runtime pipeline vs the same networks in TF.js, measured in the same run.
 *   node --import tsx bench/perception.ts
 * Rows (median times): per-network latency (ours vs TF.js), the full per-frame chain at 512×512 (detection + 468 + 68 + descriptor,
 * target ≤ 25 ms), and a 240-frame 512×512 video streamed through decode + tracking + 468 + 68 (target ≤ 6 s).
 * TF.js runs the original graphs/weights: face-api's own nets, and the MediaPipe TFLite graphs op by op
 * (test/perception/reference/tfliteOnTfjs.ts). BlazeFace in TF.js is MediaPipe's face_detection_short_range.tflite
 * (the same 128×128 architecture as the ONNX BlazeFace we run).
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readImage, type Image } from '../src/kernel/io/image';
import { readFrames } from '../src/kernel/io/video';
import { ort } from '../src/kernel/onnx/session';
import { detectFaces, findFace } from '../src/kernel/perception/detect';
import { descriptorFromChip, faceChip, faceDescriptor, landmarks468, landmarks68, type Landmarks68 } from '../src/kernel/perception/landmarks';
import { extractPackedFile, modelSession, resolveModelPackage, type ModelId } from '../src/kernel/perception/models';
import { readTflite } from '../src/kernel/perception/convert/tflite';
import { trackFaces } from '../src/kernel/perception/track';
import { runTfliteOnTfjs } from '../test/perception/reference/tfliteOnTfjs';
import { printRows, timeIt, type BenchRow } from './types';

const data = join(__dirname, '..', '..', 'shared', 'data');

/** Median of `iters` timed calls after `warm` unmeasured ones (milliseconds). */
const time = (fn: () => Promise<unknown> | unknown, iters: number, warm = 2): Promise<number> => timeIt(fn, iters, warm);

async function ortNet(id: ModelId, input: string, shape: number[]): Promise<number> {
  const s = await modelSession(id);
  const x = new ort.Tensor('float32', Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => (i % 255) / 255), shape);
  return time(() => s.run({ [input]: x }), 30, 3);
}

async function tfjsBackend(): Promise<string> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = join(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'), '..', 'dist') + '/';
    wasm.setWasmPaths(dir);
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      return 'wasm';
    }
  } catch {
    /* fall back */
  }
  await tf.setBackend('cpu');
  return 'cpu';
}

export async function benchPerception(): Promise<BenchRow[]> {
  // Ours first: TF.js (wasm) is only initialised afterwards, so it cannot disturb our timings.
  const ours = {
    det: await ortNet('blazeface128', 'input:0', [1, 128, 128, 3]),
    mesh: await ortNet('facemesh468', 'input', [1, 192, 192, 3]),
    lm68: await ortNet('landmarks68', 'input', [1, 112, 112, 3]),
    desc: await ortNet('descriptor', 'input', [1, 150, 150, 3]),
  };

  // Full chain per 512×512 frame: detection + 468 + 68 + aligned chip + descriptor (incl. all crops/warps).
  const frames: Image[] = [];
  for await (const f of readFrames(join(data, 'magicportrait', 'driving.mp4'), { step: 20, maxFrames: 8 })) frames.push(f.image);
  let k = 0;
  let calls = 0;
  const cpu0 = process.cpuUsage();
  const chain = await time(async () => {
    calls++;
    const im = frames[k++ % frames.length]!;
    const f = (await detectFaces(im))[0]!;
    await landmarks468(im, f);
    const lm = await landmarks68(im, f);
    await descriptorFromChip(faceChip(im, lm).tensor);
  }, 40, 4);
  const cpu1 = process.cpuUsage(cpu0);
  const chainCpu = (cpu1.user + cpu1.system) / 1000 / calls;
  const chainLoad = loadavg()[0]!;

  // dlib's num_jitters = 10 (an option for identity work, never in the per-frame chain): chip + 10 jittered copies.
  const lms: Landmarks68[] = [];
  for (const im of frames) lms.push(await landmarks68(im, (await detectFaces(im))[0]!));
  let j = 0;
  const jittered = await time(() => {
    const i = j++ % frames.length;
    return faceDescriptor(frames[i]!, lms[i]!, { jitters: 10 });
  }, 10, 2);

  // Streaming: 240 frames of a 512×512 video, decode + track + 468 + 68.
  const t0 = performance.now();
  const scpu0 = process.cpuUsage();
  let n = 0;
  for await (const r of trackFaces(readFrames(join(data, 'liveportrait', 'd3.mp4'), { maxFrames: 240 }), { landmarks: ['468', '68'] })) if (r.index >= 0) n++;
  const stream = performance.now() - t0;
  const scpu = process.cpuUsage(scpu0);
  const streamCpu = (scpu.user + scpu.system) / 1000;
  const streamLoad = loadavg()[0]!;

  // TF.js: the same networks on the same input sizes.
  const backend = await tfjsBackend();
  const label = `TF.js ${backend}`;
  const meshPkg = resolveModelPackage('@mediapipe/face_mesh').dir;
  const meshModel = readTflite(extractPackedFile(meshPkg, 'face_landmark.tflite'));
  const detModel = readTflite(extractPackedFile(meshPkg, 'face_detection_short_range.tflite'));
  const apiDir = resolveModelPackage('@vladmandic/face-api').dir;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require(join(apiDir, 'dist', 'face-api.node-wasm.js'));
  await api.nets.faceLandmark68Net.loadFromDisk(join(apiDir, 'model'));
  await api.nets.faceRecognitionNet.loadFromDisk(join(apiDir, 'model'));
  const runs = backend === 'cpu' ? 3 : 10;
  const tfIn = (size: number, scale: number) => tf.tensor4d(Float32Array.from({ length: size * size * 3 }, (_, i) => ((i % 255) / 255) * scale), [1, size, size, 3]);
  const x128 = tfIn(128, 1), x192 = tfIn(192, 1), x112 = tf.squeeze(tfIn(112, 255), [0]), x150 = tf.squeeze(tfIn(150, 255), [0]);
  const ref = {
    det: await time(() => runTfliteOnTfjs(detModel, x128 as tf.Tensor4D), runs, 1),
    mesh: await time(() => runTfliteOnTfjs(meshModel, x192 as tf.Tensor4D), runs, 1),
    lm68: await time(async () => tf.dispose(api.nets.faceLandmark68Net.runNet(await api.toNetInput(x112))), runs, 1),
    desc: await time(() => api.nets.faceRecognitionNet.computeFaceDescriptor(x150), runs, 1),
  };
  tf.dispose([x128, x192, x112, x150]);

  const rows: BenchRow[] = [];
  const names = { det: 'BlazeFace 128 (network)', mesh: 'face mesh 468 (network)', lm68: '68 landmarks (network)', desc: 'descriptor 128-d (network)' };
  for (const key of ['det', 'mesh', 'lm68', 'desc'] as const)
    rows.push({ area: 'perception', name: names[key], oursMs: ours[key], refMs: ref[key], ref: label, note: `${(ref[key] / ours[key]).toFixed(1)}× faster` });
  const where = (load: number) => `load avg ${load.toFixed(1)} on ${cpus().length} cores`;
  rows.push({
    area: 'perception',
    name: 'per frame 512²: detect + 468 + 68 + descriptor (incl. crops)',
    oursMs: chain,
    refMs: ref.det + ref.mesh + ref.lm68 + ref.desc,
    ref: `${label}, sum of the 4 networks`,
    target: '≤ 25 ms',
    note: `${chain <= 25 ? 'meets' : 'MISSES'} target; ${chainCpu.toFixed(1)} ms CPU/frame; ${where(chainLoad)}`,
  });
  rows.push({
    area: 'perception',
    name: 'descriptor with 10 jitters (dlib num_jitters; identity option, not per frame)',
    oursMs: jittered,
    refMs: 10 * ref.desc,
    ref: `${label}, 10× the descriptor network`,
    note: `${(jittered / ours.desc).toFixed(1)}× one descriptor`,
  });
  rows.push({
    area: 'perception',
    name: `stream ${n} frames 512²: decode + track + 468 + 68 (total)`,
    oursMs: stream,
    refMs: n * (ref.det + ref.mesh + ref.lm68),
    ref: `${label}, ${n}× the 3 networks`,
    target: '≤ 6000 ms',
    note: `${stream <= 6000 ? 'meets' : 'MISSES'} target; ${streamCpu.toFixed(0)} ms CPU here (+ ffmpeg decode); ${where(streamLoad)}`,
  });
  return rows;
}

if (require.main === module)
  benchPerception().then(printRows, (e) => {
    console.error(e);
    process.exit(1);
  });
