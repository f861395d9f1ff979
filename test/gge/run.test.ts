import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MagicPortraitError } from '../../src/kernel/errors';
import { DEMO_LABEL, createDemoGGE } from '../../src/kernel/gge/demo';
import { loadGGEBundle } from '../../src/kernel/gge/bundle';
import { GUIDANCE_TYPES } from '../../src/kernel/gge/model';
import { type GuidanceImage, runGGE, releaseGGE } from '../../src/kernel/gge/run';
import { synthImage, synthFrame } from './helpers';

const dirA = mkdtempSync(join(tmpdir(), 'gge-demo-a-'));
const demo = createDemoGGE(dirA);
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

test('the demo bundle is generated without user files, deterministically, and labelled untrained', () => {
  const m = loadGGEBundle(dirA).manifest;
  assert.equal(m.label, DEMO_LABEL);
  assert.deepEqual(m.sumOrder, ['depth', 'normal', 'render']);
  for (const t of GUIDANCE_TYPES) {
    assert.equal(m.encoders[t]!.source.kind, 'generated');
    assert.equal(m.encoders[t]!.keys.unexpected.length, 0);
    assert.equal(m.encoders[t]!.featuresModel, `guidance_encoder_${t}_features.onnx`);
  }
  const dirB = mkdtempSync(join(tmpdir(), 'gge-demo-b-'));
  createDemoGGE(dirB);
  for (const t of GUIDANCE_TYPES) {
    const f = m.encoders[t]!.model;
    assert.equal(sha(join(dirA, f)), sha(join(dirB, f)), `${f} is reproducible`);
  }
  assert.notEqual(sha(join(dirA, m.encoders.depth!.model)), sha(join(dirA, m.encoders.normal!.model)), 'own weights per type');
});

test('runGGE: per-type features, their sum in depth + normal + render order, attention data, all labelled', async () => {
  const [H, W, F] = [64, 80, 2];
  const maps = Object.fromEntries(GUIDANCE_TYPES.map((t, i) => [t, [0, 1].map((f) => synthImage(H, W, f + 2 * i))]));
  let progress = 0;
  const r = await runGGE(maps, demo, { threads: 1, onProgress: (d, n) => ((progress = d), assert.equal(n, 6)) });
  assert.equal(progress, 6);
  assert.equal(r.label, DEMO_LABEL);
  assert.equal(r.attention.label, DEMO_LABEL);
  assert.deepEqual(r.grid, { width: 10, height: 8 });
  assert.deepEqual(r.types, ['depth', 'normal', 'render']);
  const cells = 80;
  for (let f = 0; f < F; f++) {
    const [d, n, re] = GUIDANCE_TYPES.map((t) => r.features[t]![f]!);
    assert.equal(d!.length, 320 * cells);
    const s = r.sum[f]!;
    for (let i = 0; i < s.length; i++) assert.equal(s[i], Math.fround(Math.fround(d![i]! + n![i]!) + re![i]!));
    for (const t of GUIDANCE_TYPES) {
      const a = r.attention.maps[t]!;
      assert.equal(a.received[f]!.length, 8 * cells);
      assert.equal(a.outNorm[f]!.length, cells);
      assert.equal(a.deltaNorm[f]!.length, cells);
      for (let h = 0; h < 8; h++) {
        let tot = 0;
        for (let k = 0; k < cells; k++) tot += a.received[f]![h * cells + k]!;
        assert.ok(Math.abs(tot - 1) < 1e-5, 'mean of probability rows sums to 1');
      }
    }
  }
  const rows = await r.attentionRows('normal', 1, [{ x: 3, y: 2 }]);
  assert.equal(rows.label, DEMO_LABEL);
  assert.equal(rows.rows.length, 8 * cells);
  // Features-only run (fused attention graph): same features within float32 noise, no maps, rows recomputed on demand.
  const fast = await runGGE(maps, demo, { threads: 1, attention: false });
  assert.deepEqual(fast.attention.maps, {});
  for (let i = 0; i < fast.sum[1]!.length; i++) assert.ok(Math.abs(fast.sum[1]![i]! - r.sum[1]![i]!) < 1e-4);
  const rows2 = await fast.attentionRows('normal', 1, [{ x: 3, y: 2 }]);
  for (let i = 0; i < rows.rows.length; i++) assert.ok(Math.abs(rows2.rows[i]! - rows.rows[i]!) < 1e-6);
  await assert.rejects(r.attentionRows('normal', 2, [{ x: 0, y: 0 }]), MagicPortraitError);
  await assert.rejects(r.attentionRows('normal', 0, [{ x: 10, y: 0 }]), /outside the 10×8 grid/);
});

test('a 512×512 frame gives 320×64×64 features that are visibly non-zero, and 8×64×64 attention maps', async () => {
  const maps = Object.fromEntries(GUIDANCE_TYPES.map((t, i) => [t, [synthImage(512, 512, i)]]));
  const r = await runGGE(maps, demo, { threads: 2, keepTypeFeatures: false });
  assert.deepEqual(r.grid, { width: 64, height: 64 });
  assert.deepEqual(r.features, {});
  const s = r.sum[0]!;
  assert.equal(s.length, 320 * 64 * 64);
  let m = 0, v = 0;
  for (const x of s) m += x / s.length;
  for (const x of s) v += (x - m) ** 2 / s.length;
  assert.ok(Math.sqrt(v) > 0.1, `features std ${Math.sqrt(v)}`);
  assert.equal(r.attention.maps.render!.received[0]!.length, 8 * 64 * 64);
});

test('8-bit RGB, RGBA and planar float inputs give the same features', async () => {
  const [H, W] = [32, 40];
  const rgb = synthFrame(H, W, 5);
  const rgba = new Uint8Array(H * W * 4);
  const planar = new Float32Array(3 * H * W);
  for (let p = 0; p < H * W; p++) {
    for (let c = 0; c < 3; c++) {
      rgba[p * 4 + c] = rgb[p * 3 + c]!;
      planar[c * H * W + p] = rgb[p * 3 + c]! / 255;
    }
    rgba[p * 4 + 3] = 255;
  }
  const inputs: GuidanceImage[] = [
    { width: W, height: H, channels: 3, pixels: rgb },
    { width: W, height: H, channels: 4, pixels: rgba },
    { width: W, height: H, data: planar },
  ];
  const out = [];
  for (const img of inputs) out.push((await runGGE({ depth: [img], normal: [img], render: [img] }, demo, { threads: 1 })).sum[0]!);
  assert.deepEqual(out[1], out[0]);
  assert.deepEqual(out[2], out[0]);
});

test('bad guidance inputs are refused with clear errors', async () => {
  const ok = synthImage(16, 16, 0);
  const signed: GuidanceImage = { width: 16, height: 16, data: new Float32Array(3 * 256).fill(-0.5) };
  await assert.rejects(runGGE({ depth: [signed], normal: [ok], render: [ok] }, demo), /depth guidance frame 0.*\[0, 1\]/);
  await assert.rejects(runGGE({ depth: [ok], normal: [ok] }, demo), /render are missing/);
  await assert.rejects(runGGE({ depth: [ok, ok], normal: [ok], render: [ok] }, demo), /normal has 1 frames/);
  await assert.rejects(runGGE({ depth: [ok], normal: [synthImage(16, 24, 0)], render: [ok] }, demo), /normal frame 0 is 24×16/);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(runGGE({ depth: [ok], normal: [ok], render: [ok] }, demo, { signal: ac.signal }), /cancelled/);
  await releaseGGE(demo);
});
