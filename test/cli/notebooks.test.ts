// The example notebooks on the user's own inputs, run headless by the CLI: the quickstart follows a driving video
// (fit, track, align, render, preview, sample, score as cross-reenactment) and the reenact notebook takes a
// non-square portrait (rendered and sampled in its 512² generation crop, composited back into the photo).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { parseNotebook, type NotebookData } from '../../src/kernel/notebook/nbformat';
import { MIME } from '../../src/shared/outputs';
import { locateFfmpeg } from '../../src/kernel/io/ffmpeg';
import { repoRoot } from '../runtime/kernel-harness';
import { mp } from '../../src/kernel/mp';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';

const data = join(repoRoot, '..', 'shared', 'data');
const tmp = mkdtempSync(join(tmpdir(), 'mp-nb-'));

function run(notebook: string, params: Record<string, string | number>, out: string) {
  const args = ['--import', 'tsx', join(repoRoot, 'src/kernel/cli/main.ts'), 'run', join(repoRoot, 'notebooks', notebook), '--out', out];
  for (const [k, v] of Object.entries(params)) args.push('-p', `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`);
  const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout: 400_000, env: { ...process.env, MAGICPORTRAIT_CACHE: join(tmp, `cache-${notebook}`) } });
  assert.equal(r.status, 0, `${notebook}: ${r.stderr}\n${r.stdout.slice(-2000)}`);
  return parseNotebook(readFileSync(join(out, notebook), 'utf8'));
}

type Display = { kind: string; data: Record<string, unknown> };
const displays = (nb: NotebookData): Display[] => nb.cells.flatMap((c) => c.outputs.filter((o) => o.kind === 'display' || o.kind === 'result') as unknown as Display[]);
const texts = (nb: NotebookData) => displays(nb).map((d) => String(d.data['text/plain'] ?? ''));

test('the quickstart with a driving video follows it: its guidance is the video tracked and aligned onto the portrait', { timeout: 600_000 }, async () => {
  const out = join(tmp, 'quickstart');
  const portrait = join(data, 'magicportrait/boy.jpeg'), driving = join(data, 'magicportrait/driving.mp4');
  const nb = run('quickstart.mpnb', { reference: portrait, driving, frameCount: 6, steps: 2 }, out);
  const t = texts(nb);
  assert.ok(t.some((x) => /^6 frames tracked from .*driving\.mp4/.test(x)), 'the video was tracked');
  const guidance = displays(nb).find((d) => String(d.data['text/plain']).startsWith('Guidance maps'))!;
  const frames = guidance.data[MIME.frames] as { label?: string; tracks: { name: string; frames: { hash: string; ext: string }[] }[] };
  assert.equal(frames.label, 'aligned: reference code (§4.2)', 'the maps come from the aligned track, not the demo motion');
  assert.deepEqual(frames.tracks.map((k) => [k.name, k.frames.length]), [['driving', 6], ['depth', 6], ['normal', 6], ['render', 6]]);
  // the same maps computed here through the public API: portrait crop → fit → track → Eq. (1) → render
  setStageCache(new StageCache(join(tmp, 'cache-here')));
  const image = (await mp.analyzeFace(portrait)).crops.generation.image;
  const fit = await mp.fit.portrait(image);
  const track = await mp.fit.track(driving, { shape: fit, read: { maxFrames: 6 }, progress: false });
  const g = await mp.renderGuidance(mp.fit.align(fit, track));
  const demo = await mp.renderGuidance(mp.demo.drivingSequence(mp.flame.demoHead(), { frames: 6 }));
  const depthTrack = frames.tracks.find((k) => k.name === 'depth')!;
  for (const i of [0, 3, 5]) {
    const png = PNG.sync.read(readFileSync(join(out, 'quickstart.mpnb.artifacts', `${depthTrack.frames[i]!.hash}.png`)));
    const rgb = Uint8Array.from({ length: 512 * 512 * 3 }, (_, k) => png.data[4 * Math.floor(k / 3) + (k % 3)]!);
    assert.deepEqual(rgb, g.frame(i).depth, `depth frame ${i} is the tracked motion's`);
    assert.notDeepEqual(rgb, demo.frame(i).depth);
  }
  // scored as a cross-reenactment (another person drives the portrait): identity only
  assert.ok(t.some((x) => x.startsWith('Quickstart output: identity (cross-reenactment)')), 'the output is scored as cross-reenactment');
  assert.ok(t.some((x) => x.startsWith('Instant preview: identity (cross-reenactment)')));
});

test('the quickstart with only a portrait keeps the demo motion, driving the photo, scored against the rendered demo video', { timeout: 600_000 }, () => {
  const nb = run('quickstart.mpnb', { reference: join(data, 'liveportrait/s5.jpg'), frameCount: 6, steps: 2 }, join(tmp, 'quickstart-reference'));
  const t = texts(nb);
  const guidance = displays(nb).find((d) => String(d.data['text/plain']).startsWith('Guidance maps'))!;
  assert.equal((guidance.data[MIME.frames] as { label?: string }).label, 'synthetic demo motion');
  assert.ok(t.some((x) => x.startsWith('Instant preview: 6 frames')), 'the photo previewed along the demo motion');
  assert.ok(t.some((x) => x.startsWith('Quickstart output vs its driving video')), 'self-reenactment against the rendered demo video');
});

test('the reenact notebook runs with a 3:4 portrait: guidance and sampling in its 512² crop, composited back', { timeout: 600_000 }, () => {
  const photo = join(tmp, 'boy-3x4.png');
  const r = spawnSync(locateFfmpeg().path, ['-v', 'error', '-y', '-i', join(data, 'magicportrait/boy.jpeg'), '-vf', 'format=rgb24,crop=552:736:90:0', photo]);
  assert.equal(r.status, 0, String(r.stderr));
  const nb = run('reenact.mpnb', { reference: photo, driving: join(data, 'magicportrait/driving.mp4'), maxFrames: 6, steps: 2 }, join(tmp, 'reenact'));
  const t = texts(nb);
  assert.ok(t.some((x) => x.includes("size: '552×736'")), 'the portrait was fitted at its own size');
  assert.ok(t.some((x) => /^Guidance maps: 6 frames at 512×512 \(the photo's 512² generation crop\)/.test(x)), t.join('\n'));
  assert.ok(t.some((x) => /^Reference \| result .*: 6 frames/.test(x)), 'sampled');
  assert.ok(t.some((x) => /^Composited into the photo: 6 frames 552×736/.test(x)), 'composited into the 552×736 photo');
});
