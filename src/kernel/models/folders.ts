/**
 * The folders a user downloads for MagicPortrait and the files the importers need from each: what the model manager
 * looks for, and a scan that says per file whether it was found (with its size). Only names and sizes are read here —
 * nothing is parsed — so a scan is safe anywhere, even in an untrusted workspace.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { FolderScan, FoundFile } from '../../shared/model-manager';

export type { FolderScan, FoundFile };

/** One file a folder should hold: the first candidate that exists is taken. */
export interface FileRule {
  /** Display name, e.g. `unet/diffusion_pytorch_model.safetensors`. */
  name: string;
  /** Paths relative to the folder, in order of preference; a function for names that vary (the motion module). */
  candidates: readonly string[] | ((dir: string) => string[]);
  /** Optional files are used when present (e.g. FLAME's texture space) and never block an import. */
  required: boolean;
}

export interface FolderSpec {
  id: string;
  label: string;
  /** What to point at, shown under the field. */
  hint: string;
  files: readonly FileRule[];
}

const sized = (p: string): number | undefined => {
  try {
    const s = statSync(p);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
};

/** Files whose name matches `re` in `dir`, sorted (a folder with several motion-module versions picks the first). */
export function matching(dir: string, re: RegExp): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => re.test(n))
      .sort();
  } catch {
    return [];
  }
}

export function scanFolder(spec: FolderSpec, path: string | undefined): FolderScan {
  const base = { id: spec.id, label: spec.label, hint: spec.hint };
  const empty = () => spec.files.map((f) => ({ name: f.name, required: f.required }));
  if (!path?.trim()) return { ...base, status: 'unset', files: empty() };
  let dir = resolve(path.trim());
  // Pointing at a file inside the folder (e.g. deca_model.tar itself) means its folder.
  if (sized(dir) !== undefined) dir = dirname(dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return { ...base, dir, status: 'not-a-folder', files: empty() };
  const files = spec.files.map((f): FoundFile => {
    const names = typeof f.candidates === 'function' ? f.candidates(dir) : f.candidates;
    for (const n of names) {
      const p = join(dir, n);
      const bytes = sized(p);
      if (bytes !== undefined) return { name: f.name, required: f.required, found: n, path: p, bytes };
    }
    return { name: f.name, required: f.required };
  });
  const complete = files.every((f) => !f.required || f.path);
  return { ...base, dir, status: complete ? 'complete' : 'incomplete', files };
}

// ------------------------------------------------------------------------------------------------------------------
// The folders MagicPortrait needs (issue #9): what the user downloads, laid out as it is downloaded.

const oneOf = (name: string, candidates: string[], required = true): FileRule => ({ name, candidates, required });
const ckpt = (name: string): FileRule => oneOf(`${name}.pth`, [`${name}.pth`, `${name}.safetensors`]);

export const MAGICPORTRAIT_CKPTS: FolderSpec = {
  id: 'magicportrait',
  label: 'MagicPortrait ckpts/',
  hint: 'the ckpts/ folder of the MagicPortrait release: denoising_unet.pth, reference_unet.pth, guidance_encoder_*.pth and the motion module',
  files: [
    ckpt('denoising_unet'),
    ckpt('reference_unet'),
    ckpt('guidance_encoder_depth'),
    ckpt('guidance_encoder_normal'),
    ckpt('guidance_encoder_render'),
    { name: 'motion_module*.pth', candidates: (dir) => matching(dir, /^(motion_module|mm_sd_v15).*\.(pth|ckpt|safetensors)$/), required: true },
  ],
};

export const SD15: FolderSpec = {
  id: 'sd15',
  label: 'Stable Diffusion 1.5',
  hint: 'the diffusers folder of stable-diffusion-v1-5 (unet/, text_encoder/, tokenizer/)',
  files: [
    oneOf('unet/config.json', ['unet/config.json']),
    oneOf('unet/diffusion_pytorch_model.safetensors', [
      'unet/diffusion_pytorch_model.safetensors',
      'unet/diffusion_pytorch_model.bin',
      'unet/diffusion_pytorch_model.fp16.safetensors',
      'unet/diffusion_pytorch_model.fp16.bin',
    ]),
    oneOf('text_encoder/config.json', ['text_encoder/config.json']),
    oneOf('text_encoder/model.safetensors', ['text_encoder/model.safetensors', 'text_encoder/pytorch_model.bin', 'text_encoder/model.fp16.safetensors', 'text_encoder/pytorch_model.fp16.bin']),
    oneOf('tokenizer/vocab.json', ['tokenizer/vocab.json']),
    oneOf('tokenizer/merges.txt', ['tokenizer/merges.txt']),
    oneOf('tokenizer/special_tokens_map.json', ['tokenizer/special_tokens_map.json'], false),
  ],
};

export const SD_VAE: FolderSpec = {
  id: 'vae',
  label: 'sd-vae-ft-mse',
  hint: 'the diffusers folder of stabilityai/sd-vae-ft-mse (config.json + weights)',
  files: [
    oneOf('config.json', ['config.json']),
    oneOf('diffusion_pytorch_model.safetensors', ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin', 'diffusion_pytorch_model.fp16.safetensors', 'diffusion_pytorch_model.fp16.bin']),
  ],
};

export const FLAME_2020: FolderSpec = {
  id: 'flame',
  label: 'FLAME 2020',
  hint: 'the FLAME 2020 folder (generic_model.pkl), with DECA\'s landmark_embedding.npy, FLAME_texture.npz and head_template.obj when you have them',
  files: [
    oneOf('generic_model.pkl', ['generic_model.pkl', 'generic_model.npz']),
    oneOf('landmark_embedding.npy', ['landmark_embedding.npy', 'landmark_embedding.npz'], false),
    oneOf('FLAME_texture.npz', ['FLAME_texture.npz'], false),
    oneOf('head_template.obj', ['head_template.obj'], false),
  ],
};

/** A folder holding one checkpoint file (DECA's deca_model.tar, SMIRK's SMIRK_em1.pt). */
export function singleFileFolder(id: string, label: string, file: string, hint: string): FolderSpec {
  return { id, label, hint, files: [oneOf(file, [file])] };
}
