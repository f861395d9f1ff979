import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zipSync } from 'fflate';
import { MagicPortraitError } from '../../src/kernel/errors';
import { openSafetensors } from '../../src/kernel/io/safetensors';
import { bufferSource, type ByteSource } from '../../src/kernel/io/source';
import { openTorchCheckpoint } from '../../src/kernel/io/torch-checkpoint';
import { TorchTensorRef } from '../../src/kernel/io/torch-pickle';
import { fixture, loadJson, readFixture, tag, tagNd } from './helpers';

/** A source that records every read, to prove what the readers touch. */
function countingSource(bytes: Uint8Array, name: string): ByteSource & { reads: [number, number][]; total(): number } {
  const inner = bufferSource(bytes, name);
  const reads: [number, number][] = [];
  return {
    name,
    size: bytes.length,
    reads,
    total: () => reads.reduce((s, [, l]) => s + l, 0),
    read(o, l) {
      reads.push([o, l]);
      return inner.read(o, l);
    },
    close: () => inner.close(),
  };
}

const expected = loadJson('torch.json');

describe('torch checkpoints', () => {
  for (const [file, format] of [
    ['ckpt_zip.pt', 'zip'],
    ['deca_like.tar', 'zip'],
    ['ckpt_legacy.pt', 'legacy'],
  ] as const) {
    it(`${file}: every tensor matches torch exactly (dtypes, views, offsets, shared storages)`, async () => {
      const ck = await openTorchCheckpoint(fixture(file));
      try {
        assert.equal(ck.format, format);
        assert.deepEqual(ck.keys(), Object.keys(expected.ckpt));
        for (const k of ck.keys()) {
          const e = expected.ckpt[k];
          assert.deepEqual(ck.info(k), { key: k, dtype: e.__nd__, shape: e.shape });
          assert.deepEqual(tagNd(await ck.get(k)), e, k);
        }
        // non-tensor values are kept in the tree
        assert.deepEqual(tag((ck.root as Map<string, unknown>).get('meta')), expected.meta);
      } finally {
        await ck.close();
      }
    });
  }

  it('legacy: the pickle prefix is grown until it parses', async () => {
    const src = countingSource(readFixture('ckpt_legacy.pt'), 'ckpt_legacy.pt');
    const ck = await openTorchCheckpoint(src, { legacyProbeBytes: 64 });
    assert.ok(src.reads.filter(([o]) => o === 0).length > 2, 'several growing reads from the start');
    assert.deepEqual(tagNd(await ck.get('E_flame.shared_b')), expected.ckpt['E_flame.shared_b']);
  });

  it('nested dicts are navigable with scope()', async () => {
    const ck = await openTorchCheckpoint(fixture('deca_like.tar'));
    const enc = ck.scope('E_flame');
    assert.ok(enc.has('conv.weight'));
    assert.deepEqual(enc.info('conv.weight').shape, [2, 3, 2, 2]);
    assert.deepEqual(tagNd(await enc.get('bn.num_batches_tracked')), expected.ckpt['E_flame.bn.num_batches_tracked']);
    assert.deepEqual(ck.scope('E_detail').keys(), ['fc.weight']);
    assert.throws(() => ck.scope('D_detail'), (e: unknown) => e instanceof MagicPortraitError && e.code === 'missing-key' && /'D_detail'.*deca_like\.tar.*E_flame/.test(e.message));
    await ck.close();
  });

  it('flat (SMIRK) and state_dict-wrapped checkpoints', async () => {
    const smirk = await openTorchCheckpoint(fixture('smirk_like.pt'));
    assert.deepEqual(smirk.keys(), Object.keys(expected.smirk));
    for (const k of smirk.keys()) assert.deepEqual(tagNd(await smirk.get(k)), expected.smirk[k]);
    const wrapped = await openTorchCheckpoint(fixture('wrapped.pt'));
    const sd = wrapped.scope('state_dict');
    assert.deepEqual(sd.keys(), Object.keys(expected.smirk));
    assert.deepEqual(tagNd(await sd.get('smirk_generator.b')), expected.smirk['smirk_generator.b']);
    assert.equal((wrapped.root as Map<string, unknown>).get('epoch'), 9);
    await Promise.all([smirk.close(), wrapped.close()]);
  });

  it('a missing key names the key and the file', async () => {
    const ck = await openTorchCheckpoint(fixture('ckpt_zip.pt'));
    await assert.rejects(ck.get('E_flame.nope.weight'), (e: unknown) => e instanceof MagicPortraitError && e.code === 'missing-key' && e.message.includes("'E_flame.nope.weight'") && e.message.includes('ckpt_zip.pt'));
    assert.throws(() => ck.info('x'), /Tensor 'x' not found in ckpt_zip\.pt/);
    await ck.close();
  });

  it('opening reads no storage; get() reads only the tensor byte range', async () => {
    for (const file of ['ckpt_zip.pt', 'ckpt_legacy.pt']) {
      const bytes = readFixture(file);
      const src = countingSource(bytes, file);
      const ck = await openTorchCheckpoint(src);
      const opened = src.reads.length;
      assert.ok(ck.root instanceof Map && [...ck.keys()].every((k) => ck.info(k)));
      assert.equal(src.reads.length, opened, 'info() does not read');
      // view_offset = base[1:, 2:] of a 4x5 float32 storage: elements 7..19 → 52 bytes
      await ck.get('E_flame.view_offset');
      const dataReads = src.reads.slice(opened).filter(([, l]) => l > 30);
      assert.deepEqual(dataReads.map(([, l]) => l), [52], file);
      await ck.close();
    }
  });

  it('a 16 MB checkpoint written from TS: open and get(small) read a few kB', async () => {
    const big = new Float32Array(4 << 20);
    for (let i = 0; i < big.length; i += 4096) big[i] = i;
    const small = new Float64Array([1.5, -2]);
    const bytes = zipSync(
      {
        'archive/data.pkl': stateDictPickle([
          ['big', 'FloatStorage', '0', [1024, 4096], [4096, 1], big.length],
          ['small', 'DoubleStorage', '1', [2], [1], 2],
        ]),
        'archive/byteorder': new TextEncoder().encode('little'),
        'archive/data/0': new Uint8Array(big.buffer),
        'archive/data/1': new Uint8Array(small.buffer),
      },
      { level: 0 },
    );
    const src = countingSource(bytes, 'big.pt');
    const ck = await openTorchCheckpoint(src);
    assert.ok(src.total() < 70_000, `open read ${src.total()} bytes`);
    assert.deepEqual(ck.info('big'), { key: 'big', dtype: 'float32', shape: [1024, 4096] });
    const before = src.total();
    assert.deepEqual(Array.from((await ck.get('small')).data as Float64Array), [1.5, -2]);
    assert.ok(src.total() - before < 100, `get(small) read ${src.total() - before} bytes`);
    const b = await ck.get('big');
    assert.equal((b.data as Float32Array)[4096 * 3], 4096 * 3);
    await ck.close();
  });

  it('zip64 archives (as torch writes for files over 4 GB)', async () => {
    const w = new Float32Array([0.5, 1.5, -2.5]);
    const bytes = zip64({
      'model/data.pkl': stateDictPickle([['w', 'FloatStorage', '0', [3], [1], 3]]),
      'model/data/0': new Uint8Array(w.buffer),
    });
    const ck = await openTorchCheckpoint(bufferSource(bytes, 'z64.pt'));
    assert.deepEqual(Array.from((await ck.get('w')).data as Float32Array), [0.5, 1.5, -2.5]);
  });

  it('bad files: wrong magic, not a checkpoint zip, truncation at every point', async () => {
    await assert.rejects(openTorchCheckpoint(fixture('f32_c.npy')), /f32_c\.npy is not a PyTorch checkpoint/);
    await assert.rejects(openTorchCheckpoint(fixture('stored.npz')), /stored\.npz is a zip file but not a PyTorch checkpoint/);
    await assert.rejects(openTorchCheckpoint(fixture('missing.pt')), /missing\.pt: file not found/);
    for (const file of ['ckpt_zip.pt', 'ckpt_legacy.pt']) {
      const full = readFixture(file);
      for (let n = 0; n < full.length; n += 3) {
        try {
          const ck = await openTorchCheckpoint(bufferSource(full.subarray(0, n), file));
          for (const k of ck.keys()) await ck.get(k);
          assert.fail(`${file} cut at ${n} was accepted`);
        } catch (e) {
          assert.ok(e instanceof MagicPortraitError, `${file} cut at ${n}: ${String(e)}`);
        }
      }
    }
  });

  it('the tree holds unread tensors as TorchTensorRef', async () => {
    const ck = await openTorchCheckpoint(fixture('ckpt_zip.pt'));
    const enc = (ck.root as Map<string, Map<string, unknown>>).get('E_flame')!;
    const v = enc.get('transposed') as TorchTensorRef;
    assert.ok(v instanceof TorchTensorRef);
    assert.deepEqual([v.shape, v.stride, v.storageOffset], [[5, 4], [1, 5], 0]);
    await ck.close();
  });
});

describe('safetensors', () => {
  const exp = loadJson('safetensors.json');
  it('reads every dtype exactly, lazily', async () => {
    const src = countingSource(readFixture('tensors.safetensors'), 'tensors.safetensors');
    const st = await openSafetensors(src);
    assert.deepEqual(st.keys(), Object.keys(exp));
    assert.deepEqual(st.metadata, { format: 'pt' });
    const opened = src.total();
    for (const k of st.keys()) {
      assert.deepEqual(st.info(k), { key: k, dtype: exp[k].__nd__, shape: exp[k].shape });
      assert.deepEqual(tagNd(await st.get(k)), exp[k], k);
    }
    assert.equal(src.total() - opened, 24 + 6 + 4 + 8 + 16 + 8 + 2 + 3 + 0);
    await assert.rejects(st.get('nope'), /Tensor 'nope' not found in tensors\.safetensors/);
  });

  it('bad files', async () => {
    const full = readFixture('tensors.safetensors');
    await assert.rejects(openSafetensors(full.subarray(0, 5)), /not a valid \.safetensors file: too short/);
    await assert.rejects(openSafetensors(fixture('f32_c.npy')), /f32_c\.npy is not a valid \.safetensors file/);
    for (let n = 8; n < full.length; n += 5) {
      await assert.rejects(
        (async () => {
          const st = await openSafetensors(bufferSource(full.subarray(0, n), 't.safetensors'));
          for (const k of st.keys()) await st.get(k);
        })(),
        MagicPortraitError,
        `cut at ${n}`,
      );
    }
  });
});

// ---- a tiny protocol-2 pickle writer for a flat state dict of tensors (torch's layout) ----
type TensorSpec = [key: string, storageType: string, storageKey: string, shape: number[], stride: number[], numel: number];
function stateDictPickle(tensors: TensorSpec[]): Uint8Array {
  const out: number[] = [0x80, 0x02];
  const op = (...b: number[]) => out.push(...b);
  const text = (s: string) => op(...Buffer.from(s, 'latin1'));
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    op(0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b); // BINUNICODE
  };
  const int = (v: number) => op(0x4a, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff); // BININT
  const tuple = (xs: number[]) => {
    op(0x28);
    xs.forEach(int);
    op(0x74);
  };
  text('ccollections\nOrderedDict\n)R(');
  for (const [key, type, skey, shape, stride, numel] of tensors) {
    str(key);
    text('ctorch._utils\n_rebuild_tensor_v2\n((');
    str('storage');
    text(`ctorch\n${type}\n`);
    str(skey);
    str('cpu');
    int(numel);
    op(0x74, 0x51); // TUPLE, BINPERSID
    int(0);
    tuple(shape);
    tuple(stride);
    op(0x89); // NEWFALSE
    text('ccollections\nOrderedDict\n)Rt'); // hooks, TUPLE
    op(0x52); // REDUCE
  }
  op(0x75, 0x2e); // SETITEMS, STOP
  return Uint8Array.from(out);
}

/** Stored-entry zip with every size/offset in zip64 extra fields and a zip64 end record. */
function zip64(files: Record<string, Uint8Array>): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let off = 0;
  const u64 = (b: Buffer, v: number, at: number) => b.writeBigUInt64LE(BigInt(v), at);
  for (const [name, data] of Object.entries(files)) {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30 + n.length + 20);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt32LE(0xffffffff, 18);
    local.writeUInt32LE(0xffffffff, 22);
    local.writeUInt16LE(n.length, 26);
    local.writeUInt16LE(20, 28);
    n.copy(local, 30);
    local.writeUInt16LE(1, 30 + n.length);
    local.writeUInt16LE(16, 32 + n.length);
    u64(local, data.length, 34 + n.length);
    u64(local, data.length, 42 + n.length);
    const c = Buffer.alloc(46 + n.length + 28);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(45, 4);
    c.writeUInt16LE(45, 6);
    c.writeUInt32LE(0xffffffff, 20);
    c.writeUInt32LE(0xffffffff, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt16LE(28, 30);
    c.writeUInt32LE(0xffffffff, 42);
    n.copy(c, 46);
    c.writeUInt16LE(1, 46 + n.length);
    c.writeUInt16LE(24, 48 + n.length);
    u64(c, data.length, 50 + n.length);
    u64(c, data.length, 58 + n.length);
    u64(c, off, 66 + n.length);
    central.push(c);
    parts.push(local, Buffer.from(data));
    off += local.length + data.length;
  }
  const cd = Buffer.concat(central);
  const rec = Buffer.alloc(56 + 20 + 22);
  rec.writeUInt32LE(0x06064b50, 0);
  u64(rec, 44, 4);
  u64(rec, central.length, 24);
  u64(rec, central.length, 32);
  u64(rec, cd.length, 40);
  u64(rec, off, 48);
  rec.writeUInt32LE(0x07064b50, 56);
  u64(rec, off + cd.length, 64);
  rec.writeUInt32LE(1, 72);
  rec.writeUInt32LE(0x06054b50, 76);
  rec.writeUInt16LE(0xffff, 84);
  rec.writeUInt16LE(0xffff, 86);
  rec.writeUInt32LE(0xffffffff, 88);
  rec.writeUInt32LE(0xffffffff, 92);
  return new Uint8Array(Buffer.concat([...parts, cd, rec]));
}
