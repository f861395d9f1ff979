/**
 * TFLite → ONNX for the float (fp16-weight) MediaPipe conv nets: CONV_2D, DEPTHWISE_CONV_2D, ADD, PAD, MAX_POOL_2D,
 * AVERAGE_POOL_2D, PRELU, RELU, RELU6, LOGISTIC, CONCATENATION, DEQUANTIZE (folded into float32 constants).
 * Activations are kept NCHW inside the graph; the input stays NHWC as in the original model.
 */
import { GraphBuilder } from '../../onnx/graph';
import { add, conv, hwioToOihw, nhwcInput, ohwiToOihw, pool, prelu, unary, zeroPad, type Shape, type Value } from './layers';
import { tensorFloats, tensorInts, type TfliteModel, type TfliteTensor } from './tflite';

export interface TfliteConvertOptions {
  graphName: string;
  inputName: string;
  /** ONNX names for the model outputs, in the model's output order. */
  outputNames: string[];
}

export function convertTflite(model: TfliteModel, opts: TfliteConvertOptions): GraphBuilder {
  const g = new GraphBuilder(opts.graphName, 13);
  const values = new Map<number, Value>();
  const consts = new Map<number, Float32Array>();
  const tensor = (i: number): TfliteTensor => model.tensors[i]!;
  const floats = (i: number): Float32Array => {
    const c = consts.get(i);
    if (c) return c;
    return tensorFloats(tensor(i));
  };
  const val = (i: number): Value => {
    const v = values.get(i);
    if (!v) throw new Error(`tensor '${tensor(i).name}' is used before it is computed`);
    return v;
  };
  if (model.inputs.length !== 1) throw new Error(`expected one input, found ${model.inputs.length}`);
  const inT = tensor(model.inputs[0]!);
  const [, ih, iw, ic] = inT.shape as [number, number, number, number];
  values.set(inT.index, nhwcInput(g, opts.inputName, ih, iw, ic));

  const activation = (v: Value, fused: number, where: string): Value => {
    if (!fused) return v;
    if (fused === 1) return unary(g, 'Relu', v);
    if (fused === 3) return { name: g.op('Clip', [v.name, g.constF32('lo', [0], []), g.constF32('hi', [6], [])]), shape: v.shape };
    throw new Error(`${where}: fused activation ${fused} is not supported`);
  };
  const checkShape = (v: Value, i: number, op: string) => {
    const s = tensor(i).shape;
    if (s.length === 4 && (s[3] !== v.shape[0] || s[1] !== v.shape[1] || s[2] !== v.shape[2]))
      throw new Error(`${op} '${tensor(i).name}': computed [${v.shape}] (CHW) but the model says ${s}`);
  };

  for (const op of model.operators) {
    const o = op.options;
    const outIdx = op.outputs[0]!;
    const where = `${op.op} '${tensor(outIdx).name}'`;
    let out: Value;
    switch (op.op) {
      case 'DEQUANTIZE': {
        consts.set(outIdx, floats(op.inputs[0]!));
        continue;
      }
      case 'CONV_2D': {
        const x = val(op.inputs[0]!);
        const [cout, kh, kw, cin] = tensor(op.inputs[1]!).shape as [number, number, number, number];
        if (o.dilation_w_factor !== 1 || o.dilation_h_factor !== 1 || o.stride_w !== o.stride_h)
          throw new Error(`${where}: dilation or unequal strides are not supported`);
        out = conv(g, x, {
          weight: ohwiToOihw(floats(op.inputs[1]!), cout, kh, kw, cin),
          out: cout,
          kh,
          kw,
          bias: op.inputs[2]! >= 0 ? floats(op.inputs[2]!) : undefined,
          stride: o.stride_w as number,
          padding: o.padding === 0 ? 'same' : 'valid',
        });
        out = activation(out, o.fused_activation_function as number, where);
        break;
      }
      case 'DEPTHWISE_CONV_2D': {
        const x = val(op.inputs[0]!);
        const [, kh, kw, cout] = tensor(op.inputs[1]!).shape as [number, number, number, number];
        if (cout !== x.shape[0] || o.dilation_w_factor !== 1 || o.stride_w !== o.stride_h)
          throw new Error(`${where}: only depth multiplier 1, no dilation, equal strides are supported`);
        out = conv(g, x, {
          weight: hwioToOihw(floats(op.inputs[1]!), kh, kw, 1, cout),
          out: cout,
          kh,
          kw,
          bias: op.inputs[2]! >= 0 ? floats(op.inputs[2]!) : undefined,
          stride: o.stride_w as number,
          padding: o.padding === 0 ? 'same' : 'valid',
          group: cout,
        });
        out = activation(out, o.fused_activation_function as number, where);
        break;
      }
      case 'ADD': {
        out = activation(add(g, val(op.inputs[0]!), val(op.inputs[1]!)), o.fused_activation_function as number, where);
        break;
      }
      case 'PRELU': {
        out = prelu(g, val(op.inputs[0]!), floats(op.inputs[1]!));
        break;
      }
      case 'RELU':
        out = unary(g, 'Relu', val(op.inputs[0]!));
        break;
      case 'LOGISTIC':
        out = unary(g, 'Sigmoid', val(op.inputs[0]!));
        break;
      case 'MAX_POOL_2D':
      case 'AVERAGE_POOL_2D': {
        if (o.filter_width !== o.filter_height || o.stride_w !== o.stride_h) throw new Error(`${where}: non-square pooling`);
        out = pool(g, val(op.inputs[0]!), op.op === 'MAX_POOL_2D' ? 'MaxPool' : 'AveragePool', o.filter_width as number, o.stride_w as number, o.padding === 0 ? 'same' : 'valid');
        out = activation(out, o.fused_activation_function as number, where);
        break;
      }
      case 'PAD': {
        const p = tensorInts(tensor(op.inputs[1]!)); // NHWC [[b,a] x 4]
        if (p[0] || p[1]) throw new Error(`${where}: padding the batch axis is not supported`);
        const before: Shape = [p[6]!, p[2]!, p[4]!];
        const after: Shape = [p[7]!, p[3]!, p[5]!];
        out = zeroPad(g, val(op.inputs[0]!), before, after);
        break;
      }
      case 'CONCATENATION': {
        const xs = op.inputs.map(val);
        const axis = ((o.axis as number) + 4) % 4;
        const onnxAxis = [0, 2, 3, 1][axis]!;
        const shape = [...xs[0]!.shape] as Shape;
        shape[onnxAxis - 1] = xs.reduce((s, v) => s + v.shape[onnxAxis - 1]!, 0);
        out = { name: g.op('Concat', xs.map((v) => v.name), { axis: onnxAxis }), shape };
        out = activation(out, o.fused_activation_function as number, where);
        break;
      }
      default:
        throw new Error(`TFLite op ${op.op} is not supported by this converter`);
    }
    checkShape(out, outIdx, op.op);
    values.set(outIdx, out);
  }

  model.outputs.forEach((i, k) => {
    const v = val(i);
    const name = opts.outputNames[k] ?? tensor(i).name;
    if (v.shape[1] === 1 && v.shape[2] === 1) {
      g.op('Flatten', [v.name], { axis: 1 }, name);
      g.output(name, 'float32', ['N', v.shape[0]]);
    } else {
      g.op('Transpose', [v.name], { perm: [0, 2, 3, 1] }, name);
      g.output(name, 'float32', ['N', v.shape[1], v.shape[2], v.shape[0]]);
    }
  });
  return g;
}
