import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { GuidanceRenderer, type GuidanceMaps } from '../../src/kernel/render/guidance-maps';
import { renderSequence, RenderPool, findWorkerEntry } from '../../src/kernel/render/sequence';
import { CancelledError, MagicPortraitError } from '../../src/kernel/errors';
import { albedoPattern, loadSyntheticCases, loadSyntheticMesh } from './fixtures';

const mesh = loadSyntheticMesh();
const cases = loadSyntheticCases();
const cs = cases.find((c) => c.tform)!;
const assets = { faces: mesh.faces, uvCoords: mesh.uvCoords, uvFaces: mesh.uvFaces, albedo: albedoPattern(), light: cs.light };
const opts = { assets, cam: cs.cam, tform: cs.tform, width: 256, height: 256, maps: ['depth', 'normal', 'render', 'mask', 'landmarks'] as const };
const frames = Array.from({ length: 12 }, (_, i) => ({ verts: cases[i % cases.length].verts, landmarks: cases[i % cases.length].lmk }));
const KEYS = ['depth', 'normal', 'render', 'mask', 'landmarks'] as const;
const same = (a: GuidanceMaps, b: GuidanceMaps) => KEYS.every((k) => Buffer.from(a[k]!).equals(Buffer.from(b[k]!)));

test('the worker code is found when running from source under tsx', () => {
  const spec = findWorkerEntry();
  assert.ok(spec, 'worker entry');
});

test('workers render exactly what the calling thread renders, delivered in frame order', async () => {
  const order: number[] = [];
  const progress: number[] = [];
  const res = await renderSequence(frames, { ...opts, workers: 2, onFrame: (i) => order.push(i), onProgress: (d) => progress.push(d) });
  assert.equal(res.mode, 'workers', res.reason);
  assert.equal(res.workers, 2);
  assert.deepEqual(order, frames.map((_, i) => i));
  assert.equal(progress.at(-1), frames.length);
  const r = new GuidanceRenderer(assets, opts);
  frames.forEach((f, i) => assert.ok(same(res.frames[i], r.render(f)), `frame ${i}`));
  // frame arrays of the caller are copied, not detached
  assert.equal(frames[0].verts.length, 5023 * 3);
});

test('keep: false recycles the map buffers through the workers, and every frame is still delivered intact', async () => {
  const copies: GuidanceMaps[] = [];
  const seen: GuidanceMaps[] = [];
  const res = await renderSequence(frames, {
    ...opts, workers: 2, keep: false,
    onFrame: (_, m) => {
      seen.push(m);
      copies.push({ ...m, ...Object.fromEntries(KEYS.map((k) => [k, Uint8Array.from(m[k]!)])) });
    },
  });
  assert.equal(res.mode, 'workers', res.reason);
  assert.equal(res.frames.length, 0);
  const r = new GuidanceRenderer(assets, opts);
  frames.forEach((f, i) => assert.ok(same(copies[i], r.render(f)), `frame ${i}`));
  // the delivered buffers went back to the workers (detached here)
  assert.ok(seen.every((m) => m.depth!.byteLength === 0));
  // inline (workers: 0) likewise draws every frame over the previous one's buffers
  const inline: GuidanceMaps[] = [];
  await renderSequence(frames.slice(0, 3), { ...opts, workers: 0, keep: false, onFrame: (_, m) => inline.push(m) });
  assert.equal(inline[0].depth, inline[2].depth);
});

test('a pool serves several sequences; workers: 0 renders on the calling thread', async () => {
  const pool = new RenderPool(2);
  try {
    const a = await renderSequence(frames.slice(0, 4), { ...opts, pool });
    const b = await renderSequence(frames.slice(0, 4), { ...opts, pool, keep: false });
    assert.equal(a.mode, 'workers');
    assert.equal(b.frames.length, 0);
  } finally {
    await pool.close();
  }
  const c = await renderSequence(frames.slice(0, 2), { ...opts, workers: 0 });
  assert.equal(c.mode, 'inline');
  assert.equal(c.frames.length, 2);
});

test('cancellation and bad frames fail with user errors', async () => {
  const ac = new AbortController();
  await assert.rejects(
    renderSequence(frames, { ...opts, workers: 2, signal: ac.signal, onFrame: (i) => i === 1 && ac.abort() }),
    (e: unknown) => e instanceof CancelledError,
  );
  const bad = [...frames.slice(0, 3), { verts: new Float32Array(30), landmarks: frames[0].landmarks }];
  await assert.rejects(renderSequence(bad, { ...opts, workers: 2 }), (e: unknown) => e instanceof MagicPortraitError && /frame 3/.test(e.message));
});

test('bundled by esbuild into one CJS file: uses render-worker.js beside it, else falls back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-render-bundle-'));
  try {
    buildSync({
      entryPoints: { driver: join(__dirname, 'bundle', 'driver.ts'), 'render-worker': join(__dirname, '../../src/kernel/render/worker.ts') },
      bundle: true, platform: 'node', format: 'cjs', target: 'node20', outdir: dir, logLevel: 'silent',
    });
    const run = () => {
      const r = spawnSync(process.execPath, [join(dir, 'driver.js')], { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim()) as { mode: string; workers: number; covered: number[] };
    };
    const a = run();
    assert.equal(a.mode, 'workers');
    assert.equal(a.workers, 2);
    // 64×64: the diagonal through pixel centres belongs to neither face
    assert.deepEqual(a.covered, new Array(6).fill(32 * 32 - 32));
    renameSync(join(dir, 'render-worker.js'), join(dir, 'elsewhere.js'));
    const b = run();
    assert.equal(b.mode, 'inline');
    assert.deepEqual(b.covered, a.covered);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
