/**
 * Quality of a trained bundle on synthetic clips with exact ground truth (issue #17's figures), through our ONNX
 * sampler: held-out test-split clips regenerated from the training dataset's synth-data settings (`select`: only the
 * clips needed, the same pixels as in the dataset), then
 *
 *   self       reference = the clip's first frame, guidance = the clip's maps → PSNR / SSIM against its frames
 *   vae        the frames through the bundle's VAE (encode → decode): the ceiling any sampler reaches
 *   cross      A's reference with the maps of A driven by B's motion (mp.data.crossReenactment) → against that ground
 *              truth, and against B's own frames (the output must be closer to the former)
 *   zeroed     the self setting with all-zero guidance maps
 *   swapped    the self setting with the first frame of another identity C as reference → against C driven by the
 *              clip's motion, and against the clip's own frames (the output must follow C)
 *   temporal   mean |(out[t+1] − out[t]) − (gt[t+1] − gt[t])| (8-bit values) of the self outputs
 *   output size  self and zeroed again on the same identities rendered at the user's size (512²): the sampler's
 *              resizes in, its output resized out, scored against frames at that size
 *   attention  the trained guidance encoders' attention (attentions.5): for query cells inside the face mask, the share
 *              of attention mass on face cells, beside the face cells' share of the grid
 *
 * Every function takes `{ signal, onProgress }` and returns data; bench/demo-model.ts prints, test/diffusion/
 * demo-model.test.ts asserts.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import type { Image } from '../io/image';
import { psnr, ssim } from '../metrics/image';
import { readPng } from '../io/png';
import { crossReenactment } from '../data/api';
import { generateSynthetic, identitySplits, type SynthSettings } from '../data/synth/generate';
import { synthClipId } from '../data/synth/params';
import type { AnyImage } from '../io/image';
import type { GGEBundle } from '../gge/bundle';
import { runGGE } from '../gge/run';
import { ort } from '../onnx/session';
import { parseNpy, writeNpy } from '../io/npy';
import { NdArray, toFloat32 } from '../io/ndarray';
import { findPython, trainerRoot } from '../train/python';
import { seededLatentNoise } from './noise';
import type { DiffusionBundle } from './bundle';
import { latentSize } from './graph/config';
import { VAE_IO } from './graph/vae';
import { asRgb, planarToRgb8, resizeImage, toPlanar } from './image-ops';
import { roleSession, sample } from './sample';

export type Maps = { depth: AnyImage[]; normal: AnyImage[]; render: AnyImage[] };

export interface Clip {
  dir: string;
  id: string;
  identity: string;
  images: AnyImage[];
  maps: Maps;
  /** Face coverage per frame (gray, 255 = face). */
  masks: Uint8Array[];
  size: number;
}

export interface Common {
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

const check = (o: Common, what: string) => {
  if (o.signal?.aborted) throw new CancelledError(what);
};

/** The synth-data settings a demo model was trained with (training/demo-model/run/provenance.json `dataset`). */
export function trainingDataSettings(provenance: Record<string, unknown> | undefined, where: string): SynthSettings {
  const d = provenance?.dataset as Partial<SynthSettings> | null | undefined;
  const ok = d && ['identities', 'clips', 'frames', 'size', 'seed'].every((k) => Number.isInteger((d as Record<string, unknown>)[k]));
  if (!ok) throw new MagicPortraitError(`${where}: run/provenance.json does not record the training dataset's synth-data settings (install the run with --data DATASET).`, 'missing-key');
  return { identities: d.identities!, clips: d.clips!, frames: d.frames!, size: d.size!, seed: d.seed!, ...(d.fps ? { fps: d.fps } : {}) };
}

/** The first `count` held-out (test-split) identities' first clips, written to `out` (kept when already there). */
export async function heldOutClips(s: SynthSettings, out: string, count: number, o: Common = {}): Promise<string[]> {
  const splits = identitySplits(s.identities, s.seed);
  const ids = splits.flatMap((sp, i) => (sp === 'test' ? [i] : [])).slice(0, count);
  if (ids.length < count) throw new MagicPortraitError(`The dataset has ${ids.length} test identities; ${count} asked for.`, 'bad-argument');
  const clips = ids.map((i) => synthClipId(i, 0));
  const dirs = clips.map((c) => join(out, 'test', c));
  if (!dirs.every((d) => existsSync(join(d, 'meta.json')))) {
    mkdirSync(out, { recursive: true });
    o.onProgress?.(`regenerating the held-out clips ${clips.join(', ')} (synth-data seed ${s.seed}, ${s.identities} identities)`);
    await generateSynthetic({ out, identities: s.identities, clips: s.clips, frames: s.frames, size: s.size, seed: s.seed, ...(s.fps ? { fps: s.fps } : {}), workers: 0, select: { split: 'test', clips }, ...(o.signal ? { signal: o.signal } : {}) });
  }
  return dirs;
}

function png(path: string): AnyImage {
  const p = readPng(path);
  return { width: p.width, height: p.height, channels: p.channels, data: p.data };
}

/** A clip's frames, maps and masks (the first `frames`). */
export function readClip(dir: string, frames?: number): Clip {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { clip: string; identity: string; frames: string[]; size: number };
  const names = meta.frames.slice(0, frames ?? meta.frames.length);
  const read = (sub: string) => names.map((n) => png(join(dir, sub, n)));
  return {
    dir,
    id: meta.clip,
    identity: meta.identity,
    images: read('images'),
    maps: { depth: read('depth'), normal: read('normal'), render: read('render') },
    masks: read('mask').map((m) => m.data as Uint8Array),
    size: meta.size,
  };
}

/** Ground truth of `reference`'s identity driven by `driving`'s motion: photos and maps (first `frames`). */
export async function crossTruth(reference: string, driving: string, frames: number): Promise<{ images: AnyImage[]; maps: Maps }> {
  const images: AnyImage[] = [];
  const maps: Maps = { depth: [], normal: [], render: [] };
  for await (const f of crossReenactment({ reference, driving })) {
    if (f.index >= frames) break;
    const s = f.maps.width;
    const img = (data: Uint8Array) => ({ width: s, height: s, channels: 3 as const, data });
    images.push(img(f.photo!));
    maps.depth.push(img(f.maps.depth!));
    maps.normal.push(img(f.maps.normal!));
    maps.render.push(img(f.maps.render!));
  }
  return { images, maps };
}

export interface SampleSettings {
  steps?: number;
  guidanceScale?: number;
  seed?: number;
}

/** One sampling run: the decoded frames at the model's size, or (`at: 'reference'`) resized to the reference's size. */
export async function sampleFrames(bundle: DiffusionBundle, reference: AnyImage, maps: Maps, s: SampleSettings = {}, at: 'model' | 'reference' = 'model'): Promise<AnyImage[]> {
  const r = await sample(
    { reference, guidance: { maps }, bundle, steps: s.steps ?? 20, guidanceScale: s.guidanceScale ?? 3.5, seed: s.seed ?? 42 },
    { previewEvery: 0, outputSize: at },
  );
  try {
    return [...r.frames].map((f) => ({ ...f, data: Uint8Array.from(f.data) }));
  } finally {
    r.frames.dispose();
  }
}

/** Frames at `size` (Lanczos, as the sampler reads a reference), so outputs and ground truth compare pixel for pixel. */
export const atSize = (frames: readonly AnyImage[], size: number): AnyImage[] => frames.map((f) => resizeImage(asRgb(f), size, size, 'lanczos'));

export interface Scores {
  psnr: number;
  ssim: number;
  frames: number;
}

/** Mean PSNR / SSIM over frames (scikit-image's definitions). */
export function scores(out: readonly AnyImage[], gt: readonly AnyImage[]): Scores {
  const n = Math.min(out.length, gt.length);
  let p = 0, q = 0;
  for (let i = 0; i < n; i++) {
    p += Math.min(psnr(out[i] as Image, gt[i] as Image), 100);
    q += ssim(out[i] as Image, gt[i] as Image);
  }
  return { psnr: p / n, ssim: q / n, frames: n };
}

/** Mean over frame pairs and values of |(out[t+1] − out[t]) − (gt[t+1] − gt[t])|, in 8-bit units. */
export function temporalError(out: readonly AnyImage[], gt: readonly AnyImage[]): number {
  let s = 0, n = 0;
  for (let t = 0; t + 1 < Math.min(out.length, gt.length); t++) {
    const a0 = out[t]!.data, a1 = out[t + 1]!.data, b0 = gt[t]!.data, b1 = gt[t + 1]!.data;
    for (let i = 0; i < a0.length; i++) s += Math.abs(a1[i]! - a0[i]! - (b1[i]! - b0[i]!));
    n += a0.length;
  }
  return n ? s / n : 0;
}

/** Frames through the bundle's VAE (encode the mean, decode): what a perfect latent would give. */
export async function vaeRoundTrip(bundle: DiffusionBundle, frames: readonly AnyImage[]): Promise<AnyImage[]> {
  const a = bundle.manifest.architecture;
  const S = a.imageSize, lat = latentSize(a), C = a.unet.inChannels;
  const enc = await roleSession(bundle, 'vaeEncoder', 'float32');
  const dec = await roleSession(bundle, 'vaeDecoder', 'float32');
  const out: AnyImage[] = [];
  for (const f of frames) {
    const x = toPlanar(resizeImage(asRgb(f), S, S, 'lanczos'), 2, -1);
    const z = (await enc.run({ [VAE_IO.image]: new ort.Tensor('float32', x, [1, 3, S, S]) }))[VAE_IO.latent]!;
    const y = (await dec.run({ [VAE_IO.latent]: new ort.Tensor('float32', Float32Array.from(z.data as Float32Array), [1, C, lat, lat]) }))[VAE_IO.image]!;
    out.push(planarToRgb8(y.data as Float32Array, S, S));
  }
  return out;
}

const zeroMaps = (m: Maps): Maps => {
  const z = (f: AnyImage) => ({ ...f, data: new Uint8Array(f.data.length) });
  return { depth: m.depth.map(z), normal: m.normal.map(z), render: m.render.map(z) };
};

export interface QualityOptions extends Common, SampleSettings {
  /** Frames per clip (default: all). */
  frames?: number;
  /** The untrained tiny bundle, scored beside (optional). */
  untrained?: DiffusionBundle;
  /** The stage-1-only model (identity motion modules) for the temporal comparison (optional). */
  stage1?: DiffusionBundle;
}

export interface QualityFigures {
  clips: string[];
  settings: { steps: number; guidanceScale: number; seed: number; frames: number };
  self: Scores;
  untrained?: Scores;
  vae: Scores;
  cross: Scores & { againstDriving: Scores; closerPairs: number; pairs: number };
  zeroed: Scores & { drop: number };
  swapped: Scores & { againstOwn: Scores; closerPairs: number; pairs: number };
  temporal: { stage2: number; stage1?: number; groundTruthMotion: number };
  perClip: { clip: string; self: Scores; cross: Scores; crossVsDriving: Scores; zeroed: Scores; swapped: Scores; swappedVsOwn: Scores }[];
}

const mean = (xs: readonly Scores[]): Scores => ({ psnr: xs.reduce((s, x) => s + x.psnr, 0) / xs.length, ssim: xs.reduce((s, x) => s + x.ssim, 0) / xs.length, frames: xs.reduce((s, x) => s + x.frames, 0) });

/** Figures (a)–(e) on the given held-out clips (at least 2: cross pairs use the next clip as the other identity). */
export async function qualityFigures(bundle: DiffusionBundle, clipDirs: readonly string[], o: QualityOptions = {}): Promise<QualityFigures> {
  if (clipDirs.length < 2) throw new MagicPortraitError('qualityFigures needs at least 2 clips (identity pairs).', 'bad-argument');
  const S = bundle.manifest.architecture.imageSize;
  const settings = { steps: o.steps ?? 20, guidanceScale: o.guidanceScale ?? 3.5, seed: o.seed ?? 42 };
  const clips = clipDirs.map((d) => readClip(d, o.frames));
  const F = clips[0]!.images.length;
  const run = (b: DiffusionBundle, ref: AnyImage, maps: Maps) => sampleFrames(b, ref, maps, settings);
  const perClip: QualityFigures['perClip'] = [];
  const self: Scores[] = [], untrained: Scores[] = [], vae: Scores[] = [];
  let te2 = 0, te1 = 0, teGt = 0;
  for (let k = 0; k < clips.length; k++) {
    const c = clips[k]!, other = clips[(k + 1) % clips.length]!;
    const gt = atSize(c.images, S);
    const say = (what: string) => {
      check(o, 'quality figures');
      o.onProgress?.(`${c.id}: ${what}`);
    };
    say('self-reenactment');
    const out = await run(bundle, c.images[0]!, c.maps);
    const sSelf = scores(out, gt);
    self.push(sSelf);
    te2 += temporalError(out, gt);
    teGt += temporalError(gt.map((g) => ({ ...g, data: new Uint8Array(g.data.length) })), gt);
    if (o.stage1) {
      say('self-reenactment, stage-1 model');
      te1 += temporalError(await run(o.stage1, c.images[0]!, c.maps), gt);
    }
    if (o.untrained) {
      say('self-reenactment, untrained tiny bundle');
      untrained.push(scores(await run(o.untrained, c.images[0]!, c.maps), gt));
    }
    say('VAE round trip');
    vae.push(scores(await vaeRoundTrip(bundle, c.images), gt));
    say(`cross-reenactment: ${c.identity} driven by ${other.id}`);
    const ab = await crossTruth(c.dir, other.dir, F);
    const outAB = await run(bundle, c.images[0]!, ab.maps);
    const sCross = scores(outAB, atSize(ab.images, S));
    const sCrossB = scores(outAB, atSize(other.images, S));
    say('guidance zeroed');
    const sZero = scores(await run(bundle, c.images[0]!, zeroMaps(c.maps)), gt);
    say(`reference of ${other.identity}`);
    const ba = await crossTruth(other.dir, c.dir, F);
    const outSwap = await run(bundle, other.images[0]!, c.maps);
    const sSwap = scores(outSwap, atSize(ba.images, S));
    const sSwapOwn = scores(outSwap, gt);
    perClip.push({ clip: c.id, self: sSelf, cross: sCross, crossVsDriving: sCrossB, zeroed: sZero, swapped: sSwap, swappedVsOwn: sSwapOwn });
  }
  const n = clips.length;
  const cross = mean(perClip.map((p) => p.cross)), zeroed = mean(perClip.map((p) => p.zeroed)), selfM = mean(self);
  return {
    clips: clips.map((c) => c.id),
    settings: { ...settings, frames: F },
    self: selfM,
    ...(untrained.length ? { untrained: mean(untrained) } : {}),
    vae: mean(vae),
    cross: { ...cross, againstDriving: mean(perClip.map((p) => p.crossVsDriving)), closerPairs: perClip.filter((p) => p.cross.psnr > p.crossVsDriving.psnr).length, pairs: n },
    zeroed: { ...zeroed, drop: selfM.psnr - zeroed.psnr },
    swapped: { ...mean(perClip.map((p) => p.swapped)), againstOwn: mean(perClip.map((p) => p.swappedVsOwn)), closerPairs: perClip.filter((p) => p.swapped.psnr > p.swappedVsOwn.psnr).length, pairs: n },
    temporal: { stage2: te2 / n, ...(o.stage1 ? { stage1: te1 / n } : {}), groundTruthMotion: teGt / n },
    perClip,
  };
}

export interface OutputSizeFigures {
  /** The clips' (and outputs') side in pixels. */
  size: number;
  self: Scores;
  zeroed: Scores & { drop: number };
  perClip: { clip: string; self: Scores; zeroed: Scores }[];
}

/**
 * Self-reenactment and zeroed guidance scored at the clips' own size, as a user sees the result: the inputs at the
 * clips' size (e.g. 512²) go through the sampler's resize to the model's size, and its output is resized back
 * (mp.sample's default). Beside `qualityFigures` (which scores at the model's size) it shows what the resize costs.
 */
export async function outputSizeFigures(bundle: DiffusionBundle, clipDirs: readonly string[], o: QualityOptions = {}): Promise<OutputSizeFigures> {
  const settings = { steps: o.steps ?? 20, guidanceScale: o.guidanceScale ?? 3.5, seed: o.seed ?? 42 };
  const perClip: OutputSizeFigures['perClip'] = [];
  let size = 0;
  for (const dir of clipDirs) {
    const c = readClip(dir, o.frames);
    size = c.size;
    check(o, 'quality figures at the output size');
    o.onProgress?.(`${c.id}: self-reenactment at ${c.size}²`);
    const self = scores(await sampleFrames(bundle, c.images[0]!, c.maps, settings, 'reference'), c.images);
    o.onProgress?.(`${c.id}: guidance zeroed at ${c.size}²`);
    const zeroed = scores(await sampleFrames(bundle, c.images[0]!, zeroMaps(c.maps), settings, 'reference'), c.images);
    perClip.push({ clip: c.id, self, zeroed });
  }
  const self = mean(perClip.map((p) => p.self)), zeroed = mean(perClip.map((p) => p.zeroed));
  return { size, self, zeroed: { ...zeroed, drop: self.psnr - zeroed.psnr }, perClip };
}

export interface AttentionShare {
  type: string;
  /** Mean over face query cells (and heads) of the attention mass on face cells. */
  faceShare: number;
  /** Face cells / all cells. */
  areaShare: number;
  queries: number;
  grid: { width: number; height: number };
}

/**
 * The guidance encoders' attention on a clip's maps at the model's size: for query cells inside the face (≥ half of
 * the cell's mask pixels), the share of attention mass on face cells, against the face's share of the cells.
 */
export async function attentionShare(gge: GGEBundle, clipDir: string, size: number, o: Common & { frames?: number } = {}): Promise<AttentionShare[]> {
  const c = readClip(clipDir, o.frames ?? 4);
  const resize = (fs: AnyImage[]) => fs.map((f) => resizeImage(asRgb(f), size, size, 'bicubic'));
  const px = (fs: AnyImage[]) => resize(fs).map((f) => ({ width: f.width, height: f.height, channels: 3 as const, pixels: f.data as Uint8Array }));
  const maps = { depth: px(c.maps.depth), normal: px(c.maps.normal), render: px(c.maps.render) };
  const r = await runGGE(maps, gge, { attention: false, keepTypeFeatures: false, ...(o.signal ? { signal: o.signal } : {}) });
  const out: AttentionShare[] = [];
  for (const type of r.types) {
    let share = 0, area = 0, queries = 0, frames = 0;
    let grid = { width: 0, height: 0 };
    for (let f = 0; f < c.images.length; f++) {
      check(o, 'attention share');
      const gw = r.grid.width, gh = r.grid.height;
      grid = { width: gw, height: gh };
      // face cells: at least half of the cell's mask pixels (at the clip's size) are face
      const m = c.masks[f]!, S = c.size;
      const face: boolean[] = [];
      for (let gy = 0; gy < gh; gy++)
        for (let gx = 0; gx < gw; gx++) {
          let on = 0, all = 0;
          for (let y = Math.floor((gy * S) / gh); y < Math.floor(((gy + 1) * S) / gh); y++)
            for (let x = Math.floor((gx * S) / gw); x < Math.floor(((gx + 1) * S) / gw); x++, all++) if (m[y * S + x]! >= 128) on++;
          face.push(all > 0 && on * 2 >= all);
        }
      const q = face.flatMap((v, i) => (v ? [{ x: i % gw, y: Math.floor(i / gw) }] : []));
      if (!q.length) continue;
      const rows = await r.attentionRows(type, f, q, 'grid');
      const cells = gw * gh;
      let s = 0;
      for (let h = 0; h < rows.heads; h++)
        for (let qi = 0; qi < q.length; qi++)
          for (let k = 0; k < cells; k++) if (face[k]) s += rows.rows[(h * q.length + qi) * cells + k]!;
      share += s / (rows.heads * q.length);
      area += q.length / cells;
      queries += q.length;
      frames++;
    }
    out.push({ type, faceShare: share / frames, areaShare: area / frames, queries, grid });
  }
  return out;
}

export interface ParityResult {
  /** max |ours − PyTorch| / max |PyTorch| of the final latents. */
  relative: number;
  frames: number;
  steps: number;
  ms: { ours: number; pytorch: number };
  python: string;
}

/**
 * The same weights, reference, maps and initial noise through the trainer's PyTorch sampler (`python -m training
 * sample --noise … --save-latents …` on the demo-model folder: `base/`, `ckpts/`, `run/config.json`) and through our
 * imported bundle: the final latents' relative difference.
 */
export async function pytorchParity(bundle: DiffusionBundle, modelDir: string, clipDir: string, o: Common & { frames: number; steps: number; guidanceScale?: number; tmp: string }): Promise<ParityResult> {
  const a = bundle.manifest.architecture;
  const lat = latentSize(a), C = a.unet.inChannels, F = o.frames;
  // (F, C, h, w) noise → the reference layout (1, C, F, h, w)
  const fm = seededLatentNoise(7, F, C, lat, lat);
  const ref = new Float32Array(fm.length);
  for (let f = 0; f < F; f++) for (let c = 0; c < C; c++) ref.set(fm.subarray((f * C + c) * lat * lat, (f * C + c + 1) * lat * lat), (c * F + f) * lat * lat);
  mkdirSync(o.tmp, { recursive: true });
  const noisePath = join(o.tmp, 'noise.npy'), outPath = join(o.tmp, 'pytorch-latents.npy');
  writeFileSync(noisePath, writeNpy(new NdArray('float32', [1, C, F, lat, lat], ref)));
  const py = findPython();
  const args = ['-m', 'training', 'sample', '--config', join(modelDir, 'run', 'config.json'), '--run', modelDir, '--ckpts', join(modelDir, 'ckpts'), '--clip', clipDir,
    '--frames', String(F), '--steps', String(o.steps), '--guidance-scale', String(o.guidanceScale ?? 3.5), '--noise', noisePath, '--save-latents', outPath];
  o.onProgress?.(`PyTorch: ${py.path} ${args.join(' ')}`);
  let t = performance.now();
  await new Promise<void>((resolveP, reject) => {
    const child = spawn(py.path, args, { cwd: trainerRoot(), env: { ...process.env, PYTHONPATH: trainerRoot(), OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', () => {});
    const onAbort = () => child.kill('SIGINT');
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', reject);
    child.on('close', (code) => {
      o.signal?.removeEventListener('abort', onAbort);
      if (code === 0) resolveP();
      else reject(new MagicPortraitError(`python -m training sample exited ${code}: ${err.trim().split('\n').slice(-5).join(' / ')}`, 'trainer-failed'));
    });
  });
  const msPy = performance.now() - t;
  const theirs = toFloat32(parseNpy(readFileSync(outPath), { file: outPath }));
  const clip = readClip(clipDir, F);
  t = performance.now();
  const r = await sample(
    { reference: clip.images[0]!, guidance: { maps: clip.maps }, bundle, steps: o.steps, guidanceScale: o.guidanceScale ?? 3.5, noise: noisePath },
    { previewEvery: 0, outputSize: 'model' },
  );
  const msOurs = performance.now() - t;
  r.frames.dispose();
  let d = 0, m = 0;
  for (let f = 0; f < F; f++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < lat * lat; i++) {
        const x = r.latents[(f * C + c) * lat * lat + i]!, y = theirs[(c * F + f) * lat * lat + i]!;
        d = Math.max(d, Math.abs(x - y));
        m = Math.max(m, Math.abs(y));
      }
  return { relative: d / m, frames: F, steps: o.steps, ms: { ours: msOurs, pytorch: msPy }, python: `${py.path} (Python ${py.version}, torch ${py.torch})` };
}
