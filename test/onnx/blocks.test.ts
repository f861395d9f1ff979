import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/kernel/onnx/graph';
import {
  type BlockContext,
  WeightLookup,
  attention,
  conv2d,
  formatCoverage,
  gegluFeedForward,
  groupNorm,
  layerNorm,
  linear,
  silu,
  stateDictFromArrays,
  upsampleNearest2x,
  downsampleConv,
} from '../../src/kernel/onnx/blocks';
import { MagicPortraitError } from '../../src/kernel/errors';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { seededRandom } from '../../src/kernel/gge/demo';

const rnd = seededRandom(42);
const randn = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * s);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function run(g: GraphBuilder, feeds: Record<string, { data: Float32Array; dims: number[] }>, out: string) {
  const s = await createSession(g.toBytes(), { label: g.name, threads: 1 });
  const t: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) t[k] = new ort.Tensor('float32', v.data, v.dims);
  const r = await s.run(t);
  return r[out]!.data as Float32Array;
}

function ctxWith(entries: Record<string, { shape: number[]; data: Float32Array }>, name = 'test'): BlockContext {
  return { g: new GraphBuilder(name), w: new WeightLookup(stateDictFromArrays(Object.entries(entries)), 'test.pth') };
}

/** Plain-JS references (float64 accumulation). */
function refConv(x: Float32Array, n: number, ci: number, h: number, w: number, wt: Float32Array, b: Float32Array, co: number, k: number, stride: number, pad: number) {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  const y = new Float32Array(n * co * oh * ow);
  for (let b0 = 0; b0 < n; b0++)
    for (let o = 0; o < co; o++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let s = b[o]!;
          for (let c = 0; c < ci; c++)
            for (let u = 0; u < k; u++)
              for (let v = 0; v < k; v++) {
                const yy = i * stride - pad + u;
                const xx = j * stride - pad + v;
                if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
                s += x[((b0 * ci + c) * h + yy) * w + xx]! * wt[((o * ci + c) * k + u) * k + v]!;
              }
          y[((b0 * co + o) * oh + i) * ow + j] = s;
        }
  return { y, oh, ow };
}

function refLinear(x: Float32Array, rows: number, inD: number, w: Float32Array, outD: number, b?: Float32Array) {
  const y = new Float32Array(rows * outD);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outD; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inD; i++) s += x[r * inD + i]! * w[o * inD + i]!;
      y[r * outD + o] = s;
    }
  return y;
}

test('conv2d with stride 2 and padding matches a direct convolution (odd sizes)', async () => {
  const [n, ci, co, h, w, k] = [2, 3, 5, 9, 7, 3];
  const wt = randn(co * ci * k * k);
  const b = randn(co);
  const x = randn(n * ci * h * w);
  const ctx = ctxWith({ 'c.weight': { shape: [co, ci, k, k], data: wt }, 'c.bias': { shape: [co], data: b } });
  ctx.g.input('x', 'float32', ['N', ci, 'H', 'W']);
  ctx.g.op('Identity', [conv2d(ctx, 'x', 'c', { inCh: ci, outCh: co, kernel: k, stride: 2, pad: 1 })], {}, 'y');
  ctx.g.output('y', 'float32');
  const y = await run(ctx.g, { x: { data: x, dims: [n, ci, h, w] } }, 'y');
  const ref = refConv(x, n, ci, h, w, wt, b, co, k, 2, 1);
  assert.equal(ref.oh, 5);
  assert.equal(ref.ow, 4);
  assert.ok(maxAbsDiff(y, ref.y) < 1e-5);
});

test('group norm normalises per sample and group, then applies the per-channel affine', async () => {
  const [n, c, groups, h, w, eps] = [2, 6, 3, 4, 5, 1e-6];
  const gamma = randn(c);
  const beta = randn(c);
  const x = Float32Array.from(randn(n * c * h * w), (v, i) => v * 3 + (i % 7));
  const ctx = ctxWith({ 'gn.weight': { shape: [c], data: gamma }, 'gn.bias': { shape: [c], data: beta } });
  ctx.g.input('x', 'float32', ['N', c, 'H', 'W']);
  ctx.g.op('Identity', [groupNorm(ctx, 'x', 'gn', c, groups, eps)], {}, 'y');
  ctx.g.output('y', 'float32');
  const y = await run(ctx.g, { x: { data: x, dims: [n, c, h, w] } }, 'y');
  const per = (c / groups) * h * w;
  const ref = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let gi = 0; gi < groups; gi++) {
      const off = (b * groups + gi) * per;
      let m = 0;
      for (let i = 0; i < per; i++) m += x[off + i]!;
      m /= per;
      let v = 0;
      for (let i = 0; i < per; i++) v += (x[off + i]! - m) ** 2;
      v /= per;
      for (let i = 0; i < per; i++) {
        const ch = gi * (c / groups) + Math.floor(i / (h * w));
        ref[off + i] = ((x[off + i]! - m) / Math.sqrt(v + eps)) * gamma[ch]! + beta[ch]!;
      }
    }
  assert.ok(maxAbsDiff(y, ref) < 1e-4);
});

test('layer norm, linear (stored [out, in]), SiLU', async () => {
  const [rows, d, o] = [6, 8, 5];
  const lw = randn(d), lb = randn(d), W = randn(o * d), B = randn(o);
  const x = randn(rows * d, 2);
  const ctx = ctxWith({
    'ln.weight': { shape: [d], data: lw },
    'ln.bias': { shape: [d], data: lb },
    'fc.weight': { shape: [o, d], data: W },
    'fc.bias': { shape: [o], data: B },
  });
  ctx.g.input('x', 'float32', [1, rows, d]);
  ctx.g.op('Identity', [silu(ctx.g, linear(ctx, layerNorm(ctx, 'x', 'ln', d, 1e-5), 'fc', d, o))], {}, 'y');
  ctx.g.output('y', 'float32');
  const y = await run(ctx.g, { x: { data: x, dims: [1, rows, d] } }, 'y');
  const ln = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let m = 0, v = 0;
    for (let i = 0; i < d; i++) m += x[r * d + i]!;
    m /= d;
    for (let i = 0; i < d; i++) v += (x[r * d + i]! - m) ** 2;
    v /= d;
    for (let i = 0; i < d; i++) ln[r * d + i] = ((x[r * d + i]! - m) / Math.sqrt(v + 1e-5)) * lw[i]! + lb[i]!;
  }
  const ref = refLinear(ln, rows, d, W, o, B).map((v) => v / (1 + Math.exp(-v)));
  assert.ok(maxAbsDiff(y, ref) < 1e-5);
});

test('GEGLU feed-forward: [a, gate] split, a·gelu(gate), exact erf GELU', async () => {
  const [rows, d, inner] = [3, 4, 6];
  const W0 = randn(2 * inner * d), b0 = randn(2 * inner), W2 = randn(d * inner), b2 = randn(d);
  const x = randn(rows * d, 2);
  const ctx = ctxWith({
    'ff.net.0.proj.weight': { shape: [2 * inner, d], data: W0 },
    'ff.net.0.proj.bias': { shape: [2 * inner], data: b0 },
    'ff.net.2.weight': { shape: [d, inner], data: W2 },
    'ff.net.2.bias': { shape: [d], data: b2 },
  });
  ctx.g.input('x', 'float32', [1, rows, d]);
  ctx.g.op('Identity', [gegluFeedForward(ctx, 'x', 'ff', d, inner)], {}, 'y');
  ctx.g.output('y', 'float32');
  const y = await run(ctx.g, { x: { data: x, dims: [1, rows, d] } }, 'y');
  const h = refLinear(x, rows, d, W0, 2 * inner, b0);
  // erf via high-accuracy series for the reference
  const erf = (z: number) => {
    let s = 0, term = z, k = 0;
    while (Math.abs(term) > 1e-17 && k < 200) {
      s += term / (2 * k + 1);
      k++;
      term *= (-z * z) / k;
    }
    return (2 / Math.sqrt(Math.PI)) * s;
  };
  const mid = new Float32Array(rows * inner);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < inner; i++) {
      const a = h[r * 2 * inner + i]!, gt = h[r * 2 * inner + inner + i]!;
      mid[r * inner + i] = a * 0.5 * gt * (1 + erf(gt / Math.SQRT2));
    }
  assert.ok(maxAbsDiff(y, refLinear(mid, rows, inner, W2, d, b2)) < 1e-4);
});

test('multi-head attention with extra key/value tokens (reference attention) matches a direct computation', async () => {
  const [L, E, dim, heads] = [5, 3, 8, 2];
  const d = dim / heads;
  const Wq = randn(dim * dim), Wk = randn(dim * dim), Wv = randn(dim * dim), Wo = randn(dim * dim), bo = randn(dim);
  const x = randn(L * dim), extra = randn(E * dim);
  const ctx = ctxWith({
    'a.to_q.weight': { shape: [dim, dim], data: Wq },
    'a.to_k.weight': { shape: [dim, dim], data: Wk },
    'a.to_v.weight': { shape: [dim, dim], data: Wv },
    'a.to_out.0.weight': { shape: [dim, dim], data: Wo },
    'a.to_out.0.bias': { shape: [dim], data: bo },
  });
  ctx.g.input('x', 'float32', [1, L, dim]);
  ctx.g.input('extra', 'float32', [1, E, dim]);
  const r = attention(ctx, 'x', 'a', { dim, heads, extraKV: 'extra', keepProbs: true });
  ctx.g.op('Identity', [r.out], {}, 'y');
  ctx.g.op('Identity', [r.probs!], {}, 'p');
  ctx.g.output('y', 'float32');
  ctx.g.output('p', 'float32');
  const s = await createSession(ctx.g.toBytes(), { threads: 1 });
  const out = await s.run({ x: new ort.Tensor('float32', x, [1, L, dim]), extra: new ort.Tensor('float32', extra, [1, E, dim]) });
  const kv = new Float32Array((L + E) * dim);
  kv.set(x);
  kv.set(extra, L * dim);
  const q = refLinear(x, L, dim, Wq, dim), k = refLinear(kv, L + E, dim, Wk, dim), v = refLinear(kv, L + E, dim, Wv, dim);
  const mixed = new Float32Array(L * dim);
  const probs = new Float32Array(heads * L * (L + E));
  for (let hh = 0; hh < heads; hh++)
    for (let i = 0; i < L; i++) {
      const sc = new Float64Array(L + E);
      for (let j = 0; j < L + E; j++) {
        let t = 0;
        for (let c = 0; c < d; c++) t += q[i * dim + hh * d + c]! * k[j * dim + hh * d + c]!;
        sc[j] = t / Math.sqrt(d);
      }
      const mx = Math.max(...sc);
      let z = 0;
      for (let j = 0; j < L + E; j++) z += (sc[j] = Math.exp(sc[j]! - mx));
      for (let j = 0; j < L + E; j++) probs[(hh * L + i) * (L + E) + j] = sc[j]! / z;
      for (let c = 0; c < d; c++) {
        let t = 0;
        for (let j = 0; j < L + E; j++) t += (sc[j]! / z) * v[j * dim + hh * d + c]!;
        mixed[i * dim + hh * d + c] = t;
      }
    }
  // the fused kernel (com.microsoft.MultiHeadAttention) agrees, with the extra tokens too
  const fctx: BlockContext = { g: new GraphBuilder('fused'), w: ctx.w };
  fctx.g.input('x', 'float32', [1, L, dim]);
  fctx.g.input('extra', 'float32', [1, E, dim]);
  fctx.g.op('Identity', [attention(fctx, 'x', 'a', { dim, heads, extraKV: 'extra', fused: true }).out], {}, 'y');
  fctx.g.output('y', 'float32');
  const fs = await createSession(fctx.g.toBytes(), { threads: 1 });
  const fy = (await fs.run({ x: new ort.Tensor('float32', x, [1, L, dim]), extra: new ort.Tensor('float32', extra, [1, E, dim]) })).y!;
  assert.ok(maxAbsDiff(fy.data as Float32Array, out.y!.data as Float32Array) < 1e-5);
  assert.deepEqual(out.p!.dims, [1, heads, L, L + E]);
  assert.ok(maxAbsDiff(out.p!.data as Float32Array, probs) < 1e-6);
  assert.ok(maxAbsDiff(out.y!.data as Float32Array, refLinear(mixed, L, dim, Wo, dim, bo)) < 1e-5);
});

test('attention computed in head chunks gives the same output and reduced probabilities', async () => {
  const [L, dim, heads] = [7, 16, 4];
  const sd = {
    'a.to_q.weight': { shape: [dim, dim], data: randn(dim * dim) },
    'a.to_k.weight': { shape: [dim, dim], data: randn(dim * dim) },
    'a.to_v.weight': { shape: [dim, dim], data: randn(dim * dim) },
    'a.to_out.0.weight': { shape: [dim, dim], data: randn(dim * dim) },
    'a.to_out.0.bias': { shape: [dim], data: randn(dim) },
  };
  const x = randn(2 * L * dim);
  const outs = [];
  for (const chunks of [1, 2, 4]) {
    const ctx = ctxWith(sd);
    ctx.g.input('x', 'float32', [2, L, dim]);
    const r = attention(ctx, 'x', 'a', {
      dim,
      heads,
      headChunks: chunks,
      reduceProbs: (g, p) => g.op('ReduceMean', [p], { axes: [2], keepdims: 0 }),
    });
    ctx.g.op('Identity', [r.out], {}, 'y');
    ctx.g.op('Identity', [r.probsReduced!], {}, 'm');
    ctx.g.output('y', 'float32');
    ctx.g.output('m', 'float32');
    const s = await createSession(ctx.g.toBytes(), { threads: 1 });
    const o = await s.run({ x: new ort.Tensor('float32', x, [2, L, dim]) });
    assert.deepEqual(o.m!.dims, [2, heads, L]);
    outs.push(o);
  }
  for (const o of outs.slice(1)) {
    assert.ok(maxAbsDiff(o.y!.data as Float32Array, outs[0]!.y!.data as Float32Array) < 1e-6);
    assert.ok(maxAbsDiff(o.m!.data as Float32Array, outs[0]!.m!.data as Float32Array) < 1e-7);
  }
});

test('nearest ×2 upsampling and the stride-2 downsampling conv', async () => {
  const ctx = ctxWith({ 'd.weight': { shape: [1, 1, 3, 3], data: Float32Array.from([0, 0, 0, 0, 1, 0, 0, 0, 0]) }, 'd.bias': { shape: [1], data: new Float32Array(1) } });
  ctx.g.input('x', 'float32', [1, 1, 2, 3]);
  ctx.g.op('Identity', [upsampleNearest2x(ctx.g, 'x')], {}, 'up');
  ctx.g.op('Identity', [downsampleConv(ctx, 'up', 'd', 1)], {}, 'down');
  ctx.g.output('up', 'float32');
  ctx.g.output('down', 'float32');
  const s = await createSession(ctx.g.toBytes(), { threads: 1 });
  const o = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [1, 1, 2, 3]) });
  assert.deepEqual(Array.from(o.up!.data as Float32Array), [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6]);
  assert.deepEqual(Array.from(o.down!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
});

test('the weight lookup names the key and both shapes, and reports used / ignored / unexpected keys', () => {
  const sd = stateDictFromArrays([
    ['conv.weight', { shape: [2, 1, 3, 3], data: new Float32Array(18) }],
    ['conv.bias', { shape: [2], data: new Float32Array(2) }],
    ['old.weight', { shape: [1], data: new Float32Array(1) }],
    ['extra.thing', { shape: [1], data: new Float32Array(1) }],
    ['module.fc.weight', { shape: [1], data: new Float32Array(1) }],
  ]);
  const w = new WeightLookup(sd, 'model.pth');
  w.ignore('old.', 'built but never executed');
  assert.throws(
    () => w.tensor('conv.weight', [2, 1, 1, 1]),
    (e: Error) => e instanceof MagicPortraitError && /conv\.weight/.test(e.message) && /\[2, 1, 3, 3\]/.test(e.message) && /\[2, 1, 1, 1\]/.test(e.message),
  );
  assert.throws(
    () => w.tensor('conv2.weight', [4]),
    (e: Error) => e instanceof MagicPortraitError && (e as MagicPortraitError).code === 'missing-key' && /conv2\.weight/.test(e.message) && /\[4\]/.test(e.message),
  );
  assert.throws(() => w.tensor('fc.weight', [1]), /module\.fc\.weight/, 'suggests the prefixed key');
  w.tensor('conv.weight', [2, 1, 3, 3]);
  w.tensor('conv.bias', [2]);
  const c = w.coverage();
  assert.deepEqual(c.used.map((u) => u.key), ['conv.weight', 'conv.bias']);
  assert.deepEqual(c.ignored, [{ key: 'old.weight', reason: 'built but never executed' }]);
  assert.deepEqual(c.unexpected, ['extra.thing', 'module.fc.weight']);
  const text = formatCoverage(c);
  assert.match(text, /5 keys — 2 used, 1 ignored/);
  assert.match(text, /unexpected[\s\S]*extra\.thing/);
});
