import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NdArray, writeNpz } from '../../src/kernel/io';
import { aed, apd, readFlameSequence, type FlameParamSequence } from '../../src/kernel/metrics/motion';
import { rng } from './helpers';

/** A synthetic tracked sequence: smooth head rotation + jaw + 50 expression coefficients. */
function synthetic(frames: number, seed: number): { pose: number[][]; expression: number[][] } {
  const r = rng(seed);
  const pose: number[][] = [], expression: number[][] = [];
  for (let f = 0; f < frames; f++) {
    const t = f / frames;
    pose.push([0.2 * Math.sin(6 * t), 0.3 * Math.cos(4 * t), 0.05 * t, 0.1 * Math.abs(Math.sin(9 * t)), 0, 0]);
    expression.push(Array.from({ length: 50 }, (_, k) => Math.sin(3 * t + k) * (1 / (1 + k)) + (r() - 0.5) * 0.01));
  }
  return { pose, expression };
}

test('APD / AED: zero for identical sequences, exact mean L1 for a known offset, per-frame values', () => {
  const drv = synthetic(20, 1);
  assert.equal(apd(drv, drv).mean, 0);
  assert.equal(aed(drv, drv).mean, 0);
  // Offset the global rotation by (0.1, −0.2, 0.3) and the jaw by 0.5: APD = 0.2 (jaw excluded); AED += jaw only with includeJaw.
  const gen = { pose: drv.pose.map((p) => [p[0]! + 0.1, p[1]! - 0.2, p[2]! + 0.3, p[3]! + 0.5, p[4]!, p[5]!]), expression: drv.expression.map((e, f) => e.map((v, k) => v + (k < 10 ? 0.05 * (f % 2 ? 1 : -1) : 0))) };
  const p = apd(gen, drv);
  assert.equal(p.frames, 20);
  assert.ok(Math.abs(p.mean - 0.2) < 1e-12);
  assert.ok(p.perFrame.every((v) => Math.abs(v - 0.2) < 1e-12));
  const e = aed(gen, drv);
  assert.ok(Math.abs(e.mean - (10 * 0.05) / 50) < 1e-12);
  const ej = aed(gen, drv, { includeJaw: true });
  assert.ok(Math.abs(ej.mean - (10 * 0.05 + 0.5) / 53) < 1e-12);
  assert.match(p.label, /FLAME-fit approximation/);
});

test('APD / AED accept flat frame-major arrays (DECA 6-d pose or 3-d), compare the common frames, reject mismatches', () => {
  const a = synthetic(12, 2), b = synthetic(15, 3);
  const flat = (rows: number[][]) => Float32Array.from(rows.flat());
  const fa: FlameParamSequence = { pose: flat(a.pose), expression: flat(a.expression), expressionDim: 50 };
  const fb: FlameParamSequence = { pose: flat(b.pose.map((p) => p.slice(0, 3))), poseDim: 3, expression: flat(b.expression), expressionDim: 50 };
  const rows = apd(a, b);
  const flatRes = apd(fa, fb);
  assert.equal(flatRes.frames, 12);
  assert.ok(Math.abs(rows.mean - flatRes.mean) < 1e-6);
  assert.ok(Math.abs(aed(a, b).mean - aed(fa, fb).mean) < 1e-6);
  assert.throws(() => aed(a, { pose: b.pose, expression: b.expression.map((e) => e.slice(0, 10)) }), /Expression sizes differ/);
  assert.throws(() => apd({ pose: [[1, 2]], expression: [[0]] }, a), /3 or 6 values/);
  assert.throws(() => aed(fa, fb, { includeJaw: true }), /includeJaw needs 6/);
});

test('readFlameSequence reads .npz (pose, exp) and .json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-motion-'));
  try {
    const s = synthetic(5, 4);
    const npz = join(dir, 'drv.npz');
    writeFileSync(npz, writeNpz({ pose: new NdArray('float32', [5, 6], Float32Array.from(s.pose.flat())), exp: new NdArray('float32', [5, 50], Float32Array.from(s.expression.flat())) }));
    const json = join(dir, 'drv.json');
    writeFileSync(json, JSON.stringify(s));
    const a = await readFlameSequence(npz);
    const b = await readFlameSequence(json);
    assert.ok(apd(a, b).mean < 1e-7 && aed(a, b).mean < 1e-7);
    writeFileSync(json, '{"pose": []}');
    await assert.rejects(readFlameSequence(json), /needs "pose" and "expression"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
