/** The official inference.yaml reader: the structure of the spec's file (fixture), wrong types, unknown keys. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkAgainstBundle, inferenceConfigKeys, parseInferenceConfig, readInferenceConfig, schedulerFromConfig } from '../../src/kernel/diffusion/inference-config';
import { REFERENCE_ARCH, TINY_ARCH } from '../../src/kernel/diffusion/graph/config';
import { REFERENCE_SCHEDULER } from '../../src/kernel/diffusion/scheduler';
import { MagicPortraitError } from '../../src/kernel/errors';
import { FIXTURES } from './helpers';

const FILE = join(FIXTURES, 'inference.yaml');
const TEXT = readFileSync(FILE, 'utf8');

function problems(text: string): string {
  try {
    parseInferenceConfig(text, 'x.yaml');
  } catch (e) {
    assert.ok(e instanceof MagicPortraitError, String(e));
    assert.equal(e.code, 'bad-config');
    return e.message;
  }
  assert.fail('accepted');
}

test('the official file (reference-pipeline.md §7, §8.1, §11) reads with its values, and describes the reference architecture and scheduler', () => {
  const c = readInferenceConfig(FILE);
  assert.equal(c.exp_name, 'Animation');
  assert.deepEqual([c.width, c.height, c.seed, c.num_inference_steps, c.guidance_scale], [512, 512, 42, 20, 3.5]);
  assert.deepEqual(c.data.frame_range, [0, 100]);
  assert.deepEqual(c.guidance_types, ['depth', 'normal', 'render']);
  assert.equal(c.weight_dtype, 'fp16');
  assert.deepEqual(c.guidance_encoder_kwargs.block_out_channels, [16, 32, 96, 256]);
  assert.deepEqual(c.unet_additional_kwargs.motion_module_kwargs.attention_block_types, ['Temporal_Self', 'Temporal_Self']);
  assert.deepEqual(checkAgainstBundle(c, REFERENCE_ARCH), []);
  const s = schedulerFromConfig(c);
  for (const k of Object.keys(s) as (keyof typeof s)[]) assert.equal(s[k], REFERENCE_SCHEDULER[k], k);
  assert.equal(inferenceConfigKeys().length, 46);
  for (const k of inferenceConfigKeys()) if (k !== 'data.guidance_process_size') assert.ok(TEXT.includes(`${k.split('.').at(-1)}:`), `${k} in the fixture`);
});

test('wrong types are errors naming each key and its line, all at once', () => {
  const bad = TEXT.replace('width: 512', 'width: "512"')
    .replace('guidance_scale: 3.5', 'guidance_scale: high')
    .replace('frame_range: [0, 100]', 'frame_range: [0]')
    .replace("  - 'render'", "  - 'colour'")
    .replace('enable_zero_snr: true', 'enable_zero_snr: 1')
    .replace('block_out_channels: [16, 32, 96, 256]', 'block_out_channels: 16')
    .replace('height: 512', 'height: 500');
  const m = problems(bad);
  console.log(`# ${m.split('\n').join('\n# ')}`);
  assert.match(m, /7 problems/);
  assert.match(m, /'width' \(line 4\) must be an integer, got the string "512"/);
  assert.match(m, /'height' \(line 5\) must be a multiple of 8, got 500/);
  assert.match(m, /'guidance_scale' \(line \d+\) must be a number, got the string "high"/);
  assert.match(m, /'data.frame_range' \(line 9\) must have 2 integers, got 1/);
  assert.match(m, /'guidance_types' \(line \d+\) may only hold 'depth', 'normal', 'render'; got 'colour'/);
  assert.match(m, /'enable_zero_snr' \(line \d+\) must be true or false, got number 1/);
  assert.match(m, /'guidance_encoder_kwargs.block_out_channels' \(line \d+\) must be a list of integers/);
});

test('unknown keys are reported (not ignored) with their line; missing keys are named; frame_range may be null or empty', () => {
  const m = problems(TEXT.replace('seed: 42', 'seed: 42\nsampler: ddim').replace("  frame_range: [0, 100]", "  frame_range: [0, 100]\n  mask_folder: './masks'").replace('  clip_sample: false\n', ''));
  assert.match(m, /unknown key 'sampler' \(line 12\): the official inference.yaml has no such key/);
  assert.match(m, /unknown key 'data.mask_folder' \(line 10\): the official inference.yaml has no such key under 'data'/);
  assert.match(m, /missing key 'noise_scheduler_kwargs.clip_sample' \(in 'noise_scheduler_kwargs' at line 30\)/);
  assert.match(problems(TEXT.replace('exp_name: Animation\n', '')), /missing key 'exp_name'/);
  assert.equal(parseInferenceConfig(TEXT.replace('frame_range: [0, 100]', 'frame_range: null')).data.frame_range, null);
  assert.equal(parseInferenceConfig(TEXT.replace('frame_range: [0, 100]', 'frame_range: []')).data.frame_range, null);
  assert.equal(parseInferenceConfig(TEXT.replace('exp_name: Animation', 'exp_name: null')).exp_name, null);
  assert.equal(parseInferenceConfig(TEXT.replace('  frame_range: [0, 100]', '  frame_range: [0, 100]\n  guidance_process_size: 8')).data.guidance_process_size, 8);
});

test('invalid YAML, duplicate keys, a non-mapping file and a missing file are clear errors', () => {
  assert.match(problems('width: [512\n'), /not valid YAML/);
  assert.match(problems(TEXT.replace('seed: 42', 'seed: 42\nseed: 7')), /not valid YAML:[\s\S]*unique/i);
  assert.match(problems('- a\n- b\n'), /the file \(line 1\) must be a mapping of keys, got a list/);
  assert.throws(() => readInferenceConfig(join(FIXTURES, 'nope.yaml')), (e: unknown) => e instanceof MagicPortraitError && e.code === 'missing-file' && /nope\.yaml/.test(e.message));
});

test('configuration vs bundle: another architecture or a structural switch the graphs do not implement is named', () => {
  const c = parseInferenceConfig(TEXT.replace('motion_module_type: Vanilla', 'motion_module_type: Conv').replace('num_attention_heads: 8', 'num_attention_heads: 4'));
  const m = checkAgainstBundle(c, REFERENCE_ARCH);
  assert.deepEqual(m.map((l) => l.split(' ')[0]), ['unet_additional_kwargs.motion_module_kwargs.num_attention_heads', 'unet_additional_kwargs.motion_module_type']);
  const tiny = checkAgainstBundle(readInferenceConfig(FILE), TINY_ARCH);
  assert.ok(tiny.some((l) => l.startsWith('width × height is 512 × 512; the bundle\'s graphs generate 64 × 64')));
  assert.ok(tiny.some((l) => l.startsWith('guidance_encoder_kwargs.block_out_channels is [16,32,96,256], the bundle has [8,8,16,16]')));
  assert.throws(() => schedulerFromConfig(parseInferenceConfig(TEXT.replace('clip_sample: false', 'clip_sample: true'))), /clip_sample: true is not supported/);
  const eps = schedulerFromConfig(parseInferenceConfig(TEXT.replace('enable_zero_snr: true', 'enable_zero_snr: false')));
  assert.deepEqual([eps.rescaleBetasZeroSnr, eps.timestepSpacing, eps.predictionType], [false, 'leading', 'epsilon']);
});
