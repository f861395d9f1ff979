/** SMIRK encoder import (real architecture, synthetic weights) against the PyTorch forward of golden/smirk_reference.py. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMIRK_ENCODER_FILE, SMIRK_OUTPUTS, importSmirk, smirkEncoderKeys, type SmirkOutputName } from '../../src/kernel/perception/smirk-encoder';
import { TF_MOBILENETV3_LARGE_MINIMAL_100, TF_MOBILENETV3_SMALL_MINIMAL_100, makeDivisible, mobileNetFeatureChannels } from '../../src/kernel/perception/mobilenetv3';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { openNpz } from '../../src/kernel/io/npy';
import { toFloat32 } from '../../src/kernel/io/ndarray';
import { MagicPortraitError } from '../../src/kernel/errors';

const FIX = join(__dirname, 'fixtures');
const CKPT = join(FIX, 'smirk_em1_synthetic.pt');

test('timm minimal MobileNetV3 facts: feature widths, expansion rounding, parameter counts', () => {
  assert.equal(mobileNetFeatureChannels(TF_MOBILENETV3_SMALL_MINIMAL_100), 576);
  assert.equal(mobileNetFeatureChannels(TF_MOBILENETV3_LARGE_MINIMAL_100), 960);
  // e3.67 on 24 channels → 88; e2.3 on 80 → 184; e4.5 on 16 → 72
  assert.deepEqual([makeDivisible(24 * 3.67), makeDivisible(80 * 2.3), makeDivisible(16 * 4.5)], [88, 184, 72]);
  const keys = smirkEncoderKeys();
  const count = (prefix: string) => [...keys].filter(([k]) => k.startsWith(prefix)).reduce((s, [, sh]) => s + sh.reduce((a, b) => a * b, 1), 0);
  assert.ok(!keys.has('pose_encoder.encoder.conv_head.weight'), 'features_only has no head');
  assert.deepEqual(keys.get('expression_encoder.encoder.blocks.1.0.conv_dw.weight'), [64, 1, 3, 3]);
  assert.deepEqual(keys.get('shape_encoder.encoder.blocks.6.0.conv.weight'), [960, 160, 1, 1]);
  console.log(`# SMIRK encoder: pose ${count('pose_encoder.')} / shape ${count('shape_encoder.')} / expression ${count('expression_encoder.')} parameters`);
});

test('SMIRK_em1.pt layout → ONNX: strict key coverage, generator ignored, PyTorch outputs reproduced', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-smirk-'));
  try {
    const r = await importSmirk(CKPT, dir);
    assert.equal(r.path, join(dir, SMIRK_ENCODER_FILE));
    assert.deepEqual(r.coverage.unexpected, []);
    assert.equal(r.coverage.used.length + r.coverage.ignored.length, r.coverage.total);
    assert.ok(r.coverage.used.every((u) => u.key.startsWith('smirk_encoder.')));
    const gen = r.coverage.ignored.filter((i) => i.key.startsWith('smirk_generator.'));
    assert.equal(gen.length, 3);
    assert.ok(r.coverage.ignored.every((i) => i.key.startsWith('smirk_generator.') || i.key.endsWith('num_batches_tracked')));
    assert.match(r.report, /ignored 3 keys \(SMIRK generator/);

    const npz = await openNpz(join(FIX, 'smirk_encoder.npz'));
    const u8 = (await npz.get('image_u8')).data as Uint8Array;
    const img = Float32Array.from(u8, (v) => v / 255);
    const s = await createSession(r.path);
    const res = await s.run({ image: new ort.Tensor('float32', img, [2, 3, 224, 224]) });
    for (const name of Object.keys(SMIRK_OUTPUTS) as SmirkOutputName[]) {
      const want = toFloat32(await npz.get(name));
      const got = res[name]!.data as Float32Array;
      assert.deepEqual(res[name]!.dims, [2, SMIRK_OUTPUTS[name]]);
      let m = 0, scale = 0;
      for (let i = 0; i < want.length; i++) {
        m = Math.max(m, Math.abs(got[i]! - want[i]!));
        scale = Math.max(scale, Math.abs(want[i]!));
      }
      console.log(`# ${name}: max |Δ| ${m.toExponential(2)} (output scale ${scale.toFixed(3)})`);
      assert.ok(m <= 1e-4 * Math.max(1, scale), `${name}: max |Δ| ${m} at scale ${scale}`);
    }
    await s.release();
    await npz.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const rejects = (p: Promise<unknown>, code: string, re: RegExp) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MagicPortraitError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });

test('bad SMIRK checkpoints: truncated, renamed key, wrong shape, foreign file, non-allowlisted global', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-smirk-bad-'));
  try {
    const out = join(dir, 'out');
    const trunc = join(dir, 'SMIRK_em1.pt');
    copyFileSync(CKPT, trunc);
    truncateSync(trunc, Math.floor(statSync(trunc).size * 0.6));
    await rejects(importSmirk(trunc, out), 'bad-file', /SMIRK_em1\.pt.*truncated/);
    // the renamed key is named both as missing (its real name) and unexpected (the file's name)
    await rejects(importSmirk(join(FIX, 'smirk_bad_key.pt'), out), 'missing-key',
      /missing 1 key\(s\): smirk_encoder\.expression_encoder\.encoder\.blocks\.3\.1\.conv_dw\.weight \[200, 1, 3, 3\].*unexpected 1 key\(s\): smirk_encoder\.expression_encoder\.encoder\.blocks\.3\.1\.conv_depthwise\.weight/);
    await rejects(importSmirk(join(FIX, 'smirk_bad_shape.pt'), out), 'bad-shape', /smirk_encoder\.shape_encoder\.shape_layers\.0\.weight has \[100, 960\], expected \[300, 960\]/);
    await rejects(importSmirk(join(FIX, 'deca_model_tiny.tar'), out), 'missing-key', /not a SMIRK checkpoint.*E_flame/);
    await rejects(importSmirk(join(dir, 'nope.pt'), out), 'missing-file', /nope\.pt does not exist/);
    // a pickle that would run posix.system is refused before anything is called
    await rejects(importSmirk(join(FIX, 'smirk_evil_global.pt'), out), 'forbidden-global', /posix\.system.*not on the allowlist/);
    assert.ok(!existsSync('smirk_evil_global_ran') && !existsSync(join(dir, 'smirk_evil_global_ran')));
    assert.ok(!existsSync(join(out, SMIRK_ENCODER_FILE)), 'nothing written by a failed import');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
