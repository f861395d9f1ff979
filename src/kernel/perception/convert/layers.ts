/**
 * NCHW layer helpers over GraphBuilder with static shape tracking, shared by the converters. The batch dimension is
 * symbolic ('N'); `Shape` is [C, H, W].
 */
import type { GraphBuilder } from '../../onnx/graph';

export type Shape = [number, number, number];
export interface Value {
  name: string;
  shape: Shape;
}
export type Padding = 'same' | 'valid';

/** TF-style padding for one spatial axis: [before, after, output size]. SAME puts the extra pixel after. */
export function padFor(size: number, k: number, s: number, padding: Padding): [number, number, number] {
  if (padding === 'valid') return [0, 0, Math.floor((size - k) / s) + 1];
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before, out];
}

export interface ConvSpec {
  /** Weights in ONNX layout [O, I/group, kh, kw]. */
  weight: Float32Array;
  out: number;
  kh: number;
  kw: number;
  bias?: Float32Array;
  stride?: number;
  padding?: Padding;
  group?: number;
}

export function conv(g: GraphBuilder, x: Value, spec: ConvSpec, prefix = 'conv'): Value {
  const [c, h, w] = x.shape;
  const s = spec.stride ?? 1;
  const group = spec.group ?? 1;
  const [pt, pb, oh] = padFor(h, spec.kh, s, spec.padding ?? 'same');
  const [pl, pr, ow] = padFor(w, spec.kw, s, spec.padding ?? 'same');
  if (spec.weight.length !== spec.out * (c / group) * spec.kh * spec.kw)
    throw new Error(`${prefix}: weight size ${spec.weight.length} does not fit [${spec.out},${c / group},${spec.kh},${spec.kw}]`);
  const inputs = [x.name, g.constF32(`${prefix}_w`, spec.weight, [spec.out, c / group, spec.kh, spec.kw])];
  if (spec.bias) inputs.push(g.constF32(`${prefix}_b`, spec.bias, [spec.out]));
  const name = g.op('Conv', inputs, {
    kernel_shape: [spec.kh, spec.kw],
    strides: [s, s],
    pads: [pt, pl, pb, pr],
    group,
    dilations: [1, 1],
  });
  return { name, shape: [spec.out, oh, ow] };
}

export function pool(
  g: GraphBuilder,
  x: Value,
  kind: 'MaxPool' | 'AveragePool',
  k: number,
  s: number,
  padding: Padding,
): Value {
  const [c, h, w] = x.shape;
  const [pt, pb, oh] = padFor(h, k, s, padding);
  const [pl, pr, ow] = padFor(w, k, s, padding);
  const attrs: Record<string, number | number[]> = { kernel_shape: [k, k], strides: [s, s], pads: [pt, pl, pb, pr] };
  if (kind === 'AveragePool') attrs.count_include_pad = 0;
  return { name: g.op(kind, [x.name], attrs), shape: [c, oh, ow] };
}

export function unary(g: GraphBuilder, op: string, x: Value): Value {
  return { name: g.op(op, [x.name]), shape: x.shape };
}

export function add(g: GraphBuilder, a: Value, b: Value): Value {
  if (a.shape.join() !== b.shape.join()) throw new Error(`Add: shapes ${a.shape} and ${b.shape} differ`);
  return { name: g.op('Add', [a.name, b.name]), shape: a.shape };
}

/** PReLU with per-channel slopes. */
export function prelu(g: GraphBuilder, x: Value, slopes: Float32Array): Value {
  const c = x.shape[0];
  if (slopes.length !== c) throw new Error(`PRelu: ${slopes.length} slopes for ${c} channels`);
  return { name: g.op('PRelu', [x.name, g.constF32('prelu_slope', slopes, [c, 1, 1])]), shape: x.shape };
}

/** Zero padding of [C, H, W] at the start and end. */
export function zeroPad(g: GraphBuilder, x: Value, before: Shape, after: Shape): Value {
  const pads = g.constI64('pads', [0, before[0], before[1], before[2], 0, after[0], after[1], after[2]]);
  const shape = x.shape.map((d, i) => d + before[i]! + after[i]!) as Shape;
  return { name: g.op('Pad', [x.name, pads], { mode: 'constant' }), shape };
}

/** TF filter layout [kh, kw, in, out] (HWIO) → ONNX [out, in, kh, kw]. */
export function hwioToOihw(w: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = w[((y * kw + x) * cin + i) * cout + o]!;
  return out;
}

/** TFLite filter layout [out, kh, kw, in] (OHWI) → ONNX [out, in, kh, kw]. */
export function ohwiToOihw(w: Float32Array, cout: number, kh: number, kw: number, cin: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let o = 0; o < cout; o++)
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let i = 0; i < cin; i++) out[((o * cin + i) * kh + y) * kw + x] = w[((o * kh + y) * kw + x) * cin + i]!;
  return out;
}

/** Declares an NHWC float input and returns it transposed to NCHW. */
export function nhwcInput(g: GraphBuilder, name: string, h: number, w: number, c: number): Value {
  g.input(name, 'float32', ['N', h, w, c]);
  return { name: g.op('Transpose', [name], { perm: [0, 3, 1, 2] }), shape: [c, h, w] };
}
