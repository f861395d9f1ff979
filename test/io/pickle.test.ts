import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MagicPortraitError } from '../../src/kernel/errors';
import { NdArray, toCOrder, toFloat64, toInt32, int64ToNumbers } from '../../src/kernel/io/ndarray';
import { dictGet, readPickle, unpickle, type PyGlobal } from '../../src/kernel/io/pickle';
import { BUILTIN_GLOBALS, COLLECTIONS_GLOBALS, FLAME_GLOBALS, NUMPY_GLOBALS, SCIPY_SPARSE_GLOBALS, scipySparseGlobals, sparseToDense } from '../../src/kernel/io/pickle-globals';
import { fixture, loadJson, readFixture, tag, tagNd } from './helpers';

const NUMPY_ALL = [...NUMPY_GLOBALS, ...COLLECTIONS_GLOBALS];

describe('pickle: numpy arrays', () => {
  for (const p of [0, 2, 4, 5]) {
    it(`protocol ${p} matches numpy's values exactly`, () => {
      const v = unpickle(readFixture(`numpy_p${p}.pkl`), { globals: NUMPY_ALL, file: `numpy_p${p}.pkl` });
      assert.deepEqual(tag(v), loadJson('numpy.json'));
    });
  }

  it('keeps F order and converts to C order', () => {
    const v = unpickle(readFixture('numpy_p2.pkl'), { globals: NUMPY_ALL }) as Map<string, NdArray>;
    const f = v.get('f64_fortran')!;
    assert.equal(f.order, 'F');
    assert.deepEqual(f.shape, [3, 4]);
    const c = toCOrder(f);
    assert.equal(c.order, 'C');
    assert.deepEqual(Array.from(c.data as Float64Array), Array.from({ length: 12 }, (_, i) => i / 8 - 0.5));
  });

  it('int64 helpers convert or refuse out-of-range values', () => {
    const v = unpickle(readFixture('numpy_p4.pkl'), { globals: NUMPY_ALL }) as Map<string, NdArray>;
    const i64 = v.get('i64')!;
    assert.ok(i64.data instanceof BigInt64Array);
    assert.throws(() => toInt32(i64, 'i64'), /does not fit in int32/);
    assert.throws(() => int64ToNumbers(i64.data as BigInt64Array), /not exactly representable/);
    const be = v.get('be_i8')!;
    assert.deepEqual(Array.from(int64ToNumbers(be.data as BigInt64Array)), [1, -2, 3, 2 ** 50]);
    assert.deepEqual(Array.from(toInt32(v.get('u8')!)), [250, 251, 252, 253, 254, 255]);
    assert.deepEqual(Array.from(toFloat64(v.get('f16')!)), [0.5, -1.25, 65504, 2 ** -24]);
  });
});

describe('pickle: Python builtins', () => {
  for (const p of [0, 1, 2, 3, 4, 5]) {
    it(`protocol ${p}: containers, big ints, unicode, bytes, sets, memo`, () => {
      const v = unpickle(readFixture(`builtins_p${p}.pkl`), { globals: [...BUILTIN_GLOBALS, ...COLLECTIONS_GLOBALS] }) as Map<string, unknown>;
      assert.deepEqual(tag(v), loadJson('builtins.json'));
      // dict key order is kept, also for integer-like keys
      assert.deepEqual([...v.keys()].slice(0, 4), ['b', 'a', '10', '2']);
      const shared = v.get('shared') as unknown[][];
      assert.equal(shared[0], shared[1], 'memo GET returns the same object');
    });
  }
});

describe('pickle: FLAME-style Python 2 pickle (chumpy, scipy sparse, latin1)', () => {
  it('reads Ch arrays, the csc J_regressor and latin1 strings', () => {
    const v = unpickle(readFixture('flame_like_py2.pkl'), { globals: FLAME_GLOBALS, encoding: 'latin1', file: 'flame_like_py2.pkl' });
    assert.deepEqual(tag(v), loadJson('flame_like_py2.json'));
    assert.equal(dictGet(v, 'note'), 'café');
    assert.equal((dictGet(v, 'posedirs') as NdArray).order, 'F');
    assert.equal(dictGet(v, 'weights_again'), dictGet(v, 'weights'), 'memo GET after BUILD sees the rebuilt array');
  });

  it('readPickle reads a file and names it in errors', async () => {
    const v = await readPickle(fixture('flame_like_py2.pkl'), { globals: FLAME_GLOBALS });
    assert.equal(dictGet(v, 'bs_style', 'flame_like_py2.pkl'), 'lbs');
    assert.throws(() => dictGet(v, 'nope', 'flame_like_py2.pkl'), /Key 'nope' not found in flame_like_py2\.pkl/);
    await assert.rejects(readPickle(fixture('evil_posix_p4.pkl'), { globals: NUMPY_GLOBALS }), /evil_posix_p4\.pkl.*'posix\.system'/);
  });

  it('densifies sparse matrices on request', () => {
    const v = unpickle(readFixture('flame_like_py2.pkl'), { globals: [...FLAME_GLOBALS, ...scipySparseGlobals({ densify: true })] });
    const j = dictGet(v, 'J_regressor') as NdArray;
    assert.deepEqual(j.shape, [2, 4]);
    assert.deepEqual(Array.from(j.data as Float64Array), [0.25, 0, 0.75, 0, 0, 0.5, 0, 0.5]);
  });

  it("reads scipy's current module names (scipy.sparse._csc/_csr)", () => {
    const v = unpickle(readFixture('sparse_p4.pkl'), { globals: SCIPY_SPARSE_GLOBALS }) as Map<string, any>;
    const exp = loadJson('sparse.json');
    const { dense, ...rest } = exp;
    assert.deepEqual(tag(v), rest);
    // scipy's toarray() may be F-ordered; ours is always C-ordered float64
    assert.deepEqual(tagNd(sparseToDense(v.get('csc'))), { ...dense.csc, __nd__: 'float64', order: 'C' });
    assert.deepEqual(tagNd(sparseToDense(v.get('csr'))), { ...dense.csr, __nd__: 'float64', order: 'C' });
  });

  it('with encoding "bytes", Python 2 strings stay bytes', () => {
    const v = unpickle(readFixture('flame_like_py2.pkl'), { globals: FLAME_GLOBALS, encoding: 'bytes' }) as Map<unknown, unknown>;
    const key = [...v.keys()].find((k) => k instanceof Uint8Array && Buffer.from(k).toString() === 'note') as Uint8Array;
    assert.deepEqual(Array.from(v.get(key) as Uint8Array), [0x63, 0x61, 0x66, 0xe9]);
  });
});

describe('pickle: safety', () => {
  const MARKER = '/tmp/magicportrait-pickle-pwned';
  const cases: [string, string][] = [
    ['evil_os_system_p0.pkl', 'os.system'],
    ['evil_posix_p4.pkl', 'posix.system'],
    ['evil_eval_p2.pkl', '__builtin__.eval'],
  ];
  for (const [file, name] of cases) {
    it(`refuses ${name} and names it and the file (${file})`, () => {
      rmSync(MARKER, { force: true });
      assert.throws(
        () => unpickle(readFixture(file), { globals: FLAME_GLOBALS, file }),
        (e: unknown) => e instanceof MagicPortraitError && e.code === 'forbidden-global' && e.message.includes(`'${name}'`) && e.message.includes(file),
      );
      assert.equal(existsSync(MARKER), false, 'nothing ran');
    });
  }

  it('refuses numpy globals when only builtins are allowed', () => {
    assert.throws(() => unpickle(readFixture('numpy_p4.pkl'), { globals: BUILTIN_GLOBALS, file: 'x.pkl' }), /numpy\.core\.multiarray\._reconstruct|collections\.OrderedDict/);
  });

  it('an allowlisted class used as data cannot be called unless it provides call()', () => {
    const token: PyGlobal = { module: 'm', name: 'C' };
    // GLOBAL m C; EMPTY_TUPLE; REDUCE; STOP
    const bad = Buffer.from('cm\nC\n)R.', 'latin1');
    assert.throws(() => unpickle(bad, { globals: [token] }), /'m\.C' cannot be called/);
  });

  it('every truncation point of a pickle errors cleanly with the offset', () => {
    for (const file of ['numpy_p2.pkl', 'numpy_p5.pkl', 'builtins_p0.pkl', 'flame_like_py2.pkl']) {
      const full = readFixture(file);
      for (let n = 0; n < full.length; n++) {
        assert.throws(
          () => unpickle(full.subarray(0, n), { globals: FLAME_GLOBALS, file }),
          (e: unknown) => e instanceof MagicPortraitError && /at byte \d+/.test(e.message) && e.message.includes(file),
          `${file} cut at ${n}`,
        );
      }
    }
  });

  it('unknown opcodes and stray bytes are reported with the offset', () => {
    assert.throws(() => unpickle(Uint8Array.from([0x80, 0x02, 0xff]), { globals: [] }), /Unknown pickle opcode 0xff \(in pickle at byte 2\)/);
    assert.throws(() => unpickle(Uint8Array.from([0x80, 0x09]), { globals: [] }), /Unsupported pickle protocol 9/);
    assert.throws(() => unpickle(Uint8Array.from([0x2e]), { globals: [] }), /stack underflow/);
    assert.throws(() => unpickle(Uint8Array.from([0x80, 0x02, 0x51, 0x2e]), { globals: [] }), /stack underflow/);
    // persistent id without a handler
    assert.throws(() => unpickle(Buffer.from('P1\n.', 'latin1'), { globals: [] }), /persistent ids/);
    // memo GET of an undefined slot
    assert.throws(() => unpickle(Buffer.from('g7\n.', 'latin1'), { globals: [] }), /memo entry 7/);
  });

  it('a huge declared length is truncation, not an allocation', () => {
    // BINBYTES8 claiming 2^60 bytes
    const b = Uint8Array.from([0x80, 0x04, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x2e]);
    assert.throws(() => unpickle(b, { globals: [] }), (e: unknown) => e instanceof MagicPortraitError && e.code === 'truncated');
  });
});
