/** DECA E_flame import (toy widths) against the PyTorch forward of golden/deca_encoder_reference.py. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, copyFileSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importDecaEncoder, type DecaEncoderArch } from '../../src/kernel/perception/deca-encoder';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { openNpz } from '../../src/kernel/io/npy';
import { toFloat32 } from '../../src/kernel/io/ndarray';
import { MagicPortraitError } from '../../src/kernel/errors';

const FIX = join(__dirname, 'fixtures');
const TINY: DecaEncoderArch = { stem: 4, widths: [4, 8, 8, 16], blocks: [1, 1, 2, 1], hidden: 16, outDim: 236, imageSize: 224 };

test('E_flame from deca_model.tar: full key coverage and the PyTorch code vector', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-deca-'));
  try {
    const out = join(dir, 'e_flame.onnx');
    const r = await importDecaEncoder(join(FIX, 'deca_model_tiny.tar'), out, TINY);
    assert.deepEqual(r.coverage.unexpected, []);
    assert.ok(r.coverage.ignored.every((i) => i.key.endsWith('num_batches_tracked')));
    assert.equal(r.coverage.used.length + r.coverage.ignored.length, r.coverage.total);
    const npz = await openNpz(join(FIX, 'deca_encoder.npz'));
    const u8 = await npz.get('image_u8');
    const img = Float32Array.from(u8.data as Uint8Array, (v) => v / 255);
    const want = toFloat32(await npz.get('code'));
    const s = await createSession(out);
    const res = await s.run({ image: new ort.Tensor('float32', img, [2, 3, 224, 224]) });
    const got = res.code!.data as Float32Array;
    assert.deepEqual(res.code!.dims, [2, 236]);
    let m = 0;
    for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!));
    assert.ok(m < 1e-4, `max |Δ| ${m}`);
    await s.release();
    // wrong architecture → the key and both shapes are named
    await assert.rejects(importDecaEncoder(join(FIX, 'deca_model_tiny.tar'), out, { ...TINY, hidden: 32 }), (e: unknown) => e instanceof MagicPortraitError && /layers\.0\.weight/.test(e.message) && /\[16, 64\]/.test(e.message));
    // truncated file
    const bad = join(dir, 'bad.tar');
    copyFileSync(join(FIX, 'deca_model_tiny.tar'), bad);
    truncateSync(bad, Math.floor(statSync(bad).size / 2));
    await assert.rejects(importDecaEncoder(bad, out, TINY), (e: unknown) => e instanceof MagicPortraitError && /bad\.tar/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
