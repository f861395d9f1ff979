import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDemoHead } from '../../src/kernel/flame';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { mp } from '../../src/kernel/mp';
import { locateFfmpeg } from '../../src/kernel/io/ffmpeg';
import { readFrames } from '../../src/kernel/io/video';
import { detectFaces } from '../../src/kernel/perception/detect';
import { warpImage, invertAffine, type Affine } from '../../src/kernel/perception/warp';
import { prepareData, NME_DROP, REAL_TFORM } from '../../src/kernel/data/prepare';
import { frameParams, readFlameNpz } from '../../src/kernel/data/flame-npz';
import { listCompleteClips, type DatasetJson } from '../../src/kernel/data/layout';
import { readPng } from '../../src/kernel/io/png';
import { rerenderClip } from '../../src/kernel/data/api';
import type { DataReport } from '../../src/kernel/data/report';
import { buildFitRig } from '../../src/kernel/fit/fit-rig';
import { trackLandmarks } from '../../src/kernel/fit/track-smoothing';
import { fitFlame } from '../../src/kernel/fit/fit';
import { interOcular } from '../../src/kernel/fit/frame-targets';
import { closeFitEncoders } from '../../src/kernel/fit/encoder-init';
import { DECA_ENCODER_FILE, importDecaEncoder } from '../../src/kernel/perception/deca-encoder';
import { importSmirk } from '../../src/kernel/perception/smirk-encoder';
import { dataDir, firstDifference, tmp, treeHashes } from './helpers';
import { mergeData } from '../../src/kernel/data/merge';
import { runCli } from '../cli/capture';
import { parsePrepareArgs } from '../../src/kernel/cli/data';
import { pathToFileURL } from 'node:url';

const ffmpeg = () => locateFfmpeg().path;
const ff = (...args: string[]) => execFileSync(ffmpeg(), ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
const shared = {
  d0: join(dataDir, 'liveportrait', 'd0.mp4'),
  d3: join(dataDir, 'liveportrait', 'd3.mp4'),
  driving: join(dataDir, 'magicportrait', 'driving.mp4'),
};

/** A folder with the three shared clips (symlinks: the data is never copied into the repo or the test folder). */
function sharedVideos(): string {
  const dir = tmp('videos');
  for (const [k, p] of Object.entries(shared)) symlinkSync(p, join(dir, `${k}.mp4`));
  return dir;
}

let realRun: Promise<{ videos: string; out: string }> | null = null;
/** The shared clips prepared once (12 frames each, 2 workers), reused by several tests. */
function preparedShared() {
  realRun ??= (async () => {
    const videos = sharedVideos(), out = tmp('real');
    const s = await prepareData({ videos, out, maxFrames: 12, workers: 2 });
    assert.deepEqual(s.clips.map((c) => c.status), ['complete', 'complete', 'complete'], JSON.stringify(s.clips));
    return { videos, out };
  })();
  return realRun;
}

test('real clips: equal file counts, maps byte-identical to mp.renderGuidance, flame.npz re-renders, the crop is the reference rule', async () => {
  setStageCache(new StageCache(tmp('cache')));
  const { out } = await preparedShared();
  const head = createDemoHead();
  const clips = listCompleteClips(out);
  assert.deepEqual(clips.map((c) => c.clip), ['d0', 'd3', 'driving']);
  const T0 = Float64Array.of(224 / 512, 0, 0, 0, 224 / 512, 0, 0, 0, 1);
  for (const c of clips) {
    const m = c.meta;
    assert.equal(m.synthetic, false);
    assert.equal(m.size, 512);
    assert.equal(m.frames.length + m.dropped.length, 12);
    for (const k of ['images', ...m.maps]) assert.deepEqual(readdirSync(join(c.dir, k)).sort(), m.frames, `${c.clip}/${k}`);
    assert.ok(!existsSync(join(c.dir, '.work')), 'no work folder left');
    const p = await readFlameNpz(join(c.dir, 'flame.npz'));
    const rig = buildFitRig(head, { numShape: p.shape.length, numExpression: p.numExpression, fixedShape: Float64Array.from(p.shape) });
    assert.deepEqual(Array.from(p.frameIndex), m.frames.map((f) => Number(f.slice(6, 12))));
    assert.deepEqual(Array.from(p.tform), Array.from(REAL_TFORM));
    for (let k = 0; k < p.frameIndex.length; k++) {
      assert.ok(p.quality[k]! <= NME_DROP && (p.status[k] === 1 || p.status[k] === 2), `${c.clip} frame ${k}: quality ${p.quality[k]} status ${p.status[k]}`);
      const f = frameParams(p, k);
      if (k % 4 === 0) {
        const g = await mp.renderGuidance({ model: head, shape: p.shape, frames: [{ expression: f.expression, pose: f.pose }], cam: Array.from(f.cam), tform: p.tform, albedoCode: p.albedo, light: p.light }, { size: 512, maps: m.maps });
        for (const kind of m.maps) assert.ok(Buffer.from(readPng(join(c.dir, kind, m.frames[k]!)).data).equals(Buffer.from(g.frames[0]![kind]!)), `${c.clip}/${kind}/${m.frames[k]} = mp.renderGuidance`);
      }
      // the saved camera (whole-image convention) puts the model's landmarks where the tracker measured its NME
      const lm = trackLandmarks(rig, { expression: Float64Array.from(f.expression), pose: Float64Array.from(f.pose), cam: Float64Array.from(f.cam) }, T0);
      const det = p.landmarks!.subarray(136 * k, 136 * (k + 1));
      let sum = 0;
      for (let i = 0; i < 68; i++) sum += Math.hypot(lm[2 * i]! - det[2 * i]!, lm[2 * i + 1]! - det[2 * i + 1]!);
      const nme = sum / 68 / interOcular(det);
      assert.ok(Math.abs(nme - p.quality[k]!) < 2e-4, `${c.clip} frame ${k}: NME of the saved parameters ${nme} vs ${p.quality[k]}`);
    }
    let n = 0;
    for await (const fr of rerenderClip(c.dir)) {
      for (const kind of m.maps) assert.ok(Buffer.from(readPng(join(c.dir, kind, fr.name)).data).equals(Buffer.from(fr.maps[kind]!)), `${c.clip}/${kind}/${fr.name} re-rendered`);
      n++;
    }
    assert.equal(n, m.frames.length);
    // the crop: BlazeFace on the first frame, the largest face, square of 1.5 · max(w, h) onto [80, 432]² of 512²
    const reader = readFrames(shared[c.clip as keyof typeof shared], { maxFrames: 1 });
    const first = (await reader.next()).value!.image;
    await reader.return(undefined); // stops ffmpeg
    const faces = await detectFaces(first);
    const face = faces.reduce((a, b) => ((b.box.x2 - b.box.x1) * (b.box.y2 - b.box.y1) > (a.box.x2 - a.box.x1) * (a.box.y2 - a.box.y1) ? b : a));
    const side = Math.max(face.box.x2 - face.box.x1, face.box.y2 - face.box.y1);
    const cx = (face.box.x1 + face.box.x2) / 2, cy = (face.box.y1 + face.box.y2) / 2, s = 176 / (0.75 * side);
    const M: Affine = [s, 0, 256 - s * cx, 0, s, 256 - s * cy];
    m.crop!.tform.slice(0, 6).forEach((v, i) => assert.ok(Math.abs(v - M[i]!) < 1e-9, `${c.clip} crop[${i}] ${v} vs ${M[i]}`));
    assert.equal(m.crop!.detectedFrame, 0);
    const crop0 = warpImage(first, invertAffine(M), 512, 512);
    assert.ok(Buffer.from(readPng(join(c.dir, 'images', 'frame_000000.png')).data).equals(Buffer.from(crop0.data)), `${c.clip}: images/frame_000000.png is the reference crop of the first frame`);
  }
  const ds = JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8')) as DatasetJson;
  assert.equal(ds.kind, 'real');
  assert.deepEqual(ds.splits.train, ['d0', 'd3', 'driving']);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as DataReport;
  assert.equal(rep.counts.complete, 3);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<svg/);
});

test('bad input: truncated, unreadable, no face, face lost half-way, empty folder, bad frame; each reported, the others prepared, nothing half-written looks complete', async () => {
  const videos = tmp('bad');
  const d0 = shared.d0;
  ff('-i', d0, '-frames:v', '14', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', join(videos, 'good.mp4'));
  // truncated: a faststart MP4 cut after 55 % of its bytes (ffmpeg decodes the first frames, then reports errors)
  const full = join(tmp('full'), 'full.mp4');
  ff('-i', d0, '-frames:v', '30', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', full);
  const bytes = readFileSync(full);
  writeFileSync(join(videos, 'truncated.mp4'), bytes.subarray(0, Math.floor(bytes.length * 0.55)));
  // the header cut off: unreadable
  writeFileSync(join(videos, 'cut-header.mp4'), bytes.subarray(Math.floor(bytes.length * 0.5)));
  writeFileSync(join(videos, 'garbage.mov'), Buffer.from('this is not a video at all'));
  // no face: 12 frames of a test pattern
  ff('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-frames:v', '12', '-pix_fmt', 'yuv420p', join(videos, 'noface.mp4'));
  // the face lost half-way: 20 frames of d0, then 12 frames of an empty background of the same size (the person left
  // the shot). Not noise: the detector now and then finds a face in noise, and such a frame is dropped as a failed fit.
  ff('-i', d0, '-f', 'lavfi', '-i', 'color=c=0x5a6470:size=512x512:rate=25', '-filter_complex', '[0:v]trim=end_frame=20,setpts=PTS-STARTPTS,format=yuv420p[a];[1:v]trim=end_frame=12,setpts=PTS-STARTPTS,format=yuv420p[b];[a][b]concat=n=2:v=1[v]', '-map', '[v]', '-c:v', 'libx264', join(videos, 'lost.mp4'));
  mkdirSync(join(videos, 'empty'));
  // a frame folder with one unreadable image
  const frames = join(videos, 'frames');
  mkdirSync(frames);
  ff('-i', shared.d3, '-frames:v', '13', join(frames, 'f%03d.png'));
  writeFileSync(join(frames, 'f007.png'), Buffer.from('broken'));
  const out = tmp('bad-out');
  const s = await prepareData({ videos, out, workers: 2 });
  const byName = Object.fromEntries(s.clips.map((c) => [c.source, c]));
  assert.equal(byName['good.mp4']!.status, 'complete');
  assert.equal(byName['frames']!.status, 'complete');
  assert.equal(byName['lost.mp4']!.status, 'complete');
  assert.equal(byName['noface.mp4']!.status, 'skipped');
  assert.match(byName['noface.mp4']!.reason!, /no face found in the 12 frame/);
  for (const f of ['cut-header.mp4', 'garbage.mov']) {
    assert.equal(byName[f]!.status, 'failed', f);
    assert.match(byName[f]!.reason!, new RegExp(`${f.replace('.', '\\.')}.*(not a readable video|Invalid data)`), byName[f]!.reason);
  }
  // truncated: the frames ffmpeg could decode are prepared, and the report says where decoding failed
  const trunc = byName['truncated.mp4']!;
  assert.equal(trunc.status, 'complete', `truncated.mp4: ${trunc.reason}`);
  assert.ok(trunc.read > 0 && trunc.read < 30, `${trunc.read} frames decoded`);
  assert.match(trunc.reason ?? '', /ffmpeg reported decoding errors after \d+ frame\(s\) \(a truncated or damaged file\?\)/);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as DataReport;
  const rec = (src: string) => rep.clips.find((c) => c.source === src)!;
  // the face lost half-way: frames 20–31 dropped as no-face, 0–19 kept
  const lost = rec('lost.mp4');
  assert.deepEqual(lost.dropped.map((d) => d.frame), Array.from({ length: 12 }, (_, i) => 20 + i));
  assert.ok(lost.dropped.every((d) => d.reason === 'no-face'));
  assert.equal(lost.kept, 20);
  // the broken image of the frame folder is dropped, named
  assert.deepEqual(rec('frames').dropped.map((d) => [d.frame, d.reason]), [[6, 'decode-error']]);
  assert.match(rec('frames').dropped[0]!.detail, /f007\.png/);
  assert.equal(rec('empty').status, 'skipped');
  assert.match(rec('empty').reason!, /empty\/ holds no videos/);
  assert.ok(rep.reasons['no-face']! >= 24, 'lost.mp4 and noface.mp4 frames counted');
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  for (const name of ['noface.mp4', 'garbage.mov', 'cut-header.mp4', 'truncated.mp4', 'lost.mp4']) assert.ok(html.includes(name), `${name} in report.html`);
  // only complete clips have folders, and every folder with a meta.json is complete
  const clips = listCompleteClips(out).map((c) => c.clip).sort();
  assert.deepEqual(readdirSync(join(out, 'train')).sort(), clips);
  assert.ok(clips.includes('good') && clips.includes('lost') && clips.includes('frames'));
  // a second run redoes nothing that finished or was skipped for its content
  const again = await prepareData({ videos, out, workers: 0 });
  const st = Object.fromEntries(again.clips.map((c) => [c.source, c.status]));
  assert.equal(st['good.mp4'], 'done-earlier');
  assert.equal(st['noface.mp4'], 'skipped-earlier');
  assert.equal(st['garbage.mov'], 'failed');
});

test('bad input: a folder with no videos and an output folder that cannot be written give clear errors before any work', async () => {
  const empty = tmp('novideos');
  writeFileSync(join(empty, 'notes.txt'), 'no videos here');
  await assert.rejects(prepareData({ videos: empty, out: tmp('o') }), /No videos \(mp4, mov, webm, mkv\) or folders of frames \(jpg, png\) in .*novideos/);
  const videos = sharedVideos();
  // read-only: a folder without write permission (root ignores permissions: a sysfs path refuses every write)
  let ro: string;
  if (process.getuid?.() === 0) ro = '/sys/magicportrait-test-readonly';
  else {
    ro = tmp('ro');
    execFileSync('chmod', ['0555', ro]);
  }
  await assert.rejects(prepareData({ videos, out: ro, maxFrames: 2 }), (e: Error) => /Cannot (create the folder|write) .*magicportrait-test-readonly|Cannot (create the folder|write) .*mp-data-ro/.test(e.message) && (e as { code?: string }).code === 'read-only');
});

/** Runs the CLI in a child process (tsx), resolving with its exit code; `onTick` may kill it. */
function cliChild(args: string[], onTick?: (kill: () => void) => void): Promise<number | null> {
  const main = join(__dirname, '..', '..', 'src', 'kernel', 'cli', 'main.ts');
  const p = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, main, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d) => (err += String(d)));
  const timer = onTick ? setInterval(() => onTick(() => p.kill('SIGKILL')), 10) : null;
  return new Promise((resolve) => p.on('close', (code) => {
    if (timer) clearInterval(timer);
    if (code && code !== 0 && code !== 130 && code !== 1) console.error(err);
    resolve(code);
  }));
}

const count = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.png')).length : 0);

test('resume: a run killed (SIGKILL) while tracking, then interrupted while rendering, ends with the files of an uninterrupted run', async () => {
  const videos = tmp('resume-v');
  symlinkSync(shared.d0, join(videos, 'a.mp4'));
  const frames = join(videos, 'b');
  mkdirSync(frames);
  ff('-i', shared.d3, '-frames:v', '16', join(frames, 'f%03d.png'));
  const ref = tmp('resume-ref'), out = tmp('resume');
  const o = { maxFrames: 16, workers: 2 };
  await prepareData({ videos, out: ref, ...o });
  // 1. killed while clip a is being tracked (some frames staged, nothing rendered)
  let killedAt = -1;
  await cliChild(['prepare-data', '--videos', videos, '--out', out, '--max-frames', '16', '--workers', '2'], (kill) => {
    const n = count(join(out, 'train', 'a', '.work', 'images'));
    if (killedAt < 0 && n >= 6) { killedAt = n; kill(); }
  });
  assert.ok(killedAt >= 6, 'killed while tracking');
  assert.ok(!existsSync(join(out, 'train', 'a', 'meta.json')) && !existsSync(join(out, 'dataset.json')));
  // 2. interrupted (Interrupt / Ctrl+C) while clip b is rendering: stops after the current frames
  const ac = new AbortController();
  await assert.rejects(prepareData({ videos, out, ...o, signal: ac.signal, onProgress: (p) => { if (p.clip === 'b' && p.phase === 'rendering') ac.abort(); } }), /cancelled/);
  assert.ok(existsSync(join(out, 'train', 'a', 'meta.json')), 'clip a finished in the second run');
  assert.ok(existsSync(join(out, 'train', 'b', '.work', 'phase1.json')) && !existsSync(join(out, 'train', 'b', 'meta.json')), 'clip b stopped after its tracking');
  // 3. the third run finishes; every file equals the uninterrupted run's
  await prepareData({ videos, out, ...o });
  assert.equal(firstDifference(treeHashes(ref), treeHashes(out)), null);
});

test('shards: two --shard runs in separate folders, merged with data-merge, equal one run', async () => {
  const { out: single, videos } = await preparedShared();
  const a = tmp('shard-a'), b = tmp('shard-b'), merged = tmp('merged');
  await prepareData({ videos, out: a, maxFrames: 12, workers: 2, shard: { index: 0, count: 2 } });
  await prepareData({ videos, out: b, maxFrames: 12, workers: 2, shard: { index: 1, count: 2 } });
  assert.deepEqual(listCompleteClips(a).map((c) => c.clip), ['d0', 'driving']);
  assert.deepEqual(listCompleteClips(b).map((c) => c.clip), ['d3']);
  assert.ok(!existsSync(join(a, 'dataset.json')), 'a shard writes no dataset.json');
  mergeData(merged, [a, b]);
  assert.equal(firstDifference(treeHashes(single), treeHashes(merged)), null);
});

test('Kubernetes: the Indexed Job\'s command line, run for every index on a shared folder, then the merge Job\'s, equals one run', async () => {
  const { out: single, videos } = await preparedShared();
  const k8s = join(__dirname, '..', '..', 'deploy', 'k8s');
  const yaml = readFileSync(join(k8s, 'prepare-indexed-job.yaml'), 'utf8');
  assert.match(yaml, /completionMode: Indexed/);
  const completions = Number(/completions: (\d+)/.exec(yaml)![1]);
  const shards = Number(/name: SHARDS\s+value: "(\d+)"/.exec(yaml)![1]);
  const workers = /name: WORKERS\s+value: "(\d+)"/.exec(yaml)![1]!;
  assert.equal(shards, completions);
  // the volume: /data/videos holds the clips, /data/dataset is shared by the pods
  const volume = tmp('k8s');
  symlinkSync(videos, join(volume, 'videos'));
  const block = /exec magicportrait prepare-data\n([\s\S]*?)\n\s*resources:/.exec(yaml)![1]!;
  const argv = block.replace(/\$\{SHARDS\}/g, String(shards)).replace(/\$\{WORKERS\}/g, workers).replace(/\/data\//g, `${volume}/`)
    .split(/\s+/).filter(Boolean).map((a) => a.replace(/^"|"$/g, ''));
  const prev = process.env.JOB_COMPLETION_INDEX;
  try {
    for (let i = shards - 1; i >= 0; i--) {
      process.env.JOB_COMPLETION_INDEX = String(i);
      assert.deepEqual(parsePrepareArgs(argv).shard, { index: i, count: shards });
      const r = await runCli(['prepare-data', ...argv, '--max-frames', '12']); // (--max-frames: the test's frame budget)
      assert.equal(r.code, 0, r.err);
    }
  } finally {
    if (prev === undefined) delete process.env.JOB_COMPLETION_INDEX;
    else process.env.JOB_COMPLETION_INDEX = prev;
  }
  assert.ok(!existsSync(join(volume, 'dataset', 'dataset.json')), 'the pods write no dataset.json (--no-report)');
  const merge = JSON.parse(/command: (\[.*\])/.exec(readFileSync(join(k8s, 'prepare-merge-job.yaml'), 'utf8'))![1]!) as string[];
  assert.equal(merge[0], 'magicportrait');
  const r = await runCli(merge.slice(1).map((a) => a.replace(/^\/data\//, `${volume}/`)));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /3 complete clip\(s\)/);
  assert.equal(firstDifference(treeHashes(single), treeHashes(join(volume, 'dataset'))), null);
});

test("--encoder deca+smirk: the identity starts from DECA + SMIRK on the first crop (imported synthetic encoders); a missing import is named before any work", async () => {
  const PFIX = join(__dirname, '..', 'perception', 'fixtures');
  const enc = tmp('enc');
  await importDecaEncoder(join(PFIX, 'deca_model_tiny.tar'), join(enc, DECA_ENCODER_FILE), { stem: 4, widths: [4, 8, 8, 16], blocks: [1, 1, 2, 1], hidden: 16, outDim: 236, imageSize: 224 });
  await importSmirk(join(PFIX, 'smirk_em1_synthetic.pt'), enc);
  const videos = tmp('enc-v');
  symlinkSync(shared.d0, join(videos, 'd0.mp4'));
  const out = tmp('enc-out');
  try {
    const s = await prepareData({ videos, out, maxFrames: 12, workers: 2, encoder: 'deca+smirk', encoderDir: enc });
    assert.equal(s.clips[0]!.status, 'complete', s.clips[0]!.reason);
    const [c] = listCompleteClips(out);
    assert.match(String(c!.meta.tracking!.identity), /DECA \+ SMIRK/);
    // the saved identity is the encoder-started fit of the first crop, exactly
    const p = await readFlameNpz(join(c!.dir, 'flame.npz'));
    const crop0 = readPng(join(c!.dir, 'images', 'frame_000000.png'));
    const fit = await fitFlame({ width: 512, height: 512, channels: 3, data: crop0.data }, { model: createDemoHead(), encoder: 'deca+smirk', encoderDir: enc, overlay: false });
    assert.deepEqual(Array.from(p.shape), Array.from(Float32Array.from(fit.shape)));
    assert.deepEqual(Array.from(p.albedo), Array.from(Float32Array.from(fit.albedo!)));
  } finally {
    await closeFitEncoders();
  }
  const empty = tmp('enc-none'), out2 = tmp('enc-out2');
  await assert.rejects(prepareData({ videos, out: out2, encoder: 'deca+smirk', encoderDir: empty }), /missing .*deca_e_flame\.onnx .*import-deca/);
  assert.deepEqual(readdirSync(out2), []);
});

test('CLI: synth-data and prepare-data parse their options, print the summary and exit 0; bad options exit 2 with the usage', async () => {
  const out = tmp('cli-syn');
  let r = await runCli(['synth-data', '--out', out, '--identities', '2', '--clips', '1', '--frames', '3', '--size', '64', '--seed', '1', '--workers', '0']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /synth-data: 2 clip\(s\) \(2 made, 0 complete from an earlier run\), 6 frames/);
  assert.ok(existsSync(join(out, 'dataset.json')));
  r = await runCli(['synth-data', '--out', out, '--identities', '2', '--clips', '1', '--frames', '3', '--size', '64', '--seed', '1', '--workers', '0']);
  assert.match(r.out, /\(0 made, 2 complete from an earlier run\)/);
  r = await runCli(['synth-data', '--out', out, '--size', 'big']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--size needs an integer/);
  r = await runCli(['prepare-data', '--videos', tmp('cli-empty'), '--out', tmp('cli-o')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /No videos/);
  r = await runCli(['prepare-data', '--out', tmp('cli-o')]);
  assert.match(r.err, /prepare-data needs --videos and --out/);
});
