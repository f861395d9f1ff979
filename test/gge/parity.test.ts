/**
 * Parity with the independent PyTorch reference (test/gge/golden/gge_reference.py, float64): a real torch.save .pth
 * in the reference key layout (unused attentions as distractors) goes through importGGE and ONNX Runtime.
 * Features ≤ 1e-4 max abs, reduced attention and attention rows ≤ 1e-5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importGGE } from '../../src/kernel/gge/import';
import { type GGEBundle } from '../../src/kernel/gge/bundle';
import { ggeRequiredKeys } from '../../src/kernel/gge/model';
import { runGGE, releaseGGE, type GGEResult } from '../../src/kernel/gge/run';
import { fixturePth, loadGolden, maxAbsDiff, synthImage } from './helpers';

const golden = loadGolden();
const dir = mkdtempSync(join(tmpdir(), 'gge-parity-'));
const pth = join(dir, 'guidance_encoder_depth.pth');
writeFileSync(pth, fixturePth());
let bundle: GGEBundle;
let printed = '';

test('importGGE reads the torch .pth, uses exactly the architecture keys and reports the unused ones', async () => {
  bundle = await importGGE({ depth: pth }, join(dir, 'bundle'), { log: (t) => (printed += t) });
  const e = bundle.manifest.encoders.depth!;
  assert.deepEqual(e.source, { kind: 'checkpoint', file: 'guidance_encoder_depth.pth', sha256: golden.weights.pthSha256, bytes: golden.weights.pthBytes });
  const cov = bundle.coverage!.depth!;
  assert.equal(cov.used.length, ggeRequiredKeys().length);
  assert.equal(cov.unexpected.length, 0);
  assert.equal(cov.ignored.length, cov.total - cov.used.length);
  assert.equal(cov.ignored.length, 6 * 19, 'attentions.0-4 and guidance_attention');
  assert.ok(cov.ignored.some((i) => i.key.startsWith('guidance_attention.')));
  assert.match(printed, /\[depth\] .*guidance_encoder_depth\.pth: 149 keys — 35 used, 114 ignored \(known unused\), 0 unexpected/);
  assert.match(printed, /attentions\.0, attentions\.1, attentions\.2, attentions\.3, attentions\.4/);
  assert.equal(bundle.manifest.label, undefined, 'imported weights are not labelled as demo');
});

function check(name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number) {
  const d = maxAbsDiff(got, want);
  assert.ok(d <= tol, `${name}: max abs diff ${d.toExponential(2)} > ${tol}`);
  return d;
}

async function runCase(caseName: string): Promise<{ r: GGEResult; c: (typeof golden.cases)[number] }> {
  const c = golden.cases.find((x) => x.name === caseName)!;
  const frames = c.seeds.map((s) => synthImage(c.height, c.width, s));
  const r = await runGGE({ depth: frames }, bundle, { threads: 2 });
  assert.deepEqual(r.grid, { height: c.grid[0], width: c.grid[1] });
  return { r, c };
}

for (const caseName of ['small', 'odd']) {
  test(`features, attention maps and query rows match the reference (${caseName} input)`, async () => {
    const { r, c } = await runCase(caseName);
    const cells = c.grid[0] * c.grid[1];
    const n = c.seeds.length;
    const cat = (xs: Float32Array[]) => {
      const out = new Float32Array(xs.reduce((a, x) => a + x.length, 0));
      let o = 0;
      for (const x of xs) out.set(x, o), (o += x.length);
      return out;
    };
    const a = r.attention.maps.depth!;
    check('feature', cat(r.features.depth!), golden.array(`${caseName}.feature`), 1e-4);
    check('sum (one type)', cat(r.sum), golden.array(`${caseName}.feature`), 1e-4);
    check('attn_received', cat(a.received), golden.array(`${caseName}.attn_received`), 1e-5);
    check('attn_out_norm', cat(a.outNorm), golden.array(`${caseName}.attn_out_norm`), 1e-4);
    check('attn_delta_norm', cat(a.deltaNorm), golden.array(`${caseName}.attn_delta_norm`), 1e-4);
    // the features-only graph (fused attention kernel) gives the same features
    const fast = await runGGE({ depth: c.seeds.map((s) => synthImage(c.height, c.width, s)) }, bundle, { threads: 2, attention: false });
    assert.deepEqual(fast.attention.maps, {});
    check('feature (fused attention graph)', cat(fast.features.depth!), golden.array(`${caseName}.feature`), 1e-4);
    const want = golden.array(`${caseName}.attn_rows`); // (N, heads, Q, L)
    const Q = c.queries.length;
    for (let f = 0; f < n; f++) {
      const qs = c.queries.map((i) => ({ x: i % c.grid[1], y: Math.floor(i / c.grid[1]) }));
      const rows = await r.attentionRows('depth', f, qs);
      check(`attn_rows frame ${f}`, rows.rows, want.subarray(f * 8 * Q * cells, (f + 1) * 8 * Q * cells), 1e-5);
    }
  });
}

test('a full 512×512 frame matches the reference (sampled features, full attention maps, sampled rows)', async () => {
  const { r, c } = await runCase('full512');
  const feat = r.features.depth![0]!;
  const idx = golden.array('full512.feature_index') as Int32Array;
  const got = Float32Array.from(idx, (i) => feat[i]!);
  const dFeat = check('feature (4096 sampled values)', got, golden.array('full512.feature_values'), 1e-4);
  const fast = (await runGGE({ depth: [synthImage(512, 512, c.seeds[0]!)] }, bundle, { threads: 2, attention: false })).features.depth![0]!;
  const dFast = check('feature, fused attention graph', Float32Array.from(idx, (i) => fast[i]!), golden.array('full512.feature_values'), 1e-4);
  let mean = 0, meanAbs = 0, min = Infinity, max = -Infinity;
  for (const v of feat) (mean += v), (meanAbs += Math.abs(v)), (min = Math.min(min, v)), (max = Math.max(max, v));
  mean /= feat.length;
  meanAbs /= feat.length;
  let v2 = 0;
  for (const v of feat) v2 += (v - mean) ** 2;
  const s = c.stats.feature;
  assert.ok(Math.abs(mean - s.mean) < 1e-5 && Math.abs(meanAbs - s.meanAbs) < 1e-5, 'mean, mean |x|');
  assert.ok(Math.abs(Math.sqrt(v2 / feat.length) - s.std) < 1e-5, 'std');
  assert.ok(Math.abs(min - s.min) < 1e-4 && Math.abs(max - s.max) < 1e-4, 'min, max');
  const a = r.attention.maps.depth!;
  const dRecv = check('attn_received (8×64×64)', a.received[0]!, golden.array('full512.attn_received'), 1e-5);
  check('attn_out_norm', a.outNorm[0]!, golden.array('full512.attn_out_norm'), 1e-4);
  check('attn_delta_norm', a.deltaNorm[0]!, golden.array('full512.attn_delta_norm'), 1e-4);
  const qs = c.queries.map((i) => ({ x: i % 64, y: Math.floor(i / 64) }));
  const rows = await r.attentionRows('depth', 0, qs);
  const keys = golden.array('full512.rows_key_index') as Int32Array;
  const Q = qs.length;
  const sampled = new Float32Array(8 * Q * keys.length);
  for (let hq = 0; hq < 8 * Q; hq++) for (let k = 0; k < keys.length; k++) sampled[hq * keys.length + k] = rows.rows[hq * 4096 + keys[k]!]!;
  const dRows = check('attn_rows (sampled keys)', sampled, golden.array('full512.attn_rows_sampled'), 1e-5);
  for (let h = 0; h < 8; h++)
    for (let q = 0; q < Q; q++) {
      const row = rows.rows.subarray((h * Q + q) * 4096, (h * Q + q + 1) * 4096);
      const am = c.stats.rows_argmax![0]![h]![q]!;
      assert.ok(Math.abs(row[am]! - c.stats.rows_max![0]![h]![q]!) < 1e-5, `row max of head ${h} query ${q}`);
    }
  console.log(`# parity 512²: feature ${dFeat.toExponential(2)} (fused graph ${dFast.toExponential(2)}), received ${dRecv.toExponential(2)}, rows ${dRows.toExponential(2)}`);
  await releaseGGE(bundle);
});
