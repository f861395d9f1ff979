/**
 * `magicportrait infer --config inference.yaml` end to end on the synthetic real-layout checkpoints (the importer
 * tests' files): the yaml's paths imported on the fly (then reused), its frame_range applied to sorted guidance files,
 * the official output files written; bad configurations refused with the key named.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli as capture } from './capture';
import { IMPORT_TEST_ARCH, unpackSynthetic } from '../diffusion/import-helpers';
import type { ImportPaths } from '../../src/kernel/diffusion/import';
import { encodeJpegLibjpeg } from '../../src/kernel/io/jpeg-libjpeg';
import { probeVideo } from '../../src/kernel/io/video';
import { listGuidance } from '../../src/kernel/cli/infer';
import type { Image } from '../../src/kernel/io/image';

let root: string;
let p: ImportPaths;
let archFile: string;
const official = readFileSync(join(__dirname, '..', 'diffusion', 'fixtures', 'inference.yaml'), 'utf8');
const savedCache = process.env.MAGICPORTRAIT_CACHE;

function image(seed: number, size = 64): Image {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.sin(i * 0.37 + seed) * 0.5 + 0.5) * 255;
  return { width: size, height: size, channels: 3, data };
}

/** The official file's structure with this test's paths and the synthetic checkpoints' (small) architecture. */
function yaml(over: Record<string, string> = {}): string {
  const a = IMPORT_TEST_ARCH;
  let t = official
    .replace('width: 512', `width: ${a.imageSize}`)
    .replace('height: 512', `height: ${a.imageSize}`)
    .replace("'./assets/girl1_cropped.jpg'", `'${join(root, 'ref.jpg')}'`)
    .replace("'./transfers/example1'", `'${join(root, 'transfers', 'example1')}'`)
    .replace('frame_range: [0, 100]', 'frame_range: [1, 4]')
    .replace("'./pre_trained/stable-diffusion-v1-5'", `'${p.sd15Dir}'`)
    .replace("'./pre_trained/sd-vae-ft-mse'", `'${p.vaeDir}'`)
    .replace("'./pre_trained/ckpts/'", `'${p.ckptDir}'`)
    .replace("'./pre_trained/ckpts/motion_module-47360.pth'", `'${p.motionModule}'`)
    .replace('num_inference_steps: 20', 'num_inference_steps: 2')
    .replace('num_attention_heads: 8', `num_attention_heads: ${a.unet.motion.heads}`)
    .replace('guidance_embedding_channels: 320', `guidance_embedding_channels: ${a.unet.blockOutChannels[0]}`)
    .replace('block_out_channels: [16, 32, 96, 256]', `block_out_channels: [${a.guidance.blockOutChannels.join(', ')}]`)
    .replace('  - 4\n  - 8\n', '  - 4\n');
  for (const [k, v] of Object.entries(over)) t = t.replace(k, v);
  const f = join(root, `cfg-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, t);
  return f;
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'mp-cli-infer-'));
  process.env.MAGICPORTRAIT_CACHE = join(root, 'cache');
  p = unpackSynthetic(join(root, 's'));
  archFile = join(root, 'arch.json');
  writeFileSync(archFile, JSON.stringify(IMPORT_TEST_ARCH));
  writeFileSync(join(root, 'ref.jpg'), encodeJpegLibjpeg(image(1)));
  // five frames per type, written in scrambled order: inference.py sorts the names
  for (const t of ['depth', 'normal', 'render']) {
    mkdirSync(join(root, 'transfers', 'example1', t), { recursive: true });
    for (const i of [3, 1, 5, 2, 4]) writeFileSync(join(root, 'transfers', 'example1', t, `frame_${String(i).padStart(4, '0')}.jpg`), encodeJpegLibjpeg(image(10 * i + t.length)));
  }
});
after(() => {
  if (savedCache === undefined) delete process.env.MAGICPORTRAIT_CACHE;
  else process.env.MAGICPORTRAIT_CACHE = savedCache;
  rmSync(root, { recursive: true, force: true });
});

test("guidance files: sorted names, then frame_range as a Python slice (inference.py's combine_guidance_data)", () => {
  const dir = join(root, 'transfers', 'example1');
  assert.deepEqual(listGuidance(dir, 'depth', [1, 4]).map((f) => f.slice(-14)), ['frame_0002.jpg', 'frame_0003.jpg', 'frame_0004.jpg']);
  assert.deepEqual(listGuidance(dir, 'depth', null).length, 5);
  assert.deepEqual(listGuidance(dir, 'depth', [-2, 100]).map((f) => f.slice(-14)), ['frame_0004.jpg', 'frame_0005.jpg']);
  assert.throws(() => listGuidance(dir, 'mask', null), /mask.* is not a folder/);
});

test('magicportrait infer imports the yaml\'s checkpoints, samples the frame range and writes animation / grid / guidance .mp4', async () => {
  const out = join(root, 'results');
  const args = ['infer', '--config', yaml(), '--arch', archFile, '--text-embeds', p.textEmbeds!, '--out', out];
  const r = await capture(args);
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /Importing the yaml's models into /);
  assert.match(r.out, /Note: weight_dtype 'fp16': inference.py overrides it with float32/);
  assert.match(r.out, /CUDA-generator noise cannot be regenerated off the GPU/);
  const runs = readdirSync(out);
  assert.equal(runs.length, 1);
  assert.match(runs[0]!, /^Animation-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d$/);
  const dir = join(out, runs[0]!);
  assert.deepEqual(readdirSync(dir).sort(), ['animation.mp4', 'grid.mp4', 'guidance.mp4']);
  const anim = probeVideo(join(dir, 'animation.mp4'));
  assert.equal(anim.frameCount, 3, 'frame_range [1, 4] of five frames');
  assert.equal(anim.width, 64);
  assert.equal(probeVideo(join(dir, 'grid.mp4')).width, 2 * 66 + 2, 'reference | result');
  assert.equal(probeVideo(join(dir, 'guidance.mp4')).width, 5 * 66 + 2, 'reference | result | depth | normal | render');
  assert.match(r.out, /Inference completed, results saved in /);
  // the same files again: the imported bundle is reused
  const again = await capture(['infer', '--config', yaml({ 'exp_name: Animation': 'exp_name: null' }), '--arch', archFile, '--text-embeds', p.textEmbeds!, '--out', out]);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /imported earlier from the same files/);
  assert.ok(readdirSync(out).some((d) => /^exp-\d{4}/.test(d)), 'exp_name null → exp-<time>');
});

test('magicportrait infer refuses bad configurations and names the key, the file or the model difference', async () => {
  const unknown = await capture(['infer', '--config', yaml({ 'seed: 42': 'seed: 42\nsampler: ddim' })]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown key 'sampler' \(line \d+\)/);
  const badType = await capture(['infer', '--config', yaml({ 'guidance_scale: 3.5': 'guidance_scale: [3.5]' })]);
  assert.match(badType.err, /'guidance_scale' \(line \d+\) must be a number, got a list/);
  const missing = await capture(['infer', '--config', yaml({ [`'${join(root, 'transfers', 'example1')}'`]: `'${join(root, 'nowhere')}'` })]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, new RegExp(`data.guidance_data_folder: ${join(root, 'nowhere').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  // the official architecture's values against the small bundle imported above
  const other = await capture(['infer', '--config', yaml({ [`block_out_channels: [${IMPORT_TEST_ARCH.guidance.blockOutChannels.join(', ')}]`]: 'block_out_channels: [16, 32, 96, 256]' }), '--arch', archFile, '--text-embeds', p.textEmbeds!, '--out', join(root, 'r2')]);
  assert.equal(other.code, 2);
  assert.match(other.err, /describes another model than the bundle[\s\S]*guidance_encoder_kwargs.block_out_channels is \[16,32,96,256\], the bundle has \[8,8,16,16\]/);
  const usage = await capture(['infer', '--bundle', root]);
  assert.match(usage.err, /needs --config inference.yaml/);
});
