/**
 * The two UNets of the reference (reference-pipeline.md §7.1, §7.2) as ONNX graphs built from diffusers/AnimateDiff
 * state-dict keys, frames folded into the batch axis (N = frames of the window; every op except the motion modules
 * is per frame, which is exactly the reference's "inflated" 3D layout).
 *
 * - Reference UNet (2D, batch 1, timestep input, always 0 in use): runs only until the last spatial transformer's
 *   `norm1`, and outputs each transformer's norm1 tokens cast to float16 — the attention bank, rounded as the
 *   reference rounds it (§7.2 quirk) and half the bytes to hold.
 * - Denoising UNet (3D: ResNet → spatial transformer → motion module per layer, guidance added after conv_in): one
 *   graph for both CFG branches. Each spatial self-attention takes its bank as an extra input (1, L_ref, C) float16;
 *   its K/V are `concat(to_k(x), to_k(bank) broadcast over frames)`. The unconditional branch passes EMPTY banks
 *   (L_ref = 0), which makes the concatenation the identity: plain self-attention, the reference's uncond branch,
 *   with no second copy of the weights and no masking arithmetic. The bank is projected once per call rather than
 *   once per frame (to_k is linear without bias, so this equals projecting the concatenation).
 */
import { GraphBuilder, floatAttr } from '../../onnx/graph';
import {
  type BlockContext,
  conv2d,
  downsampleConv,
  gegluFeedForward,
  groupNorm,
  layerNorm,
  linear,
  mergeHeads,
  param,
  silu,
  splitHeads,
  upsampleConv,
} from './ops';
import { type DiffusionArch, type UNetArch, bankName, bankSites, latentSize } from './config';

/** Graph input and output names. */
export const UNET_IO = {
  sample: 'sample',
  refLatents: 'ref_latents',
  timestep: 'timestep',
  text: 'encoder_hidden_states',
  guidance: 'guidance',
  out: 'model_output',
} as const;

export interface AttentionBuildOptions {
  /**
   * How attention is computed. 'fused': ONNX Runtime's `com.microsoft.MultiHeadAttention` (CPU: MLAS flash
   * attention, which never materialises the scores; CUDA: flash / memory-efficient kernels; WebGPU: its own kernel).
   * 'explicit' (default, and what bundles written before this option hold): MatMul → Softmax → MatMul, optionally
   * query-chunked.
   */
  attention?: 'explicit' | 'fused';
  /**
   * Explicit attention only: split self-attention queries into chunks of at most this many tokens, which bounds the
   * materialised scores to (N, heads, chunk, L_kv) per chunk (full size: 4096 queries × 8192 keys per frame
   * otherwise). Default: no split.
   */
  queryChunk?: number;
}

// ------------------------------------------------------------------------------------------------------------------
// Attention core

/**
 * Scaled dot-product attention over projected q (N, Lq, C) and k, v (Nk, Lk, C) with Nk = N or 1 (broadcast, for
 * text K/V shared by every frame; say so with `sharedKV`). Scale d^−½. Returns (N, Lq, C) before to_out.
 */
export function attend(g: GraphBuilder, q: string, k: string, v: string, heads: number, dim: number, queryLen?: number, o: AttentionBuildOptions & { sharedKV?: boolean } = {}): string {
  const d = dim / heads;
  if (o.attention === 'fused') {
    // the kernel wants K/V with the query's batch: broadcast shared (1, Lk, C) tokens (the text) over the frames
    const [kb, vb] = o.sharedKV ? [expandBatch(g, k, q), expandBatch(g, v, q)] : [k, v];
    g.useOpset('com.microsoft', 1);
    // the query count, when static, lets a provider without a reliable fused kernel decompose it query-chunked
    const doc = queryLen ? `queries=${queryLen}` : undefined;
    return g.node('MultiHeadAttention', [q, kb, vb], { num_heads: heads, scale: floatAttr(1 / Math.sqrt(d)) }, 1, 'com.microsoft', doc)[0]!;
  }
  // Scale q (L·d values) rather than the L·L' scores.
  const qh = g.op('Mul', [splitHeads(g, q, heads, d), g.constF32('attn_scale', [1 / Math.sqrt(d)], [])]);
  const kh = splitHeads(g, k, heads, d, true);
  const vh = splitHeads(g, v, heads, d);
  const chunk = o.queryChunk;
  if (!chunk || !queryLen || queryLen <= chunk) {
    const p = g.op('Softmax', [g.op('MatMul', [qh, kh])], { axis: -1 });
    return mergeHeads(g, g.op('MatMul', [p, vh]), heads, d);
  }
  const sizes: number[] = [];
  for (let s = 0; s < queryLen; s += chunk) sizes.push(Math.min(chunk, queryLen - s));
  const parts = g.node('Split', [qh, g.constI64('q_split', sizes)], { axis: 2 }, sizes.length);
  const outs = parts.map((qc) => g.op('MatMul', [g.op('Softmax', [g.op('MatMul', [qc, kh])], { axis: -1 }), vh]));
  return mergeHeads(g, g.op('Concat', outs, { axis: 2 }), heads, d);
}

/** Repeats (1, L, C) over the batch of `like` (N, ·, ·) → (N, L, C). */
function expandBatch(g: GraphBuilder, t: string, like: string): string {
  const n = g.op('Slice', [g.op('Shape', [like]), g.constI64('s0', [0]), g.constI64('s1', [1])]);
  const rest = g.op('Slice', [g.op('Shape', [t]), g.constI64('s1', [1]), g.constI64('s3', [3])]);
  return g.op('Expand', [t, g.op('Concat', [n, rest], { axis: 0 })]);
}

// ------------------------------------------------------------------------------------------------------------------
// Blocks

/**
 * diffusers `Timesteps(C, flip_sin_to_cos=True, shift=0)` + `TimestepEmbedding`: e = t·exp(−ln(10⁴)·i/(C/2)),
 * [cos e, sin e] → linear_1 → SiLU → linear_2. `t` is an int64 (1) input; returns (1, 4C).
 */
export function timeEmbedding(ctx: BlockContext, t: string, key: string, dim: number, outDim: number): string {
  const { g } = ctx;
  const half = dim / 2;
  // float32 as the library: exponent = fround(−ln 10000 · i) / half, then exp
  const freqs = new Float32Array(half);
  const c = Math.fround(-Math.log(10000));
  for (let i = 0; i < half; i++) freqs[i] = Math.exp(Math.fround(Math.fround(c * i) / half));
  const tf = g.op('Unsqueeze', [g.op('Cast', [t], { to: 1 }), g.constI64('ax1', [1])]); // (1, 1)
  const e = g.op('Mul', [tf, g.constF32('t_freqs', freqs, [1, half])]);
  const emb = g.op('Concat', [g.op('Cos', [e]), g.op('Sin', [e])], { axis: 1 });
  return linear(ctx, silu(g, linear(ctx, emb, `${key}.linear_1`, dim, outDim)), `${key}.linear_2`, outDim, outDim);
}

/**
 * diffusers `ResnetBlock2D` / `ResnetBlock3D` (inflated GroupNorm = per frame): GN → SiLU → conv1 (+ time_emb_proj
 * of SiLU(temb), broadcast over frames and pixels) → GN → SiLU → conv2, plus the input (1×1 conv_shortcut when the
 * width changes). `tembAct` is SiLU(temb) (1, T), computed once per graph; pass null for the VAE (no time input).
 */
export function resnetBlock(
  ctx: BlockContext,
  x: string,
  tembAct: string | null,
  key: string,
  o: { inCh: number; outCh: number; groups: number; eps: number; tembDim?: number },
): string {
  const { g } = ctx;
  let h = conv2d(ctx, silu(g, groupNorm(ctx, x, `${key}.norm1`, o.inCh, o.groups, o.eps)), `${key}.conv1`, { inCh: o.inCh, outCh: o.outCh, kernel: 3 });
  if (tembAct) {
    const tp = linear(ctx, tembAct, `${key}.time_emb_proj`, o.tembDim!, o.outCh);
    h = g.op('Add', [h, g.op('Reshape', [tp, g.constI64('temb_shape', [1, o.outCh, 1, 1])])]);
  }
  h = conv2d(ctx, silu(g, groupNorm(ctx, h, `${key}.norm2`, o.outCh, o.groups, o.eps)), `${key}.conv2`, { inCh: o.outCh, outCh: o.outCh, kernel: 3 });
  const skip = o.inCh !== o.outCh ? conv2d(ctx, x, `${key}.conv_shortcut`, { inCh: o.inCh, outCh: o.outCh, kernel: 1 }) : x;
  return g.op('Add', [skip, h]);
}

/** How a spatial transformer's self-attention treats the reference bank. */
export type BankMode =
  | { mode: 'none' }
  /** Reference UNet: record norm1 tokens as a float16 graph output. */
  | { mode: 'write'; output: string }
  /** Denoising UNet: concatenate a float16 (1, L_ref, C) input to the keys/values. */
  | { mode: 'read'; input: string };

export interface SpatialTransformerOptions extends AttentionBuildOptions {
  channels: number;
  heads: number;
  groups: number;
  eps: number;
  /** Text tokens (1, T, D) shared by all frames; absent: no norm2/attn2 (the GGE's transformer, §6.2). */
  text?: string;
  textDim?: number;
  /** Token count (side²), static; used for query chunking. */
  tokens?: number;
  bank: BankMode;
  /** Called right after norm1 (the reference UNet stops building after its last tap). */
  afterNorm1?: () => void;
}

/**
 * diffusers `Transformer2DModel` / MagicPortrait `Transformer3DModel` (per frame) with one block:
 * GN(eps 1e-6) → 1×1 proj_in → tokens → x + attn1(norm1 x [+ bank]) → x + attn2(norm2 x, text) → x + FF(norm3 x)
 * → 1×1 proj_out → + input.
 */
export function spatialTransformer(ctx: BlockContext, x: string, key: string, o: SpatialTransformerOptions): string {
  const { g } = ctx;
  const c = o.channels;
  const h0 = conv2d(ctx, groupNorm(ctx, x, `${key}.norm`, c, o.groups, o.eps), `${key}.proj_in`, { inCh: c, outCh: c, kernel: 1 });
  let h = g.op('Transpose', [g.op('Reshape', [h0, g.constI64('tok_shape', [0, 0, -1])])], { perm: [0, 2, 1] });
  const tb = `${key}.transformer_blocks.0`;
  const n1 = layerNorm(ctx, h, `${tb}.norm1`, c, 1e-5);
  if (o.bank.mode === 'write') g.op('Cast', [n1], { to: 10 }, o.bank.output);
  o.afterNorm1?.();
  const a1 = `${tb}.attn1`;
  const q = linear(ctx, n1, `${a1}.to_q`, c, c, false);
  let k = linear(ctx, n1, `${a1}.to_k`, c, c, false);
  let v = linear(ctx, n1, `${a1}.to_v`, c, c, false);
  if (o.bank.mode === 'read') {
    const bank = g.op('Cast', [o.bank.input], { to: 1 });
    k = g.op('Concat', [k, expandBatch(g, linear(ctx, bank, `${a1}.to_k`, c, c, false), n1)], { axis: 1 });
    v = g.op('Concat', [v, expandBatch(g, linear(ctx, bank, `${a1}.to_v`, c, c, false), n1)], { axis: 1 });
  }
  const sa = linear(ctx, attend(g, q, k, v, o.heads, c, o.tokens, o), `${a1}.to_out.0`, c, c, true);
  h = g.op('Add', [sa, h]);
  if (o.text) {
    const a2 = `${tb}.attn2`;
    const n2 = layerNorm(ctx, h, `${tb}.norm2`, c, 1e-5);
    const ca = attend(
      g,
      linear(ctx, n2, `${a2}.to_q`, c, c, false),
      linear(ctx, o.text, `${a2}.to_k`, o.textDim!, c, false),
      linear(ctx, o.text, `${a2}.to_v`, o.textDim!, c, false),
      o.heads,
      c,
      undefined,
      { attention: o.attention, sharedKV: true },
    );
    h = g.op('Add', [linear(ctx, ca, `${a2}.to_out.0`, c, c, true), h]);
  }
  h = g.op('Add', [gegluFeedForward(ctx, layerNorm(ctx, h, `${tb}.norm3`, c, 1e-5), `${tb}.ff`, c), h]);
  const back = g.op('Reshape', [g.op('Transpose', [h], { perm: [0, 2, 1] }), g.op('Shape', [x])]);
  return g.op('Add', [conv2d(ctx, back, `${key}.proj_out`, { inCh: c, outCh: c, kernel: 1 }), x]);
}

/**
 * AnimateDiff `VanillaTemporalModule` → `TemporalTransformer3DModel` on frame-batched (F, C, H, W):
 * GN(eps 1e-6, per frame) → tokens laid out (H·W, F, C) → proj_in → for each of the two temporal self-attentions:
 * x + attn(LN(x) + pe[0:F]) (Q, K, V all from the PE-augmented input) → x + FF(LN x) → proj_out → back → + input.
 * `pe` (1, maxLen, C) is read from the state dict (`…attention_blocks.i.pos_encoder.pe`), as the checkpoint holds it.
 */
export function motionModule(ctx: BlockContext, x: string, key: string, o: { channels: number; heads: number; groups: number; eps: number; maxLen: number; attention?: AttentionBuildOptions['attention'] }): string {
  const { g } = ctx;
  const c = o.channels;
  const tt = `${key}.temporal_transformer`;
  const n = groupNorm(ctx, x, `${tt}.norm`, c, o.groups, o.eps);
  // (F, C, H, W) → (F, C, HW) → (HW, F, C)
  let h = g.op('Transpose', [g.op('Reshape', [n, g.constI64('tok_shape', [0, 0, -1])])], { perm: [2, 0, 1] });
  h = linear(ctx, h, `${tt}.proj_in`, c, c, true);
  const tb = `${tt}.transformer_blocks.0`;
  const frames = g.op('Slice', [g.op('Shape', [h]), g.constI64('s1', [1]), g.constI64('s2', [2])]);
  for (let i = 0; i < 2; i++) {
    const ab = `${tb}.attention_blocks.${i}`;
    const pe = param(ctx, `${ab}.pos_encoder.pe`, [1, o.maxLen, c]);
    const peF = g.op('Slice', [pe, g.constI64('z', [0]), frames, g.constI64('ax', [1])]);
    const xn = g.op('Add', [layerNorm(ctx, h, `${tb}.norms.${i}`, c, 1e-5), peF]);
    const att = attend(g, linear(ctx, xn, `${ab}.to_q`, c, c, false), linear(ctx, xn, `${ab}.to_k`, c, c, false), linear(ctx, xn, `${ab}.to_v`, c, c, false), o.heads, c, undefined, { attention: o.attention });
    h = g.op('Add', [linear(ctx, att, `${ab}.to_out.0`, c, c, true), h]);
  }
  h = g.op('Add', [gegluFeedForward(ctx, layerNorm(ctx, h, `${tb}.ff_norm`, c, 1e-5), `${tb}.ff`, c), h]);
  h = linear(ctx, h, `${tt}.proj_out`, c, c, true);
  // (HW, F, C) → (F, C, HW) → (F, C, H, W)
  const back = g.op('Reshape', [g.op('Transpose', [h], { perm: [1, 2, 0] }), g.op('Shape', [x])]);
  return g.op('Add', [back, x]);
}

// ------------------------------------------------------------------------------------------------------------------
// Whole UNets

class StopBuild extends Error {}

interface UNetBuild {
  ctx: BlockContext;
  u: UNetArch;
  kind: 'reference' | 'denoising';
  text: string;
  tembAct: string;
  sites: Map<string, number>;
  side0: number;
  tapsLeft: number;
  opts: AttentionBuildOptions;
}

function transformerAt(b: UNetBuild, x: string, path: string, level: number): string {
  const u = b.u;
  const c = u.blockOutChannels[level]!;
  const idx = b.sites.get(path);
  if (idx === undefined) throw new Error(`internal: ${path} is not a bank site`);
  const bank: BankMode = b.kind === 'reference' ? { mode: 'write', output: bankName(idx) } : { mode: 'read', input: bankName(idx) };
  const side = b.side0 >> level;
  return spatialTransformer(b.ctx, x, path, {
    channels: c,
    heads: u.heads,
    groups: u.normGroups,
    eps: u.transformerEps,
    text: b.text,
    textDim: u.crossAttentionDim,
    tokens: side * side,
    bank,
    queryChunk: b.opts.queryChunk,
    attention: b.opts.attention,
    afterNorm1:
      b.kind === 'reference'
        ? () => {
            if (--b.tapsLeft === 0) throw new StopBuild();
          }
        : undefined,
  });
}

function motionAt(b: UNetBuild, x: string, path: string, level: number): string {
  if (b.kind === 'reference') return x;
  const u = b.u;
  return motionModule(b.ctx, x, path, { channels: u.blockOutChannels[level]!, heads: u.motion.heads, groups: u.normGroups, eps: u.transformerEps, maxLen: u.motion.maxLen, attention: b.opts.attention });
}

function resnetAt(b: UNetBuild, x: string, key: string, inCh: number, outCh: number): string {
  return resnetBlock(b.ctx, x, b.tembAct, key, { inCh, outCh, groups: b.u.normGroups, eps: b.u.resnetEps, tembDim: 4 * b.u.timeEmbedDim });
}

function unetBody(b: UNetBuild, x: string): string {
  const { ctx, u } = b;
  const { g } = ctx;
  const chans = u.blockOutChannels;
  const n = chans.length;
  const skips: { v: string; ch: number }[] = [{ v: x, ch: chans[0]! }];
  let h = x;
  let ch = chans[0]!;
  for (let i = 0; i < n; i++) {
    const out = chans[i]!;
    for (let j = 0; j < u.layersPerBlock; j++) {
      h = resnetAt(b, h, `down_blocks.${i}.resnets.${j}`, ch, out);
      ch = out;
      if (u.crossAttnLevels[i]) h = transformerAt(b, h, `down_blocks.${i}.attentions.${j}`, i);
      h = motionAt(b, h, `down_blocks.${i}.motion_modules.${j}`, i);
      skips.push({ v: h, ch });
    }
    if (i < n - 1) {
      h = downsampleConv(ctx, h, `down_blocks.${i}.downsamplers.0.conv`, ch);
      skips.push({ v: h, ch });
    }
  }
  const top = chans[n - 1]!;
  h = resnetAt(b, h, 'mid_block.resnets.0', top, top);
  h = transformerAt(b, h, 'mid_block.attentions.0', n - 1);
  h = motionAt(b, h, 'mid_block.motion_modules.0', n - 1);
  h = resnetAt(b, h, 'mid_block.resnets.1', top, top);
  for (let i = 0; i < n; i++) {
    const level = n - 1 - i;
    const out = chans[level]!;
    for (let j = 0; j <= u.layersPerBlock; j++) {
      const skip = skips.pop()!;
      h = resnetAt(b, g.op('Concat', [h, skip.v], { axis: 1 }), `up_blocks.${i}.resnets.${j}`, ch + skip.ch, out);
      ch = out;
      if (u.crossAttnLevels[level]) h = transformerAt(b, h, `up_blocks.${i}.attentions.${j}`, level);
      h = motionAt(b, h, `up_blocks.${i}.motion_modules.${j}`, level);
    }
    if (i < n - 1) h = upsampleConv(ctx, h, `up_blocks.${i}.upsamplers.0.conv`, ch);
  }
  return h;
}

function start(arch: DiffusionArch, ctx: BlockContext, kind: UNetBuild['kind'], opts: AttentionBuildOptions): UNetBuild {
  const { g } = ctx;
  const u = arch.unet;
  const t = g.input(UNET_IO.timestep, 'int64', [1]);
  const text = g.input(UNET_IO.text, 'float32', [1, arch.text.tokens, arch.text.dim]);
  const temb = timeEmbedding(ctx, t, 'time_embedding', u.timeEmbedDim, 4 * u.timeEmbedDim);
  const sites = new Map(bankSites(arch).map((s, i) => [s.path, i] as const));
  return { ctx, u, kind, text, tembAct: silu(g, temb), sites, side0: latentSize(arch), tapsLeft: sites.size, opts };
}

/**
 * The reference UNet as a bank writer: (ref_latents (1,4,h,w), timestep, encoder_hidden_states) → bank_00 … float16
 * (1, L_i, C_i). The graph ends at the last transformer's norm1; no later layer is built.
 */
export function buildReferenceUNet(arch: DiffusionArch, ctx: BlockContext, opts: AttentionBuildOptions = {}): void {
  const { g } = ctx;
  const u = arch.unet;
  const lat = latentSize(arch);
  const x = g.input(UNET_IO.refLatents, 'float32', [1, u.inChannels, lat, lat]);
  const b = start(arch, ctx, 'reference', opts);
  const h = conv2d(ctx, x, 'conv_in', { inCh: u.inChannels, outCh: u.blockOutChannels[0]!, kernel: 3 });
  try {
    unetBody(b, h);
    throw new Error('internal: the reference UNet ended before its last bank tap');
  } catch (e) {
    if (!(e instanceof StopBuild)) throw e;
  }
  bankSites(arch).forEach((s, i) => g.output(bankName(i), 'float16', [1, s.side * s.side, s.channels]));
}

/**
 * The denoising UNet: (sample (F,4,h,w), timestep, encoder_hidden_states, guidance (F,C0,h,w), bank_00 … float16
 * (1, L_i or 0, C_i)) → model_output (F,4,h,w), a v-prediction. F is dynamic, 1 … motion.maxLen.
 */
export function buildDenoisingUNet(arch: DiffusionArch, ctx: BlockContext, opts: AttentionBuildOptions = {}): void {
  const { g } = ctx;
  const u = arch.unet;
  const lat = latentSize(arch);
  const c0 = u.blockOutChannels[0]!;
  const x = g.input(UNET_IO.sample, 'float32', ['F', u.inChannels, lat, lat]);
  const b = start(arch, ctx, 'denoising', opts);
  const guidance = g.input(UNET_IO.guidance, 'float32', ['F', c0, lat, lat]);
  bankSites(arch).forEach((s, i) => g.input(bankName(i), 'float16', [1, `L${i}`, s.channels]));
  let h = conv2d(ctx, x, 'conv_in', { inCh: u.inChannels, outCh: c0, kernel: 3 });
  h = g.op('Add', [h, guidance]);
  h = unetBody(b, h);
  h = silu(g, groupNorm(ctx, h, 'conv_norm_out', c0, u.normGroups, u.resnetEps));
  g.op('Identity', [conv2d(ctx, h, 'conv_out', { inCh: c0, outCh: u.outChannels, kernel: 3 })], {}, UNET_IO.out);
  g.output(UNET_IO.out, 'float32', ['F', u.outChannels, lat, lat]);
}
