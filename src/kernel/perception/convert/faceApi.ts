/**
 * face-api weight manifests (TF.js `weights_manifest.json` + .bin shards, uint8-quantized) → ONNX, for the 68-point
 * landmark net and the 128-d dlib-ResNet face descriptor. The architectures follow face-api's own network code;
 * inputs are NHWC RGB 0..255 like face-api's, with its mean/255 normalisation inside the graph.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder } from '../../onnx/graph';
import { add, conv, hwioToOihw, pool, unary, zeroPad, type Value } from './layers';

export interface WeightEntry {
  shape: number[];
  data: Float32Array;
}

interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };

/** Reads a TF.js weights manifest and its shards, dequantizing uint8/uint16 (value = q·scale + min). */
export function readWeightsManifest(dir: string, manifestFile: string): Map<string, WeightEntry> {
  const manifest = JSON.parse(readFileSync(join(dir, manifestFile), 'utf8')) as { paths: string[]; weights: ManifestWeight[] }[];
  const out = new Map<string, WeightEntry>();
  for (const group of manifest) {
    const parts = group.paths.map((p) => readFileSync(join(dir, p)));
    const total = parts.reduce((s, b) => s + b.length, 0);
    const bytes = new Uint8Array(total);
    let o = 0;
    for (const b of parts) {
      bytes.set(b, o);
      o += b.length;
    }
    const view = new DataView(bytes.buffer);
    let off = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      const dtype = q?.dtype ?? w.dtype;
      const size = n * (BYTES[dtype] ?? NaN);
      if (!Number.isFinite(size) || off + size > bytes.length)
        throw new Error(`${manifestFile}: weight '${w.name}' (${dtype}[${w.shape}]) does not fit the weight files`);
      const data = new Float32Array(n);
      if (q && (dtype === 'uint8' || dtype === 'uint16')) {
        const scale = q.scale ?? 1;
        const min = q.min ?? 0;
        for (let i = 0; i < n; i++) data[i] = (dtype === 'uint8' ? bytes[off + i]! : view.getUint16(off + 2 * i, true)) * scale + min;
      } else if (dtype === 'float32') {
        for (let i = 0; i < n; i++) data[i] = view.getFloat32(off + 4 * i, true);
      } else throw new Error(`${manifestFile}: weight '${w.name}' has unsupported dtype ${dtype}`);
      out.set(w.name, { shape: w.shape, data });
      off += size;
    }
  }
  return out;
}

const MEAN_RGB = [122.782, 117.001, 104.298];

function take(weights: Map<string, WeightEntry>, name: string): WeightEntry {
  const w = weights.get(name);
  if (!w) throw new Error(`weight '${name}' is missing from the manifest`);
  return w;
}

/** NHWC 0..255 input → (x − mean)/255 → NCHW, as face-api's normalize().div(255). */
function normalizedInput(g: GraphBuilder, size: number): Value {
  g.input('input', 'float32', ['N', size, size, 3]);
  const centred = g.op('Sub', ['input', g.constF32('mean_rgb', MEAN_RGB, [3])]);
  const scaled = g.op('Div', [centred, g.constF32('d255', [255], [])]);
  return { name: g.op('Transpose', [scaled], { perm: [0, 3, 1, 2] }), shape: [3, size, size] };
}

function convHwio(g: GraphBuilder, x: Value, filters: WeightEntry, bias: Float32Array | undefined, stride: number, padding: 'same' | 'valid', prefix: string): Value {
  const [kh, kw, cin, cout] = filters.shape as [number, number, number, number];
  return conv(g, x, { weight: hwioToOihw(filters.data, kh, kw, cin, cout), out: cout, kh, kw, bias, stride, padding }, prefix);
}

/** tf.separableConv2d (depthwise multiplier 1, 'same') + bias. */
function separable(g: GraphBuilder, w: Map<string, WeightEntry>, prefix: string, x: Value, stride: number): Value {
  const dw = take(w, `${prefix}/depthwise_filter`);
  const pw = take(w, `${prefix}/pointwise_filter`);
  const [kh, kw, c] = dw.shape as [number, number, number];
  const d = conv(g, x, { weight: hwioToOihw(dw.data, kh, kw, 1, c), out: c, kh, kw, stride, padding: 'same', group: c }, `${prefix}_dw`);
  return convHwio(g, d, pw, take(w, `${prefix}/bias`).data, 1, 'same', `${prefix}_pw`);
}

function denseBlock4(g: GraphBuilder, w: Map<string, WeightEntry>, prefix: string, x: Value, first: boolean): Value {
  const c0 = first
    ? convHwio(g, x, take(w, `${prefix}/conv0/filters`), take(w, `${prefix}/conv0/bias`).data, 2, 'same', `${prefix}_conv0`)
    : separable(g, w, `${prefix}/conv0`, x, 2);
  const out1 = unary(g, 'Relu', c0);
  const out2 = separable(g, w, `${prefix}/conv1`, out1, 1);
  const in3 = unary(g, 'Relu', add(g, out1, out2));
  const out3 = separable(g, w, `${prefix}/conv2`, in3, 1);
  const in4 = unary(g, 'Relu', add(g, out1, add(g, out2, out3)));
  const out4 = separable(g, w, `${prefix}/conv3`, in4, 1);
  return unary(g, 'Relu', add(g, out1, add(g, out2, add(g, out3, out4))));
}

/** face-api FaceLandmark68Net: [N,112,112,3] 0..255 → 'landmarks' [N,136], x/y interleaved in 0..1 of the input. */
export function buildLandmark68(w: Map<string, WeightEntry>): GraphBuilder {
  const g = new GraphBuilder('face_landmark_68', 13);
  let x = normalizedInput(g, 112);
  x = denseBlock4(g, w, 'dense0', x, true);
  x = denseBlock4(g, w, 'dense1', x, false);
  x = denseBlock4(g, w, 'dense2', x, false);
  x = denseBlock4(g, w, 'dense3', x, false);
  x = pool(g, x, 'AveragePool', 7, 2, 'valid');
  const flat = g.op('Flatten', [x.name], { axis: 1 });
  const fcw = take(w, 'fc/weights');
  const mm = g.op('MatMul', [flat, g.constF32('fc_w', fcw.data, fcw.shape)]);
  g.op('Add', [mm, g.constF32('fc_b', take(w, 'fc/bias').data, [fcw.shape[1]!])], {}, 'landmarks');
  g.output('landmarks', 'float32', ['N', 136]);
  return g;
}

/** conv + bias, then the per-channel scale layer, folded: y = conv(x)·s + (bias·s + b). */
function scaledConv(g: GraphBuilder, w: Map<string, WeightEntry>, prefix: string, x: Value, stride: number, padding: 'same' | 'valid'): Value {
  const filters = take(w, `${prefix}/conv/filters`);
  const bias = take(w, `${prefix}/conv/bias`).data;
  const s = take(w, `${prefix}/scale/weights`).data;
  const b = take(w, `${prefix}/scale/biases`).data;
  const [kh, kw, cin, cout] = filters.shape as [number, number, number, number];
  const scaled = new Float32Array(filters.data.length);
  for (let i = 0; i < scaled.length; i++) scaled[i] = filters.data[i]! * s[i % cout]!;
  const fb = new Float32Array(cout);
  for (let o = 0; o < cout; o++) fb[o] = bias[o]! * s[o]! + b[o]!;
  return conv(g, x, { weight: hwioToOihw(scaled, kh, kw, cin, cout), out: cout, kh, kw, bias: fb, stride, padding }, prefix.replace(/\//g, '_'));
}

function residual(g: GraphBuilder, w: Map<string, WeightEntry>, prefix: string, x: Value): Value {
  const a = unary(g, 'Relu', scaledConv(g, w, `${prefix}/conv1`, x, 1, 'same'));
  const b = scaledConv(g, w, `${prefix}/conv2`, a, 1, 'same');
  return unary(g, 'Relu', add(g, b, x));
}

function residualDown(g: GraphBuilder, w: Map<string, WeightEntry>, prefix: string, x: Value): Value {
  const a = unary(g, 'Relu', scaledConv(g, w, `${prefix}/conv1`, x, 2, 'valid'));
  let out = scaledConv(g, w, `${prefix}/conv2`, a, 1, 'same');
  let pooled = pool(g, x, 'AveragePool', 2, 2, 'valid');
  // face-api pads the conv branch with a zero row/column at the end when the pooled map is larger (3→4, 1→2),
  // and the shortcut with zero channels.
  const dh = pooled.shape[1] - out.shape[1];
  const dw = pooled.shape[2] - out.shape[2];
  if (dh || dw) out = zeroPad(g, out, [0, 0, 0], [0, dh, dw]);
  const dc = out.shape[0] - pooled.shape[0];
  if (dc) pooled = zeroPad(g, pooled, [0, 0, 0], [dc, 0, 0]);
  return unary(g, 'Relu', add(g, pooled, out));
}

/** face-api FaceRecognitionNet: [N,150,150,3] 0..255 → 'descriptor' [N,128]. */
export function buildFaceRecognition(w: Map<string, WeightEntry>): GraphBuilder {
  const g = new GraphBuilder('face_recognition', 13);
  let x = normalizedInput(g, 150);
  x = unary(g, 'Relu', scaledConv(g, w, 'conv32_down', x, 2, 'valid'));
  x = pool(g, x, 'MaxPool', 3, 2, 'valid');
  for (const p of ['conv32_1', 'conv32_2', 'conv32_3']) x = residual(g, w, p, x);
  x = residualDown(g, w, 'conv64_down', x);
  for (const p of ['conv64_1', 'conv64_2', 'conv64_3']) x = residual(g, w, p, x);
  x = residualDown(g, w, 'conv128_down', x);
  for (const p of ['conv128_1', 'conv128_2']) x = residual(g, w, p, x);
  x = residualDown(g, w, 'conv256_down', x);
  for (const p of ['conv256_1', 'conv256_2']) x = residual(g, w, p, x);
  x = residualDown(g, w, 'conv256_down_out', x);
  const mean = g.op('ReduceMean', [x.name], { axes: [2, 3], keepdims: 0 });
  const fc = take(w, 'fc');
  g.op('MatMul', [mean, g.constF32('fc', fc.data, fc.shape)], {}, 'descriptor');
  g.output('descriptor', 'float32', ['N', fc.shape[1]!]);
  return g;
}
