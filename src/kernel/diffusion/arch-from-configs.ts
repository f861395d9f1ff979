/**
 * The diffusion architecture of a set of checkpoints, derived from their own configs and shapes (`arch: 'auto'`, the
 * importer's default): real SD 1.5 + AnimateDiff + sd-vae-ft-mse give exactly REFERENCE_ARCH, and a smaller model in
 * the same layouts (e.g. the trainer's small demo: `python -m training`) gives its own widths.
 *
 *   unet/config.json          block_out_channels, down_block_types (→ cross-attention levels), layers_per_block,
 *                             attention_head_dim | num_attention_heads (heads), cross_attention_dim, norm_num_groups,
 *                             norm_eps, in/out_channels, sample_size (× the VAE factor = image size)
 *   vae/config.json           block_out_channels, layers_per_block, latent_channels, norm_num_groups, scaling_factor
 *   text_encoder/config.json  hidden_size (= the UNet's cross-attention width; unless a text embedding .npy is given)
 *   guidance_encoder_depth    widths from conv_in / blocks.1 / blocks.3 / blocks.5, embedding from conv_out
 *   motion module             positional-encoding length from `…pos_encoder.pe`
 *
 * What no shape records — the motion modules' heads and the guidance encoders' heads / GroupNorm groups — is the
 * reference's (8, 8, 32) unless unet/config.json has a `magicportrait` section (written by our trainer):
 * `{ "motion_module": { "num_attention_heads" }, "guidance_encoder": { "attention_num_heads", "norm_num_groups" } }`.
 * Inconsistent files give a MagicPortraitError naming both files and values.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { openSafetensors } from '../io/safetensors';
import { openTorchCheckpoint, type TensorStore } from '../io/torch-checkpoint';
import { type DiffusionArch, REFERENCE_ARCH, validateArch } from './graph/config';

export interface ArchSources {
  sd15Dir: string;
  vaeDir: string;
  motionModule: string;
  ckptDir: string;
  textEmbeds?: string;
}

type Json = Record<string, unknown>;

function readJson(path: string, what: string): Json {
  if (!existsSync(path)) throw new MagicPortraitError(`${what}: ${path} does not exist.`, 'missing-file');
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (e) {
    throw new MagicPortraitError(`${what}: ${path} is not valid JSON: ${(e as Error).message}`, 'bad-file');
  }
}

const bad = (msg: string) => new MagicPortraitError(msg, 'bad-config');

function num(cfg: Json, path: string, key: string, dflt?: number): number {
  const v = cfg[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${path}: ${key} is missing or not a number.`);
  return v;
}

function ints(cfg: Json, path: string, key: string): number[] {
  const v = cfg[key];
  if (!Array.isArray(v) || !v.length || !v.every((x) => Number.isInteger(x) && x > 0)) throw bad(`${path}: ${key} must be a list of positive integers.`);
  return v as number[];
}

/** One value for every block (diffusers allows per-block lists; the graphs use one). */
function uniform(v: unknown, path: string, key: string): number {
  if (Array.isArray(v)) {
    const list = v as unknown[];
    if (!list.length || list.some((x) => x !== list[0])) throw bad(`${path}: per-block ${key} ${JSON.stringify(v)} is not supported (one value for every block).`);
    v = list[0];
  }
  if (!Number.isInteger(v) || (v as number) <= 0) throw bad(`${path}: ${key} must be a positive integer.`);
  return v as number;
}

async function openStore(path: string, what: string): Promise<TensorStore & { close(): Promise<void> }> {
  if (!existsSync(path)) throw new MagicPortraitError(`${what}: ${path} does not exist.`, 'missing-file');
  return path.endsWith('.safetensors') ? openSafetensors(path) : openTorchCheckpoint(path);
}

/** `key` of a checkpoint, allowing the wrappers the importer unwraps ('state_dict.', 'module.'). */
function shapeOf(store: TensorStore, key: string, path: string): number[] {
  for (const k of [key, `state_dict.${key}`, `module.${key}`]) if (store.has(k)) return store.info(k).shape;
  throw new MagicPortraitError(`${path}: has no '${key}' (needed to tell the guidance encoder's widths).`, 'missing-key');
}

function ckptFile(dir: string, name: string): string {
  const pth = join(dir, `${name}.pth`);
  const st = join(dir, `${name}.safetensors`);
  return !existsSync(pth) && existsSync(st) ? st : pth;
}

/** The architecture the files describe (see the module comment). */
export async function deriveArch(src: ArchSources): Promise<DiffusionArch> {
  const unetPath = join(resolve(src.sd15Dir), 'unet', 'config.json');
  const vaePath = join(resolve(src.vaeDir), 'config.json');
  const u = readJson(unetPath, 'SD 1.5 UNet');
  const v = readJson(vaePath, 'VAE');
  const blocks = ints(u, unetPath, 'block_out_channels');
  const types = u.down_block_types;
  if (!Array.isArray(types) || types.length !== blocks.length)
    throw bad(`${unetPath}: down_block_types must list one block type per block_out_channels entry (${blocks.length}).`);
  const crossAttnLevels = types.map((t) => {
    if (t === 'CrossAttnDownBlock2D') return true;
    if (t === 'DownBlock2D') return false;
    throw bad(`${unetPath}: down block type '${String(t)}' is not supported (CrossAttnDownBlock2D, DownBlock2D).`);
  });
  if (u.use_linear_projection === true) throw bad(`${unetPath}: use_linear_projection is true; SD 1.5 (and the graphs) use 1×1 conv projections.`);
  const heads = uniform(u.num_attention_heads ?? u.attention_head_dim ?? 8, unetPath, u.num_attention_heads != null ? 'num_attention_heads' : 'attention_head_dim');
  const mp = (u.magicportrait ?? {}) as { motion_module?: Json; guidance_encoder?: Json };
  const vaeBlocks = ints(v, vaePath, 'block_out_channels');
  const factor = 2 ** (vaeBlocks.length - 1);
  const latentChannels = num(v, vaePath, 'latent_channels', 4);
  const inChannels = num(u, unetPath, 'in_channels', 4);
  if (latentChannels !== inChannels)
    throw bad(`${vaePath}: latent_channels is ${latentChannels}, but ${unetPath} has in_channels ${inChannels}: the VAE and the UNet do not belong together.`);
  const crossDim = num(u, unetPath, 'cross_attention_dim');

  // text width: the text encoder's config, unless a precomputed embedding replaces it
  if (!src.textEmbeds) {
    const tPath = join(resolve(src.sd15Dir), 'text_encoder', 'config.json');
    const t = readJson(tPath, 'text encoder');
    const hidden = num(t, tPath, 'hidden_size');
    if (hidden !== crossDim) throw bad(`${tPath}: hidden_size is ${hidden}, but ${unetPath} has cross_attention_dim ${crossDim}: the text encoder and the UNet do not belong together.`);
  }

  // guidance encoder widths from the depth encoder's shapes; the other two must agree
  const ckpt = resolve(src.ckptDir);
  let guidanceBlocks: number[] | undefined;
  let guidanceFile = '';
  for (const t of REFERENCE_ARCH.guidance.types) {
    const p = ckptFile(ckpt, `guidance_encoder_${t}`);
    const s = await openStore(p, `guidance encoder (${t})`);
    try {
      const w = [shapeOf(s, 'conv_in.weight', p)[0]!, shapeOf(s, 'blocks.1.weight', p)[0]!, shapeOf(s, 'blocks.3.weight', p)[0]!, shapeOf(s, 'blocks.5.weight', p)[0]!];
      const out = shapeOf(s, 'conv_out.weight', p)[0]!;
      if (out !== blocks[0]) throw bad(`${p}: conv_out has ${out} output channels, but ${unetPath} has block_out_channels[0] = ${blocks[0]} (the guidance is added after conv_in).`);
      if (guidanceBlocks && w.some((x, i) => x !== guidanceBlocks![i])) throw bad(`${p}: widths ${JSON.stringify(w)} differ from ${guidanceFile}'s ${JSON.stringify(guidanceBlocks)}.`);
      guidanceBlocks = w;
      guidanceFile = p;
    } finally {
      await s.close();
    }
  }

  // motion modules: positional-encoding length from the file
  let maxLen = Number(mp.motion_module?.temporal_position_encoding_max_len ?? 0);
  const ms = await openStore(resolve(src.motionModule), 'motion module');
  try {
    const pe = ms.keys().find((k) => k.endsWith('.pos_encoder.pe'));
    if (!pe) throw new MagicPortraitError(`${src.motionModule}: has no '*.pos_encoder.pe' key: not an AnimateDiff motion-module checkpoint.`, 'missing-key');
    const len = ms.info(pe).shape[1]!;
    if (maxLen && maxLen !== len) throw bad(`${unetPath}: magicportrait.motion_module.temporal_position_encoding_max_len is ${maxLen}, ${src.motionModule} has ${len} positions.`);
    maxLen = len;
  } finally {
    await ms.close();
  }

  const sample = num(u, unetPath, 'sample_size', 64);
  const arch: DiffusionArch = {
    imageSize: sample * factor,
    unet: {
      inChannels,
      outChannels: num(u, unetPath, 'out_channels', 4),
      blockOutChannels: blocks,
      crossAttnLevels,
      layersPerBlock: uniform(u.layers_per_block ?? 2, unetPath, 'layers_per_block'),
      heads,
      crossAttentionDim: crossDim,
      normGroups: num(u, unetPath, 'norm_num_groups', 32),
      resnetEps: num(u, unetPath, 'norm_eps', 1e-5),
      transformerEps: 1e-6,
      timeEmbedDim: blocks[0]!,
      motion: { heads: Number(mp.motion_module?.num_attention_heads ?? REFERENCE_ARCH.unet.motion.heads), maxLen },
    },
    vae: {
      inChannels: num(v, vaePath, 'in_channels', 3),
      latentChannels,
      blockOutChannels: vaeBlocks,
      layersPerBlock: num(v, vaePath, 'layers_per_block', 2),
      normGroups: num(v, vaePath, 'norm_num_groups', 32),
      eps: 1e-6,
      scalingFactor: num(v, vaePath, 'scaling_factor', REFERENCE_ARCH.vae.scalingFactor),
    },
    guidance: {
      types: [...REFERENCE_ARCH.guidance.types],
      inChannels: 3,
      blockOutChannels: guidanceBlocks!,
      heads: Number(mp.guidance_encoder?.attention_num_heads ?? REFERENCE_ARCH.guidance.heads),
      normGroups: Number(mp.guidance_encoder?.norm_num_groups ?? REFERENCE_ARCH.guidance.normGroups),
    },
    text: { tokens: REFERENCE_ARCH.text.tokens, dim: crossDim },
  };
  validateArch(arch, `the architecture of ${unetPath}, ${vaePath} and ${guidanceFile}`);
  return sameArch(arch, REFERENCE_ARCH) ? REFERENCE_ARCH : arch;
}

export function sameArch(a: DiffusionArch, b: DiffusionArch): boolean {
  const norm = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(norm) : x && typeof x === 'object' ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, norm((x as Json)[k])])) : x;
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}
