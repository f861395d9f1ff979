import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MagicPortraitError } from '../../src/kernel/errors';
import { NdArray, scalarOf } from '../../src/kernel/io/ndarray';
import { openNpz, parseNpy, readNpy, writeNpy, writeNpz } from '../../src/kernel/io/npy';
import { TORCH_NUMPY_GLOBALS } from '../../src/kernel/io/torch-pickle';
import { fixture, loadJson, readFixture, tag, tagNd } from './helpers';

describe('npy', () => {
  const expected = loadJson('npy.json');
  for (const name of ['f32_c', 'f64_f', 'i64_be', 'bool', 'u8_0d', 'f16', 'str']) {
    it(`reads ${name}.npy exactly`, async () => {
      assert.deepEqual(tagNd(await readNpy(fixture(`${name}.npy`))), expected[name]);
    });
  }

  it('reads format versions 2 and 3', () => {
    for (const v of ['f32_v2', 'f32_v3']) assert.deepEqual(tagNd(parseNpy(readFixture(`${v}.npy`))), expected.f32_c);
  });

  it('reads a DECA-style landmark_embedding.npy (pickled dict with torch tensors)', async () => {
    const a = await readNpy(fixture('landmark_embedding.npy'), { globals: TORCH_NUMPY_GLOBALS });
    assert.equal(a.dtype, 'object');
    assert.deepEqual(a.shape, []);
    const d = scalarOf(a) as Map<string, NdArray>;
    assert.deepEqual(tag(d), expected.landmark_embedding);
    assert.deepEqual(d.get('dynamic_lmk_bary_coords')!.shape, [2, 3, 3]);
  });

  it('refuses torch globals in object arrays unless allowed', async () => {
    await assert.rejects(readNpy(fixture('landmark_embedding.npy')), /torch\._utils\._rebuild_tensor_v2.*landmark_embedding\.npy|landmark_embedding\.npy.*torch/);
  });

  it('round-trips through writeNpy (C, F, 0-d, str, every numeric dtype)', () => {
    for (const name of ['f32_c', 'f64_f', 'i64_be', 'bool', 'u8_0d', 'f16', 'str']) {
      const a = parseNpy(readFixture(`${name}.npy`));
      const b = parseNpy(writeNpy(a));
      assert.deepEqual(tagNd(b), tagNd(a), name);
      assert.equal(writeNpy(a).subarray(0, 10 + new DataView(writeNpy(a).buffer).getUint16(8, true)).length % 64, 0);
    }
  });

  it('reports wrong magic and truncation', () => {
    assert.throws(() => parseNpy(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), { file: 'x.npy' }), /x\.npy is not a valid \.npy file: wrong magic/);
    const full = readFixture('f64_f.npy');
    for (let n = 0; n < full.length; n++) {
      assert.throws(() => parseNpy(full.subarray(0, n), { file: 'f64_f.npy' }), (e: unknown) => e instanceof MagicPortraitError && e.message.includes('f64_f.npy'), `cut at ${n}`);
    }
    const obj = readFixture('landmark_embedding.npy');
    for (let n = 0; n < obj.length; n += 7) {
      assert.throws(() => parseNpy(obj.subarray(0, n), { file: 'lmk.npy', globals: TORCH_NUMPY_GLOBALS }), MagicPortraitError, `cut at ${n}`);
    }
  });
});

describe('npz', () => {
  const expected = loadJson('npz.json');
  for (const f of ['stored.npz', 'deflated.npz']) {
    it(`reads ${f} lazily by name`, async () => {
      const z = await openNpz(fixture(f));
      try {
        assert.deepEqual(z.names(), Object.keys(expected));
        for (const k of z.names()) assert.deepEqual(tagNd(await z.get(k)), expected[k], k);
        await assert.rejects(z.get('nope'), (e: unknown) => e instanceof MagicPortraitError && e.code === 'missing-key' && /'nope'.*stored\.npz|'nope'.*deflated\.npz/.test(e.message));
      } finally {
        await z.close();
      }
    });
  }

  it('round-trips writeNpz, stored and compressed', async () => {
    const z0 = await openNpz(fixture('deflated.npz'));
    const arrays = new Map<string, NdArray>();
    for (const k of z0.names()) arrays.set(k, await z0.get(k));
    await z0.close();
    for (const compress of [false, true]) {
      const z = await openNpz(writeNpz(arrays, { compress }), { file: 'mem.npz' });
      assert.deepEqual(tag(new Map(await Promise.all(z.names().map(async (k) => [k, await z.get(k)] as const)))), tag(arrays));
    }
  });

  it('reports a non-zip and a missing file clearly', async () => {
    await assert.rejects(openNpz(fixture('f32_c.npy')), /f32_c\.npy is not a valid zip archive/);
    await assert.rejects(openNpz(fixture('nope.npz')), (e: unknown) => e instanceof MagicPortraitError && /nope\.npz: file not found/.test(e.message));
  });
});
