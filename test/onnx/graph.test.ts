import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, floatAttr } from '../../src/kernel/onnx/graph';
import { createSession, ort } from '../../src/kernel/onnx/session';

/** y = LeakyRelu(x·W + b), computed in plain JS for comparison. */
function reference(x: Float32Array, w: Float32Array, b: Float32Array, n: number, k: number, m: number, alpha: number) {
  const y = new Float32Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = b[j]!;
      for (let t = 0; t < k; t++) s += x[i * k + t]! * w[t * m + j]!;
      y[i * m + j] = s >= 0 ? s : alpha * s;
    }
  return y;
}

function build(w: Float32Array, b: Float32Array, k: number, m: number, alpha: number) {
  const g = new GraphBuilder('mlp');
  g.input('x', 'float32', ['n', k]);
  const W = g.constF32('W', w, [k, m]);
  const B = g.constF32('b', b, [m]);
  const h = g.op('Add', [g.op('MatMul', ['x', W]), B]);
  g.op('LeakyRelu', [h], { alpha: floatAttr(alpha) }, 'y');
  g.output('y', 'float32', ['n', m]);
  return g;
}

test('a built graph runs in ONNX Runtime and matches a direct computation', async () => {
  const n = 3, k = 5, m = 4, alpha = 0.25;
  const w = Float32Array.from({ length: k * m }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: m }, (_, i) => i - 1.5);
  const x = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i * 0.7));
  const session = await createSession(build(w, b, k, m, alpha).toBytes(), { label: 'mlp' });
  const out = await session.run({ x: new ort.Tensor('float32', x, [n, k]) });
  const y = out.y!.data as Float32Array;
  const expect = reference(x, w, b, n, k, m, alpha);
  for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i]! - expect[i]!) < 1e-5, `y[${i}]`);
});

test('weights written as external data load and give the same result', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-onnx-'));
  const n = 2, k = 64, m = 32, alpha = 0.1;
  const w = Float32Array.from({ length: k * m }, (_, i) => Math.sin(i * 0.1));
  const b = Float32Array.from({ length: m }, (_, i) => i * 0.01);
  const x = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i));
  const path = join(dir, 'ext.onnx');
  build(w, b, k, m, alpha).save(path, { note: 'external' }, { externalDataThreshold: 1024 });
  assert.ok(existsSync(`${path}.data`));
  assert.ok(statSync(path).size < 1024, 'weights are not inline');
  const session = await createSession(path);
  const y = (await session.run({ x: new ort.Tensor('float32', x, [n, k]) })).y!.data as Float32Array;
  const expect = reference(x, w, b, n, k, m, alpha);
  for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i]! - expect[i]!) < 1e-4);
});

test('a truncated model file gives a clear error naming the model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-onnx-'));
  const bytes = build(new Float32Array(4), new Float32Array(2), 2, 2, 0.1).toBytes();
  const path = join(dir, 'broken.onnx');
  writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(createSession(path), (e: Error) => e.message.includes('broken.onnx'));
});

test('an unavailable execution provider is reported clearly', async () => {
  await assert.rejects(
    createSession(build(new Float32Array(4), new Float32Array(2), 2, 2, 0.1).toBytes(), { provider: 'coreml' }),
    /not available/,
  );
});

test('a mismatched initializer size is refused when building', () => {
  const g = new GraphBuilder();
  assert.throws(() => g.initializer('w', { dtype: 'float32', dims: [2, 2], data: new Float32Array(3) }), /needs 16 bytes/);
});
