/**
 * The importer's derived architecture (`arch: 'auto'`, src/kernel/diffusion/arch-from-configs.ts): real-layout files
 * at SD 1.5 size give exactly REFERENCE_ARCH; the toy-width real-layout fixtures give their own widths once
 * unet/config.json names the heads no shape records; inconsistent files fail naming both files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MagicPortraitError } from '../../src/kernel/errors';
import { deriveArch } from '../../src/kernel/diffusion/arch-from-configs';
import { REFERENCE_ARCH } from '../../src/kernel/diffusion/graph/config';
import { IMPORT_TEST_ARCH, unpackSynthetic } from './import-helpers';
import { writeSparseCheckpoints } from './fullsize-helpers';

const tmp = () => mkdtempSync(join(tmpdir(), 'mp-arch-'));

const editJson = (path: string, edit: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(j);
  writeFileSync(path, JSON.stringify(j));
};

async function rejectsWith(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MagicPortraitError, String(e));
    for (const s of parts) assert.ok(e.message.includes(s), `"${e.message}" should mention ${s}`);
    return true;
  });
}

test('SD 1.5 + AnimateDiff + sd-vae-ft-mse + MagicPortrait layouts at full size give REFERENCE_ARCH', async () => {
  const dir = tmp();
  writeSparseCheckpoints(dir);
  const arch = await deriveArch({ sd15Dir: join(dir, 'sd15'), vaeDir: join(dir, 'vae'), motionModule: join(dir, 'mm.safetensors'), ckptDir: join(dir, 'ckpts'), textEmbeds: 'given' });
  assert.equal(arch, REFERENCE_ARCH);
  rmSync(dir, { recursive: true, force: true });
});

test('toy widths: derived from the configs and shapes, with the heads / groups from the magicportrait section', async () => {
  const dir = tmp();
  const p = unpackSynthetic(dir);
  const unetCfg = join(p.sd15Dir, 'unet', 'config.json');
  // without the section the reference's 8 heads / 32 groups apply, which these 16-wide encoders cannot split into
  await rejectsWith(deriveArch(p), 'guidance.blockOutChannels', '32 groups');
  const t = IMPORT_TEST_ARCH;
  editJson(unetCfg, (j) => {
    j.magicportrait = { motion_module: { num_attention_heads: t.unet.motion.heads }, guidance_encoder: { attention_num_heads: t.guidance.heads, norm_num_groups: t.guidance.normGroups } };
  });
  assert.deepEqual(await deriveArch(p), { ...t, vae: { ...t.vae, inChannels: 3 } });
  // the text encoder's width is checked when no precomputed embedding is given
  assert.deepEqual((await deriveArch({ ...p, textEmbeds: undefined })).text, t.text);
  rmSync(dir, { recursive: true, force: true });
});

test('inconsistent files fail, naming both files', async () => {
  const dir = tmp();
  const p = unpackSynthetic(dir);
  const unetCfg = join(p.sd15Dir, 'unet', 'config.json');
  editJson(unetCfg, (j) => {
    j.magicportrait = { motion_module: { num_attention_heads: 4 }, guidance_encoder: { attention_num_heads: 2, norm_num_groups: 8 } };
  });
  const vaeCfg = join(p.vaeDir, 'config.json');
  editJson(vaeCfg, (j) => (j.latent_channels = 8));
  await rejectsWith(deriveArch(p), vaeCfg, 'latent_channels is 8', unetCfg, 'in_channels 4');
  editJson(vaeCfg, (j) => (j.latent_channels = 4));
  const teCfg = join(p.sd15Dir, 'text_encoder', 'config.json');
  editJson(teCfg, (j) => (j.hidden_size = 24));
  await rejectsWith(deriveArch({ ...p, textEmbeds: undefined }), teCfg, 'hidden_size is 24', 'cross_attention_dim 16');
  editJson(unetCfg, (j) => (j.block_out_channels = [32, 32, 32]));
  await rejectsWith(deriveArch(p), 'guidance_encoder_depth.pth', 'conv_out has 16 output channels', 'block_out_channels[0] = 32');
  editJson(unetCfg, (j) => {
    j.block_out_channels = [16, 32, 32];
    j.attention_head_dim = [4, 8, 4];
  });
  await rejectsWith(deriveArch(p), unetCfg, 'per-block attention_head_dim');
  rmSync(dir, { recursive: true, force: true });
});
