/**
 * Architecture configuration of the diffusion stack (reference-pipeline.md §7.1, §7.4, §6.1) and what follows from
 * it: block channel bookkeeping, the reference-attention bank layout (§7.2), latent sizes. The full-size values are
 * the reference's; `TINY_ARCH` is the same architecture at small widths and depths for tests and demos.
 */
import { MagicPortraitError } from '../../errors';

export interface UNetArch {
  inChannels: number;
  outChannels: number;
  /** Per resolution level, e.g. [320, 640, 1280, 1280]. */
  blockOutChannels: number[];
  /** Which down levels have spatial transformers (the reference: all but the last). Up levels mirror this. */
  crossAttnLevels: boolean[];
  layersPerBlock: number;
  /** Attention heads of the spatial transformers (SD 1.5's `attention_head_dim 8` is used as 8 heads). */
  heads: number;
  crossAttentionDim: number;
  normGroups: number;
  /** GroupNorm eps of the ResNet blocks and conv_norm_out. */
  resnetEps: number;
  /** GroupNorm eps of the spatial transformers and motion modules. */
  transformerEps: number;
  /** Sinusoidal time-embedding channels (= blockOutChannels[0]) and the projected width (4×). */
  timeEmbedDim: number;
  /** Motion modules of the denoising UNet (AnimateDiff "Vanilla": two temporal self-attentions + GEGLU FF). */
  motion: { heads: number; maxLen: number };
}

export interface VAEArch {
  inChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normGroups: number;
  eps: number;
  /** The latent scale the reference hard-codes (0.18215). */
  scalingFactor: number;
}

/** The Geometric Guidance Encoder stand-in (§6.1): same layout and keys as the GGE, one encoder per type. */
export interface GuidanceArch {
  types: ('depth' | 'normal' | 'render')[];
  inChannels: number;
  blockOutChannels: number[];
  heads: number;
  normGroups: number;
}

export interface DiffusionArch {
  /** Model input image size (square), e.g. 512. */
  imageSize: number;
  unet: UNetArch;
  vae: VAEArch;
  guidance: GuidanceArch;
  text: { tokens: number; dim: number };
}

/** SD 1.5 + AnimateDiff motion modules + sd-vae-ft-mse + GGE, as the reference builds them. */
export const REFERENCE_ARCH: DiffusionArch = Object.freeze({
  imageSize: 512,
  unet: {
    inChannels: 4,
    outChannels: 4,
    blockOutChannels: [320, 640, 1280, 1280],
    crossAttnLevels: [true, true, true, false],
    layersPerBlock: 2,
    heads: 8,
    crossAttentionDim: 768,
    normGroups: 32,
    resnetEps: 1e-5,
    transformerEps: 1e-6,
    timeEmbedDim: 320,
    motion: { heads: 8, maxLen: 32 },
  },
  vae: { inChannels: 3, latentChannels: 4, blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, normGroups: 32, eps: 1e-6, scalingFactor: 0.18215 },
  guidance: { types: ['depth', 'normal', 'render'], inChannels: 3, blockOutChannels: [16, 32, 96, 256], heads: 8, normGroups: 32 },
  text: { tokens: 77, dim: 768 },
}) as DiffusionArch;

/** The same architecture at toy widths: 64×64 images, 8×8 latents, three UNet levels, one layer per block. */
export const TINY_ARCH: DiffusionArch = Object.freeze({
  imageSize: 64,
  unet: {
    inChannels: 4,
    outChannels: 4,
    blockOutChannels: [32, 64, 64],
    crossAttnLevels: [true, true, false],
    layersPerBlock: 1,
    heads: 4,
    crossAttentionDim: 32,
    normGroups: 8,
    resnetEps: 1e-5,
    transformerEps: 1e-6,
    timeEmbedDim: 32,
    motion: { heads: 4, maxLen: 32 },
  },
  vae: { inChannels: 3, latentChannels: 4, blockOutChannels: [16, 32, 32, 32], layersPerBlock: 1, normGroups: 8, eps: 1e-6, scalingFactor: 0.18215 },
  guidance: { types: ['depth', 'normal', 'render'], inChannels: 3, blockOutChannels: [8, 8, 16, 16], heads: 2, normGroups: 8 },
  text: { tokens: 77, dim: 32 },
}) as DiffusionArch;

/** Spatial factor between the image and the latent (2^(VAE levels − 1)). */
export function vaeFactor(vae: VAEArch): number {
  return 2 ** (vae.blockOutChannels.length - 1);
}

export function latentSize(arch: DiffusionArch): number {
  return arch.imageSize / vaeFactor(arch.vae);
}

/** One spatial transformer of a UNet: its module path, width and latent grid. */
export interface TransformerSite {
  /** e.g. 'down_blocks.0.attentions.1', 'mid_block.attentions.0', 'up_blocks.3.attentions.2'. */
  path: string;
  channels: number;
  /** Grid side in latent cells at this level (the token count is side²). */
  side: number;
}

/**
 * The reference-attention bank layout: every spatial transformer in module-path order down → mid → up, which is
 * the pairing the reference's width-sorted zip produces (§7.2) and the §9.1 bank table (bank_00 … bank_15).
 */
export function bankSites(arch: DiffusionArch): TransformerSite[] {
  const u = arch.unet;
  const n = u.blockOutChannels.length;
  const side0 = latentSize(arch);
  const out: TransformerSite[] = [];
  for (let i = 0; i < n; i++)
    if (u.crossAttnLevels[i])
      for (let j = 0; j < u.layersPerBlock; j++) out.push({ path: `down_blocks.${i}.attentions.${j}`, channels: u.blockOutChannels[i]!, side: side0 >> i });
  out.push({ path: 'mid_block.attentions.0', channels: u.blockOutChannels[n - 1]!, side: side0 >> (n - 1) });
  for (let i = 0; i < n; i++) {
    const level = n - 1 - i;
    if (u.crossAttnLevels[level])
      for (let j = 0; j <= u.layersPerBlock; j++) out.push({ path: `up_blocks.${i}.attentions.${j}`, channels: u.blockOutChannels[level]!, side: side0 >> level });
  }
  return out;
}

export const bankName = (i: number): string => `bank_${String(i).padStart(2, '0')}`;

/** Checks an architecture for the constraints the graphs rely on; throws a MagicPortraitError naming the field. */
export function validateArch(a: DiffusionArch, where = 'architecture'): void {
  const bad = (field: string, why: string) => new MagicPortraitError(`${where}: ${field} ${why}.`, 'bad-config');
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (!posInt(a.imageSize)) throw bad('imageSize', 'must be a positive integer');
  const u = a.unet;
  if (!Array.isArray(u.blockOutChannels) || u.blockOutChannels.length < 2 || !u.blockOutChannels.every(posInt))
    throw bad('unet.blockOutChannels', 'must list at least two positive widths');
  if (!Array.isArray(u.crossAttnLevels) || u.crossAttnLevels.length !== u.blockOutChannels.length)
    throw bad('unet.crossAttnLevels', 'must have one entry per level');
  if (!u.crossAttnLevels.some(Boolean)) throw bad('unet.crossAttnLevels', 'needs at least one level with spatial transformers');
  for (const [k, v] of Object.entries({ inChannels: u.inChannels, outChannels: u.outChannels, layersPerBlock: u.layersPerBlock, heads: u.heads, crossAttentionDim: u.crossAttentionDim, normGroups: u.normGroups, timeEmbedDim: u.timeEmbedDim }))
    if (!posInt(v)) throw bad(`unet.${k}`, 'must be a positive integer');
  for (const c of u.blockOutChannels) {
    if (c % u.normGroups) throw bad('unet.blockOutChannels', `width ${c} does not split into ${u.normGroups} groups`);
    if (c % u.heads) throw bad('unet.blockOutChannels', `width ${c} does not split into ${u.heads} heads`);
    if (c % u.motion.heads) throw bad('unet.motion.heads', `width ${c} does not split into ${u.motion.heads} heads`);
  }
  if (u.timeEmbedDim % 2) throw bad('unet.timeEmbedDim', 'must be even');
  if (!posInt(u.motion.maxLen)) throw bad('unet.motion.maxLen', 'must be a positive integer');
  const v = a.vae;
  if (!Array.isArray(v.blockOutChannels) || v.blockOutChannels.length < 1 || !v.blockOutChannels.every((c) => posInt(c) && c % v.normGroups === 0))
    throw bad('vae.blockOutChannels', `must be positive multiples of ${v.normGroups} groups`);
  if (v.latentChannels !== u.inChannels) throw bad('vae.latentChannels', `(${v.latentChannels}) must equal unet.inChannels (${u.inChannels})`);
  if (!(v.scalingFactor > 0)) throw bad('vae.scalingFactor', 'must be positive');
  const f = vaeFactor(v);
  if (a.imageSize % f) throw bad('imageSize', `(${a.imageSize}) must be a multiple of the VAE factor ${f}`);
  const lat = a.imageSize / f;
  const down = 2 ** (u.blockOutChannels.length - 1);
  if (lat % down) throw bad('imageSize', `gives ${lat}×${lat} latents, which do not halve ${u.blockOutChannels.length - 1} times`);
  const gd = a.guidance;
  if (gd.blockOutChannels.length !== 4) throw bad('guidance.blockOutChannels', 'must have 4 widths (three stride-2 stages)');
  if (f !== 8) throw bad('vae.blockOutChannels', 'must give a factor-8 VAE (the guidance encoder downsamples by 8)');
  const last = gd.blockOutChannels[3]!;
  if (last % gd.normGroups || last % gd.heads) throw bad('guidance.blockOutChannels', `last width ${last} must split into ${gd.normGroups} groups and ${gd.heads} heads`);
  if (!gd.types.length) throw bad('guidance.types', 'must name at least one guidance type');
  if (!posInt(a.text.tokens) || a.text.dim !== u.crossAttentionDim) throw bad('text', `dim must equal unet.crossAttentionDim (${u.crossAttentionDim})`);
}
