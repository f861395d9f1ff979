/**
 * Test-only reference: runs a TFLite model's original graph and weights with TensorFlow.js ops (NHWC, the layouts of
 * the TFLite file), independently of our ONNX converter's layout/padding logic.
 */
import * as tf from '@tensorflow/tfjs';
import { tensorFloats, tensorInts, type TfliteModel } from '../../../src/kernel/perception/convert/tflite';

export function runTfliteOnTfjs(model: TfliteModel, input: tf.Tensor4D): Record<string, Float32Array> {
  return tf.tidy(() => {
    const vals = new Map<number, tf.Tensor>();
    vals.set(model.inputs[0]!, input);
    const get = (i: number): tf.Tensor => {
      const v = vals.get(i);
      if (v) return v;
      const t = model.tensors[i]!;
      const c = tf.tensor(tensorFloats(t), t.shape);
      vals.set(i, c);
      return c;
    };
    const act = (x: tf.Tensor, f: number) => (f === 1 ? tf.relu(x) : f === 3 ? tf.relu6(x) : x);
    for (const op of model.operators) {
      const o = op.options;
      const pad = o.padding === 0 ? 'same' : 'valid';
      let y: tf.Tensor;
      switch (op.op) {
        case 'DEQUANTIZE':
          y = get(op.inputs[0]!);
          break;
        case 'CONV_2D': {
          const w = tf.transpose(get(op.inputs[1]!), [1, 2, 3, 0]) as tf.Tensor4D; // OHWI → HWIO
          y = tf.conv2d(get(op.inputs[0]!) as tf.Tensor4D, w, o.stride_w as number, pad);
          if (op.inputs[2]! >= 0) y = tf.add(y, get(op.inputs[2]!));
          y = act(y, o.fused_activation_function as number);
          break;
        }
        case 'DEPTHWISE_CONV_2D': {
          const wt = get(op.inputs[1]!);
          const [, kh, kw, c] = wt.shape as number[];
          const w = tf.reshape(wt, [kh!, kw!, c!, 1]) as tf.Tensor4D;
          y = tf.depthwiseConv2d(get(op.inputs[0]!) as tf.Tensor4D, w, o.stride_w as number, pad);
          if (op.inputs[2]! >= 0) y = tf.add(y, get(op.inputs[2]!));
          y = act(y, o.fused_activation_function as number);
          break;
        }
        case 'ADD':
          y = act(tf.add(get(op.inputs[0]!), get(op.inputs[1]!)), o.fused_activation_function as number);
          break;
        case 'PRELU':
          y = tf.prelu(get(op.inputs[0]!), get(op.inputs[1]!));
          break;
        case 'MAX_POOL_2D':
          y = tf.maxPool(get(op.inputs[0]!) as tf.Tensor4D, [o.filter_height as number, o.filter_width as number], o.stride_w as number, pad);
          break;
        case 'PAD': {
          const p = tensorInts(model.tensors[op.inputs[1]!]!);
          y = tf.pad(get(op.inputs[0]!), [[p[0]!, p[1]!], [p[2]!, p[3]!], [p[4]!, p[5]!], [p[6]!, p[7]!]]);
          break;
        }
        case 'RELU':
          y = tf.relu(get(op.inputs[0]!));
          break;
        case 'RESHAPE':
          y = tf.reshape(get(op.inputs[0]!), model.tensors[op.outputs[0]!]!.shape);
          break;
        case 'CONCATENATION':
          y = act(tf.concat(op.inputs.map(get), o.axis as number), o.fused_activation_function as number);
          break;
        case 'LOGISTIC':
          y = tf.sigmoid(get(op.inputs[0]!));
          break;
        default:
          throw new Error(`reference: op ${op.op} not implemented`);
      }
      vals.set(op.outputs[0]!, y);
    }
    const out: Record<string, Float32Array> = {};
    for (const i of model.outputs) out[model.tensors[i]!.name] = get(i).dataSync() as Float32Array;
    return out;
  });
}
