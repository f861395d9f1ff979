/** The synthetic real-layout checkpoints of golden/import_synthetic.py, unpacked into a temp folder. */
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TINY_ARCH, type DiffusionArch } from '../../src/kernel/diffusion/graph/config';
import type { ImportPaths } from '../../src/kernel/diffusion/import';

export const IMPORT_FIXTURES = join(__dirname, 'fixtures', 'import');

/** TINY_ARCH at half the UNet / VAE widths (the architecture of the synthetic checkpoints). */
export const IMPORT_TEST_ARCH: DiffusionArch = {
  ...TINY_ARCH,
  unet: { ...TINY_ARCH.unet, blockOutChannels: [16, 32, 32], crossAttentionDim: 16, timeEmbedDim: 16 },
  vae: { ...TINY_ARCH.vae, blockOutChannels: [8, 16, 16, 16] },
  text: { tokens: 77, dim: 16 },
};

/** Gunzips every fixture into `dir`, returns the importer's paths. */
export function unpackSynthetic(dir: string): ImportPaths {
  const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
  for (const f of walk(IMPORT_FIXTURES)) {
    const out = join(dir, relative(IMPORT_FIXTURES, f).replace(/\.gz$/, ''));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, gunzipSync(readFileSync(f)));
  }
  return { sd15Dir: join(dir, 'sd15'), vaeDir: join(dir, 'vae'), motionModule: join(dir, 'motion_module.pth'), ckptDir: join(dir, 'ckpts'), textEmbeds: join(dir, 'text_embeds.npy') };
}
