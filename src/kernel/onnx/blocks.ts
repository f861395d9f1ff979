/**
 * Reusable network building blocks on top of GraphBuilder, with weights taken from a PyTorch-style state dict.
 *
 * Every block reads its parameters through a `WeightLookup`, which checks each key's shape against the architecture
 * and records which keys were used, so an importer can prove full key coverage (the reference loads every checkpoint
 * with strict=False, where a renamed key silently leaves a layer at its initial value).
 *
 * Layout conventions (PyTorch's): images are (N, C, H, W); token sequences are (N, L, C) with token index
 * `row * W + col`; Linear weights are stored [out, in] in the state dict and transposed once at build time.
 */
import { MagicPortraitError } from '../errors';
import { GraphBuilder, floatAttr } from './graph';

// ------------------------------------------------------------------------------------------------------------------
// State dicts

/** One tensor of a checkpoint. `float32()` returns row-major values and may read lazily from the file. */
export interface StateTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  float32(): Float32Array;
}

/** A state dict: parameter name → tensor (what `torch.load` gives for a `.pth` of `model.state_dict()`). */
export type StateDict = ReadonlyMap<string, StateTensor>;

/** An in-memory state dict from plain arrays (tests, the demo weights, converters). */
export function stateDictFromArrays(
  entries: Iterable<readonly [string, { shape: readonly number[]; data: Float32Array }]>,
): StateDict {
  const out = new Map<string, StateTensor>();
  for (const [key, { shape, data }] of entries) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`stateDictFromArrays: '${key}' has ${data.length} values for shape [${shape.join(', ')}]`);
    out.set(key, { dtype: 'float32', shape: [...shape], float32: () => data });
  }
  return out;
}

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;

/** What an import did with each key of a file. */
export interface KeyCoverage {
  /** The file (or label) the keys came from. */
  source: string;
  /** Keys the architecture read, with their shapes. */
  used: { key: string; shape: number[] }[];
  /** Keys in the file that are deliberately not used (e.g. modules the reference builds but never runs). */
  ignored: { key: string; reason: string }[];
  /** Keys in the file that the architecture does not know at all; also ignored, but worth a warning. */
  unexpected: string[];
  /** Number of keys in the file. */
  total: number;
}

/**
 * State-dict access for graph building: shape-checked reads that record usage, and the coverage report.
 */
export class WeightLookup {
  private readonly used = new Map<string, number[]>();
  private readonly ignoreRules: { test: (key: string) => boolean; reason: string }[] = [];

  constructor(
    readonly stateDict: StateDict,
    /** Named in every error and in the report (a file path or a label). */
    readonly source: string,
  ) {}

  has(key: string): boolean {
    return this.stateDict.has(key);
  }

  /**
   * The row-major float32 values of `key`, which must have exactly `shape`. Throws MagicPortraitError naming the
   * key, the expected and the actual shape.
   */
  tensor(key: string, shape: readonly number[]): Float32Array {
    const t = this.stateDict.get(key);
    if (!t) {
      const hint = this.nearMiss(key);
      throw new MagicPortraitError(
        `${this.source}: key '${key}' is missing (expected shape ${fmtShape(shape)}).` +
          (hint ? ` The file has '${hint}': was it saved with a different module prefix?` : '') +
          ' The reference would load this file with strict=False and silently keep the untrained value.',
        'missing-key',
      );
    }
    const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!same)
      throw new MagicPortraitError(
        `${this.source}: key '${key}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}.`,
        'bad-shape',
      );
    let data: Float32Array;
    try {
      data = t.float32();
    } catch (e) {
      if (e instanceof MagicPortraitError) throw e;
      throw new MagicPortraitError(`${this.source}: key '${key}' (${t.dtype}) could not be read: ${(e as Error).message}`, 'bad-file');
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n)
      throw new MagicPortraitError(`${this.source}: key '${key}' holds ${data.length} values, shape ${fmtShape(shape)} needs ${n}.`, 'bad-file');
    this.used.set(key, [...shape]);
    return data;
  }

  /**
   * Whether `param` leaves reading to save time (`deferred`), so a build holds the graph and not the weights. Only
   * sources that can produce a tensor at any time and any number of times (generated weights) stream.
   */
  get streams(): boolean {
    return false;
  }

  /** The values of `key` as a reader for later (the graph's save); missing keys and wrong shapes still throw now. */
  deferred(key: string, shape: readonly number[]): () => Float32Array {
    const data = this.tensor(key, shape);
    return () => data;
  }

  /** Records a key as read (for sources that produce tensors without a state dict). */
  protected markUsed(key: string, shape: readonly number[]): void {
    this.used.set(key, [...shape]);
  }

  /** Every key read so far, with the shape it was read as, in first-read order. */
  usedKeys(): ReadonlyMap<string, readonly number[]> {
    return this.used;
  }

  /** Marks keys matching `rule` (a prefix, a RegExp or a predicate) as deliberately unused, with the reason. */
  ignore(rule: string | RegExp | ((key: string) => boolean), reason: string): void {
    const test =
      typeof rule === 'string' ? (k: string) => k.startsWith(rule) : rule instanceof RegExp ? (k: string) => rule.test(k) : rule;
    this.ignoreRules.push({ test, reason });
  }

  coverage(): KeyCoverage {
    const report: KeyCoverage = { source: this.source, used: [], ignored: [], unexpected: [], total: this.stateDict.size };
    for (const key of this.stateDict.keys()) {
      const shape = this.used.get(key);
      if (shape) {
        report.used.push({ key, shape });
        continue;
      }
      const rule = this.ignoreRules.find((r) => r.test(key));
      if (rule) report.ignored.push({ key, reason: rule.reason });
      else report.unexpected.push(key);
    }
    return report;
  }

  private nearMiss(key: string): string | undefined {
    for (const k of this.stateDict.keys()) if (k.endsWith(`.${key}`) || key.endsWith(`.${k}`)) return k;
    return undefined;
  }
}

/** A human-readable key-coverage report (what an import prints). */
export function formatCoverage(c: KeyCoverage, maxListed = 12): string {
  const lines = [
    `${c.source}: ${c.total} keys — ${c.used.length} used, ${c.ignored.length} ignored (known unused), ${c.unexpected.length} unexpected`,
  ];
  const byReason = new Map<string, string[]>();
  for (const { key, reason } of c.ignored) byReason.set(reason, [...(byReason.get(reason) ?? []), key]);
  for (const [reason, keys] of byReason) {
    const groups = [...new Set(keys.map((k) => k.split('.').slice(0, 2).join('.')))];
    lines.push(`  ignored ${keys.length} keys (${reason}): ${groups.join(', ')}`);
  }
  if (c.unexpected.length) {
    lines.push(`  WARNING unexpected keys, not part of the architecture (ignored):`);
    for (const k of c.unexpected.slice(0, maxListed)) lines.push(`    ${k}`);
    if (c.unexpected.length > maxListed) lines.push(`    … and ${c.unexpected.length - maxListed} more`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------------------------
// Building blocks

/** Where blocks add nodes and read weights. */
export interface BlockContext {
  g: GraphBuilder;
  w: WeightLookup;
}

const paramCache = new WeakMap<GraphBuilder, Map<string, string>>();

/** A state-dict tensor as a graph initializer, named after its key (shared when the same key is used twice). */
export function param(
  ctx: BlockContext,
  key: string,
  shape: readonly number[],
  as?: { dims?: readonly number[]; transpose2d?: boolean },
): string {
  let cache = paramCache.get(ctx.g);
  if (!cache) paramCache.set(ctx.g, (cache = new Map()));
  const name = as?.transpose2d ? `${key}.T` : as?.dims ? `${key}:${as.dims.join('x')}` : key;
  const hit = cache.get(name);
  if (hit) return hit;
  const [rows, cols] = shape as [number, number];
  const dims = as?.transpose2d ? [cols, rows] : (as?.dims ?? shape);
  const prepare = (data: Float32Array) => (as?.transpose2d ? transpose2d(data, rows, cols) : data);
  if (ctx.w.streams) {
    const read = ctx.w.deferred(key, shape);
    ctx.g.deferredInitializer(name, { dtype: 'float32', dims, load: () => prepare(read()) });
  } else ctx.g.initializer(name, { dtype: 'float32', dims, data: prepare(ctx.w.tensor(key, shape)) });
  cache.set(name, name);
  return name;
}

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = data[r * cols + c]!;
  return t;
}

export interface Conv2dOptions {
  inCh: number;
  outCh: number;
  kernel: number;
  stride?: number;
  /** Symmetric zero padding; default `(kernel - 1) / 2`. */
  pad?: number;
  bias?: boolean;
}

/** `nn.Conv2d` with weights `<key>.weight` [out, in, k, k] and `<key>.bias` [out]. */
export function conv2d(ctx: BlockContext, x: string, key: string, o: Conv2dOptions): string {
  const k = o.kernel;
  const pad = o.pad ?? (k - 1) / 2;
  const inputs = [x, param(ctx, `${key}.weight`, [o.outCh, o.inCh, k, k])];
  if (o.bias ?? true) inputs.push(param(ctx, `${key}.bias`, [o.outCh]));
  return ctx.g.op('Conv', inputs, {
    kernel_shape: [k, k],
    strides: [o.stride ?? 1, o.stride ?? 1],
    pads: [pad, pad, pad, pad],
    dilations: [1, 1],
    group: 1,
  });
}

/** `nn.Linear` over the last axis: `<key>.weight` [out, in] (stored transposed), optional `<key>.bias`. */
export function linear(ctx: BlockContext, x: string, key: string, inDim: number, outDim: number, bias = true): string {
  const y = ctx.g.op('MatMul', [x, param(ctx, `${key}.weight`, [outDim, inDim], { transpose2d: true })]);
  return bias ? ctx.g.op('Add', [y, param(ctx, `${key}.bias`, [outDim])]) : y;
}

/**
 * `nn.GroupNorm(groups, channels, eps, affine)` on (N, C, ...): statistics per sample and group over the group's
 * channels and all positions (InstanceNormalization over an (N, G, -1) view, then the per-channel affine).
 */
export function groupNorm(ctx: BlockContext, x: string, key: string, channels: number, groups: number, eps: number): string {
  const { g } = ctx;
  if (channels % groups !== 0) throw new Error(`groupNorm ${key}: ${channels} channels do not split into ${groups} groups`);
  const grouped = g.op('Reshape', [x, g.constI64('gn_shape', [0, groups, -1])]);
  const normed = g.op('InstanceNormalization', [grouped, ones(g, groups), zeros(g, groups)], { epsilon: floatAttr(eps) });
  const back = g.op('Reshape', [normed, g.op('Shape', [x])]);
  const gamma = param(ctx, `${key}.weight`, [channels], { dims: [channels, 1, 1] });
  const beta = param(ctx, `${key}.bias`, [channels], { dims: [channels, 1, 1] });
  return g.op('Add', [g.op('Mul', [back, gamma]), beta]);
}

/** `nn.LayerNorm(dim, eps)` over the last axis, with `<key>.weight` and `<key>.bias`. */
export function layerNorm(ctx: BlockContext, x: string, key: string, dim: number, eps: number): string {
  return ctx.g.op('LayerNormalization', [x, param(ctx, `${key}.weight`, [dim]), param(ctx, `${key}.bias`, [dim])], {
    axis: -1,
    epsilon: floatAttr(eps),
  });
}

function ones(g: GraphBuilder, n: number): string {
  return g.constF32('ones', new Float32Array(n).fill(1), [n]);
}
function zeros(g: GraphBuilder, n: number): string {
  return g.constF32('zeros', new Float32Array(n), [n]);
}

/** SiLU (swish): x·sigmoid(x). */
export function silu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])]);
}

/** Exact (erf) GELU, as `torch.nn.functional.gelu` by default; ORT fuses this pattern into one kernel. */
export function gelu(g: GraphBuilder, x: string): string {
  const e = g.op('Erf', [g.op('Div', [x, g.constF32('sqrt2', [Math.SQRT2], [])])]);
  const half = g.op('Mul', [x, g.constF32('half', [0.5], [])]);
  return g.op('Mul', [half, g.op('Add', [e, g.constF32('one', [1], [])])]);
}

/**
 * diffusers `FeedForward` with GEGLU: `<key>.net.0.proj` Linear(dim → 2·inner), split into [a, gate],
 * `a · gelu(gate)`, then `<key>.net.2` Linear(inner → dim).
 */
export function gegluFeedForward(ctx: BlockContext, x: string, key: string, dim: number, inner = 4 * dim): string {
  const { g } = ctx;
  const h = linear(ctx, x, `${key}.net.0.proj`, dim, 2 * inner);
  const [a, gate] = g.node('Split', [h, g.constI64('split', [inner, inner])], { axis: -1 }, 2) as [string, string];
  return linear(ctx, g.op('Mul', [a, gelu(g, gate)]), `${key}.net.2`, inner, dim);
}

/** (N, C, H, W) → (N, H·W, C) tokens, index row·W + col. */
export function toTokens(g: GraphBuilder, x: string): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.constI64('tok_shape', [0, 0, -1])])], { perm: [0, 2, 1] });
}

/** (N, H·W, C) tokens → the (N, C, H, W) shape of `like`. */
export function fromTokens(g: GraphBuilder, t: string, like: string): string {
  return g.op('Reshape', [g.op('Transpose', [t], { perm: [0, 2, 1] }), g.op('Shape', [like])]);
}

export interface AttentionOptions {
  dim: number;
  heads: number;
  /** Key/value source tokens (N, L', contextDim) for cross-attention; default: self-attention on x. */
  context?: string;
  contextDim?: number;
  /**
   * Extra key/value tokens (N, L_extra, dim) appended after the self tokens — the reference-attention mechanism
   * (§7.2): K and V come from concat([x, extra]) through the same to_k / to_v.
   */
  extraKV?: string;
  /** Return the (N, heads, L_q, L_kv) softmax probabilities as a value (forces the explicit, unfused form). */
  keepProbs?: boolean;
  /** Bias on to_q/to_k/to_v (diffusers default: none). */
  qkvBias?: boolean;
  /**
   * Compute the heads in this many chunks (default 1), each with its own (N, heads/chunks, L, L') scores. Whether
   * that lowers peak memory depends on ONNX Runtime's execution order: for the GGE at L = 4096 it did not, and it
   * cost CPU time, so prefer `fused` when the probabilities are not needed.
   */
  headChunks?: number;
  /**
   * A reduction applied inside the graph to each chunk's (N, h, L_q, L_kv) probabilities (it must keep axis 1);
   * the results are concatenated over heads and returned as `probsReduced`.
   */
  reduceProbs?: (g: GraphBuilder, probs: string) => string;
  /**
   * Use ONNX Runtime's fused `com.microsoft.MultiHeadAttention` kernel (CPU and CUDA): about 3× less CPU time at
   * L = 4096 and no L×L' tensor in memory, but the probabilities cannot be tapped.
   */
  fused?: boolean;
}

export interface AttentionValues {
  /** (N, L, dim), after `to_out.0`. */
  out: string;
  /** (N, heads, L_q, L_kv) when `keepProbs`. */
  probs?: string;
  /** `reduceProbs` of the probabilities, concatenated over heads. */
  probsReduced?: string;
}

/** (N, L, heads·d) → (N, heads, L, d), or (N, heads, d, L) with `keysLast`. */
export function splitHeads(g: GraphBuilder, x: string, heads: number, headDim: number, keysLast = false): string {
  const r = g.op('Reshape', [x, g.constI64('heads_shape', [0, 0, heads, headDim])]);
  return g.op('Transpose', [r], { perm: keysLast ? [0, 2, 3, 1] : [0, 2, 1, 3] });
}

/** (N, heads, L, d) → (N, L, heads·d). */
export function mergeHeads(g: GraphBuilder, x: string, heads: number, headDim: number): string {
  const t = g.op('Transpose', [x], { perm: [0, 2, 1, 3] });
  return g.op('Reshape', [t, g.constI64('merge_shape', [0, 0, heads * headDim])]);
}

/**
 * diffusers `Attention` (AttnProcessor semantics): `<key>.to_q/to_k/to_v` Linear without bias, scale d^-0.5,
 * softmax over keys, `<key>.to_out.0` Linear with bias. Explicit MatMul/Softmax so the probabilities can be tapped.
 */
export function attention(ctx: BlockContext, x: string, key: string, o: AttentionOptions): AttentionValues {
  const { g } = ctx;
  const d = o.dim / o.heads;
  if (!Number.isInteger(d)) throw new Error(`attention ${key}: dim ${o.dim} does not split into ${o.heads} heads`);
  let kvSrc = o.context ?? x;
  const kvDim = o.context ? (o.contextDim ?? o.dim) : o.dim;
  if (o.extraKV) kvSrc = g.op('Concat', [kvSrc, o.extraKV], { axis: 1 });
  const bias = o.qkvBias ?? false;
  const q = linear(ctx, x, `${key}.to_q`, o.dim, o.dim, bias);
  const k = linear(ctx, kvSrc, `${key}.to_k`, kvDim, o.dim, bias);
  const v = linear(ctx, kvSrc, `${key}.to_v`, kvDim, o.dim, bias);
  if (o.fused) {
    if (o.keepProbs || o.reduceProbs) throw new Error(`attention ${key}: the fused kernel cannot expose probabilities`);
    g.useOpset('com.microsoft', 1);
    const mixed = g.node('MultiHeadAttention', [q, k, v], { num_heads: o.heads, scale: floatAttr(1 / Math.sqrt(d)) }, 1, 'com.microsoft')[0]!;
    return { out: linear(ctx, mixed, `${key}.to_out.0`, o.dim, o.dim, true) };
  }
  // Scale q (L·d values) rather than the L·L' scores.
  const qh = g.op('Mul', [splitHeads(g, q, o.heads, d), g.constF32('attn_scale', [1 / Math.sqrt(d)], [])]);
  const kh = splitHeads(g, k, o.heads, d, true);
  const vh = splitHeads(g, v, o.heads, d);
  const chunks = o.headChunks ?? 1;
  if (o.heads % chunks !== 0) throw new Error(`attention ${key}: ${o.heads} heads do not split into ${chunks} chunks`);
  if (o.keepProbs && chunks !== 1) throw new Error(`attention ${key}: keepProbs needs headChunks = 1`);
  const split = (t: string) => (chunks === 1 ? [t] : g.node('Split', [t], { axis: 1 }, chunks));
  const [qc, kc, vc] = [split(qh), split(kh), split(vh)];
  const mixedParts: string[] = [];
  const reduced: string[] = [];
  let probs: string | undefined;
  for (let i = 0; i < chunks; i++) {
    const p = g.op('Softmax', [g.op('MatMul', [qc[i]!, kc[i]!])], { axis: -1 });
    mixedParts.push(g.op('MatMul', [p, vc[i]!]));
    if (o.reduceProbs) reduced.push(o.reduceProbs(g, p));
    if (chunks === 1) probs = p;
  }
  const mixed = chunks === 1 ? mixedParts[0]! : g.op('Concat', mixedParts, { axis: 1 });
  const out = linear(ctx, mergeHeads(g, mixed, o.heads, d), `${key}.to_out.0`, o.dim, o.dim, true);
  const probsReduced = o.reduceProbs ? (chunks === 1 ? reduced[0]! : g.op('Concat', reduced, { axis: 1 })) : undefined;
  return { out, probs: o.keepProbs ? probs : undefined, probsReduced };
}

/** Nearest-neighbour ×2 upsampling of (N, C, H, W), as `F.interpolate(scale_factor=2, mode='nearest')`. */
export function upsampleNearest2x(g: GraphBuilder, x: string): string {
  return g.op('Resize', [x, '', g.constF32('up_scales', [1, 1, 2, 2], [4])], {
    mode: 'nearest',
    nearest_mode: 'floor',
    coordinate_transformation_mode: 'asymmetric',
  });
}

/** diffusers `Downsample2D` with a conv: 3×3, stride 2, padding 1 (`<key>.weight`, `<key>.bias`). */
export function downsampleConv(ctx: BlockContext, x: string, key: string, inCh: number, outCh = inCh): string {
  return conv2d(ctx, x, key, { inCh, outCh, kernel: 3, stride: 2, pad: 1 });
}

/** diffusers `Upsample2D` with a conv: nearest ×2 then 3×3 conv (`<key>.weight`, `<key>.bias`). */
export function upsampleConv(ctx: BlockContext, x: string, key: string, inCh: number, outCh = inCh): string {
  return conv2d(ctx, upsampleNearest2x(ctx.g, x), key, { inCh, outCh, kernel: 3 });
}

/** Per-position L2 norm over the channel axis of (N, C, H, W) → (N, H, W), or the last axis of tokens. */
export function channelNorm(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Sqrt', [g.op('ReduceSumSquare', [x], { axes: [axis], keepdims: 0 })]);
}

export interface SpatialTransformerTaps {
  /** norm1 output tokens (N, L, C): the self-attention input. */
  tokens?: string;
  /** Self-attention probabilities (N, heads, L, L + extra), with `keepProbs`. */
  probs?: string;
  /** `reduceProbs` of the self-attention probabilities. */
  probsReduced?: string;
  /** The self-attention contribution added to the residual stream (N, L, C). */
  attnOut?: string;
  /** The block output (N, C, H, W), after proj_out and the residual. */
  out?: string;
}

export interface SpatialTransformerOptions {
  channels: number;
  heads: number;
  groups: number;
  /** GroupNorm eps (1e-6 in the reference transformers). */
  groupEps?: number;
  /** Cross-attention context (N, L', contextDim): adds `norm2` + `attn2` (UNet spatial transformers). */
  context?: { value: string; dim: number };
  /** Reference-attention tokens appended to attn1's keys/values. */
  extraKV?: string;
  keepProbs?: boolean;
  headChunks?: number;
  reduceProbs?: AttentionOptions['reduceProbs'];
  fused?: boolean;
}

/**
 * diffusers `Transformer2DModel` / MagicPortrait `Transformer3DModel` (per frame) with one basic block and 1×1 conv
 * projections: GroupNorm → proj_in → tokens → [x + attn1(norm1 x)] → [x + attn2(norm2 x, ctx)] →
 * [x + FF(norm3 x)] → proj_out → + residual. Keys under `<key>.`.
 */
export function spatialTransformer(
  ctx: BlockContext,
  x: string,
  key: string,
  o: SpatialTransformerOptions,
  taps: SpatialTransformerTaps = {},
): string {
  const { g } = ctx;
  const c = o.channels;
  const h0 = conv2d(ctx, groupNorm(ctx, x, `${key}.norm`, c, o.groups, o.groupEps ?? 1e-6), `${key}.proj_in`, {
    inCh: c,
    outCh: c,
    kernel: 1,
  });
  let h = toTokens(g, h0);
  const tb = `${key}.transformer_blocks.0`;
  const n1 = layerNorm(ctx, h, `${tb}.norm1`, c, 1e-5);
  const a1 = attention(ctx, n1, `${tb}.attn1`, {
    dim: c,
    heads: o.heads,
    extraKV: o.extraKV,
    keepProbs: o.keepProbs,
    headChunks: o.headChunks,
    reduceProbs: o.reduceProbs,
    fused: o.fused,
  });
  h = g.op('Add', [a1.out, h]);
  if (o.context) {
    const n2 = layerNorm(ctx, h, `${tb}.norm2`, c, 1e-5);
    const a2 = attention(ctx, n2, `${tb}.attn2`, { dim: c, heads: o.heads, context: o.context.value, contextDim: o.context.dim });
    h = g.op('Add', [a2.out, h]);
  }
  h = g.op('Add', [gegluFeedForward(ctx, layerNorm(ctx, h, `${tb}.norm3`, c, 1e-5), `${tb}.ff`, c), h]);
  const out = g.op('Add', [conv2d(ctx, fromTokens(g, h, x), `${key}.proj_out`, { inCh: c, outCh: c, kernel: 1 }), x]);
  taps.tokens = n1;
  taps.probs = a1.probs;
  taps.probsReduced = a1.probsReduced;
  taps.attnOut = a1.out;
  taps.out = out;
  return out;
}

// ------------------------------------------------------------------------------------------------------------------
// Checkpoint files → StateDict

/** The part of io's lazy TensorStore (torch checkpoints, safetensors) that the adapter needs. */
export interface LazyTensorStore<A> {
  readonly file: string;
  keys(): string[];
  info(key: string): { dtype: string; shape: number[] };
  get(key: string): Promise<A>;
}

/**
 * A StateDict over a lazily read checkpoint: every key is listed with its dtype and shape, but only the keys `want`
 * accepts are read (and converted to float32) now; reading another key's values throws. Use the architecture's
 * required keys as `want`, so unused modules are never loaded.
 */
export async function loadStateDict<A>(
  store: LazyTensorStore<A>,
  want: (key: string) => boolean,
  toFloat32: (array: A) => Float32Array,
): Promise<StateDict> {
  const out = new Map<string, StateTensor>();
  for (const key of store.keys()) {
    const { dtype, shape } = store.info(key);
    if (want(key)) {
      const data = toFloat32(await store.get(key));
      out.set(key, { dtype, shape, float32: () => data });
    } else {
      out.set(key, {
        dtype,
        shape,
        float32: () => {
          throw new Error(`'${key}' was not loaded from ${store.file}`);
        },
      });
    }
  }
  return out;
}
