/**
 * float16 compute graphs (onnx/float16.ts, onnx/derived.ts): built from a block of the real UNet code — time
 * embedding, ResNet with the time projection, nearest ×2 upsampling, spatial transformer with fused attention on
 * a float16 bank and text cross-attention, explicit-softmax attention — and checked against the float32 graph:
 * interface unchanged, which nodes compute in which precision (read back from the written model), float16-stored
 * weights used as stored, the result within float16 rounding of the float32 one, and the decomposition of fused
 * attention (query-chunked) equal to the fused kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../src/kernel/onnx/graph';
import { ModelProto, DataType } from '../../src/kernel/onnx/proto';
import { convertToFloat16 } from '../../src/kernel/onnx/float16';
import { derivedModel, deriveRequest, PROVIDER_GRAPHS } from '../../src/kernel/onnx/derived';
import { createSession, ort, sessionPlacement } from '../../src/kernel/onnx/session';
import { GeneratedWeights } from '../../src/kernel/diffusion/bundle';
import { silu, upsampleNearest2x } from '../../src/kernel/diffusion/graph/ops';
import { attend, resnetBlock, spatialTransformer, timeEmbedding } from '../../src/kernel/diffusion/graph/unet';

const C = 32, S = 8, F = 3, L = S * S * 4, T = 5, TD = 16;

/** time embedding → ResNet (+ time projection) → ×2 upsample → transformer (fused attention + bank, text) → explicit attention. */
function build(weights: 'float32' | 'float16') {
  const g = new GraphBuilder('block');
  const ctx = { g, w: new GeneratedWeights('f16test', 3) };
  const x = g.input('x', 'float32', ['F', C, S, S]);
  const t = g.input('timestep', 'int64', [1]);
  const text = g.input('text', 'float32', [1, T, TD]);
  const bank = g.input('bank', 'float16', [1, 'L', C]);
  const temb = timeEmbedding(ctx, t, 'time', C, 4 * C);
  let h = resnetBlock(ctx, x, silu(g, temb), 'res', { inCh: C, outCh: C, groups: 8, eps: 1e-5, tembDim: 4 * C });
  h = upsampleNearest2x(g, h);
  h = spatialTransformer(ctx, h, 'st', { channels: C, heads: 4, groups: 8, eps: 1e-6, text, textDim: TD, tokens: L, attention: 'fused', bank: { mode: 'read', input: bank } });
  const tok = g.op('Transpose', [g.op('Reshape', [h, g.constI64('tok', [0, 0, -1])])], { perm: [0, 2, 1] });
  g.op('Identity', [attend(g, tok, tok, tok, 4, C)], {}, 'y');
  g.output('y', 'float32', ['F', L, C]);
  if (weights === 'float16') g.castWeightsToFloat16();
  return g;
}

const feeds = () => ({
  x: new ort.Tensor('float32', Float32Array.from({ length: F * C * S * S }, (_, i) => Math.sin(i * 0.37) * 1.5), [F, C, S, S]),
  timestep: new ort.Tensor('int64', BigInt64Array.of(981n), [1]),
  text: new ort.Tensor('float32', Float32Array.from({ length: T * TD }, (_, i) => Math.cos(i * 0.7)), [1, T, TD]),
  bank: new ort.Tensor('float16', Uint16Array.from({ length: L * C }, (_, i) => (i % 2 ? 0x3800 : 0xb800) + (i % 1000)), [1, L, C]),
});

function relErr(a: ArrayLike<number>, b: ArrayLike<number>) {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) (d = Math.max(d, Math.abs(a[i]! - b[i]!))), (m = Math.max(m, Math.abs(b[i]!)));
  return d / m;
}

const decode = (p: string) => ModelProto.toObject(ModelProto.decode(readFileSync(p)), { longs: Number, arrays: true }) as any;

async function run(path: string) {
  const s = await createSession(path, { threads: 1, provider: 'cpu' });
  try {
    return (await s.run(feeds())).y!.data as Float32Array;
  } finally {
    await s.release();
  }
}

test('float16 graph: float16 matrix products and attention, float32 statistics / softmax / timestep path, same interface, within float16 rounding', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-f16-'));
  const src = join(dir, 'block.onnx');
  build('float32').save(src, {}, { externalDataThreshold: 1024 });
  const dst = join(dir, 'block.f16.onnx');
  const rep = convertToFloat16(src, dst);
  const a = decode(src), b = decode(dst);
  assert.deepEqual(b.graph.input, a.graph.input, 'inputs unchanged');
  assert.deepEqual(b.graph.output, a.graph.output, 'outputs unchanged');
  const inits = new Map<string, any>(b.graph.initializer.map((x: any) => [x.name, x]));
  const producer = new Map<string, any>();
  for (const n of b.graph.node) for (const o of n.output) producer.set(o, n);
  const castTo = (v: string) => (producer.get(v)?.opType === 'Cast' ? producer.get(v).attribute[0].i : undefined);
  const byOp = (op: string) => b.graph.node.filter((n: any) => n.opType === op);
  // the heavy ops: float16 weights and inputs
  for (const n of [...byOp('Conv'), ...byOp('MatMul'), ...byOp('MultiHeadAttention')]) {
    const w = n.input.find((i: string) => inits.has(i));
    const time = n.input.some((i: string) => /time/.test(i));
    if (w && !time) assert.equal(inits.get(w).dataType, DataType.float16, `${n.opType} ${n.name} reads float16 weights`);
  }
  assert.ok(byOp('MultiHeadAttention').every((n: any) => n.input.every((i: string) => castTo(i) !== DataType.float32)), 'attention is not fed float32');
  // statistics and softmax in float32: their data input is cast to float32, their parameters are float32
  for (const op of ['InstanceNormalization', 'LayerNormalization', 'Softmax']) {
    assert.ok(byOp(op).length > 0, op);
    for (const n of byOp(op)) {
      assert.equal(castTo(n.input[0]), DataType.float32, `${op} ${n.name} computes in float32`);
      for (const p of n.input.slice(1)) if (inits.has(p)) assert.equal(inits.get(p).dataType, DataType.float32, `${op} parameter ${p}`);
    }
  }
  // the timestep path (t·ω up to ~1000 rad) stays float32 end to end
  const cos = byOp('Cos')[0];
  assert.ok(cos && castTo(cos.input[0]) === undefined, 'Cos reads the float32 product directly');
  assert.ok(byOp('MatMul').filter((n: any) => n.input.some((i: string) => i.startsWith('time.'))).every((n: any) => n.input.every((i: string) => !inits.has(i) || inits.get(i).dataType === DataType.float32)), 'time MLP in float32');
  // Resize's scales must stay float32 (the operator's schema)
  for (const n of byOp('Resize')) assert.equal(inits.get(n.input[2]).dataType, DataType.float32);
  const e = relErr(await run(dst), await run(src));
  t.diagnostic(`float16 vs float32: ${e.toExponential(2)}; ${JSON.stringify(rep)}`);
  assert.ok(e > 0 && e < 1e-2, `float16 result within rounding (${e})`);
});

test('float16-stored weights are used as stored (no round trip); float32 ops keep reading float32 casts of them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-f16-'));
  const src32 = join(dir, 'a.onnx'), src16 = join(dir, 'b.onnx');
  build('float32').save(src32, {}, { externalDataThreshold: 1024 });
  build('float16').save(src16, {}, { externalDataThreshold: 1024 });
  convertToFloat16(src32, join(dir, 'a16.onnx'));
  convertToFloat16(src16, join(dir, 'b16.onnx'));
  const m = decode(join(dir, 'b16.onnx'));
  assert.ok(!m.graph.initializer.some((i: any) => i.name.endsWith('::fp16::fp16')), 'no second conversion');
  // a stored float16 weight is cast to float32 only where a float32 op reads it: the timestep MLP and the LayerNorm
  // parameters; everything else reads the stored float16 tensor itself
  const weightCasts = m.graph.node.filter((n: any) => n.opType === 'Cast' && m.graph.initializer.some((i: any) => i.name === n.input[0] && i.dataType === DataType.float16));
  assert.ok(weightCasts.length > 0);
  for (const c of weightCasts) assert.match(c.input[0], /^(time\.|res\.time_emb_proj\.)|\.norm\d\.(weight|bias)::fp16$/, `${c.input[0]} is cast to float32`);
  // the float16-stored bundle also rounds its float32-computed weights (timestep MLP, LayerNorm parameters): the
  // same network within float16 rounding
  const e = relErr(await run(join(dir, 'b16.onnx')), await run(join(dir, 'a16.onnx')));
  assert.ok(e < 1e-2, `${e}`);
});

test('fused attention decomposed (query chunks of 40 over 256 queries) equals the fused kernel; the per-provider cache', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-f16-'));
  const src = join(dir, 'block.onnx');
  build('float32').save(src, {}, { externalDataThreshold: 1024 });
  const dec = join(dir, 'dec.onnx');
  const rep = convertToFloat16(src, dec, { float16: false, decomposeAttention: 40 });
  assert.equal(rep.decomposed, 2, 'self- and cross-attention');
  const m = decode(dec);
  assert.equal(m.graph.node.filter((n: any) => n.opType === 'MultiHeadAttention').length, 0);
  const split = m.graph.node.find((n: any) => n.opType === 'Split' && n.output.length === Math.ceil(L / 40));
  assert.ok(split, 'the self-attention queries are split into ⌈256/40⌉ chunks');
  const e = relErr(await run(dec), await run(src));
  t.diagnostic(`decomposed vs fused: ${e.toExponential(2)}`);
  assert.ok(e <= 1e-5, `${e}`);

  // derived models: what each provider gets, built once, reused by content identity
  assert.equal(deriveRequest('cpu', 'auto'), null);
  assert.deepEqual(deriveRequest('cuda', 'auto'), { float16: true, decomposeAttention: 0 });
  assert.deepEqual(deriveRequest('webgpu', 'float32'), { float16: false, decomposeAttention: PROVIDER_GRAPHS.webgpu.decomposeAttention });
  const cache = join(dir, 'cache');
  const first = derivedModel(src, { float16: true, decomposeAttention: 0 }, { cacheDir: cache, sourceId: 'abc' });
  const again = derivedModel(src, { float16: true, decomposeAttention: 0 }, { cacheDir: cache, sourceId: 'abc' });
  assert.equal(first.built, true);
  assert.equal(again.built, false);
  assert.equal(again.path, first.path);
  assert.deepEqual(again.report, first.report);
  assert.notEqual(derivedModel(src, { float16: true, decomposeAttention: 0 }, { cacheDir: cache, sourceId: 'other' }).path, first.path);

  // the session factory: float16 on request, and the placement says so
  const s = await createSession(src, { provider: 'cpu', precision: 'float16', threads: 1 });
  assert.deepEqual({ ...sessionPlacement(s), label: '' }, { label: '', provider: 'cpu', requested: 'cpu', compute: 'float16', attentionDecomposed: false });
  await s.release();
});
