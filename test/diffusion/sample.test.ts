/**
 * The tiny bundle and sample() end to end: determinism, the unconditional branch's independence from the reference,
 * window aggregation inside the sampler, live progress / previews / cancellation, videos, bundle validation.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST, UNTRAINED_LABEL, type DiffusionBundle, loadBundle, tinyBundle } from '../../src/kernel/diffusion/bundle';
import { bankSites, latentSize } from '../../src/kernel/diffusion/graph/config';
import { bundleSessions, releaseBundleSessions, type SamplePreview } from '../../src/kernel/diffusion/sample';
// through the stage (mp.sample): the pure sampler plus the cell's progress, previews, videos and outDir
import { sampleStage as sample } from '../../src/kernel/pipeline/sample';
import { type RunContext, detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { CancelledError, MagicPortraitError } from '../../src/kernel/errors';
import { MIME, type MimeBundle } from '../../src/shared/outputs';
import type { AnyImage } from '../../src/kernel/io/image';
import { DISPLAY } from '../../src/kernel/runtime/display';

let root: string;
let bundle: DiffusionBundle;

function image(w: number, h: number, seed: number): AnyImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.sin(i * 0.37 + seed) * 0.5 + 0.5) * 255;
  return { width: w, height: h, channels: 3, data };
}

function features(frames: number, seed = 1): Float32Array[] {
  const a = bundle.manifest.architecture;
  const n = a.unet.blockOutChannels[0]! * latentSize(a) ** 2;
  return Array.from({ length: frames }, (_, f) => Float32Array.from({ length: n }, (_, i) => 0.3 * Math.cos(i * 0.11 + f + seed)));
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'mp-diffusion-'));
  bundle = await tinyBundle(join(root, 'tiny'));
});

after(async () => {
  await releaseBundleSessions(bundle);
  setCurrentRun(null);
  rmSync(root, { recursive: true, force: true });
});

test('the tiny bundle is deterministic, labelled untrained, and reused when present', async () => {
  assert.equal(bundle.manifest.label, UNTRAINED_LABEL);
  const again = await tinyBundle(join(root, 'tiny2'));
  for (const role of Object.keys(bundle.manifest.models) as (keyof typeof bundle.manifest.models)[])
    assert.equal(again.manifest.models[role].file.sha256, bundle.manifest.models[role].file.sha256, role);
  assert.equal(again.manifest.textEmbeds.sha256, bundle.manifest.textEmbeds.sha256);
  const other = await tinyBundle(join(root, 'tiny3'), { seed: 5 });
  assert.notEqual(other.manifest.models.denoisingUnet.file.sha256, bundle.manifest.models.denoisingUnet.file.sha256);
  const t0 = performance.now();
  await tinyBundle(join(root, 'tiny2'));
  assert.ok(performance.now() - t0 < 1500, 'an existing tiny bundle is reused, not rebuilt');
  rmSync(join(root, 'tiny2'), { recursive: true });
  rmSync(join(root, 'tiny3'), { recursive: true });
});

test('bundle validation fails loudly and names the file or field', async () => {
  const dir = join(root, 'broken');
  await tinyBundle(dir);
  const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8'));
  const write = (m: unknown) => writeFileSync(join(dir, MANIFEST), JSON.stringify(m));
  write({ ...manifest, version: 9 });
  await assert.rejects(loadBundle(dir), /version 9/);
  write({ ...manifest, architecture: { ...manifest.architecture, unet: { ...manifest.architecture.unet, heads: 5 } } });
  await assert.rejects(loadBundle(dir), /heads/);
  write({ ...manifest, scheduler: { ...manifest.scheduler, eta: 1 } });
  await assert.rejects(loadBundle(dir), /η = 0/);
  write({ ...manifest, precision: { ...manifest.precision, bank: 'float32' } });
  await assert.rejects(loadBundle(dir), /precision/);
  write(manifest);
  const f = join(dir, manifest.models.vaeDecoder.file.path);
  const bytes = readFileSync(f);
  bytes[bytes.length - 10] ^= 0xff;
  writeFileSync(f, bytes);
  await assert.rejects(loadBundle(dir), (e: Error) => e instanceof MagicPortraitError && /vae_decoder\.onnx.*SHA-256/.test(e.message));
  writeFileSync(f, bytes.subarray(0, 100));
  await assert.rejects(loadBundle(dir), /vae_decoder\.onnx has 100 bytes/);
  rmSync(join(dir, MANIFEST));
  await assert.rejects(loadBundle(dir), /no manifest\.json/);
  writeFileSync(join(dir, MANIFEST), '{ nope');
  await assert.rejects(loadBundle(dir), /not valid JSON/);
  rmSync(dir, { recursive: true });
});

test('sampling is deterministic for a fixed seed and changes with the seed', async () => {
  const input = { reference: image(64, 64, 1), guidance: { features: features(3) }, bundle, steps: 2 };
  const opts = { display: false, video: false, previewEvery: 0 };
  const a = await sample({ ...input, seed: 42 }, opts);
  const b = await sample({ ...input, seed: 42 }, opts);
  const c = await sample({ ...input, seed: 43 }, opts);
  assert.deepEqual(a.latents, b.latents);
  for (let i = 0; i < 3; i++) assert.deepEqual(a.frames.get(i).data, b.frames.get(i).data);
  assert.notDeepEqual(a.latents, c.latents);
  assert.equal(a.seed, 42);
  assert.equal(a.label, UNTRAINED_LABEL);
  assert.ok(a.latents.every(Number.isFinite));
});

test('the unconditional branch provably ignores the reference', async () => {
  // 1. structurally: the reference enters the denoising graph only through the bank inputs, and the unconditional
  //    call feeds them empty (zero tokens), which makes the K/V concatenation the identity
  const s = await bundleSessions(bundle);
  const banks = bankSites(bundle.manifest.architecture).map((_, i) => `bank_${String(i).padStart(2, '0')}`);
  assert.deepEqual(s.denoisingUnet.inputNames.filter((n) => !banks.includes(n)).sort(), ['encoder_hidden_states', 'guidance', 'sample', 'timestep']);
  // 2. behaviourally: with guidance scale 0 the update is v_u alone; two very different references give the same
  //    latents bit for bit, while with scale 3.5 they differ
  const base = { guidance: { features: features(2) }, bundle, steps: 2, seed: 7 };
  const opts = { display: false, video: false, previewEvery: 0 };
  const u1 = await sample({ ...base, reference: image(64, 64, 1), guidanceScale: 0 }, opts);
  const u2 = await sample({ ...base, reference: image(64, 64, 9), guidanceScale: 0 }, opts);
  assert.deepEqual(u1.latents, u2.latents);
  const c1 = await sample({ ...base, reference: image(64, 64, 1), guidanceScale: 3.5 }, opts);
  const c2 = await sample({ ...base, reference: image(64, 64, 9), guidanceScale: 3.5 }, opts);
  assert.notDeepEqual(c1.latents, c2.latents);
});

test('long videos: windows wrap, every frame is aggregated, frame-independent inputs stay consistent', async () => {
  const out = await sample({ reference: image(64, 64, 2), guidance: { features: features(14) }, bundle, steps: 1, seed: 3 }, { display: false, video: false, previewEvery: 0 });
  assert.deepEqual(out.windows, [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    [11, 12, 13, 0, 1, 2, 3, 4, 5, 6, 7, 8],
  ]);
  assert.equal(out.timings.unetCalls, 4);
  assert.equal(out.frameCount, 14);
  assert.ok(out.latents.every(Number.isFinite));
});

test('live progress, x̂0 previews, videos with a grid, and an output folder written atomically', async () => {
  const shown: { kind: 'emit' | 'update'; id?: string; bundle: MimeBundle }[] = [];
  const ctx: RunContext = {
    ...detachedContext(root, join(root, 'artifacts')),
    emitDisplay: (bundle, id) => shown.push({ kind: 'emit', id, bundle }),
    updateDisplay: (bundle, id) => shown.push({ kind: 'update', id, bundle }),
  };
  setCurrentRun(ctx);
  const previews: SamplePreview[] = [];
  const maps = { depth: [image(64, 64, 3), image(64, 64, 4)], normal: [image(64, 64, 5), image(64, 64, 6)], render: [image(64, 64, 7), image(64, 64, 8)] };
  const outDir = join(root, 'out');
  const res = await sample(
    { reference: image(64, 64, 1), guidance: { maps }, bundle, steps: 2, seed: 1 },
    { onPreview: (p) => void previews.push(p), previewEvery: 1, previewFrames: 2, outDir },
  );
  setCurrentRun(null);
  const progress = shown.filter((s) => MIME.progress in s.bundle).map((s) => s.bundle[MIME.progress] as { label: string; done: number; total: number; etaMs: number | null; finished: boolean });
  assert.ok(progress.some((p) => /step 2\/2, window 1\/1/.test(p.label)), progress.map((p) => p.label).join('\n'));
  const last = progress.at(-1)!;
  assert.ok(last.finished && last.done === last.total, 'progress finishes complete');
  assert.ok(progress.some((p) => p.etaMs !== null), 'ETA reported');
  assert.equal(previews.length, 2);
  assert.deepEqual(previews.map((p) => p.step), [1, 2]);
  assert.equal(previews[0]!.frames.length, 2);
  const previewShows = shown.filter((s) => MIME.frames in s.bundle);
  assert.equal(previewShows.filter((s) => s.kind === 'emit').length, 1, 'one preview display, then updates in place');
  assert.equal(previewShows.filter((s) => s.kind === 'update').length, 1);
  // videos
  const video = res.video![DISPLAY]({ artifacts: ctx.artifacts }) as MimeBundle;
  const v = video[MIME.video] as { width: number; height: number; fps: number; frames: number; label: string; video: { ext: string } };
  assert.deepEqual([v.width, v.height, v.fps, v.frames, v.label, v.video.ext], [64, 64, 24, 2, UNTRAINED_LABEL, 'mp4']);
  assert.equal(res.grid!.info.width, 5 * (64 + 2) + 2, 'grid: reference | result | depth | normal | render, 2-px padding');
  assert.equal(res.grid!.info.height, 64 + 4);
  for (const f of [res.files!.animation, res.files!.grid]) {
    const b = readFileSync(f);
    assert.equal(b.subarray(4, 8).toString('latin1'), 'ftyp');
    assert.ok(b.indexOf('moov') < b.indexOf('mdat'), `${f}: +faststart (moov before mdat)`);
  }
  assert.deepEqual(readdirSync(outDir).sort(), ['animation.mp4', 'grid.mp4'], 'no partial files left');
  // the cell says which execution provider and precision each network ran on (this run: the CPU, float32)
  const report = shown.find((s) => typeof s.bundle['text/markdown'] === 'string' && /execution provider/.test(s.bundle['text/markdown'] as string));
  assert.ok(report, 'provider report shown');
  for (const network of ['guidance encoders', 'VAE encoder', 'reference UNet (bank)', 'denoising UNet', 'VAE decoder'])
    assert.match(report!.bundle['text/markdown'] as string, new RegExp(`\\| ${network.replace(/[()]/g, '\\$&')} \\| \`cpu\` \\| float32 \\|`), network);
  assert.deepEqual(res.providers.rows().map((r) => r.network), ['guidance encoders', 'VAE encoder', 'reference UNet (bank)', 'denoising UNet', 'VAE decoder']);
  res.frames.dispose();
});

test('cancellation between network calls stops sampling and publishes nothing', async () => {
  const ac = new AbortController();
  const ctx: RunContext = { ...detachedContext(root, join(root, 'artifacts')), signal: ac.signal };
  setCurrentRun(ctx);
  const outDir = join(root, 'cancelled');
  let calls = 0;
  await assert.rejects(
    sample(
      { reference: image(64, 64, 1), guidance: { features: { count: 3, get: (i) => (++calls === 2 && ac.abort(), features(3)[i]!) } }, bundle, steps: 3, seed: 1 },
      { outDir, previewEvery: 0 },
    ),
    (e: Error) => e instanceof CancelledError,
  );
  setCurrentRun(null);
  assert.ok(!existsSync(outDir) || readdirSync(outDir).length === 0, 'no video written');
});

test('a reference of another size is Lanczos-resized in, and the output comes back at its size', async () => {
  const res = await sample({ reference: image(96, 80, 4), guidance: { features: features(1) }, bundle, steps: 1, seed: 2 }, { display: false, video: false, previewEvery: 0 });
  assert.deepEqual([res.width, res.height, res.frames.get(0).data.length], [96, 80, 96 * 80 * 3]);
  await assert.rejects(sample({ reference: image(64, 64, 4), guidance: { features: [new Float32Array(5)] }, bundle, steps: 1 }, { display: false, video: false }), /needs 2048/);
  await assert.rejects(sample({ reference: image(64, 64, 4), guidance: { features: features(2) }, bundle, noise: new Float32Array(7) }, { display: false, video: false }), /Injected noise/);
});
