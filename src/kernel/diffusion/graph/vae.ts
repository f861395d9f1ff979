/**
 * The VAE (diffusers `AutoencoderKL`, sd-vae-ft-mse in the reference, §7.4) as two graphs with the reference's pre-
 * and post-processing folded in:
 *   vae_encoder: image (1, 3, H, W) in [−1, 1] → latent (1, 4, H/8, W/8) = 0.18215 · mean (the mean, never a sample)
 *   vae_decoder: latent (N, 4, h, w) → image (N, 3, 8h, 8w) = clamp(decode(z / 0.18215) / 2 + 0.5, 0, 1)
 * Keys: encoder.*, quant_conv.*, post_quant_conv.*, decoder.* (diffusers naming; the mid-block attention uses
 * to_q/to_k/to_v/to_out.0 with biases and group_norm — older checkpoints' query/key/value/proj_attn must be renamed
 * by the importer).
 */
import { type BlockContext, conv2d, groupNorm, linear, silu, upsampleConv } from './ops';
import { attend, resnetBlock } from './unet';
import type { DiffusionArch, VAEArch } from './config';

export const VAE_IO = { image: 'image', latent: 'latent' } as const;

/** `UNetMidBlock2D` attention of the VAE: GN → one head over all pixels (q, k, v with bias) → to_out.0 → + input. */
export function vaeAttention(ctx: BlockContext, x: string, key: string, channels: number, groups: number, eps: number): string {
  const { g } = ctx;
  const c = channels;
  const n = groupNorm(ctx, x, `${key}.group_norm`, c, groups, eps);
  const t = g.op('Transpose', [g.op('Reshape', [n, g.constI64('tok_shape', [0, 0, -1])])], { perm: [0, 2, 1] });
  const a = attend(g, linear(ctx, t, `${key}.to_q`, c, c, true), linear(ctx, t, `${key}.to_k`, c, c, true), linear(ctx, t, `${key}.to_v`, c, c, true), 1, c);
  const o = linear(ctx, a, `${key}.to_out.0`, c, c, true);
  const back = g.op('Reshape', [g.op('Transpose', [o], { perm: [0, 2, 1] }), g.op('Shape', [x])]);
  return g.op('Add', [back, x]);
}

/** The VAE encoder's `Downsample2D` (padding 0): pad right and bottom by one, then a stride-2 3×3 conv. */
export function vaeDownsample(ctx: BlockContext, x: string, key: string, channels: number): string {
  const padded = ctx.g.op('Pad', [x, ctx.g.constI64('vae_pad', [0, 0, 0, 0, 0, 0, 1, 1])], { mode: 'constant' });
  return conv2d(ctx, padded, key, { inCh: channels, outCh: channels, kernel: 3, stride: 2, pad: 0 });
}

function midBlock(ctx: BlockContext, x: string, key: string, v: VAEArch, c: number): string {
  const r = { inCh: c, outCh: c, groups: v.normGroups, eps: v.eps };
  let h = resnetBlock(ctx, x, null, `${key}.resnets.0`, r);
  h = vaeAttention(ctx, h, `${key}.attentions.0`, c, v.normGroups, v.eps);
  return resnetBlock(ctx, h, null, `${key}.resnets.1`, r);
}

/** Encoder graph: `image` → `latent` (scaled mean). */
export function buildVaeEncoder(arch: DiffusionArch, ctx: BlockContext): void {
  const { g } = ctx;
  const v = arch.vae;
  const S = arch.imageSize;
  const ch = v.blockOutChannels;
  const x = g.input(VAE_IO.image, 'float32', ['N', v.inChannels, S, S]);
  let h = conv2d(ctx, x, 'encoder.conv_in', { inCh: v.inChannels, outCh: ch[0]!, kernel: 3 });
  let c = ch[0]!;
  for (let i = 0; i < ch.length; i++) {
    for (let j = 0; j < v.layersPerBlock; j++) {
      h = resnetBlock(ctx, h, null, `encoder.down_blocks.${i}.resnets.${j}`, { inCh: c, outCh: ch[i]!, groups: v.normGroups, eps: v.eps });
      c = ch[i]!;
    }
    if (i < ch.length - 1) h = vaeDownsample(ctx, h, `encoder.down_blocks.${i}.downsamplers.0.conv`, c);
  }
  h = midBlock(ctx, h, 'encoder.mid_block', v, c);
  h = conv2d(ctx, silu(g, groupNorm(ctx, h, 'encoder.conv_norm_out', c, v.normGroups, v.eps)), 'encoder.conv_out', { inCh: c, outCh: 2 * v.latentChannels, kernel: 3 });
  h = conv2d(ctx, h, 'quant_conv', { inCh: 2 * v.latentChannels, outCh: 2 * v.latentChannels, kernel: 1 });
  const mean = g.op('Slice', [h, g.constI64('m0', [0]), g.constI64('m1', [v.latentChannels]), g.constI64('m_ax', [1])]);
  g.op('Mul', [mean, g.constF32('vae_scale', [v.scalingFactor], [])], {}, VAE_IO.latent);
  g.output(VAE_IO.latent, 'float32', ['N', v.latentChannels, S / 8, S / 8]);
}

/** Decoder graph: `latent` → `image` in [0, 1]. */
export function buildVaeDecoder(arch: DiffusionArch, ctx: BlockContext): void {
  const { g } = ctx;
  const v = arch.vae;
  const S = arch.imageSize;
  const rev = [...v.blockOutChannels].reverse();
  const z = g.input(VAE_IO.latent, 'float32', ['N', v.latentChannels, S / 8, S / 8]);
  let h = g.op('Div', [z, g.constF32('vae_scale', [v.scalingFactor], [])]);
  h = conv2d(ctx, h, 'post_quant_conv', { inCh: v.latentChannels, outCh: v.latentChannels, kernel: 1 });
  h = conv2d(ctx, h, 'decoder.conv_in', { inCh: v.latentChannels, outCh: rev[0]!, kernel: 3 });
  let c = rev[0]!;
  h = midBlock(ctx, h, 'decoder.mid_block', v, c);
  for (let i = 0; i < rev.length; i++) {
    for (let j = 0; j <= v.layersPerBlock; j++) {
      h = resnetBlock(ctx, h, null, `decoder.up_blocks.${i}.resnets.${j}`, { inCh: c, outCh: rev[i]!, groups: v.normGroups, eps: v.eps });
      c = rev[i]!;
    }
    if (i < rev.length - 1) h = upsampleConv(ctx, h, `decoder.up_blocks.${i}.upsamplers.0.conv`, c);
  }
  h = conv2d(ctx, silu(g, groupNorm(ctx, h, 'decoder.conv_norm_out', c, v.normGroups, v.eps)), 'decoder.conv_out', { inCh: c, outCh: v.inChannels, kernel: 3 });
  const y = g.op('Add', [g.op('Div', [h, g.constF32('two', [2], [])]), g.constF32('half', [0.5], [])]);
  g.op('Clip', [y, g.constF32('zero', [0], []), g.constF32('one', [1], [])], {}, VAE_IO.image);
  g.output(VAE_IO.image, 'float32', ['N', v.inChannels, S, S]);
}
