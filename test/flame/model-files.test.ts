import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFlame } from '../../src/kernel/flame/model-files';
import type { FlameModelData } from '../../src/kernel/flame/types';
import { MagicPortraitError } from '../../src/kernel/errors';
import { NdArray, writeNpz } from '../../src/kernel/io';
import { prepareFlame, flameForward } from '../../src/kernel/flame/lbs';
import { maxAbsDiff, syntheticFlameDir, tempDir } from './helpers';

let model: FlameModelData;
let dir: string;
before(async () => {
  dir = syntheticFlameDir();
  model = await loadFlame(dir);
});

/** Asserts a MagicPortraitError whose message matches every pattern. */
async function rejectsWith(p: Promise<unknown>, ...patterns: RegExp[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MagicPortraitError, `expected a MagicPortraitError, got ${String(e)}`);
    for (const re of patterns) assert.match(e.message, re);
    return true;
  });
}

test('loads the synthetic FLAME-format folder with all its parts', () => {
  assert.equal(model.kind, 'flame');
  assert.equal(model.numVertices, 5023);
  assert.equal(model.numFaces, 9976);
  assert.equal(model.numJoints, 5);
  assert.equal(model.numShape, 300);
  assert.equal(model.numExpression, 100);
  assert.deepEqual(Array.from(model.parents), [-1, 0, 1, 1, 1]);
  assert.equal(model.posedirs!.length, 5023 * 3 * 36);
  assert.equal(model.landmarks!.dynamicRows, 79);
  assert.equal(model.texture!.size, 512);
  assert.equal(model.texture!.numComponents, 6);
  assert.ok(model.uv!.uvs.length / 2 > 5023);
  // J_regressor came from a scipy csc_matrix: each row averages a vertex set
  for (let j = 0; j < 5; j++) {
    let s = 0;
    for (let v = 0; v < 5023; v++) s += model.jRegressor[j * 5023 + v];
    assert.ok(Math.abs(s - 1) < 1e-12);
  }
});

test('float32 storage and an .npz model variant give the same model', async () => {
  const m32 = await loadFlame(dir, { dtype: 'float32' });
  assert.ok(m32.shapedirs instanceof Float32Array);
  assert.ok(maxAbsDiff(m32.shapedirs, model.shapedirs) < 1e-9);
  // the same arrays as an .npz (J_regressor dense, shapedirs combined as in the pickle)
  const d = tempDir();
  const V = 5023;
  const sd = new Float64Array(V * 3 * 400);
  for (let r = 0; r < V * 3; r++) {
    for (let l = 0; l < 300; l++) sd[r * 400 + l] = model.shapedirs[r * 300 + l];
    for (let l = 0; l < 100; l++) sd[r * 400 + 300 + l] = model.exprdirs[r * 100 + l];
  }
  const f64 = (a: ArrayLike<number>, shape: number[]) => new NdArray('float64', shape, Float64Array.from(a));
  writeFileSync(join(d, 'generic_model.npz'), writeNpz({
    v_template: f64(model.vTemplate, [V, 3]), f: new NdArray('uint32', [9976, 3], model.faces),
    shapedirs: f64(sd, [V, 3, 400]), posedirs: f64(model.posedirs!, [V, 3, 36]),
    J_regressor: f64(model.jRegressor, [5, V]), weights: f64(model.lbsWeights, [V, 5]),
    kintree_table: new NdArray('int64', [2, 5], BigInt64Array.from([4294967295n, 0n, 1n, 1n, 1n, 0n, 1n, 2n, 3n, 4n])),
  }, { compress: true }));
  copyFileSync(join(dir, 'landmark_embedding.npy'), join(d, 'landmark_embedding.npy'));
  const mz = await loadFlame(d);
  assert.equal(mz.name, 'FLAME (generic_model.npz)');
  for (const k of ['vTemplate', 'shapedirs', 'exprdirs', 'posedirs', 'jRegressor', 'lbsWeights'] as const) {
    assert.equal(maxAbsDiff(mz[k]!, model[k]!), 0, k);
  }
  const p = { batchSize: 1, pose: Float64Array.from({ length: 15 }, (_, i) => 0.1 * i) };
  assert.equal(maxAbsDiff(flameForward(prepareFlame(mz), p).vertices, flameForward(prepareFlame(model), p).vertices), 0);
});

test('missing files: the model is required and named; optional parts only when required', async () => {
  const empty = tempDir();
  await rejectsWith(loadFlame(empty), /FLAME model file not found/, /generic_model\.pkl/);
  const d = tempDir();
  copyFileSync(join(dir, 'generic_model.pkl'), join(d, 'generic_model.pkl'));
  const m = await loadFlame(d);
  assert.equal(m.landmarks, undefined);
  assert.equal(m.texture, undefined);
  await rejectsWith(loadFlame(d, { require: ['texture'] }), /FLAME_texture\.npz/);
  await rejectsWith(loadFlame(d, { landmarks: 'nope.npy' }), /nope\.npy/);
});

test('a truncated pickle is reported with its file name', async () => {
  const d = tempDir();
  const bytes = readFileSync(join(dir, 'generic_model.pkl'));
  writeFileSync(join(d, 'generic_model.pkl'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  await rejectsWith(loadFlame(d), /generic_model\.pkl/, /[Tt]runcated/);
});

test('random bytes given as generic_model.pkl are reported as not a FLAME pickle, whatever byte they start with', async () => {
  const d = tempDir();
  // a fixed-seed LCG: reproducible "random" files
  let x = 12345;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 255));
  // BINGET 126 first: the file the issue reported ("memo entry 126 is not defined"); then arbitrary bytes; then a
  // plausible pickle header followed by junk
  for (const data of [Buffer.concat([Buffer.from([0x68, 0x7e]), bytes(4094)]), bytes(4096), Buffer.concat([Buffer.from([0x80, 0x02, 0x68, 0x7e]), bytes(100)])]) {
    writeFileSync(join(d, 'generic_model.pkl'), data);
    await rejectsWith(loadFlame(d), /^generic_model\.pkl is not a FLAME pickle \(FLAME 2020 generic_model\.pkl\): it (does not start like a Python pickle \(first bytes: [0-9a-f ]+\)|does not parse as a Python pickle)/);
  }
  // a pickle of something else than the model's dict
  writeFileSync(join(d, 'generic_model.pkl'), Buffer.from([0x80, 0x02, 0x4b, 0x07, 0x2e])); // the int 7
  await rejectsWith(loadFlame(d), /generic_model\.pkl: this is not a FLAME pickle .*: it holds number/);
});

test('a pickle referencing a forbidden global (os.system) is refused, never run', async () => {
  const d = tempDir();
  // protocol 2: GLOBAL 'os system', BINUNICODE 'echo pwned', TUPLE1, REDUCE, STOP
  const cmd = Buffer.from('echo pwned', 'utf8');
  const evil = Buffer.concat([
    Buffer.from([0x80, 0x02]), Buffer.from('cos\nsystem\n', 'latin1'),
    Buffer.from([0x58]), Buffer.from(Uint32Array.of(cmd.length).buffer), cmd,
    Buffer.from([0x85, 0x52, 0x2e]),
  ]);
  writeFileSync(join(d, 'generic_model.pkl'), evil);
  await rejectsWith(loadFlame(d), /generic_model\.pkl/, /os\.system/);
});

test('wrong shapes name the file and the key', async () => {
  const V = 5023;
  const base = (over: Record<string, NdArray>) => {
    const d = tempDir();
    const arrays: Record<string, NdArray> = {
      v_template: new NdArray('float64', [V, 3], Float64Array.from(model.vTemplate)),
      f: new NdArray('uint32', [9976, 3], model.faces),
      shapedirs: new NdArray('float64', [V, 3, 10], new Float64Array(V * 30)),
      posedirs: new NdArray('float64', [V, 3, 36], new Float64Array(V * 108)),
      J_regressor: new NdArray('float64', [5, V], Float64Array.from(model.jRegressor)),
      weights: new NdArray('float64', [V, 5], Float64Array.from(model.lbsWeights)),
      kintree_table: new NdArray('int32', [2, 5], Int32Array.from([-1, 0, 1, 1, 1, 0, 1, 2, 3, 4])),
      ...over,
    };
    writeFileSync(join(d, 'generic_model.npz'), writeNpz(arrays));
    return d;
  };
  // the base itself loads (10 components: all shape, none expression unless told)
  const ok = await loadFlame(base({}), { shapeComponentsInFile: 6 });
  assert.equal(ok.numShape, 6);
  assert.equal(ok.numExpression, 4);
  await rejectsWith(loadFlame(base({ posedirs: new NdArray('float64', [V, 3, 35], new Float64Array(V * 105)) })),
    /generic_model\.npz/, /'posedirs' has shape \(5023, 3, 35\), expected \(5023, 3, 36\)/);
  await rejectsWith(loadFlame(base({ weights: new NdArray('float64', [V, 4], new Float64Array(V * 4)) })), /generic_model\.npz/, /'weights'/);
  await rejectsWith(loadFlame(base({ shapedirs: new NdArray('float64', [V - 1, 3, 10], new Float64Array((V - 1) * 30)) })), /'shapedirs'/);
  await rejectsWith(loadFlame(base({ f: new NdArray('int32', [2, 3], Int32Array.from([0, 1, 2, 0, 1, 9999])) })), /'f' holds index 9999/);
  const noF = base({});
  // missing key
  const d = tempDir();
  writeFileSync(join(d, 'generic_model.npz'), writeNpz({ v_template: new NdArray('float64', [V, 3], Float64Array.from(model.vTemplate)) }));
  await rejectsWith(loadFlame(d), /generic_model\.npz/, /missing key 'f'/);
  // a landmark embedding with a wrong contour table
  writeFileSync(join(noF, 'landmark_embedding.npz'), writeNpz({
    static_lmk_faces_idx: new NdArray('int64', [51], new BigInt64Array(51)),
    static_lmk_bary_coords: new NdArray('float64', [51, 3], new Float64Array(153)),
    dynamic_lmk_faces_idx: new NdArray('int64', [78, 17], new BigInt64Array(78 * 17)),
    dynamic_lmk_bary_coords: new NdArray('float64', [78, 17, 3], new Float64Array(78 * 51)),
    full_lmk_faces_idx: new NdArray('int64', [1, 68], new BigInt64Array(68)),
    full_lmk_bary_coords: new NdArray('float64', [1, 68, 3], new Float64Array(204)),
  }));
  await rejectsWith(loadFlame(noF), /landmark_embedding\.npz/, /'dynamic_lmk_faces_idx' has shape \(78, 17\), expected \(79, 17\)/);
  // a texture space whose basis does not match the mean
  const t = base({});
  writeFileSync(join(t, 'FLAME_texture.npz'), writeNpz({
    mean: new NdArray('float32', [4, 4, 3], new Float32Array(48)),
    tex_dir: new NdArray('float32', [4, 4, 2, 5], new Float32Array(160)),
  }));
  await rejectsWith(loadFlame(t), /FLAME_texture\.npz/, /'tex_dir' has shape \(4, 4, 2, 5\)/);
  // a UV template for another mesh
  const o = base({});
  writeFileSync(join(o, 'head_template.obj'), 'v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1\n');
  await rejectsWith(loadFlame(o), /head_template\.obj/, /3 vertices, generic_model\.npz has 5023/);
});
