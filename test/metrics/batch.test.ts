import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NdArray, writeNpz } from '../../src/kernel/io';
import { parseManifest, parseShard, inShard, subShards } from '../../src/kernel/metrics/batch/manifest';
import { parseEvalArgs } from '../../src/kernel/metrics/batch/cli';
import { cliLaunch, mergeEval, runEval } from '../../src/kernel/metrics/batch/run';
import { readPairRecord } from '../../src/kernel/metrics/batch/table';
import type { FeatureNetwork } from '../../src/kernel/metrics/evaluate';
import { frechetDistanceFromFeatures } from '../../src/kernel/metrics/frechet';
import type { Image } from '../../src/kernel/io/image';
import { readFrames } from '../../src/kernel/io/video';
import { dataDir, fixtures } from './helpers';

const tmp = mkdtempSync(join(tmpdir(), 'mp-eval-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const manifestPath = join(tmp, 'pairs.json');
const lpipsArgs = { linear: join(fixtures, 'lpips_alex_lin.pth.gz'), backbone: join(fixtures, 'lpips_alex_backbone.pth.gz') };
const D = (rel: string) => join(dataDir, rel);
const quiet = () => {};

before(() => {
  const seq = (phase: number) => ({
    pose: new NdArray('float32', [40, 6], Float32Array.from({ length: 240 }, (_, i) => Math.sin(i * 0.1 + phase) * 0.2)),
    exp: new NdArray('float32', [40, 50], Float32Array.from({ length: 2000 }, (_, i) => Math.cos(i * 0.05 + phase))),
  });
  writeFileSync(join(tmp, 'gen.npz'), writeNpz(seq(0.3)));
  writeFileSync(join(tmp, 'drv.npz'), writeNpz(seq(0)));
  const manifest = {
    version: 1,
    name: 'six pairs from shared/data',
    options: { maxFrames: 2, step: 10, lpips: lpipsArgs },
    pairs: [
      { id: 'self-driving', mode: 'self', driving: D('magicportrait/driving.mp4'), generated: D('magicportrait/driving.mp4') },
      { id: 'self-d0-gen-d3', mode: 'self', driving: D('liveportrait/d0.mp4'), generated: D('liveportrait/d3.mp4') },
      { id: 'self-d3-gen-d0', mode: 'self', driving: D('liveportrait/d3.mp4'), generated: D('liveportrait/d0.mp4'), reference: { video: D('liveportrait/d3.mp4'), frame: 5 } },
      { id: 'cross-s1-d0', mode: 'cross', reference: D('liveportrait/s1.jpg'), driving: D('liveportrait/d0.mp4'), generated: D('liveportrait/d0.mp4') },
      { id: 'cross-boy-driving', mode: 'cross', reference: D('magicportrait/boy_cropped.jpg'), driving: D('magicportrait/driving.mp4'), generated: D('magicportrait/driving.mp4'), maxFrames: 3 },
      { id: 'cross-s5-d3', mode: 'cross', reference: D('liveportrait/s5.jpg'), driving: D('liveportrait/d3.mp4'), generated: D('liveportrait/d3.mp4'), flame: { generated: 'gen.npz', driving: 'drv.npz' } },
    ],
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 1));
});

const read = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8');

test('manifest validation, shard parsing and assignment', () => {
  const m = parseManifest(JSON.parse(readFileSync(manifestPath, 'utf8')), manifestPath);
  assert.equal(m.pairs.length, 6);
  assert.deepEqual(m.pairs[0]!.reference, { video: D('magicportrait/driving.mp4'), frame: 0 });
  assert.equal(m.pairs[0]!.target, D('magicportrait/driving.mp4'));
  assert.equal(m.pairs[3]!.target, null);
  assert.equal(m.pairs[4]!.options.maxFrames, 3);
  assert.equal(m.pairs[5]!.flame!.generated, join(tmp, 'gen.npz'));
  const bad = (pairs: unknown[], re: RegExp) => assert.throws(() => parseManifest({ version: 1, pairs }, manifestPath), re);
  bad([{ id: 'a', mode: 'self', driving: D('liveportrait/d0.mp4') }], /no "generated" video.*sampler is not wired/);
  bad([{ id: 'a b', mode: 'self', driving: D('liveportrait/d0.mp4'), generated: D('liveportrait/d0.mp4') }], /"id" must match/);
  bad([{ id: 'a', mode: 'cross', driving: D('liveportrait/d0.mp4'), generated: D('liveportrait/d0.mp4') }], /needs a "reference"/);
  bad([{ id: 'a', mode: 'self', driving: 'nope.mp4', generated: D('liveportrait/d0.mp4') }], /"driving" not found/);
  assert.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
  assert.deepEqual(parseShard('auto/4', { JOB_COMPLETION_INDEX: '3' }), { index: 3, count: 4 });
  assert.throws(() => parseShard('3/3'), /0 ≤ i < N/);
  assert.throws(() => parseShard('auto/2', {}), /JOB_COMPLETION_INDEX/);
  // every pair in exactly one shard, also for workers inside a shard
  for (const k of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) {
    assert.equal([0, 1, 2].filter((i) => inShard(k, { index: i, count: 3 })).length, 1);
    const inner = subShards({ index: 1, count: 2 }, 3);
    assert.equal(inner.filter((s) => inShard(k, s)).length, k % 2 === 1 ? 1 : 0);
  }
});

let unsharded: string;

test('one unsharded run: table (CSV + JSON) and a self-contained HTML report', async () => {
  unsharded = join(tmp, 'single');
  const s = await runEval({ manifest: manifestPath, out: unsharded, log: quiet });
  assert.deepEqual(s.failed, []);
  assert.equal(s.computed.length, 6);
  const t = s.table!;
  assert.equal(t.rows.length, 6);
  assert.deepEqual(t.missing, []);
  const row = (id: string) => t.rows.find((r) => r.id === id)!;
  assert.equal(row('self-driving').values.psnr, 'inf');
  assert.equal(row('self-driving').values.ssim, 1);
  assert.equal(row('self-driving').values.lpips, 0);
  assert.ok((row('self-d0-gen-d3').values.psnr as number) < 20);
  assert.ok((row('self-d0-gen-d3').values.lpips as number) > 0);
  assert.equal(row('cross-s1-d0').values.psnr, undefined);
  assert.equal(row('cross-boy-driving').frames, 3);
  assert.ok((row('cross-s5-d3').values.apd as number) > 0 && (row('cross-s5-d3').values.aed as number) > 0);
  assert.equal(t.aggregate.self.pairs, 3);
  assert.equal(t.aggregate.cross.pairs, 3);
  const csv = read(unsharded, 'results.csv').trim().split('\n');
  assert.equal(csv[0], 'id,mode,frames,psnr,ssim,lpips,fid,fvd,csim,apd,aed');
  assert.equal(csv.length, 1 + 6 + 2);
  assert.match(csv[1]!, /^self-driving,self,2,inf,1,0,,,0\.\d+,,$/);
  const html = read(unsharded, 'report.html');
  assert.ok(html.length > 3e6, 'plotly.js is inlined');
  assert.ok(!/<script[^>]+src=|<link[^>]+href=|<img[^>]+src="?http|@import/i.test(html), 'no remote loads');
  assert.match(html, /const FIGURES = \[/);
  assert.match(html, /arXiv:2504\.21497/);
});

test('3 local worker processes give exactly the same table; eval-merge of 3 shard folders too', async () => {
  const out = join(tmp, 'workers');
  const s = await runEval({ manifest: manifestPath, out, workers: 3, log: quiet });
  assert.deepEqual(s.failed, []);
  assert.equal(s.computed.length, 6);
  assert.equal(read(out, 'results.csv'), read(unsharded, 'results.csv'));
  assert.equal(read(out, 'results.json'), read(unsharded, 'results.json'));
  const shards = readdirSync(join(out, 'pairs')).map((f) => readPairRecord(join(out, 'pairs', f))!.shard).sort();
  assert.deepEqual(shards, ['0/3', '0/3', '1/3', '1/3', '2/3', '2/3']);
  // separate machines: one folder per shard (reusing the stage cache of the single run), merged afterwards
  const dirs = [0, 1, 2].map((i) => join(tmp, `machine-${i}`));
  for (const [i, dir] of dirs.entries()) {
    const r = await runEval({ manifest: manifestPath, out: dir, shard: { index: i, count: 3 }, cacheDir: join(unsharded, 'cache'), log: quiet });
    assert.equal(r.table, null); // a shard alone does not write the table
    assert.equal(r.pairs.length, 2);
  }
  const merged = join(tmp, 'merged');
  const m = await mergeEval({ dirs, out: merged, manifest: manifestPath });
  assert.deepEqual(m.table.missing, []);
  assert.equal(read(merged, 'results.csv'), read(unsharded, 'results.csv'));
  assert.equal(read(merged, 'results.json'), read(unsharded, 'results.json'));
  // merging only two of them reports the missing pairs
  assert.deepEqual((await mergeEval({ dirs: dirs.slice(0, 2), out: join(tmp, 'partial'), manifest: manifestPath })).table.missing, ['self-d3-gen-d0', 'cross-s5-d3']);
});

test('a run killed midway resumes: only the missing pairs are computed, finished ones are untouched', async () => {
  const out = join(tmp, 'killed');
  const { entry, execArgv } = cliLaunch();
  const child = spawn(process.execPath, [...execArgv, entry, 'eval', '--manifest', manifestPath, '--out', out, '--no-cache'], { stdio: 'ignore' });
  const pairsDir = join(out, 'pairs');
  const done = () => (existsSync(pairsDir) ? readdirSync(pairsDir).filter((f) => f.endsWith('.json')) : []);
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (done().length >= 2) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve();
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error('the run finished before it could be killed'));
    });
  });
  await new Promise((r) => child.once('close', r));
  const before = new Map(done().map((f) => [f.replace(/\.json$/, ''), read(pairsDir, f)]));
  assert.ok(before.size >= 2 && before.size < 6, `${before.size} pairs finished before the kill`);
  assert.ok(!existsSync(join(out, 'results.csv')));

  const s = await runEval({ manifest: manifestPath, out, cacheDir: null, log: quiet });
  assert.deepEqual([...s.skipped].sort(), [...before.keys()].sort());
  assert.equal(s.computed.length, 6 - before.size);
  assert.ok(s.computed.every((id) => !before.has(id)));
  for (const [id, content] of before) assert.equal(read(pairsDir, `${id}.json`), content, `${id} was rewritten`);
  assert.equal(read(out, 'results.csv'), read(unsharded, 'results.csv'));
  // a third run has nothing left to do
  const again = await runEval({ manifest: manifestPath, out, cacheDir: null, log: quiet });
  assert.equal(again.computed.length, 0);
  assert.equal(again.skipped.length, 6);
});

test('the Kubernetes Indexed Job runs a valid eval command line (shard from JOB_COMPLETION_INDEX)', () => {
  const yaml = readFileSync(join(__dirname, '..', '..', 'deploy', 'k8s', 'eval-indexed-job.yaml'), 'utf8');
  assert.match(yaml, /completionMode: Indexed/);
  const completions = Number(/completions: (\d+)/.exec(yaml)![1]);
  const shards = Number(/name: SHARDS\s+value: "(\d+)"/.exec(yaml)![1]);
  assert.equal(shards, completions);
  const block = /exec magicportrait eval\n([\s\S]*?)\n\s*resources:/.exec(yaml)![1]!;
  const argv = block
    .replace(/\$\{SHARDS\}/g, String(shards))
    .replace(/\$\{THREADS\}/g, '2')
    .split(/\s+/)
    .filter(Boolean)
    .map((a) => a.replace(/^"|"$/g, ''));
  const prev = process.env.JOB_COMPLETION_INDEX;
  process.env.JOB_COMPLETION_INDEX = '5';
  try {
    const o = parseEvalArgs(argv);
    assert.deepEqual(o.shard, { index: 5, count: shards });
    assert.equal(o.writeTable, false);
    assert.equal(o.manifest, '/eval/pairs.json');
  } finally {
    if (prev === undefined) delete process.env.JOB_COMPLETION_INDEX;
    else process.env.JOB_COMPLETION_INDEX = prev;
  }
  const merge = readFileSync(join(__dirname, '..', '..', 'deploy', 'k8s', 'eval-merge-job.yaml'), 'utf8');
  assert.match(merge, /"eval-merge", "--manifest", "\/eval\/pairs.json", "--out", "\/eval\/out"/);
});

test('FID in a batch: per-pair values, and the self aggregate pooled over every frame of the self pairs', async () => {
  // A cheap stand-in feature network (8×8-block mean colours, 192-d): the pooling logic does not depend on the net.
  const blocks: FeatureNetwork = {
    name: 'block means (test)',
    dim: 192,
    key: 'block-means-v1',
    async features(frames) {
      const out = new Float32Array(frames.length * 192);
      frames.forEach((im, f) => {
        const bw = im.width / 8, bh = im.height / 8;
        for (let y = 0; y < im.height; y++)
          for (let x = 0; x < im.width; x++)
            for (let c = 0; c < 3; c++) out[f * 192 + (Math.floor(y / bh) * 8 + Math.floor(x / bw)) * 3 + c]! += im.data[(y * im.width + x) * 3 + c]! / (bw * bh * 255);
      });
      return out;
    },
  };
  const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
  m.pairs = m.pairs.filter((p: { id: string }) => p.id === 'self-d0-gen-d3' || p.id === 'self-d3-gen-d0');
  m.options.maxFrames = 3;
  delete m.options.lpips;
  const mpath = join(tmp, 'fid-pairs.json');
  writeFileSync(mpath, JSON.stringify(m));
  const out = join(tmp, 'fid');
  const s = await runEval({ manifest: mpath, out, fid: blocks, log: quiet });
  const t = s.table!;
  assert.ok(t.rows.every((r) => typeof r.values.fid === 'number' && (r.values.fid as number) > 0));
  // pooled: 6 generated frames vs 6 target frames
  const frames = async (rel: string) => {
    const f: Image[] = [];
    for await (const x of readFrames(D(rel), { step: 10, maxFrames: 3 })) f.push(x.image);
    return f;
  };
  const gen = [...(await frames('liveportrait/d3.mp4')), ...(await frames('liveportrait/d0.mp4'))];
  const tgt = [...(await frames('liveportrait/d0.mp4')), ...(await frames('liveportrait/d3.mp4'))];
  const pooled = frechetDistanceFromFeatures(await blocks.features(gen), 6, await blocks.features(tgt), 6, 192);
  assert.ok(Math.abs((t.aggregate.self.values.fid as number) - pooled) < 1e-9 * pooled);
  assert.match(t.aggregateNotes.join(' '), /pooled over 6 frames of 2 pair/);
  assert.ok(existsSync(join(out, 'pairs', 'self-d0-gen-d3.features.npz')));
});
