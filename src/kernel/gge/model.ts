/**
 * The Geometric Guidance Encoder architecture (reference-pipeline.md §6) as ONNX graphs built from a state dict.
 *
 * conv_in(3→16) · SiLU → blocks.0..5 (3×3 convs, stride 2 at 1, 3, 5) · SiLU → attentions.5 (the only attention that
 * runs: GroupNorm(32, 1e-6) → 1×1 proj_in → LN → 8-head self-attention → LN → GEGLU FF → 1×1 proj_out → + res) →
 * conv_out(256→320). Frames are independent and folded into the batch axis N.
 */
import type { GuidanceType } from '../../shared/attention';
import { GraphBuilder } from '../onnx/graph';
import {
  type BlockContext,
  type SpatialTransformerOptions,
  type SpatialTransformerTaps,
  WeightLookup,
  channelNorm,
  conv2d,
  linear,
  silu,
  spatialTransformer,
  splitHeads,
} from '../onnx/blocks';

export const GUIDANCE_TYPES: readonly GuidanceType[] = ['depth', 'normal', 'render'];

/** `guidance_encoder_kwargs` of the reference yaml plus the fixed Transformer3DModel settings of §6.2. */
export interface GGEConfig {
  guidanceInputChannels: number;
  blockOutChannels: readonly number[];
  guidanceEmbeddingChannels: number;
  attentionHeads: number;
  /** GroupNorm groups and eps of attentions.5. */
  normGroups: number;
  normEps: number;
}

export const GGE_CONFIG: GGEConfig = Object.freeze({
  guidanceInputChannels: 3,
  blockOutChannels: Object.freeze([16, 32, 96, 256]),
  guidanceEmbeddingChannels: 320,
  attentionHeads: 8,
  normGroups: 32,
  normEps: 1e-6,
});

/** The spatial down-sampling factor from guidance image to feature map (three stride-2 convs). */
export const GGE_STRIDE = 8;

/** Feature-map size for an input size (each stride-2 conv with padding 1 maps n to ceil(n / 2)). */
export function ggeGridSize(inputSize: number): number {
  let n = inputSize;
  for (let i = 0; i < 3; i++) n = Math.floor((n - 1) / 2) + 1;
  return n;
}

/** Names of the graph inputs and outputs. */
export const GGE_IO = {
  input: 'guidance',
  feature: 'feature',
  received: 'attn_received',
  outNorm: 'attn_out_norm',
  deltaNorm: 'attn_delta_norm',
  tokens: 'attn_tokens',
  rowsTokens: 'attn_tokens',
  rowsQuery: 'query_idx',
  rows: 'attn_rows',
} as const;

/** The one attention module that runs. */
export const GGE_ATTENTION_KEY = 'attentions.5';

/** Marks the keys of modules the reference builds but never executes as ignored (§6.1). */
export function ignoreUnusedGGEKeys(w: WeightLookup): void {
  w.ignore(/^attentions\.[0-4]\./, 'attentions.0-4: built by the reference but never executed');
  w.ignore('guidance_attention.', 'guidance_attention: built by the reference but never executed');
}

export interface GGEGraphOptions {
  /** Attention heads in this many chunks (explicit attention only; default 1; see AttentionOptions.headChunks). */
  headChunks?: number;
  name?: string;
}

/**
 * One guidance encoder on `x` (N, 3, H, W) in [0, 1], with its keys under `prefix` (e.g. '' for a
 * guidance_encoder_<type>.pth, 'depth.' for a combined state dict). Returns the (N, 320, h, w) features and the last
 * conv activation. Attention options choose explicit (tappable) or fused attention. Reusable by other graphs, e.g.
 * a fused three-encoder graph that sums the features.
 */
export function ggeEncoder(
  ctx: BlockContext,
  x: string,
  opts: { prefix?: string; cfg?: GGEConfig; attention?: Partial<SpatialTransformerOptions>; taps?: SpatialTransformerTaps } = {},
): { feature: string; h: string } {
  const { g } = ctx;
  const cfg = opts.cfg ?? GGE_CONFIG;
  const p = opts.prefix ?? '';
  const ch = cfg.blockOutChannels;
  const c = ch[ch.length - 1]!;
  let h = silu(g, conv2d(ctx, x, `${p}conv_in`, { inCh: cfg.guidanceInputChannels, outCh: ch[0]!, kernel: 3 }));
  for (let i = 0; i < ch.length - 1; i++) {
    h = silu(g, conv2d(ctx, h, `${p}blocks.${2 * i}`, { inCh: ch[i]!, outCh: ch[i]!, kernel: 3 }));
    h = silu(g, conv2d(ctx, h, `${p}blocks.${2 * i + 1}`, { inCh: ch[i]!, outCh: ch[i + 1]!, kernel: 3, stride: 2, pad: 1 }));
  }
  const att = spatialTransformer(
    ctx,
    h,
    `${p}${GGE_ATTENTION_KEY}`,
    { channels: c, heads: cfg.attentionHeads, groups: cfg.normGroups, groupEps: cfg.normEps, ...opts.attention },
    opts.taps ?? {},
  );
  return { feature: conv2d(ctx, att, `${p}conv_out`, { inCh: c, outCh: cfg.guidanceEmbeddingChannels, kernel: 3 }), h };
}

/** The graph input, one encoder, and the `feature` output. */
function encoderStack(ctx: BlockContext, cfg: GGEConfig, attn: Partial<SpatialTransformerOptions>, taps: SpatialTransformerTaps) {
  const { g } = ctx;
  g.input(GGE_IO.input, 'float32', ['N', cfg.guidanceInputChannels, 'H', 'W']);
  const { feature, h } = ggeEncoder(ctx, GGE_IO.input, { cfg, attention: attn, taps });
  g.op('Identity', [feature], {}, GGE_IO.feature);
  g.output(GGE_IO.feature, 'float32', ['N', cfg.guidanceEmbeddingChannels, 'h', 'w']);
  return { h, c: cfg.blockOutChannels[cfg.blockOutChannels.length - 1]! };
}

/**
 * The features-only encoder graph: the same network with ONNX Runtime's fused multi-head attention kernel (no
 * 4096×4096 tensor, about a third of the attention's CPU time). Output `feature` (N, 320, h, w) only. This is what
 * sampling uses; the explorer graph below computes the identical features plus the attention products.
 */
export function buildGGEFeaturesGraph(w: WeightLookup, cfg: GGEConfig = GGE_CONFIG, opts: GGEGraphOptions = {}): GraphBuilder {
  const g = new GraphBuilder(opts.name ?? 'guidance_encoder_features');
  encoderStack({ g, w }, cfg, { fused: true }, {});
  return g;
}

/**
 * The explorer encoder graph. Input `guidance` (N, 3, H, W) in [0, 1]; outputs, with h = ceil(H/8), w = ceil(W/8):
 *   feature          (N, 320, h, w)  the guidance features (what the UNet adds after conv_in)
 *   attn_received    (N, heads, h, w) mean over query pixels of the attention each key pixel receives, per head
 *   attn_out_norm    (N, h, w)        channel L2 norm of the attention block's output (what conv_out sees)
 *   attn_delta_norm  (N, h, w)        channel L2 norm of the self-attention's contribution to the residual stream
 *   attn_tokens      (N, h·w, 256)    the self-attention input (norm1 output), for the query-rows graph
 * The (N, heads, h·w, h·w) probability tensor exists only inside the graph.
 */
export function buildGGEMainGraph(w: WeightLookup, cfg: GGEConfig = GGE_CONFIG, opts: GGEGraphOptions = {}): GraphBuilder {
  const g = new GraphBuilder(opts.name ?? 'guidance_encoder');
  const taps: SpatialTransformerTaps = {};
  const { h, c } = encoderStack(
    { g, w },
    cfg,
    {
      headChunks: opts.headChunks ?? 1,
      // mean over the query axis: the attention each key pixel receives
      reduceProbs: (gb, p) => gb.op('ReduceMean', [p], { axes: [2], keepdims: 0 }),
    },
    taps,
  );
  // (N, heads, Lk) → (N, heads, h, w); (N, L) → (N, h, w)
  const nShape = g.op('Shape', [h], { start: 0, end: 1 });
  const hwShape = g.op('Shape', [h], { start: 2 });
  const recvShape = g.op('Concat', [nShape, g.constI64('heads', [cfg.attentionHeads]), hwShape], { axis: 0 });
  g.op('Reshape', [taps.probsReduced!, recvShape], {}, GGE_IO.received);
  g.op('Identity', [channelNorm(g, taps.out!, 1)], {}, GGE_IO.outNorm);
  const mapShape = g.op('Concat', [nShape, hwShape], { axis: 0 });
  g.op('Reshape', [channelNorm(g, taps.attnOut!, 2), mapShape], {}, GGE_IO.deltaNorm);
  g.op('Identity', [taps.tokens!], {}, GGE_IO.tokens);
  g.output(GGE_IO.received, 'float32', ['N', cfg.attentionHeads, 'h', 'w']);
  g.output(GGE_IO.outNorm, 'float32', ['N', 'h', 'w']);
  g.output(GGE_IO.deltaNorm, 'float32', ['N', 'h', 'w']);
  g.output(GGE_IO.tokens, 'float32', ['N', 'L', c]);
  return g;
}

/**
 * The query-rows graph: inputs `attn_tokens` (N, L, 256) from the main graph and `query_idx` int64 (Q) token indices
 * (row·w + col); output `attn_rows` (N, heads, Q, L): the full softmax rows of those query pixels, per head.
 */
export function buildGGERowsGraph(w: WeightLookup, cfg: GGEConfig = GGE_CONFIG, name = 'guidance_encoder_rows'): GraphBuilder {
  const g = new GraphBuilder(name);
  const ctx: BlockContext = { g, w };
  const c = cfg.blockOutChannels[cfg.blockOutChannels.length - 1]!;
  const heads = cfg.attentionHeads;
  const d = c / heads;
  const key = `${GGE_ATTENTION_KEY}.transformer_blocks.0.attn1`;
  g.input(GGE_IO.rowsTokens, 'float32', ['N', 'L', c]);
  g.input(GGE_IO.rowsQuery, 'int64', ['Q']);
  const sel = g.op('Gather', [GGE_IO.rowsTokens, GGE_IO.rowsQuery], { axis: 1 });
  const q = linear(ctx, sel, `${key}.to_q`, c, c, false);
  const k = linear(ctx, GGE_IO.rowsTokens, `${key}.to_k`, c, c, false);
  const qs = g.op('Mul', [splitHeads(g, q, heads, d), g.constF32('attn_scale', [1 / Math.sqrt(d)], [])]);
  const scores = g.op('MatMul', [qs, splitHeads(g, k, heads, d, true)]);
  g.op('Softmax', [scores], { axis: -1 }, GGE_IO.rows);
  g.output(GGE_IO.rows, 'float32', ['N', heads, 'Q', 'L']);
  return g;
}

/** All state-dict keys (with shapes) the encoder reads — the contract checked by the importer. */
export function ggeRequiredKeys(cfg: GGEConfig = GGE_CONFIG): { key: string; shape: number[] }[] {
  const ch = cfg.blockOutChannels;
  const c = ch[ch.length - 1]!;
  const out: { key: string; shape: number[] }[] = [];
  const conv = (key: string, o: number, i: number, k: number) => {
    out.push({ key: `${key}.weight`, shape: [o, i, k, k] }, { key: `${key}.bias`, shape: [o] });
  };
  conv('conv_in', ch[0]!, cfg.guidanceInputChannels, 3);
  for (let i = 0; i < ch.length - 1; i++) {
    conv(`blocks.${2 * i}`, ch[i]!, ch[i]!, 3);
    conv(`blocks.${2 * i + 1}`, ch[i + 1]!, ch[i]!, 3);
  }
  const a = GGE_ATTENTION_KEY;
  const t = `${a}.transformer_blocks.0`;
  const vec = (key: string, n: number) => out.push({ key, shape: [n] });
  vec(`${a}.norm.weight`, c);
  vec(`${a}.norm.bias`, c);
  conv(`${a}.proj_in`, c, c, 1);
  vec(`${t}.norm1.weight`, c);
  vec(`${t}.norm1.bias`, c);
  for (const p of ['to_q', 'to_k', 'to_v']) out.push({ key: `${t}.attn1.${p}.weight`, shape: [c, c] });
  out.push({ key: `${t}.attn1.to_out.0.weight`, shape: [c, c] });
  vec(`${t}.attn1.to_out.0.bias`, c);
  vec(`${t}.norm3.weight`, c);
  vec(`${t}.norm3.bias`, c);
  out.push({ key: `${t}.ff.net.0.proj.weight`, shape: [8 * c, c] });
  vec(`${t}.ff.net.0.proj.bias`, 8 * c);
  out.push({ key: `${t}.ff.net.2.weight`, shape: [c, 4 * c] });
  vec(`${t}.ff.net.2.bias`, c);
  conv(`${a}.proj_out`, c, c, 1);
  conv('conv_out', cfg.guidanceEmbeddingChannels, c, 3);
  return out;
}
