/**
 * float16 compute graphs for accelerators, derived from a float32 ONNX model (ours: the graphs GraphBuilder writes).
 *
 * Every node computes in float16 — weights and activations, half the memory traffic, tensor-core matrix products —
 * except where float16 is not safe:
 *   - normalisation statistics and softmax: InstanceNormalization (the GroupNorms), LayerNormalization, Softmax,
 *     reductions, Sqrt run in float32 (their inputs cast up, their outputs cast down);
 *   - everything computed only from constants and integer inputs stays float32: the timestep embedding
 *     (t·ω reaches 999 rad; cos/sin of a float16 argument would be off by up to 0.25) and the time projections of
 *     every ResNet — tiny (1 × 1280) tensors;
 *   - the interface: graph inputs and outputs keep their types, so the sampler (its scheduler, CFG and latents are
 *     float32) is unchanged, and a float16 bank input stays float16 end to end.
 * Fused attention (com.microsoft.MultiHeadAttention) runs in float16; ONNX Runtime's CUDA flash / memory-efficient
 * kernels accumulate the softmax in float32 internally.
 *
 * float32 weights consumed in float16 are converted (round to nearest even); float16-stored weights (bundles written
 * with `weights: 'float16'`, whose graphs Cast them to float32) are used as stored, without a round trip. The result
 * is written with all weights as external data (streamed: one tensor in memory at a time), node order kept
 * topological, unused nodes and weights pruned. Only the weights of the source are read; nothing in it is executed.
 */
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MagicPortraitError } from '../errors';
import { ExternalDataWriter, float32ToFloat16Bits, tensorMessage } from './graph';
import { DataType, ModelProto } from './proto';

const F32 = DataType.float32;
const F16 = DataType.float16;

/** Ops whose numerics need float32 (statistics, softmax); their neighbours cast at the boundary. */
export const FLOAT32_OPS: readonly string[] = ['InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'Softmax', 'ReduceMean', 'ReduceSumSquare', 'ReduceSum', 'Sqrt', 'Pow', 'Cos', 'Sin', 'Exp', 'Log'];

/** Float inputs that are parameters of the op, not data, and must stay float32 (Resize: roi, scales). */
const FLOAT32_PARAM_INPUTS: Record<string, readonly number[]> = { Resize: [1, 2] };

export interface Float16Options {
  /** Compute in float16 (default true); false only applies `decomposeAttention`. */
  float16?: boolean;
  /** Op types kept in float32 (default FLOAT32_OPS). */
  float32Ops?: readonly string[];
  /**
   * Replace com.microsoft.MultiHeadAttention by MatMul → Softmax (float32) → MatMul, split into chunks of at most this
   * many queries where the node's doc_string gives its query count (GraphBuilder writes `queries=N`): for providers
   * without the fused kernel (Core ML) or with an unreliable one (WebGPU, see the README). 0 / undefined: keep it.
   */
  decomposeAttention?: number;
}

export interface Float16Report {
  nodes: number;
  float16Nodes: number;
  float32Nodes: number;
  /** Cast nodes inserted at precision boundaries. */
  casts: number;
  /** MultiHeadAttention nodes replaced by explicit attention. */
  decomposed: number;
  /** Bytes of weights in the result (float16 where float16 nodes read them). */
  weightBytes: number;
}

// ------------------------------------------------------------------------------------------------------------------
// Decoded model (plain objects from protobufjs)

interface Attr {
  name: string;
  type?: number;
  i?: number;
  f?: number;
  ints?: number[];
  [k: string]: unknown;
}
interface Node {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: Attr[];
  docString?: string;
}
interface Tensor {
  name: string;
  dims?: number[];
  dataType: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  externalData?: { key: string; value: string }[];
  dataLocation?: number;
}
interface ValueInfo {
  name: string;
  type?: { tensorType?: { elemType?: number; shape?: unknown } };
}
interface Graph {
  name?: string;
  node: Node[];
  initializer: Tensor[];
  input: ValueInfo[];
  output: ValueInfo[];
}
interface Model {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  graph: Graph;
  opsetImport?: { domain?: string; version: number }[];
  metadataProps?: { key: string; value: string }[];
}

function decodeModel(path: string): Model {
  let msg;
  try {
    msg = ModelProto.decode(readFileSync(path));
  } catch (e) {
    throw new MagicPortraitError(`${path} is not a readable ONNX model: ${(e as Error).message}`, 'bad-model');
  }
  const m = ModelProto.toObject(msg, { longs: Number, arrays: true }) as Model;
  for (const k of ['node', 'initializer', 'input', 'output'] as const) m.graph[k] ??= [] as never;
  return m;
}

/** Bytes of an initializer: inline raw data, typed fields, or its external data file. */
function tensorBytes(t: Tensor, baseDir: string, files: Map<string, number>): Uint8Array {
  if (t.dataLocation === 1 || t.externalData?.length) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
    const location = kv.get('location');
    if (!location || location.includes('..') || location.startsWith('/')) throw new MagicPortraitError(`Initializer '${t.name}' names an external file outside the model's folder.`, 'bad-model');
    const offset = Number(kv.get('offset') ?? 0);
    const length = Number(kv.get('length'));
    let fd = files.get(location);
    if (fd === undefined) files.set(location, (fd = openSync(join(baseDir, location), 'r')));
    const buf = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const n = readSync(fd, buf, done, length - done, offset + done);
      if (n === 0) throw new MagicPortraitError(`${location} ended early reading initializer '${t.name}'.`, 'bad-model');
      done += n;
    }
    return buf;
  }
  if (t.rawData) return t.rawData;
  if (t.dataType === F32 && t.floatData) return new Uint8Array(Float32Array.from(t.floatData).buffer);
  if (t.dataType === DataType.int64 && t.int64Data) return new Uint8Array(BigInt64Array.from(t.int64Data.map(BigInt)).buffer);
  if (t.int32Data) return new Uint8Array(Int32Array.from(t.int32Data).buffer);
  return new Uint8Array(0);
}

const attr = (n: Node, name: string) => n.attribute?.find((a) => a.name === name);

// ------------------------------------------------------------------------------------------------------------------

/**
 * Writes `dst` (+ `dst.data`): the float16 compute version of the float32 model `src`. See the module comment.
 */
export function convertToFloat16(src: string, dst: string, o: Float16Options = {}): Float16Report {
  const model = decodeModel(src);
  const g = model.graph;
  const decomposed = o.decomposeAttention ? decomposeAttention(g, o.decomposeAttention) : 0;
  const keep32 = new Set(o.float16 === false ? ['*'] : (o.float32Ops ?? FLOAT32_OPS));
  const inits = new Map(g.initializer.map((t) => [t.name, t]));

  // element types of every value, and whether it depends on a float graph input ("dynamic")
  const type = new Map<string, number>();
  const dynamic = new Set<string>();
  for (const v of g.input) {
    const et = v.type?.tensorType?.elemType ?? 0;
    type.set(v.name, et);
    if (et === F32 || et === F16) dynamic.add(v.name);
  }
  for (const t of g.initializer) type.set(t.name, t.dataType);
  for (const n of g.node) {
    const dyn = n.input.some((i) => i && dynamic.has(i));
    let et: number;
    if (n.opType === 'Shape' || n.opType === 'Size') et = DataType.int64;
    else if (n.opType === 'Cast') et = Number(attr(n, 'to')?.i ?? 0);
    else if (n.opType === 'Constant') et = (attr(n, 'value') as { t?: Tensor } | undefined)?.t?.dataType ?? F32;
    else et = n.input.map((i) => type.get(i) ?? 0).find((t) => t === F32 || t === F16) ?? type.get(n.input[0] ?? '') ?? 0;
    for (const out of n.output) {
      type.set(out, et);
      if (dyn) dynamic.add(out);
    }
  }
  const isFloat = (name: string) => type.get(name) === F32 || type.get(name) === F16;

  // precision of each node: float16 unless its op needs float32 or it only computes from constants / integer inputs
  const prec = (n: Node): 16 | 32 | 0 => {
    const floatIn = n.input.some((i) => i && isFloat(i));
    if (n.opType === 'Cast' || !floatIn) return 0; // casts and integer ops keep their types
    if (keep32.has(n.opType) || keep32.has('*')) return 32;
    if (!n.input.some((i) => i && dynamic.has(i) && isFloat(i)) && !n.output.some((x) => dynamic.has(x))) return 32;
    return 16;
  };

  const used = new Set<string>([...g.input.map((v) => v.name), ...g.initializer.map((t) => t.name), ...g.node.flatMap((n) => n.output)]);
  const freshName = (base: string) => {
    let n = base;
    for (let i = 1; used.has(n); i++) n = `${base}_${i}`;
    used.add(n);
    return n;
  };
  // the name under which each value exists in each float precision
  const as16 = new Map<string, string>();
  const as32 = new Map<string, string>();
  const newInits: { name: string; from: Tensor; convert: boolean }[] = [];
  const nodes: Node[] = [];
  let casts = 0;
  const cast = (from: string, to: 16 | 32): string => {
    const out = freshName(`${from}::f${to}`);
    nodes.push({ opType: 'Cast', input: [from], output: [out], name: freshName(`${out}::cast`), attribute: [{ name: 'to', type: 2, i: to === 16 ? F16 : F32 }] });
    casts++;
    return out;
  };
  /** `name` in precision p, casting (or converting a weight) on first request. */
  const want = (name: string, p: 16 | 32): string => {
    const t = type.get(name);
    if (t === (p === 16 ? F16 : F32)) return name;
    const have = (p === 16 ? as16 : as32).get(name);
    if (have) return have;
    let v: string;
    const init = inits.get(name);
    if (init && t === F32 && p === 16) {
      v = freshName(`${name}::fp16`);
      newInits.push({ name: v, from: init, convert: true });
    } else {
      const src = (p === 16 ? as32 : as16).get(name) ?? name;
      v = cast(src, p);
    }
    (p === 16 ? as16 : as32).set(name, v);
    return v;
  };

  let n16 = 0;
  let n32 = 0;
  for (const n of g.node) {
    const p = prec(n);
    if (p === 16) n16++;
    else if (p === 32) n32++;
    const params = FLOAT32_PARAM_INPUTS[n.opType] ?? [];
    const inputs = n.input.map((i, k) => (p && i && isFloat(i) && !params.includes(k) ? want(i, p) : i));
    nodes.push({ ...n, input: inputs });
    if (p) for (const out of n.output) if (isFloat(out)) type.set(out, p === 16 ? F16 : F32);
    // a Cast of a float16 value to float32 (float16-stored weights, the float16 bank): float16 readers take the
    // float16 value itself (float16 → float32 is exact, so this is the same number)
    if (n.opType === 'Cast' && Number(attr(n, 'to')?.i) === F32 && type.get(n.input[0]!) === F16) as16.set(n.output[0]!, n.input[0]!);
  }
  for (const v of g.output) {
    const declared = v.type?.tensorType?.elemType;
    if ((declared === F32 || declared === F16) && type.get(v.name) !== declared) {
      // the producer now computes in the other precision: rename its output and cast back under the declared name
      const inner = freshName(`${v.name}::f${declared === F32 ? 16 : 32}`);
      for (const n of nodes) {
        n.output = n.output.map((x) => (x === v.name ? inner : x));
        n.input = n.input.map((x) => (x === v.name ? inner : x));
      }
      for (const m of [as16, as32]) for (const [k, x] of m) if (x === v.name) m.set(k, inner);
      nodes.push({ opType: 'Cast', input: [inner], output: [v.name], name: freshName(`${v.name}::out`), attribute: [{ name: 'to', type: 2, i: declared }] });
      casts++;
    }
  }

  // prune what no output needs
  const needed = new Set(g.output.map((v) => v.name));
  const live: Node[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.output.some((x) => needed.has(x))) continue;
    live.push(n);
    for (const x of n.input) if (x) needed.add(x);
  }
  live.reverse();

  // write: every initializer the live graph reads, converted where asked, one at a time
  const baseDir = dirname(src);
  const files = new Map<string, number>();
  const data = new ExternalDataWriter(`${dst}.data`);
  let weightBytes = 0;
  const initializer: object[] = [];
  try {
    const emit = (name: string, from: Tensor, convert: boolean) => {
      if (!needed.has(name)) return;
      let bytes = tensorBytes(from, baseDir, files);
      let dtype = from.dataType;
      if (convert) {
        const f = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        bytes = new Uint8Array(float32ToFloat16Bits(f).buffer);
        dtype = F16;
      }
      weightBytes += bytes.byteLength;
      const dims = from.dims ?? [];
      const small = bytes.byteLength < 1024;
      const t = { dtype: dtypeName(dtype), dims, data: bytes };
      initializer.push(tensorMessage(name, t, small ? null : data.write(bytes)));
    };
    for (const t of g.initializer) emit(t.name, t, false);
    for (const x of newInits) emit(x.name, x.from, x.convert);
  } finally {
    data.close();
    for (const fd of files.values()) closeSync(fd);
  }
  const out = ModelProto.create({
    irVersion: model.irVersion ?? 8,
    producerName: model.producerName ?? 'magicportrait-studio',
    producerVersion: model.producerVersion ?? '',
    graph: { name: g.name ?? 'graph', node: live, initializer, input: g.input, output: g.output },
    opsetImport: model.opsetImport ?? [],
    metadataProps: [...(model.metadataProps ?? []).filter((m) => m.key !== 'magicportrait.compute'), { key: 'magicportrait.compute', value: o.float16 === false ? 'float32' : 'float16' }],
  });
  writeFileSync(dst, ModelProto.encode(out).finish());
  return { nodes: live.length, float16Nodes: n16, float32Nodes: n32, casts, decomposed, weightBytes };
}

/**
 * MultiHeadAttention(q, k, v) [(N, L, C), (N, Lk, C) ×2, num_heads h, scale s] →
 * heads split, softmax(s·q·kᵀ)·v per query chunk, heads merged: the same function in standard ops.
 */
function decomposeAttention(g: Graph, chunk: number): number {
  const names = new Set([...g.input.map((v) => v.name), ...g.initializer.map((t) => t.name), ...g.node.flatMap((n) => n.output)]);
  const fresh = (base: string) => {
    let n = base;
    for (let i = 1; names.has(n); i++) n = `${base}_${i}`;
    names.add(n);
    return n;
  };
  const i64 = (base: string, values: number[]) => {
    const name = fresh(base);
    g.initializer.push({ name, dims: [values.length], dataType: DataType.int64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  };
  const f32 = (base: string, value: number) => {
    const name = fresh(base);
    g.initializer.push({ name, dims: [], dataType: F32, rawData: new Uint8Array(Float32Array.of(value).buffer) });
    return name;
  };
  let count = 0;
  const out: Node[] = [];
  for (const n of g.node) {
    if (n.opType !== 'MultiHeadAttention' || n.input.length !== 3 || n.input.some((x) => !x)) {
      out.push(n);
      continue;
    }
    count++;
    const h = Number(attr(n, 'num_heads')?.i);
    const scaleAttr = attr(n, 'scale')?.f;
    const [q, k, v] = n.input as [string, string, string];
    const id = fresh(`${n.name ?? 'mha'}::explicit`);
    const op = (opType: string, input: string[], attribute: Attr[] = [], outputs = 1): string[] => {
      const output = Array.from({ length: outputs }, () => fresh(`${id}/${opType}`));
      out.push({ opType, input, output, name: fresh(`${id}/${opType}_node`), attribute });
      return output;
    };
    const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
    const heads = (x: string, perm: number[]) => op('Transpose', op('Reshape', [x, i64(`${id}/heads`, [0, 0, h, -1])]), [ints('perm', perm)])[0]!;
    const qh = heads(q, [0, 2, 1, 3]);
    const kt = heads(k, [0, 2, 3, 1]);
    const vh = heads(v, [0, 2, 1, 3]);
    // the default scale is head_dim^-½; head_dim is C / h, known only from shapes: scale q by it through a Shape op
    let scale: string;
    if (scaleAttr) scale = f32(`${id}/scale`, scaleAttr);
    else {
      const d = op('Cast', op('Gather', [op('Shape', [qh])[0]!, i64(`${id}/last`, [3])]), [{ name: 'to', type: 2, i: F32 }])[0]!;
      scale = op('Reciprocal', op('Sqrt', [d]))[0]!;
    }
    const qs = op('Mul', [qh, scale])[0]!;
    const L = Number(/queries=(\d+)/.exec(n.docString ?? '')?.[1] ?? 0);
    const parts: string[] = [];
    if (L > chunk) {
      const sizes: number[] = [];
      for (let s0 = 0; s0 < L; s0 += chunk) sizes.push(Math.min(chunk, L - s0));
      parts.push(...op('Split', [qs, i64(`${id}/chunks`, sizes)], [{ name: 'axis', type: 2, i: 2 }], sizes.length));
    } else parts.push(qs);
    const mixed = parts.map((qc) => op('MatMul', [op('Softmax', [op('MatMul', [qc, kt])[0]!], [{ name: 'axis', type: 2, i: -1 }])[0]!, vh])[0]!);
    const all = mixed.length > 1 ? op('Concat', mixed, [{ name: 'axis', type: 2, i: 2 }])[0]! : mixed[0]!;
    out.push({ opType: 'Reshape', input: [op('Transpose', [all], [ints('perm', [0, 2, 1, 3])])[0]!, i64(`${id}/merge`, [0, 0, -1])], output: [n.output[0]!], name: fresh(`${id}/merge_node`) });
  }
  g.node = out;
  return count;
}

function dtypeName(code: number): 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool' | 'float64' {
  const e = Object.entries(DataType).find(([, v]) => v === code);
  if (!e) throw new MagicPortraitError(`ONNX data type ${code} is not supported by the float16 converter.`, 'bad-model');
  return e[0] as ReturnType<typeof dtypeName>;
}
