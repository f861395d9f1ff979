import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createDemoHead } from '../../src/kernel/flame';
import { headAngles } from '../../src/kernel/fit/frame-targets';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { mp } from '../../src/kernel/mp';
import { generateSynthetic, identitySplits } from '../../src/kernel/data/synth/generate';
import { frameParams, readFlameNpz } from '../../src/kernel/data/flame-npz';
import { listCompleteClips, SYNTHETIC_LABEL, type DatasetJson } from '../../src/kernel/data/layout';
import { readPng } from '../../src/kernel/io/png';
import { drawBackground, type BackgroundSpec } from '../../src/kernel/data/synth/background';
import { crossReenactment, rerenderClip } from '../../src/kernel/data/api';
import { CancelledError } from '../../src/kernel/errors';
import { firstDifference, tmp, treeHashes } from './helpers';

const small = { identities: 3, clips: 2, frames: 6, size: 64, seed: 5 };

test('synthetic data: the same seed gives identical files with 0 or 2 workers; another seed differs', async () => {
  const a = tmp('synth-a'), b = tmp('synth-b'), c = tmp('synth-c');
  await generateSynthetic({ ...small, out: a, workers: 2 });
  await generateSynthetic({ ...small, out: b, workers: 0 });
  await generateSynthetic({ ...small, seed: 6, out: c, workers: 2 });
  const ha = treeHashes(a), hb = treeHashes(b);
  assert.equal(firstDifference(ha, hb), null);
  // 6 clips × (flame.npz + meta.json + 5 folders × 6 frames) + dataset.json + report.{json,html} + 6 records
  assert.equal(ha.size, 6 * (2 + 5 * 6) + 3 + 6);
  const hc = treeHashes(c);
  const shared = [...ha.keys()].filter((k) => k.endsWith('.png') && hc.has(k));
  assert.ok(shared.length > 0 && shared.every((k) => ha.get(k) !== hc.get(k) || k.includes('/mask/')), 'another seed gives other frames');
});

test('synthetic data: identities are split train/val/test without overlap, labelled synthetic everywhere, motion within bounds', async () => {
  for (const n of [1, 2, 3, 10, 57]) {
    const s = identitySplits(n, 3);
    const count = (k: string) => s.filter((x) => x === k).length;
    assert.equal(count('test'), n >= 3 ? Math.max(1, Math.round(0.1 * n)) : 0);
    assert.equal(count('val'), n >= 2 ? Math.max(1, Math.round(0.1 * n)) : 0);
  }
  const out = tmp('synth-split');
  await generateSynthetic({ identities: 10, clips: 2, frames: 24, size: 64, seed: 11, out, workers: 2, maps: ['depth', 'normal', 'render', 'mask', 'landmarks'] });
  const ds = JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8')) as DatasetJson;
  assert.equal(ds.kind, 'synthetic');
  assert.equal(ds.label, SYNTHETIC_LABEL);
  const ids = ds.identities;
  assert.deepEqual([ids.train!.length, ids.val!.length, ids.test!.length], [8, 1, 1]);
  const all = [...ids.train!, ...ids.val!, ...ids.test!];
  assert.equal(new Set(all).size, all.length, 'no identity in two splits');
  const clips = listCompleteClips(out);
  assert.equal(clips.length, 20);
  for (const c of clips) {
    assert.ok(ids[c.split]!.includes(c.meta.identity), `${c.clip} is in its identity's split`);
    assert.ok(ds.splits[c.split]!.includes(c.clip));
    assert.equal(c.meta.synthetic, true);
    assert.equal(c.meta.label, SYNTHETIC_LABEL);
    assert.equal(c.meta.model.kind, 'demo-head');
    for (const k of ['images', ...c.meta.maps]) assert.deepEqual(readdirSync(join(c.dir, k)).sort(), c.meta.frames, `${c.clip}/${k} has the frames of meta.json`);
    const p = await readFlameNpz(join(c.dir, 'flame.npz'));
    for (let k = 0; k < c.meta.frames.length; k++) {
      const a = headAngles(frameParams(p, k).pose);
      assert.ok(Math.abs(a.yaw) <= 30.001 && Math.abs(a.pitch) <= 12.001 && Math.abs(a.roll) <= 8.001, `${c.clip} frame ${k}: ${JSON.stringify(a)}`);
    }
  }
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(report.label, SYNTHETIC_LABEL);
  assert.equal(report.counts.complete, 20);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /synthetic demo-head data — not real faces/);
  // the motion really moves: yaw spans several degrees and the jaw opens in some clip
  const p0 = await readFlameNpz(join(clips[0]!.dir, 'flame.npz'));
  const yaws = Array.from({ length: 24 }, (_, k) => headAngles(frameParams(p0, k).pose).yaw);
  assert.ok(Math.max(...yaws) - Math.min(...yaws) > 2, 'the head turns');
});

test('synthetic data: flame.npz re-renders to the saved maps and photos (mp.renderGuidance, rerenderClip), byte for byte', async () => {
  setStageCache(new StageCache(tmp('synth-cache')));
  const out = tmp('synth-rerender');
  await generateSynthetic({ identities: 2, clips: 1, frames: 5, size: 96, seed: 2, out, workers: 2, maps: ['depth', 'normal', 'render', 'mask', 'landmarks'] });
  const head = createDemoHead();
  for (const c of listCompleteClips(out)) {
    const p = await readFlameNpz(join(c.dir, 'flame.npz'));
    assert.equal(p.size, 96);
    const bg = drawBackground(JSON.parse(p.background!) as BackgroundSpec, 96);
    for (let k = 0; k < c.meta.frames.length; k++) {
      const f = frameParams(p, k);
      // the public stage, on a one-frame sequence with this frame's camera
      const g = await mp.renderGuidance({ model: head, shape: p.shape, frames: [{ expression: f.expression, pose: f.pose }], cam: Array.from(f.cam), tform: p.tform, albedoCode: p.albedo, light: p.light }, { size: 96, maps: ['depth', 'normal', 'render', 'mask', 'landmarks'] });
      const m = g.frames[0]!;
      for (const kind of ['depth', 'normal', 'render', 'mask', 'landmarks'] as const) {
        const png = readPng(join(c.dir, kind, c.meta.frames[k]!));
        assert.equal(png.channels, kind === 'mask' ? 1 : 3);
        assert.ok(Buffer.from(png.data).equals(Buffer.from(m[kind]!)), `${c.clip}/${kind}/${c.meta.frames[k]} equals mp.renderGuidance`);
      }
      // the photo: the render over the backdrop, blended by the mask (as mp.demo.portrait)
      const photo = readPng(join(c.dir, 'images', c.meta.frames[k]!)).data;
      for (let i = 0; i < 96 * 96; i++) for (let ch = 0; ch < 3; ch++) {
        const want = m.mask![i] ? m.render![3 * i + ch]! : bg[3 * i + ch]!;
        if (photo[3 * i + ch] !== want) assert.fail(`${c.clip} photo pixel ${i} channel ${ch}: ${photo[3 * i + ch]} ≠ ${want}`);
      }
    }
    // the streaming API gives the same bytes
    let n = 0;
    for await (const fr of rerenderClip(c.dir)) {
      assert.ok(Buffer.from(readPng(join(c.dir, 'normal', fr.name)).data).equals(Buffer.from(fr.maps.normal!)));
      assert.ok(Buffer.from(readPng(join(c.dir, 'images', fr.name)).data).equals(Buffer.from(fr.photo!)));
      n++;
    }
    assert.equal(n, 5);
  }
});

test('synthetic data: cross-reenactment ground truth has the reference identity with the driving motion', async () => {
  const out = tmp('synth-cross');
  await generateSynthetic({ identities: 2, clips: 1, frames: 4, size: 64, seed: 9, out, workers: 0 });
  const [a, b] = listCompleteClips(out).sort((x, y) => x.meta.identity.localeCompare(y.meta.identity));
  const pa = await readFlameNpz(join(a!.dir, 'flame.npz')), pb = await readFlameNpz(join(b!.dir, 'flame.npz'));
  const frames = [];
  for await (const f of crossReenactment({ reference: a!.dir, driving: b!.dir })) frames.push(f);
  assert.equal(frames.length, 4);
  // the reference's own motion (driving = itself) with its frame-0 camera reproduces its frame 0 exactly
  const self = [];
  for await (const f of crossReenactment({ reference: a!.dir, driving: a!.dir })) self.push(f);
  assert.ok(Buffer.from(self[0]!.photo!).equals(Buffer.from(readPng(join(a!.dir, 'images', 'frame_000000.png')).data)));
  // equal to mp.renderGuidance with A's identity / appearance / camera and B's expression and pose
  const f2 = frameParams(pb, 2);
  const g = await mp.renderGuidance({ model: createDemoHead(), shape: pa.shape, frames: [{ expression: f2.expression, pose: f2.pose }], cam: Array.from(frameParams(pa, 0).cam), tform: pa.tform, albedoCode: pa.albedo, light: pa.light }, { size: 64, maps: ['depth', 'normal', 'render', 'mask'] });
  assert.ok(Buffer.from(frames[2]!.maps.render!).equals(Buffer.from(g.frames[0]!.render!)));
  assert.ok(!Buffer.from(frames[2]!.maps.render!).equals(Buffer.from(readPng(join(b!.dir, 'render', 'frame_000002.png')).data)), 'not the driving identity');
});

test('synthetic data: an interrupted run leaves no complete-looking clip, and the next run ends with the same files', async () => {
  const ref = tmp('synth-full'), out = tmp('synth-resume');
  const o = { identities: 2, clips: 2, frames: 16, size: 64, seed: 4 };
  await generateSynthetic({ ...o, out: ref, workers: 2 });
  const ac = new AbortController();
  await assert.rejects(generateSynthetic({ ...o, out, workers: 2, signal: ac.signal, onProgress: (d) => { if (d >= 24) ac.abort(); } }), CancelledError);
  const partial = listCompleteClips(out);
  assert.ok(partial.length < 4, 'stopped before the end');
  assert.ok(!existsSync(join(out, 'dataset.json')), 'no dataset.json before a run ends');
  // every clip with a meta.json has all its files; the clip that was being written has none
  let incomplete = 0;
  for (const split of readdirSync(out).filter((x) => !x.startsWith('.') && !x.endsWith('.json') && !x.endsWith('.html'))) for (const clip of readdirSync(join(out, split))) {
    const dir = join(out, split, clip);
    if (existsSync(join(dir, 'meta.json'))) for (const k of ['images', 'depth', 'normal', 'render', 'mask']) assert.equal(readdirSync(join(dir, k)).length, 16);
    else incomplete++;
  }
  assert.ok(incomplete >= 1, 'the interrupted clip is there, without meta.json');
  await generateSynthetic({ ...o, out, workers: 2 });
  assert.equal(firstDifference(treeHashes(ref), treeHashes(out)), null);
  // other settings in the same folder are refused with a clear message
  await assert.rejects(generateSynthetic({ ...o, size: 96, out, workers: 0 }), /made with other settings/);
  rmSync(ref, { recursive: true, force: true });
});
