/** Importer robustness: every user-caused failure is a MagicPortraitError naming the file and the key or global. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MagicPortraitError } from '../../src/kernel/errors';
import { openTorchCheckpoint } from '../../src/kernel/io/torch-checkpoint';
import { toFloat32 } from '../../src/kernel/io/ndarray';
import { importGGE } from '../../src/kernel/gge/import';
import { loadGGEBundle } from '../../src/kernel/gge/bundle';
import { runGGE, releaseGGE } from '../../src/kernel/gge/run';
import { FIXTURES, fixturePth, loadGolden, maxAbsDiff, synthImage, writeSafetensors } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'gge-import-'));
const pth = join(dir, 'guidance_encoder_depth.pth');
writeFileSync(pth, fixturePth());
const quiet = { log: () => {} };

async function fixtureEntries(): Promise<[string, { shape: number[]; data: Float32Array }][]> {
  const ck = await openTorchCheckpoint(pth);
  const out: [string, { shape: number[]; data: Float32Array }][] = [];
  for (const k of ck.keys()) {
    const a = await ck.get(k);
    out.push([k, { shape: [...a.shape], data: Float32Array.from(toFloat32(a)) }]);
  }
  await ck.close();
  return out;
}

const isMP = (code: string, ...parts: (string | RegExp)[]) => (e: unknown) => {
  assert.ok(e instanceof MagicPortraitError, `a MagicPortraitError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of parts) assert.ok(typeof p === 'string' ? e.message.includes(p) : p.test(e.message), `'${e.message}' mentions ${String(p)}`);
  return true;
};

test('a missing key is an error naming the file, the key and the expected shape', async () => {
  const key = 'attentions.5.transformer_blocks.0.attn1.to_k.weight';
  const f = join(dir, 'missing.safetensors');
  writeSafetensors(f, (await fixtureEntries()).filter(([k]) => k !== key));
  await assert.rejects(importGGE({ normal: f }, join(dir, 'b1'), quiet), isMP('missing-key', f, `'${key}'`, '[256, 256]', 'strict=False'));
});

test('a wrongly shaped key is an error naming the key, the expected and the actual shape', async () => {
  const f = join(dir, 'shape.safetensors');
  const entries = (await fixtureEntries()).map(([k, v]): [string, { shape: number[]; data: Float32Array }] =>
    k === 'conv_out.weight' ? [k, { shape: [320, 256, 1, 1], data: v.data.subarray(0, 320 * 256) }] : [k, v],
  );
  writeSafetensors(f, entries);
  await assert.rejects(importGGE({ render: f }, join(dir, 'b2'), quiet), isMP('bad-shape', "'conv_out.weight'", '[320, 256, 1, 1]', '[320, 256, 3, 3]'));
});

test('keys saved under a module prefix are refused with the keys the file does have', async () => {
  const f = join(dir, 'prefixed.safetensors');
  writeSafetensors(f, (await fixtureEntries()).map(([k, v]) => [`module.${k}`, v]));
  await assert.rejects(importGGE({ depth: f }, join(dir, 'b3'), quiet), isMP('missing-key', 'module.conv_in.weight'));
});

test('a truncated .pth is an error naming the file', async () => {
  const bytes = fixturePth();
  for (const cut of [bytes.length - 100, Math.floor(bytes.length / 2)]) {
    const f = join(dir, `truncated_${cut}.pth`);
    writeFileSync(f, bytes.subarray(0, cut));
    await assert.rejects(importGGE({ depth: f }, join(dir, 'b4'), quiet), (e: unknown) => {
      assert.ok(e instanceof MagicPortraitError, String(e));
      assert.match(e.message, new RegExp(`truncated_${cut}\\.pth`));
      return true;
    });
  }
});

test('a pickle referencing a forbidden global is refused, naming the global, and nothing is executed', async () => {
  const f = join(dir, 'guidance_encoder_normal.pth');
  copyFileSync(join(FIXTURES, loadGolden().forbidden.file), f);
  await assert.rejects(importGGE({ normal: f }, join(dir, 'b5'), quiet), isMP('forbidden-global', 'posix.system', 'guidance_encoder_normal.pth'));
});

test('unexpected keys are imported around and reported; a folder of checkpoints is found by name; float16 weights convert', async () => {
  const entries = await fixtureEntries();
  const ckpt = join(dir, 'ckpts');
  mkdirSync(ckpt);
  copyFileSync(pth, join(ckpt, 'guidance_encoder_depth.pth'));
  writeSafetensors(join(ckpt, 'guidance_encoder_normal.safetensors'), [...entries, ['extra.scale', { shape: [1], data: new Float32Array([2]) }]]);
  writeSafetensors(join(ckpt, 'guidance_encoder_render.safetensors'), entries, 'F16');
  let report = '';
  const b = await importGGE(ckpt, join(dir, 'b6'), { log: (t) => (report += t) });
  assert.deepEqual(b.manifest.sumOrder, ['depth', 'normal', 'render']);
  assert.deepEqual(b.coverage!.normal!.unexpected, ['extra.scale']);
  assert.match(report, /\[normal\][^\n]*1 unexpected[\s\S]*WARNING unexpected keys[\s\S]*extra\.scale/);
  assert.match(b.manifest.encoders.render!.source.kind === 'checkpoint' ? b.manifest.encoders.render!.source.file : '', /render\.safetensors$/);
  // Same weights → same features. The fixture weights are k·2^-e with |k| ≤ 15, exactly representable in float16,
  // so the float16 file must give bit-identical features too.
  const img = synthImage(64, 64, 0);
  const r = await runGGE({ depth: [img], normal: [img], render: [img] }, loadGGEBundle(b.dir), { threads: 1 });
  assert.deepEqual(r.features.normal![0], r.features.depth![0]);
  assert.equal(maxAbsDiff(r.features.render![0]!, r.features.depth![0]!), 0);
  await releaseGGE(b);
});

test('a file that is not a guidance encoder at all is named as such', async () => {
  const f = join(dir, 'other.safetensors');
  writeSafetensors(f, [['encoder.layer.weight', { shape: [2], data: new Float32Array(2) }]]);
  await assert.rejects(importGGE({ depth: f }, join(dir, 'b7'), quiet), isMP('missing-key', 'does not look like a depth guidance encoder', 'encoder.layer.weight'));
  await assert.rejects(importGGE({ depth: join(dir, 'nope.pth') }, join(dir, 'b8'), quiet), isMP('missing-file', 'nope.pth'));
});
