/**
 * A small ONNX graph builder: named values, initializers, nodes and attributes, serialised with the schema in
 * proto.ts. Large initializers can go to an external-data file so models over protobuf's 2 GB limit still save, and
 * initializers can be deferred (values produced only while saving, one at a time), so a multi-GB model is written
 * holding the graph and one tensor rather than every weight.
 */
import { closeSync, openSync, writeSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { AttributeType, DataType, ModelProto, type DType } from './proto';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Uint16Array;

/** A constant tensor. float16 data is given as the raw Uint16Array of half-precision bits. */
export interface TensorValue {
  dtype: DType;
  dims: readonly number[];
  data: TypedArray;
}

/** Attribute values: integers become INT(S), other numbers FLOAT(S); use `floatAttr` to force a float. */
export type AttrValue =
  | number
  | readonly number[]
  | string
  | TensorValue
  | { readonly float: number }
  | { readonly floats: readonly number[] };

export const floatAttr = (value: number): AttrValue => ({ float: value });
export const floatsAttr = (values: readonly number[]): AttrValue => ({ floats: values });

export type Dim = number | string;

export interface ValueSignature {
  name: string;
  /** ONNX TensorProto.DataType code. */
  elemType: number;
  shape?: Dim[];
}

interface NodeRecord {
  opType: string;
  input: string[];
  output: string[];
  name: string;
  domain: string;
  attribute: object[];
  docString?: string;
}

/** A constant whose values are produced only when the model is serialised (`load` may be called once per save). */
export interface DeferredTensor {
  dtype: DType;
  dims: readonly number[];
  load: () => TypedArray;
}

interface InitializerRecord {
  name: string;
  tensor: TensorValue | DeferredTensor;
  /** A constant of the computation (e.g. the timestep frequencies), not a trained weight: never stored as float16. */
  constant?: boolean;
}

const isDeferred = (t: TensorValue | DeferredTensor): t is DeferredTensor => 'load' in t;
const elementCount = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** The values of an initializer, produced now for a deferred one (and checked against its dims). */
function materialise(name: string, t: TensorValue | DeferredTensor): TensorValue {
  if (!isDeferred(t)) return t;
  const v = { dtype: t.dtype, dims: t.dims, data: t.load() };
  checkTensor(name, v);
  return v;
}

export interface SaveOptions {
  /** Initializers at least this many bytes go to `<file>.data` (default: only when the model would exceed ~1.8 GB, or
   *  its deferred weights 256 MiB). */
  externalDataThreshold?: number;
}

const EXTERNAL_AUTO_LIMIT = 1.8 * 1024 ** 3;
const MMAP_ALIGN = 64 * 1024;
const MMAP_MIN_BYTES = 1024 * 1024;
/** Deferred weights over this go external even below the protobuf limit: inline they would all be in memory at once. */
const DEFERRED_INLINE_LIMIT = 256 * 1024 ** 2;

export class GraphBuilder {
  private readonly nodes: NodeRecord[] = [];
  private readonly initializers: InitializerRecord[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private readonly usedNames = new Set<string>();
  private counter = 0;
  private readonly opsets = new Map<string, number>();

  constructor(
    readonly name = 'graph',
    opset = 17,
  ) {
    this.opsets.set('', opset);
  }

  /** A fresh value name with the given prefix (unique within the graph). */
  fresh(prefix = 'v'): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`;
    while (this.usedNames.has(n));
    return n;
  }

  private claim(name: string): string {
    if (this.usedNames.has(name)) throw new Error(`ONNX graph '${this.name}': value name '${name}' is used twice`);
    this.usedNames.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), dtype, shape));
    return name;
  }

  /** Declares an existing value as a graph output (shape may use symbolic dims). */
  output(name: string, dtype: DType, shape?: readonly Dim[]): string {
    this.outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Adds a constant weight and returns its value name. */
  initializer(name: string, tensor: TensorValue, constant = false): string {
    checkTensor(name, tensor);
    this.initializers.push({ name: this.claim(name), tensor, ...(constant ? { constant } : {}) });
    return name;
  }

  /** Adds a constant weight whose values `tensor.load()` produces when the model is saved; returns its value name. */
  deferredInitializer(name: string, tensor: DeferredTensor): string {
    this.initializers.push({ name: this.claim(name), tensor: { dtype: tensor.dtype, dims: [...tensor.dims], load: tensor.load } });
    return name;
  }

  /**
   * Stores every float32 weight (not the `constF32` constants: timestep frequencies must stay exact) of at least
   * `minElements` values as float16 (round to nearest even) followed by
   * a Cast back to float32, so the file is half the size while the graph still computes in float32 (ONNX Runtime
   * folds the Casts into float32 constants when the session opens). Call once, after the graph is complete.
   */
  castWeightsToFloat16(minElements = 16): number {
    const casts: NodeRecord[] = [];
    for (const rec of this.initializers) {
      const t = rec.tensor;
      if (t.dtype !== 'float32' || elementCount(t.dims) < minElements || rec.constant) continue;
      const name = rec.name;
      const half = this.claim(`${name}::fp16`);
      rec.name = half;
      rec.tensor = isDeferred(t)
        ? { dtype: 'float16', dims: t.dims, load: () => float32ToFloat16Bits(t.load() as Float32Array) }
        : { dtype: 'float16', dims: t.dims, data: float32ToFloat16Bits(t.data as Float32Array) };
      casts.push({ opType: 'Cast', input: [half], output: [name], name: `${name}::cast`, domain: '', attribute: [attribute('to', DataType.float32 as number)] });
    }
    this.nodes.unshift(...casts);
    return casts.length;
  }

  /** Convenience for float32 constants. */
  /** Convenience for float32 constants of the computation (kept float32 by castWeightsToFloat16). */
  constF32(prefix: string, data: ArrayLike<number>, dims: readonly number[]): string {
    return this.initializer(this.fresh(prefix), { dtype: 'float32', dims, data: Float32Array.from(data) }, true);
  }

  constI64(prefix: string, data: readonly number[], dims: readonly number[] = [data.length]): string {
    return this.initializer(this.fresh(prefix), {
      dtype: 'int64',
      dims,
      data: BigInt64Array.from(data.map((x) => BigInt(x))),
    });
  }

  useOpset(domain: string, version: number): void {
    this.opsets.set(domain, version);
  }

  /**
   * Adds a node. `outputs` is a count (fresh names) or explicit names. Returns the output names.
   */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue> = {},
    outputs: number | readonly string[] = 1,
    domain = '',
    /** A note stored in the node's doc_string (ignored by runtimes; read by our graph rewrites). */
    docString?: string,
  ): string[] {
    const outNames =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.claim(this.fresh(opType.toLowerCase())))
        : outputs.map((o) => this.claim(o));
    this.nodes.push({
      opType,
      input: [...inputs],
      output: outNames,
      name: this.fresh(`${opType}_node`),
      domain,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      ...(docString ? { docString } : {}),
    });
    return outNames;
  }

  /** Single-output shorthand for `node`. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputName?: string): string {
    return this.node(opType, inputs, attrs, outputName ? [outputName] : 1)[0]!;
  }

  /** Serialised model bytes, all weights inline. */
  toBytes(meta: Record<string, string> = {}): Uint8Array {
    return ModelProto.encode(this.modelMessage(meta, () => null)).finish();
  }

  /** The declared graph inputs and outputs (name, ONNX element type, shape with symbolic dims as names), without
   *  producing any weight: how a multi-GB graph's interface is checked. */
  signature(): { inputs: ValueSignature[]; outputs: ValueSignature[] } {
    const sig = (v: object): ValueSignature => {
      const { name, type } = v as { name: string; type: { tensorType: { elemType: number; shape?: { dim: { dimValue?: number; dimParam?: string }[] } } } };
      return { name, elemType: type.tensorType.elemType, shape: type.tensorType.shape?.dim.map((d) => d.dimParam ?? d.dimValue!) };
    };
    return { inputs: this.inputs.map(sig), outputs: this.outputs.map(sig) };
  }

  /** Bytes of all initializer values (deferred ones counted from their dims, not produced). */
  weightBytes(): number {
    return this.initializers.reduce((s, i) => s + elementCount(i.tensor.dims) * BYTES_PER[i.tensor.dtype], 0);
  }

  /**
   * Writes `<path>` (and `<path>.data` when weights go external, per the ONNX external-data spec: each such
   * TensorProto has data_location EXTERNAL and external_data {location, offset, length}, offsets 64-byte aligned, and
   * 64 KiB aligned for tensors of 1 MiB or more).
   * Deferred initializers are produced, written and dropped one at a time.
   */
  save(path: string, meta: Record<string, string> = {}, options: SaveOptions = {}): void {
    const total = this.weightBytes();
    const deferred = this.initializers.reduce((s, i) => s + (isDeferred(i.tensor) ? elementCount(i.tensor.dims) * BYTES_PER[i.tensor.dtype] : 0), 0);
    const threshold = options.externalDataThreshold ?? (total > EXTERNAL_AUTO_LIMIT || deferred > DEFERRED_INLINE_LIMIT ? 1024 : Infinity);
    if (!Number.isFinite(threshold)) {
      writeFileSync(path, this.toBytes(meta));
      return;
    }
    const data = new ExternalDataWriter(`${path}.data`);
    try {
      const msg = this.modelMessage(meta, (t) => (elementCount(t.dims) * BYTES_PER[t.dtype] < threshold ? null : data.write(t.data)));
      writeFileSync(path, ModelProto.encode(msg).finish());
    } finally {
      data.close();
    }
  }

  private modelMessage(
    meta: Record<string, string>,
    external: (t: TensorValue) => { location: string; offset: number; length: number } | null,
  ) {
    const graph = {
      name: this.name,
      node: this.nodes,
      initializer: this.initializers.map(({ name, tensor }) => {
        const t = materialise(name, tensor);
        return tensorProto(name, t, external(t));
      }),
      input: this.inputs,
      output: this.outputs,
    };
    return ModelProto.create({
      irVersion: 8,
      producerName: 'magicportrait-studio',
      producerVersion: '0.1.0',
      graph,
      opsetImport: [...this.opsets].map(([domain, version]) => ({ domain, version })),
      metadataProps: Object.entries(meta).map(([key, value]) => ({ key, value })),
    });
  }
}

/**
 * Appends tensors to an ONNX external-data file: offsets 64-byte aligned, and 64 KiB aligned for tensors of 1 MiB or
 * more (the mmap granularity of Windows, a multiple of every other OS's page size), so ONNX Runtime's CPU provider
 * maps them from the file instead of copying them into memory.
 */
export class ExternalDataWriter {
  private readonly fd: number;
  private offset = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  /** Writes one tensor's bytes; returns its external_data entry. */
  write(data: ArrayBufferView): { location: string; offset: number; length: number } {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.length >= MMAP_MIN_BYTES) this.offset = Math.ceil(this.offset / MMAP_ALIGN) * MMAP_ALIGN;
    writeSync(this.fd, bytes, 0, bytes.length, this.offset);
    const entry = { location: basename(this.path), offset: this.offset, length: bytes.length };
    this.offset = Math.ceil((this.offset + bytes.length) / 64) * 64;
    return entry;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A TensorProto message (inline raw data, or external when `ext` is given). */
export function tensorMessage(name: string, t: TensorValue, ext: { location: string; offset: number; length: number } | null): object {
  return tensorProto(name, t, ext);
}

function valueInfo(name: string, dtype: DType, shape?: readonly Dim[]) {
  const tensorType: Record<string, unknown> = { elemType: DataType[dtype] };
  if (shape)
    tensorType.shape = { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType } };
}

const BYTES_PER: Record<DType, number> = { float32: 4, uint8: 1, int8: 1, int32: 4, int64: 8, bool: 1, float16: 2, float64: 8 };

function checkTensor(name: string, t: TensorValue): void {
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.byteLength !== n * BYTES_PER[t.dtype])
    throw new Error(
      `ONNX initializer '${name}': ${t.dtype}[${t.dims.join('x')}] needs ${n * BYTES_PER[t.dtype]} bytes, got ${t.data.byteLength}`,
    );
}

function tensorProto(
  name: string,
  t: TensorValue,
  ext: { location: string; offset: number; length: number } | null,
) {
  const base = { name, dims: [...t.dims], dataType: DataType[t.dtype] };
  if (ext)
    return {
      ...base,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: ext.location },
        { key: 'offset', value: String(ext.offset) },
        { key: 'length', value: String(ext.length) },
      ],
    };
  // raw_data is little-endian, which is the byte order of every platform Node runs on.
  return { ...base, rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
}

function isTensor(v: unknown): v is TensorValue {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'dims' in v && 'data' in v;
}

function attribute(name: string, v: AttrValue): object {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number')
    return Number.isInteger(v) ? { name, type: AttributeType.INT, i: v } : { name, type: AttributeType.FLOAT, f: v };
  if (Array.isArray(v)) {
    const arr = v as readonly number[];
    return arr.every(Number.isInteger)
      ? { name, type: AttributeType.INTS, ints: [...arr] }
      : { name, type: AttributeType.FLOATS, floats: [...arr] };
  }
  if (isTensor(v)) return { name, type: AttributeType.TENSOR, t: tensorProto(name, v, null) };
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: [...v.floats] };
  throw new Error(`ONNX attribute '${name}': unsupported value`);
}

/** IEEE half-precision bit patterns of float32 values (round to nearest even; overflow → ±inf, NaN kept). */
export function float32ToFloat16Bits(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const a = src.byteOffset % 4 ? Float32Array.from(src) : src;
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) h = sign | 0x7c00 | (mant ? 0x200 : 0);
    else {
      const e = exp - 112;
      if (e >= 0x1f) h = sign | 0x7c00;
      else if (e <= 0) {
        if (e < -10) h = sign;
        else {
          const m = mant | 0x800000;
          const shift = 14 - e;
          let v = m >>> shift;
          const rem = m & ((1 << shift) - 1);
          const halfway = 1 << (shift - 1);
          if (rem > halfway || (rem === halfway && v & 1)) v++;
          h = sign | v;
        }
      } else {
        let v = (e << 10) | (mant >>> 13);
        const rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem === 0x1000 && v & 1)) v++;
        h = sign | v;
      }
    }
    out[i] = h;
  }
  return out;
}
