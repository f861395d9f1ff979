/**
 * TEMPORARY primitives for the diffusion graphs, with the same names and signatures as the shared building blocks in
 * `src/kernel/onnx/blocks.ts` (GGE branch, not yet on main). When blocks.ts lands, this file becomes
 * `export * from '../../onnx/blocks'` and nothing else changes. Only what the diffusion graphs need is here; the
 * diffusion-specific blocks (ResNet with time embedding, reference-attention transformer, motion module, VAE) live
 * in unet.ts / vae.ts.
 */
import { MagicPortraitError } from '../../errors';
import { GraphBuilder, floatAttr } from '../../onnx/graph';

/** One tensor of a checkpoint. `float32()` returns row-major values and may read lazily from the file. */
export interface StateTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  float32(): Float32Array;
}

/** A state dict: parameter name → tensor. */
export type StateDict = ReadonlyMap<string, StateTensor>;

export function stateDictFromArrays(entries: Iterable<readonly [string, { shape: readonly number[]; data: Float32Array }]>): StateDict {
  const out = new Map<string, StateTensor>();
  for (const [key, { shape, data }] of entries) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`stateDictFromArrays: '${key}' has ${data.length} values for shape [${shape.join(', ')}]`);
    out.set(key, { dtype: 'float32', shape: [...shape], float32: () => data });
  }
  return out;
}

export interface KeyCoverage {
  source: string;
  used: { key: string; shape: number[] }[];
  ignored: { key: string; reason: string }[];
  unexpected: string[];
  total: number;
}

/** Shape-checked, usage-recording state-dict access (see blocks.ts). */
export class WeightLookup {
  private readonly used = new Map<string, number[]>();
  private readonly ignoreRules: { test: (key: string) => boolean; reason: string }[] = [];

  constructor(
    readonly stateDict: StateDict,
    readonly source: string,
  ) {}

  has(key: string): boolean {
    return this.stateDict.has(key);
  }

  tensor(key: string, shape: readonly number[]): Float32Array {
    const t = this.stateDict.get(key);
    if (!t)
      throw new MagicPortraitError(
        `${this.source}: key '${key}' is missing (expected shape [${shape.join(', ')}]). ` +
          'The reference would load this file with strict=False and silently keep the untrained value.',
        'missing-key',
      );
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new MagicPortraitError(`${this.source}: key '${key}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}].`, 'bad-shape');
    const data = t.float32();
    this.used.set(key, [...shape]);
    return data;
  }

  ignore(rule: string | RegExp | ((key: string) => boolean), reason: string): void {
    const test = typeof rule === 'string' ? (k: string) => k.startsWith(rule) : rule instanceof RegExp ? (k: string) => rule.test(k) : rule;
    this.ignoreRules.push({ test, reason });
  }

  coverage(): KeyCoverage {
    const report: KeyCoverage = { source: this.source, used: [], ignored: [], unexpected: [], total: this.stateDict.size };
    for (const key of this.stateDict.keys()) {
      const shape = this.used.get(key);
      if (shape) report.used.push({ key, shape });
      else {
        const rule = this.ignoreRules.find((r) => r.test(key));
        if (rule) report.ignored.push({ key, reason: rule.reason });
        else report.unexpected.push(key);
      }
    }
    return report;
  }
}

export interface BlockContext {
  g: GraphBuilder;
  w: WeightLookup;
}

const paramCache = new WeakMap<GraphBuilder, Map<string, string>>();

/** A state-dict tensor as an initializer named after its key (shared when used twice). */
export function param(ctx: BlockContext, key: string, shape: readonly number[], as?: { dims?: readonly number[]; transpose2d?: boolean }): string {
  let cache = paramCache.get(ctx.g);
  if (!cache) paramCache.set(ctx.g, (cache = new Map()));
  const name = as?.transpose2d ? `${key}.T` : as?.dims ? `${key}:${as.dims.join('x')}` : key;
  const hit = cache.get(name);
  if (hit) return hit;
  let data = ctx.w.tensor(key, shape);
  let dims = as?.dims ?? shape;
  if (as?.transpose2d) {
    const [rows, cols] = shape as [number, number];
    const t = new Float32Array(data.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = data[r * cols + c]!;
    data = t;
    dims = [cols, rows];
  }
  ctx.g.initializer(name, { dtype: 'float32', dims, data });
  cache.set(name, name);
  return name;
}

export interface Conv2dOptions {
  inCh: number;
  outCh: number;
  kernel: number;
  stride?: number;
  pad?: number;
  bias?: boolean;
}

export function conv2d(ctx: BlockContext, x: string, key: string, o: Conv2dOptions): string {
  const k = o.kernel;
  const p = o.pad ?? (k - 1) / 2;
  const inputs = [x, param(ctx, `${key}.weight`, [o.outCh, o.inCh, k, k])];
  if (o.bias ?? true) inputs.push(param(ctx, `${key}.bias`, [o.outCh]));
  return ctx.g.op('Conv', inputs, {
    kernel_shape: [k, k],
    strides: [o.stride ?? 1, o.stride ?? 1],
    pads: [p, p, p, p],
    dilations: [1, 1],
    group: 1,
  });
}

export function linear(ctx: BlockContext, x: string, key: string, inDim: number, outDim: number, bias = true): string {
  const y = ctx.g.op('MatMul', [x, param(ctx, `${key}.weight`, [outDim, inDim], { transpose2d: true })]);
  return bias ? ctx.g.op('Add', [y, param(ctx, `${key}.bias`, [outDim])]) : y;
}

/** `nn.GroupNorm` on (N, C, ...): InstanceNormalization over an (N, G, −1) view, then the per-channel affine. */
export function groupNorm(ctx: BlockContext, x: string, key: string, channels: number, groups: number, eps: number): string {
  const { g } = ctx;
  if (channels % groups !== 0) throw new Error(`groupNorm ${key}: ${channels} channels do not split into ${groups} groups`);
  const grouped = g.op('Reshape', [x, g.constI64('gn_shape', [0, groups, -1])]);
  const normed = g.op('InstanceNormalization', [grouped, g.constF32('ones', new Float32Array(groups).fill(1), [groups]), g.constF32('zeros', new Float32Array(groups), [groups])], {
    epsilon: floatAttr(eps),
  });
  const back = g.op('Reshape', [normed, g.op('Shape', [x])]);
  const gamma = param(ctx, `${key}.weight`, [channels], { dims: [channels, 1, 1] });
  const beta = param(ctx, `${key}.bias`, [channels], { dims: [channels, 1, 1] });
  return g.op('Add', [g.op('Mul', [back, gamma]), beta]);
}

export function layerNorm(ctx: BlockContext, x: string, key: string, dim: number, eps: number): string {
  return ctx.g.op('LayerNormalization', [x, param(ctx, `${key}.weight`, [dim]), param(ctx, `${key}.bias`, [dim])], { axis: -1, epsilon: floatAttr(eps) });
}

export function silu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])]);
}

/** Exact (erf) GELU. */
export function gelu(g: GraphBuilder, x: string): string {
  const e = g.op('Erf', [g.op('Div', [x, g.constF32('sqrt2', [Math.SQRT2], [])])]);
  const half = g.op('Mul', [x, g.constF32('half', [0.5], [])]);
  return g.op('Mul', [half, g.op('Add', [e, g.constF32('one', [1], [])])]);
}

/** diffusers FeedForward with GEGLU: net.0.proj (dim → 2·inner), a·gelu(gate), net.2 (inner → dim). */
export function gegluFeedForward(ctx: BlockContext, x: string, key: string, dim: number, inner = 4 * dim): string {
  const { g } = ctx;
  const h = linear(ctx, x, `${key}.net.0.proj`, dim, 2 * inner);
  const [a, gate] = g.node('Split', [h, g.constI64('split', [inner, inner])], { axis: -1 }, 2) as [string, string];
  return linear(ctx, g.op('Mul', [a, gelu(g, gate)]), `${key}.net.2`, inner, dim);
}

/** (N, C, H, W) → (N, H·W, C). */
export function toTokens(g: GraphBuilder, x: string): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.constI64('tok_shape', [0, 0, -1])])], { perm: [0, 2, 1] });
}

/** (N, H·W, C) → the (N, C, H, W) shape of `like`. */
export function fromTokens(g: GraphBuilder, t: string, like: string): string {
  return g.op('Reshape', [g.op('Transpose', [t], { perm: [0, 2, 1] }), g.op('Shape', [like])]);
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

export function upsampleNearest2x(g: GraphBuilder, x: string): string {
  return g.op('Resize', [x, '', g.constF32('up_scales', [1, 1, 2, 2], [4])], {
    mode: 'nearest',
    nearest_mode: 'floor',
    coordinate_transformation_mode: 'asymmetric',
  });
}

export function downsampleConv(ctx: BlockContext, x: string, key: string, inCh: number, outCh = inCh): string {
  return conv2d(ctx, x, key, { inCh, outCh, kernel: 3, stride: 2, pad: 1 });
}

export function upsampleConv(ctx: BlockContext, x: string, key: string, inCh: number, outCh = inCh): string {
  return conv2d(ctx, upsampleNearest2x(ctx.g, x), key, { inCh, outCh, kernel: 3 });
}
