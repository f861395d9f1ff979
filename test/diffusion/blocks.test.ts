/**
 * Each diffusion graph building block against the independent PyTorch reference (test/diffusion/golden/
 * blocks_reference.py, float64 evaluation of float32 weights and inputs): ≤ 1e-4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ort } from '../../src/kernel/onnx/session';
import { silu, downsampleConv, upsampleConv } from '../../src/kernel/diffusion/graph/ops';
import { motionModule, resnetBlock, spatialTransformer, timeEmbedding } from '../../src/kernel/diffusion/graph/unet';
import { vaeAttention, vaeDownsample } from '../../src/kernel/diffusion/graph/vae';
import { f32, f64, npz, arr } from './helpers';
import { blockContext, halfBitsToFloat, maxErr, runGraph, stateDictFrom, tensor } from './graph-helpers';

const TOL = 1e-4;

async function caseCtx(name: string) {
  const z = await npz('blocks.npz');
  const sd = await stateDictFrom(z, `${name}/w/`, 'blk.');
  return { z, ctx: blockContext(sd, name) };
}

function assertCovered(ctx: ReturnType<typeof blockContext>) {
  const c = ctx.w.coverage();
  assert.deepEqual(c.unexpected, [], `unused weights: ${c.unexpected.join(', ')}`);
}

test('ResNet block with time embedding (GN → SiLU → conv + time_emb_proj → GN → SiLU → conv, 1×1 shortcut)', async (t) => {
  const { z, ctx } = await caseCtx('resnet');
  const { g } = ctx;
  const x = g.input('x', 'float32', [2, 16, 6, 6]);
  const temb = g.input('temb', 'float32', [1, 64]);
  g.op('Identity', [resnetBlock(ctx, x, silu(g, temb), 'blk', { inCh: 16, outCh: 24, groups: 4, eps: 1e-5, tembDim: 64 })], {}, 'y');
  g.output('y', 'float32');
  assertCovered(ctx);
  const out = await runGraph(g, { x: tensor(await f32(z, 'resnet/x'), [2, 16, 6, 6]), temb: tensor(await f32(z, 'resnet/temb'), [1, 64]) });
  const e = maxErr(out.y!.data as Float32Array, await f64(z, 'resnet/y'));
  t.diagnostic(`resnet: ${e}`);
  assert.ok(e <= TOL, `resnet: ${e}`);
  await z.close();
});

test('time embedding: flip_sin_to_cos sinusoid → linear → SiLU → linear, t ∈ {0, 49, 999}', async (t) => {
  const { z, ctx } = await caseCtx('temb');
  const { g } = ctx;
  const ts = g.input('t', 'int64', [1]);
  g.op('Identity', [timeEmbedding(ctx, ts, 'blk', 32, 64)], {}, 'y');
  g.output('y', 'float32');
  assertCovered(ctx);
  const y = await f64(z, 'temb/y');
  for (const [i, tv] of [0, 49, 999].entries()) {
    const out = await runGraph(g, { t: new ort.Tensor('int64', BigInt64Array.of(BigInt(tv)), [1]) });
    const e = maxErr(out.y!.data as Float32Array, y.subarray(i * 64, (i + 1) * 64));
    t.diagnostic(`t=${tv}: ${e}`);
    assert.ok(e <= TOL, `t=${tv}: ${e}`);
  }
  await z.close();
});

test('spatial transformer: reference K/V concat + text cross-attention; empty bank = plain self-attention; norm1 tap', async (t) => {
  const { z, ctx } = await caseCtx('spatial');
  const { g } = ctx;
  const x = g.input('x', 'float32', ['F', 16, 4, 4]);
  const text = g.input('text', 'float32', [1, 5, 12]);
  const bank = g.input('bank', 'float16', [1, 'L', 16]);
  g.op('Identity', [spatialTransformer(ctx, x, 'blk', { channels: 16, heads: 4, groups: 4, eps: 1e-6, text, textDim: 12, tokens: 16, bank: { mode: 'read', input: bank } })], {}, 'y');
  g.output('y', 'float32');
  assertCovered(ctx);
  const bankBits = (await arr(z, 'spatial/bank')).data as Uint16Array;
  const feeds = { x: tensor(await f32(z, 'spatial/x'), [3, 16, 4, 4]), text: tensor(await f32(z, 'spatial/text'), [1, 5, 12]) };
  const withRef = await runGraph(g, { ...feeds, bank: new ort.Tensor('float16', bankBits, [1, 9, 16]) });
  const e1 = maxErr(withRef.y!.data as Float32Array, await f64(z, 'spatial/y_ref'));
  t.diagnostic(`with reference tokens: ${e1}`);
  assert.ok(e1 <= TOL, `with reference tokens: ${e1}`);
  const plain = await runGraph(g, { ...feeds, bank: new ort.Tensor('float16', new Uint16Array(0), [1, 0, 16]) });
  const e2 = maxErr(plain.y!.data as Float32Array, await f64(z, 'spatial/y_plain'));
  t.diagnostic(`empty bank (unconditional branch): ${e2}`);
  assert.ok(e2 <= TOL, `empty bank (unconditional branch): ${e2}`);
  // the same block also queried with the bank's tokens shifted in a query chunked layout gives the same result
  const { ctx: c2 } = await caseCtx('spatial');
  const x2 = c2.g.input('x', 'float32', ['F', 16, 4, 4]);
  const t2 = c2.g.input('text', 'float32', [1, 5, 12]);
  const b2 = c2.g.input('bank', 'float16', [1, 'L', 16]);
  c2.g.op('Identity', [spatialTransformer(c2, x2, 'blk', { channels: 16, heads: 4, groups: 4, eps: 1e-6, text: t2, textDim: 12, tokens: 16, queryChunk: 6, bank: { mode: 'read', input: b2 } })], {}, 'y');
  c2.g.output('y', 'float32');
  const chunked = await runGraph(c2.g, { ...feeds, bank: new ort.Tensor('float16', bankBits, [1, 9, 16]) });
  const e3 = maxErr(chunked.y!.data as Float32Array, await f64(z, 'spatial/y_ref'));
  t.diagnostic(`query-chunked attention: ${e3}`);
  assert.ok(e3 <= TOL, `query-chunked attention: ${e3}`);

  // write mode: norm1 tokens as float16 (the bank), one frame
  const { ctx: w } = await caseCtx('spatial');
  const xw = w.g.input('x', 'float32', [1, 16, 4, 4]);
  const tw = w.g.input('text', 'float32', [1, 5, 12]);
  spatialTransformer(w, xw, 'blk', { channels: 16, heads: 4, groups: 4, eps: 1e-6, text: tw, textDim: 12, bank: { mode: 'write', output: 'tap' } });
  w.g.output('tap', 'float16');
  const tap = await runGraph(w.g, { x: tensor((await f32(z, 'spatial/x')).slice(0, 256), [1, 16, 4, 4]), text: feeds.text });
  const got = halfBitsToFloat(tap.tap!.data as Uint16Array);
  const want = await f64(z, 'spatial/norm1');
  // float16 rounding of float32 vs float64 values: at most one half-precision ulp apart
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 2 ** -10 * Math.max(Math.abs(want[i]!), 2 ** -14), `tap ${i}`);
  await z.close();
});

test('temporal transformer (motion module) with sinusoidal PE: 32 frames (the PE length) and 5 frames', async (t) => {
  const { z, ctx } = await caseCtx('motion');
  const { g } = ctx;
  const x = g.input('x', 'float32', ['F', 16, 2, 3]);
  g.op('Identity', [motionModule(ctx, x, 'blk', { channels: 16, heads: 4, groups: 4, eps: 1e-6, maxLen: 32 })], {}, 'y');
  g.output('y', 'float32');
  assertCovered(ctx);
  for (const n of [32, 5]) {
    const out = await runGraph(g, { x: tensor(await f32(z, `motion/x${n}`), [n, 16, 2, 3]) });
    const e = maxErr(out.y!.data as Float32Array, await f64(z, `motion/y${n}`));
    t.diagnostic(`${n} frames: ${e}`);
    assert.ok(e <= TOL, `${n} frames: ${e}`);
  }
  await z.close();
});

test('down- and up-samplers (UNet stride-2 conv, VAE pad-then-conv, nearest ×2 + conv)', async (t) => {
  const cases = [
    ['down', [2, 8, 6, 6], (c: ReturnType<typeof blockContext>, x: string) => downsampleConv(c, x, 'blk.conv', 8)],
    ['vaedown', [2, 8, 6, 6], (c: ReturnType<typeof blockContext>, x: string) => vaeDownsample(c, x, 'blk.conv', 8)],
    ['up', [2, 8, 3, 3], (c: ReturnType<typeof blockContext>, x: string) => upsampleConv(c, x, 'blk.conv', 8)],
  ] as const;
  for (const [name, shape, build] of cases) {
    const { z, ctx } = await caseCtx(name);
    const x = ctx.g.input('x', 'float32', [...shape]);
    ctx.g.op('Identity', [build(ctx, x)], {}, 'y');
    ctx.g.output('y', 'float32');
    assertCovered(ctx);
    const out = await runGraph(ctx.g, { x: tensor(await f32(z, `${name}/x`), [...shape]) });
    const e = maxErr(out.y!.data as Float32Array, await f64(z, `${name}/y`));
    t.diagnostic(`${name}: ${e}`);
    assert.ok(e <= TOL, `${name}: ${e}`);
    await z.close();
  }
});

test('VAE mid-block attention (one head, q/k/v with bias, residual)', async (t) => {
  const { z, ctx } = await caseCtx('vaeattn');
  const x = ctx.g.input('x', 'float32', [2, 16, 3, 4]);
  ctx.g.op('Identity', [vaeAttention(ctx, x, 'blk', 16, 4, 1e-6)], {}, 'y');
  ctx.g.output('y', 'float32');
  assertCovered(ctx);
  const out = await runGraph(ctx.g, { x: tensor(await f32(z, 'vaeattn/x'), [2, 16, 3, 4]) });
  const e = maxErr(out.y!.data as Float32Array, await f64(z, 'vaeattn/y'));
  t.diagnostic(`vae attention: ${e}`);
  assert.ok(e <= TOL, `vae attention: ${e}`);
  await z.close();
});
