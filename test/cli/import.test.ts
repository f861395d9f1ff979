/** `magicportrait import` on the synthetic real-layout checkpoints: estimate, import with coverage, usage errors. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as capture } from './capture';
import { IMPORT_TEST_ARCH, unpackSynthetic } from '../diffusion/import-helpers';
import type { ImportPaths } from '../../src/kernel/diffusion/import';

let root: string;
let p: ImportPaths;
let archFile: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'mp-cli-import-'));
  p = unpackSynthetic(join(root, 's'));
  archFile = join(root, 'arch.json');
  writeFileSync(archFile, JSON.stringify(IMPORT_TEST_ARCH));
});
after(() => rmSync(root, { recursive: true, force: true }));

const base = () => ['import', '--sd15', p.sd15Dir, '--vae', p.vaeDir, '--motion', p.motionModule, '--ckpts', p.ckptDir, '--arch', archFile];

test('magicportrait import --estimate prints per-model sizes', async () => {
  const r = await capture([...base(), '--estimate']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /denoisingUnet/);
  assert.match(r.out, /Needs about .* of disk and .* of memory/);
});

test('magicportrait import writes the bundle and prints progress and 100% coverage', async () => {
  const out = join(root, 'bundle');
  const r = await capture([...base(), '--text-embeds', p.textEmbeds!, '--out', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\[\s*0%\] opening checkpoints/);
  assert.match(r.out, /\[100%\] bundle written/);
  assert.match(r.out, /denoising_unet\.pth: \d+ keys — \d+ used/);
  assert.match(r.out, /Key coverage: 100%/);
  assert.ok(existsSync(join(out, 'manifest.json')));
});

test('usage errors name the missing flag', async () => {
  const r = await capture(['import', '--sd15', p.sd15Dir]);
  assert.equal(r.code, 2);
  assert.match(r.err, /needs --vae, --motion, --ckpts, --out/);
  const r2 = await capture([...base(), '--out', join(root, 'x'), '--precision', 'fp8']);
  assert.equal(r2.code, 2);
  assert.match(r2.err, /--precision must be fp32 or fp16/);
});

test('magicportrait import-deca writes the encoder and prints coverage', async () => {
  const out = join(root, 'e_flame.onnx');
  // the real deca_model.tar is full size; the toy one needs the toy architecture, so only the error path runs here
  const r = await capture(['import-deca', join(__dirname, '..', 'perception', 'fixtures', 'deca_model_tiny.tar'), out]);
  assert.equal(r.code, 2);
  assert.match(r.err, /deca_model_tiny\.tar:E_flame: key 'encoder\.conv1\.weight' has shape \[4, 3, 7, 7\], expected \[64, 3, 7, 7\]/);
  const r2 = await capture(['import-deca']);
  assert.equal(r2.code, 2);
});
