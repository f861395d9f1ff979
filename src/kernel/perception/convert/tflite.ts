/**
 * A minimal TFLite flatbuffer reader: tensors (with constant data), operators and their builtin options, for the
 * small set of ops used by MediaPipe's face models. Reads the schema fields by their documented vtable slots.
 */

/** Builtin operator codes (tflite schema `BuiltinOperator`), the ones we name. */
export const BuiltinOp: Record<number, string> = {
  0: 'ADD',
  1: 'AVERAGE_POOL_2D',
  2: 'CONCATENATION',
  3: 'CONV_2D',
  4: 'DEPTHWISE_CONV_2D',
  6: 'DEQUANTIZE',
  9: 'FULLY_CONNECTED',
  14: 'LOGISTIC',
  17: 'MAX_POOL_2D',
  18: 'MUL',
  19: 'RELU',
  21: 'RELU6',
  22: 'RESHAPE',
  23: 'RESIZE_BILINEAR',
  25: 'SOFTMAX',
  28: 'TANH',
  32: 'CUSTOM',
  34: 'PAD',
  39: 'TRANSPOSE',
  40: 'MEAN',
  41: 'SUB',
  54: 'PRELU',
};

/** TensorType enum. */
export const TensorTypeName: Record<number, string> = {
  0: 'float32',
  1: 'float16',
  2: 'int32',
  3: 'uint8',
  4: 'int64',
  6: 'bool',
  7: 'int16',
  9: 'int8',
};

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: string;
  /** Constant data (little-endian bytes), or null for activations. */
  data: Uint8Array | null;
}

export type TfliteOptions = Record<string, number | number[]>;

export interface TfliteOperator {
  op: string;
  inputs: number[];
  outputs: number[];
  options: TfliteOptions;
}

export interface TfliteModel {
  version: number;
  tensors: TfliteTensor[];
  operators: TfliteOperator[];
  inputs: number[];
  outputs: number[];
}

class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u8 = (p: number) => this.view.getUint8(p);
  u16 = (p: number) => this.view.getUint16(p, true);
  i32 = (p: number) => this.view.getInt32(p, true);
  u32 = (p: number) => this.view.getUint32(p, true);
  /** Absolute position of field `slot` of the table at `table`, or 0 when absent. */
  field(table: number, slot: number): number {
    const vtable = table - this.i32(table);
    const vsize = this.u16(vtable);
    const o = 4 + 2 * slot;
    if (o >= vsize) return 0;
    const off = this.u16(vtable + o);
    return off ? table + off : 0;
  }
  ref(p: number): number {
    return p + this.u32(p);
  }
  table(table: number, slot: number): number {
    const p = this.field(table, slot);
    return p ? this.ref(p) : 0;
  }
  vector(table: number, slot: number): { start: number; length: number } | null {
    const p = this.field(table, slot);
    if (!p) return null;
    const v = this.ref(p);
    return { start: v + 4, length: this.u32(v) };
  }
  tables(table: number, slot: number): number[] {
    const v = this.vector(table, slot);
    if (!v) return [];
    return Array.from({ length: v.length }, (_, i) => this.ref(v.start + 4 * i));
  }
  ints(table: number, slot: number): number[] {
    const v = this.vector(table, slot);
    if (!v) return [];
    return Array.from({ length: v.length }, (_, i) => this.i32(v.start + 4 * i));
  }
  string(table: number, slot: number): string {
    const v = this.vector(table, slot);
    if (!v) return '';
    return new TextDecoder().decode(this.bytes.subarray(v.start, v.start + v.length));
  }
  scalar(table: number, slot: number, kind: 'i32' | 'u32' | 'u8' | 'i8' | 'f32', dflt = 0): number {
    const p = this.field(table, slot);
    if (!p) return dflt;
    switch (kind) {
      case 'i32':
        return this.i32(p);
      case 'u32':
        return this.u32(p);
      case 'u8':
        return this.u8(p);
      case 'i8':
        return this.view.getInt8(p);
      case 'f32':
        return this.view.getFloat32(p, true);
    }
  }
}

/** Builtin options tables: field slot → [name, kind, default]. Union type ids from the tflite schema. */
const OPTION_LAYOUTS: Record<number, [string, 'i32' | 'u8' | 'i8' | 'f32' | 'ints', number][]> = {
  // Conv2DOptions
  1: [['padding', 'i8', 0], ['stride_w', 'i32', 0], ['stride_h', 'i32', 0], ['fused_activation_function', 'i8', 0], ['dilation_w_factor', 'i32', 1], ['dilation_h_factor', 'i32', 1]],
  // DepthwiseConv2DOptions
  2: [['padding', 'i8', 0], ['stride_w', 'i32', 0], ['stride_h', 'i32', 0], ['depth_multiplier', 'i32', 0], ['fused_activation_function', 'i8', 0], ['dilation_w_factor', 'i32', 1], ['dilation_h_factor', 'i32', 1]],
  // ConcatenationOptions
  10: [['axis', 'i32', 0], ['fused_activation_function', 'i8', 0]],
  // AddOptions
  11: [['fused_activation_function', 'i8', 0]],
  // Pool2DOptions
  5: [['padding', 'i8', 0], ['stride_w', 'i32', 0], ['stride_h', 'i32', 0], ['filter_width', 'i32', 0], ['filter_height', 'i32', 0], ['fused_activation_function', 'i8', 0]],
  // ReshapeOptions
  17: [['new_shape', 'ints', 0]],
  // MulOptions
  21: [['fused_activation_function', 'i8', 0]],
};

/** Parses a .tflite flatbuffer. Throws a plain Error on malformed input (callers add the file name). */
export function readTflite(bytes: Uint8Array): TfliteModel {
  if (bytes.length < 16) throw new Error('file too short for a TFLite model');
  const ident = new TextDecoder().decode(bytes.subarray(4, 8));
  if (ident !== 'TFL3') throw new Error(`not a TFLite flatbuffer (identifier '${ident}')`);
  const r = new Reader(bytes);
  const model = r.ref(0);
  const version = r.scalar(model, 0, 'u32');
  const opcodes = r.tables(model, 1).map((t) => {
    const deprecated = r.scalar(t, 0, 'i8');
    const builtin = r.scalar(t, 3, 'i32', 0);
    const code = Math.max(deprecated, builtin);
    return code === 32 ? `CUSTOM:${r.string(t, 1)}` : (BuiltinOp[code] ?? `BUILTIN_${code}`);
  });
  const buffers = r.tables(model, 4).map((b) => {
    const v = r.vector(b, 0);
    return v && v.length ? bytes.subarray(v.start, v.start + v.length) : null;
  });
  const subgraphs = r.tables(model, 2);
  if (subgraphs.length !== 1) throw new Error(`expected one subgraph, found ${subgraphs.length}`);
  const sg = subgraphs[0]!;
  const tensors = r.tables(sg, 0).map((t, index): TfliteTensor => {
    const type = r.scalar(t, 1, 'i8');
    const buffer = r.scalar(t, 2, 'u32');
    return {
      index,
      name: r.string(t, 3),
      shape: r.ints(t, 0),
      type: TensorTypeName[type] ?? `type${type}`,
      data: buffers[buffer] ?? null,
    };
  });
  const operators = r.tables(sg, 3).map((o): TfliteOperator => {
    const op = opcodes[r.scalar(o, 0, 'u32')] ?? 'UNKNOWN';
    const optType = r.scalar(o, 3, 'u8');
    const optTable = r.table(o, 4);
    const options: TfliteOptions = {};
    const layout = OPTION_LAYOUTS[optType];
    if (layout && optTable)
      layout.forEach(([name, kind, dflt], slot) => {
        options[name] = kind === 'ints' ? r.ints(optTable, slot) : r.scalar(optTable, slot, kind, dflt);
      });
    return { op, inputs: r.ints(o, 1), outputs: r.ints(o, 2), options };
  });
  return { version, tensors, operators, inputs: r.ints(sg, 1), outputs: r.ints(sg, 2) };
}

/** Converts IEEE half-precision bits to float32. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Constant data of a tensor as float32 (float32 or float16 storage). */
export function tensorFloats(t: TfliteTensor): Float32Array {
  if (!t.data) throw new Error(`tensor '${t.name}' has no constant data`);
  const d = t.data;
  if (t.type === 'float32') {
    const out = new Float32Array(d.length / 4);
    new Uint8Array(out.buffer).set(d);
    return out;
  }
  if (t.type === 'float16') {
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const out = new Float32Array(d.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
    return out;
  }
  throw new Error(`tensor '${t.name}': constant type ${t.type} is not supported`);
}

/** Constant int32 data of a tensor. */
export function tensorInts(t: TfliteTensor): number[] {
  if (!t.data) throw new Error(`tensor '${t.name}' has no constant data`);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.type === 'int32') return Array.from({ length: t.data.length / 4 }, (_, i) => dv.getInt32(4 * i, true));
  if (t.type === 'int64') return Array.from({ length: t.data.length / 8 }, (_, i) => Number(dv.getBigInt64(8 * i, true)));
  throw new Error(`tensor '${t.name}': expected int32 data, got ${t.type}`);
}
