/**
 * A synthetic full set of model downloads, laid out as the user gets them: MagicPortrait ckpts/ (with the motion
 * module), SD 1.5 and sd-vae-ft-mse in diffusers layout (golden/import_synthetic.py, small widths), the synthetic
 * FLAME-format folder, DECA's deca_model.tar at toy widths and SMIRK_em1.pt (real layout and size, synthetic weights). `architecture` is what the importers must be told
 * about the small widths (the real architecture is the default).
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { IMPORT_TEST_ARCH, unpackSynthetic } from '../diffusion/import-helpers';
import type { DecaEncoderArch } from '../../src/kernel/perception/deca-encoder';

/** The architecture of test/perception/fixtures/deca_model_tiny.tar. */
export const TINY_DECA_ARCH: DecaEncoderArch = { stem: 4, widths: [4, 8, 8, 16], blocks: [1, 1, 2, 1], hidden: 16, outDim: 236, imageSize: 224 };

export const SYNTHETIC_ARCHITECTURE = { diffusion: IMPORT_TEST_ARCH, deca: TINY_DECA_ARCH };

export interface SyntheticDownloads {
  folders: Record<'magicportrait' | 'sd15' | 'vae' | 'flame' | 'deca' | 'smirk', string>;
  architecture: typeof SYNTHETIC_ARCHITECTURE;
}

export function syntheticDownloads(root: string): SyntheticDownloads {
  const p = unpackSynthetic(join(root, 'unpacked'));
  const mp = join(root, 'MagicPortrait', 'pre_trained');
  mkdirSync(mp, { recursive: true });
  renameSync(p.ckptDir, join(mp, 'ckpts'));
  renameSync(p.motionModule, join(mp, 'ckpts', 'motion_module-47360.pth'));
  renameSync(p.sd15Dir, join(root, 'stable-diffusion-v1-5'));
  renameSync(p.vaeDir, join(root, 'sd-vae-ft-mse'));
  const flameFix = join(__dirname, '..', 'flame', 'fixtures', 'synthetic_flame');
  const flame = join(root, 'FLAME2020');
  mkdirSync(flame, { recursive: true });
  for (const n of readdirSync(flameFix)) {
    if (n.endsWith('.gz')) writeFileSync(join(flame, n.slice(0, -3)), gunzipSync(readFileSync(join(flameFix, n))));
    else copyFileSync(join(flameFix, n), join(flame, n));
  }
  const deca = join(root, 'DECA', 'data');
  mkdirSync(deca, { recursive: true });
  copyFileSync(join(__dirname, '..', 'perception', 'fixtures', 'deca_model_tiny.tar'), join(deca, 'deca_model.tar'));
  const smirk = join(root, 'smirk', 'pretrained_models');
  mkdirSync(smirk, { recursive: true });
  copyFileSync(join(__dirname, '..', 'perception', 'fixtures', 'smirk_em1_synthetic.pt'), join(smirk, 'SMIRK_em1.pt'));
  return {
    folders: { magicportrait: join(mp, 'ckpts'), sd15: join(root, 'stable-diffusion-v1-5'), vae: join(root, 'sd-vae-ft-mse'), flame, deca, smirk },
    architecture: SYNTHETIC_ARCHITECTURE,
  };
}
