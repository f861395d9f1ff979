/**
 * `magicportrait prepare-data` / `mp.data.prepare`: real clips (videos and frame folders) in the training layout.
 *
 * Per clip, in two phases, never holding more than a few frames:
 *  1. track: frames stream from ffmpeg (or the folder); the crop is fixed on the first frame with a face (crop.ts);
 *     every frame is cropped to 512² and written to `.work/images/` on the data pool, a few frames ahead of the
 *     tracker, and tracked on this thread (our
 *     tracker, fit/track.ts: identity fitted once, jointly over the first frames with a face, or from DECA + SMIRK
 *     with `--encoder deca+smirk`; per-frame expression / pose / camera, zero-phase smoothed). Then frames are judged
 *     (rules below), albedo and light are fitted photometrically on the best early frame (the encoder's fit gives
 *     them with deca+smirk), and flame.npz is written, followed by `.work/phase1.json` (the checkpoint).
 *  2. render: the kept frames move from `.work/images/` to `images/`; depth / normal / render / mask (landmarks) are
 *     rendered frame by frame on the data pool (frame-renderer.ts: byte-identical to mp.renderGuidance), each file
 *     atomically; then the clip's record, meta.json (last) and the removal of `.work/`. A clip's phase 2 runs while
 *     the next clip's phase 1 does (the pool's threads draw while this thread tracks).
 *
 * Resume: a complete clip (meta.json with the same key: source hash + settings) is skipped; a clip whose phase 1
 * finished continues with the frames whose maps are missing; otherwise the clip is redone from its first frame (the
 * tracker's warm starts and smoothing make a mid-clip restart of phase 1 differ). Everything written is a function of
 * the source and the settings, so a resumed run ends with the same bytes as an uninterrupted one.
 *
 * Frame rules (the README's "quality threshold"): a frame is dropped as 'no-face' (no detection; also frames before
 * the first detection), 'tracking-failed' (the fit failed; the tracker interpolated it), 'low-quality' (68-landmark
 * NME of the saved, smoothed parameters above 8 % of the outer-eye-corner distance, or a flag: extreme pose — |yaw| >
 * 55°, |pitch| > 40°, |roll| > 45° —, face too small, face partly out of frame) or 'decode-error'. A clip is skipped
 * when it keeps fewer than half of the frames read or fewer than 12 (or all, when fewer were read).
 */
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import { createDemoHead, loadFlame, type FlameModelData } from '../flame';
import { fitFlame } from '../fit/fit';
import { headAngles } from '../fit/frame-targets';
import { trackFlame } from '../fit/track';
import { type FlameTrack } from '../fit/types';
import { openDecaSmirk } from '../fit/encoder-init';
import { faceRegion, photometricFit } from '../fit/photometric';
import { contentHash } from '../io/content-hash';
import { detectFaces } from '../perception/detect';
import type { VideoFrame } from '../io/video';
import { VERSION } from '../version';
import { ensureDir, jsonText, removeTempFiles, writeFileAtomic } from './files';
import { STATUS, readFlameNpz, writeFlameNpz, type ClipParams } from './flame-npz';
import { zeroTimes, type ClipJob, type ModelSpec, type StageTimes } from './frame-writer';
import { clipCrop, CROP_RULE, CROP_SIZE, largestFace, type ClipCrop } from './crop';
import { CLIP_FORMAT, DEFAULT_DATA_MAPS, LAYOUT_VERSION, clipDir, flamePath, frameName, metaPath, readClipMeta, type ClipMeta, type DataMapKind, type DroppedFrame } from './layout';
import { DataPool, handled } from './pool';
import { readPng } from '../io/png';
import { readClipRecords, writeClipRecord, type ClipRecord } from './report';
import { listSources, probeSource, sourceFrames, sourceHash, type Source } from './sources';
import { finishDataset } from './synth/generate';
import { threadCpuMs } from './cpu-time';

export const NME_GOOD = 0.05;
export const NME_DROP = 0.08;
export const MIN_FRAMES = 12;
export const MIN_KEPT_FRACTION = 0.5;
const SEVERE_FLAGS = ['extreme-pose', 'face-too-small', 'partially-out-of-frame'];
/** Frames per render task: small, so that an Interrupt waits for little more than the frames being drawn. */
const FRAMES_PER_TASK = 4;

export const PREPARE_RULES = [
  `Crop: ${CROP_RULE}.`,
  `A frame is dropped as no-face (no detection, or before the first detection), tracking-failed (the fit failed and the tracker interpolated it), low-quality (68-landmark NME of the saved parameters > ${100 * NME_DROP} % of the outer-eye-corner distance, or extreme pose |yaw| > 55° / |pitch| > 40° / |roll| > 45°, face under 44 px or partly out of frame) or decode-error.`,
  `Kept frames: status 1 (NME ≤ ${100 * NME_GOOD} %) or 2 (≤ ${100 * NME_DROP} %).`,
  `A clip is skipped when it keeps fewer than ${100 * MIN_KEPT_FRACTION} % of the frames read, or fewer than ${MIN_FRAMES} (all frames when fewer were read).`,
];

export interface PrepareOptions {
  /** Folder of videos and frame folders. */
  videos: string;
  out: string;
  /** Split folder the clips go to (default 'train'). */
  split?: string;
  maxFrames?: number;
  /** Data worker threads (default: one per core). */
  workers?: number;
  shard?: { index: number; count: number };
  encoder?: 'deca+smirk';
  encoderDir?: string;
  /** FLAME 2020 files (mp.flame.load); default the built-in demo head. */
  flameDir?: string;
  maps?: readonly DataMapKind[];
  /** Frame rate of frame folders (default 25). */
  folderFps?: number;
  /** Write report.json / report.html / dataset.json at the end (default: when not sharded). */
  writeReport?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: PrepareProgress) => void;
  log?: (line: string) => void;
}

export interface PrepareProgress {
  /** Frame steps done / total (each frame is tracked, then rendered: 2 steps). */
  done: number;
  total: number;
  clip: string;
  phase: 'tracking' | 'rendering' | 'done';
  clipIndex: number;
  clips: number;
}

export interface PrepareTimes {
  /** Main thread CPU time (ms): reading decoded frames from ffmpeg / the folder and the first frame's detection. */
  decode: number;
  /** Main thread CPU time of the tracker (perception pre/post-processing and fitting; ONNX Runtime's inference runs
   * on its own threads and is not included) and of the photometric fit. */
  track: number;
  photometric: number;
  /** Data-pool threads: the crops and their PNGs (phase 1), the maps (phase 2). */
  images: StageTimes;
  maps: StageTimes;
}

export interface ClipResult {
  clip: string;
  source: string;
  status: 'complete' | 'skipped' | 'failed' | 'done-earlier' | 'skipped-earlier';
  reason?: string;
  kept: number;
  read: number;
}

export interface PrepareSummary {
  clips: ClipResult[];
  framesRead: number;
  framesKept: number;
  seconds: number;
  times: PrepareTimes;
  workers: number;
  mode: 'workers' | 'inline';
}

interface Phase1 {
  key: string;
  read: number;
  dropped: DroppedFrame[];
  kept: number[];
  notes: string[];
  crop: ClipMeta['crop'] | null;
  fps: number;
  skip: string | null;
  quality: number[];
  yaw: number[];
  source: { width: number; height: number; frames: number };
  tracking: Record<string, unknown>;
}

const workDir = (dir: string) => join(dir, '.work');

/** The whole-image camera convention of flame.npz: T0 maps the 512² image onto the 224 crop (k0 = 224/512). */
const K0 = 224 / CROP_SIZE;
export const REAL_TFORM = Float32Array.of(1 / K0, 0, 0, 0, 1 / K0, 0, 0, 0, 1);

/** A DECA camera for crop T (axis-aligned similarity [k 0 ox; 0 k oy]) → the same placement for T0. */
export function camToWholeImage(cam: ArrayLike<number>, T: ArrayLike<number>): [number, number, number] {
  const k = T[0]!, ox = T[2]!, oy = T[5]!, r = K0 / k;
  const s0 = r * cam[0]!;
  const tx0 = (r * (112 * cam[0]! * cam[1]! + 112 - ox) - 112) / (112 * s0);
  const ty0 = -(r * (-112 * cam[0]! * cam[2]! + 112 - oy) - 112) / (112 * s0);
  return [s0, tx0, ty0];
}

export async function prepareData(o: PrepareOptions): Promise<PrepareSummary> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const split = o.split ?? 'train';
  if (!/^[A-Za-z0-9_.-]+$/.test(split) || split.startsWith('.')) throw new MagicPortraitError(`--split '${split}' must match [A-Za-z0-9_.-]+`, 'bad-argument');
  const maxFrames = o.maxFrames ?? Infinity;
  if (!(maxFrames >= 1)) throw new MagicPortraitError(`--max-frames must be ≥ 1, got ${o.maxFrames}`, 'bad-argument');
  const shard = o.shard ?? { index: 0, count: 1 };
  const maps = [...(o.maps ?? DEFAULT_DATA_MAPS)];
  const { sources, empty } = listSources(o.videos);
  if (!sources.length) {
    throw new MagicPortraitError(`No videos (${['mp4', 'mov', 'webm', 'mkv'].join(', ')}) or folders of frames (jpg, png) in ${o.videos}${empty.length ? ` (empty folders: ${empty.map((e) => e.rel).join(', ')})` : ''}`, 'no-input');
  }
  // the output folder must be writable before any work starts
  ensureDir(o.out);
  writeFileAtomic(join(o.out, '.write-test'), '');
  unlinkSync(join(o.out, '.write-test'));
  for (const d of [o.out, join(o.out, '.report')]) removeTempFiles(d); // left by a killed run
  if (o.encoder && o.encoder !== 'deca+smirk') throw new MagicPortraitError(`--encoder '${o.encoder}' is not known (supported: deca+smirk)`, 'bad-argument');
  if (o.encoder) await openDecaSmirk(o.encoderDir); // a missing import fails here, naming the files
  const model: FlameModelData = o.flameDir ? await loadFlame(o.flameDir) : createDemoHead();
  const modelSpec: ModelSpec = o.flameDir ? { kind: 'flame', dir: o.flameDir } : { kind: 'demo' };
  const mine = sources.filter((_, k) => k % shard.count === shard.index);
  // empty folders are listed in the report (every shard writes the same record)
  for (const e of empty) {
    writeClipRecord(o.out, { clip: `empty__${e.rel.split('/').join('__').replace(/[^A-Za-z0-9_.-]/g, '_')}`, split, identity: '', source: e.rel, synthetic: false, status: 'skipped', reason: `${e.rel}/ holds no videos (mp4, mov, webm, mkv) and no frame images (jpg, png)`, read: 0, kept: 0, dropped: [], quality: [], yaw: [], frameIndex: [] });
  }
  // progress total: frames to read per clip (probed; unreadable sources count 0)
  const frameCounts = mine.map((s) => {
    try {
      return Math.min(probeSource(s, o.folderFps).frames, maxFrames);
    } catch {
      return 0;
    }
  });
  const total = 2 * frameCounts.reduce((a, b) => a + b, 0);
  const pool = new DataPool(o.workers ?? availableParallelism());
  const times: PrepareTimes = { decode: 0, track: 0, photometric: 0, images: zeroTimes(), maps: zeroTimes() };
  const summary: PrepareSummary = { clips: [], framesRead: 0, framesKept: 0, seconds: 0, times, workers: pool.mode === 'workers' ? pool.size : 0, mode: pool.mode };
  const records = new Map(readClipRecords(o.out).map((r) => [r.clip, r]));
  const steps = new Array<number>(mine.length).fill(0);
  const results: ClipResult[] = [];
  const finish = (ci: number, r: ClipResult) => {
    results[ci] = r;
    log(`${r.source}: ${r.status}${r.reason ? ` (${r.reason})` : ''}, ${r.kept}/${r.read} frames kept`);
  };
  const fail = (ci: number, s: Source, e: unknown) => {
    const msg = e instanceof MagicPortraitError ? e.message : `${(e as Error).message ?? e}`;
    if (!(e instanceof MagicPortraitError)) log(`${s.rel}: ${(e as Error).stack ?? e}`);
    // nothing of a failed clip stays unless its tracking finished (the next run continues from there)
    const dir = clipDir(o.out, split, s.clip);
    if (existsSync(dir) && statSync(dir).isDirectory() && !existsSync(metaPath(dir)) && !existsSync(join(workDir(dir), 'phase1.json'))) rmSync(dir, { recursive: true, force: true });
    writeClipRecord(o.out, { clip: s.clip, split, identity: s.clip, source: s.rel, synthetic: false, status: 'failed', reason: msg, read: 0, kept: 0, dropped: [], quality: [], yaw: [], frameIndex: [] });
    finish(ci, { clip: s.clip, source: s.rel, status: 'failed', reason: msg, kept: 0, read: 0 });
  };
  // A clip's maps (phase 2, on the data pool) are rendered while the next clip is tracked (phase 1, on this thread).
  let rendering: Promise<void> = Promise.resolve();
  let cancelled: CancelledError | null = null;
  try {
    for (let ci = 0; ci < mine.length && !cancelled; ci++) {
      const s = mine[ci]!;
      const expected = 2 * frameCounts[ci]!;
      const report = (n: number, phase: PrepareProgress['phase']) => {
        steps[ci] = Math.min(n, expected);
        o.onProgress?.({ done: steps.reduce((a, b) => a + b, 0), total, clip: s.clip, phase, clipIndex: ci, clips: mine.length });
      };
      report(0, 'tracking');
      try {
        const r = await prepareClip(s, { ...o, split, maxFrames, maps, model, modelSpec, pool, times, records, report, log });
        if ('render' in r) {
          await rendering; // at most one clip renders behind the tracking
          if (cancelled) break;
          rendering = r.render().then(
            (res) => { finish(ci, res); report(expected, 'done'); },
            (e) => { if (e instanceof CancelledError) cancelled = e; else fail(ci, s, e); },
          );
        } else {
          finish(ci, r);
          report(expected, 'done');
        }
      } catch (e) {
        if (e instanceof CancelledError) {
          cancelled = e;
          break;
        }
        fail(ci, s, e);
      }
    }
    await rendering;
  } finally {
    await pool.close();
  }
  if (cancelled) throw cancelled;
  summary.clips = results;
  for (const r of results) {
    summary.framesRead += r.read;
    summary.framesKept += r.status === 'complete' || r.status === 'done-earlier' ? r.kept : 0;
  }
  if (o.writeReport ?? shard.count === 1) finishDataset(o.out, { size: CROP_SIZE, maps, kind: 'real' }, PREPARE_RULES, NME_DROP);
  summary.seconds = (performance.now() - t0) / 1000;
  return summary;
}

interface ClipContext extends PrepareOptions {
  split: string;
  maxFrames: number;
  maps: DataMapKind[];
  model: FlameModelData;
  modelSpec: ModelSpec;
  pool: DataPool;
  times: PrepareTimes;
  records: Map<string, ClipRecord>;
  report: (steps: number, phase: PrepareProgress['phase']) => void;
  log: (line: string) => void;
}

/** Phase 1 of a clip (or its result when there is nothing to render); phase 2 is the returned `render`. */
async function prepareClip(s: Source, c: ClipContext): Promise<ClipResult | { render: () => Promise<ClipResult> }> {
  const dir = clipDir(c.out, c.split, s.clip), work = workDir(dir);
  const sha = await sourceHash(s);
  const key = contentHash({
    sha, kind: s.kind, maxFrames: Number.isFinite(c.maxFrames) ? c.maxFrames : null, model: c.model.name, flameDir: c.flameDir ?? null,
    encoder: c.encoder ? { kind: c.encoder, dir: c.encoderDir ?? 'default' } : null,
    maps: c.maps, rules: [NME_GOOD, NME_DROP, MIN_FRAMES, MIN_KEPT_FRACTION], folderFps: s.kind === 'frames' ? (c.folderFps ?? 25) : null, layout: LAYOUT_VERSION, version: VERSION,
  });
  const meta = readClipMeta(dir);
  if (meta && (meta.tracking as { key?: string } | undefined)?.key === key) {
    if (existsSync(work)) rmSync(work, { recursive: true, force: true });
    return { clip: s.clip, source: s.rel, status: 'done-earlier', kept: meta.frames.length, read: meta.frames.length + meta.dropped.length };
  }
  const rec = c.records.get(s.clip) as (ClipRecord & { key?: string }) | undefined;
  if (!meta && rec && rec.status === 'skipped' && rec.key === key && !existsSync(dir)) {
    return { clip: s.clip, source: s.rel, status: 'skipped-earlier', reason: rec.reason, kept: rec.kept, read: rec.read };
  }
  let p1: Phase1 | null = null;
  const p1Path = join(work, 'phase1.json');
  if (!meta && existsSync(p1Path) && existsSync(flamePath(dir))) {
    try {
      const j = JSON.parse(readFileSync(p1Path, 'utf8')) as Phase1;
      if (j.key === key) p1 = j;
    } catch {
      p1 = null;
    }
  }
  if (!p1) {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    p1 = await trackClip(s, dir, key, c);
  }
  if (p1.skip) {
    const r: ClipRecord & { key: string } = { key, clip: s.clip, split: c.split, identity: s.clip, source: s.rel, synthetic: false, status: 'skipped', reason: p1.skip, read: p1.read, kept: p1.kept.length, dropped: p1.dropped, quality: p1.quality, yaw: p1.yaw, frameIndex: p1.kept };
    writeClipRecord(c.out, r);
    rmSync(dir, { recursive: true, force: true });
    return { clip: s.clip, source: s.rel, status: 'skipped', reason: p1.skip, kept: p1.kept.length, read: p1.read };
  }
  const phase1 = p1;
  return { render: () => renderClip(s, c, dir, key, sha, phase1) };
}

/** Phase 2 (see the file header). */
async function renderClip(s: Source, c: ClipContext, dir: string, key: string, sha: string, p1: Phase1): Promise<ClipResult> {
  const work = workDir(dir), fps = p1.fps;
  // kept images into place, maps of the frames that have none yet
  const names = p1.kept.map(frameName);
  ensureDir(join(dir, 'images'));
  for (const k of ['images', ...c.maps]) removeTempFiles(join(dir, k)); // a killed run's half-written files
  for (const n of names) {
    const staged = join(work, 'images', n), final = join(dir, 'images', n);
    if (existsSync(staged)) {
      if (existsSync(final)) unlinkSync(staged);
      else renameSync(staged, final);
    } else if (!existsSync(final)) throw new MagicPortraitError(`${s.rel}: frame ${n} is missing from ${work} (delete ${dir} and run again)`, 'incomplete');
  }
  const params = await readFlameNpz(flamePath(dir));
  const job: ClipJob = {
    key: `${dir}`, model: c.modelSpec, dir,
    appearance: { shape: params.shape, albedo: params.albedo, light: params.light, tform: params.tform, size: CROP_SIZE, maps: c.maps },
  };
  const F = names.length, E = params.numExpression, P = 3 * params.numJoints;
  let rendered = 0;
  const tasks: Promise<void>[] = [];
  for (let k0 = 0; k0 < F; k0 += FRAMES_PER_TASK) {
    const frames = [];
    for (let k = k0; k < Math.min(F, k0 + FRAMES_PER_TASK); k++) {
      if (c.maps.every((m) => existsSync(join(dir, m, names[k]!)))) {
        rendered++;
        continue;
      }
      frames.push({ name: names[k]!, expression: params.expression.slice(k * E, (k + 1) * E), pose: params.pose.slice(k * P, (k + 1) * P), cam: params.cam.slice(3 * k, 3 * k + 3) });
    }
    c.report(p1.read + Math.round((rendered * p1.read) / Math.max(1, F)), 'rendering');
    if (!frames.length) continue;
    await c.pool.drainTo(2 * Math.max(1, c.pool.size));
    if (c.signal?.aborted) {
      c.pool.abortQueued();
      await Promise.allSettled(tasks);
      throw new CancelledError('data preparation');
    }
    tasks.push(handled(c.pool.render(job, frames).then((r) => {
      rendered += frames.length;
      for (const k of Object.keys(r.ms) as (keyof StageTimes)[]) c.times.maps[k] += r.ms[k];
      c.report(p1!.read + Math.round((rendered * p1!.read) / Math.max(1, F)), 'rendering');
    })));
  }
  const settled = await Promise.allSettled(tasks);
  const bad = settled.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
  if (bad) throw bad.reason;
  if (c.signal?.aborted) throw new CancelledError('data preparation');
  const r: ClipRecord & { key: string } = { key, clip: s.clip, split: c.split, identity: s.clip, source: s.rel, synthetic: false, status: 'complete', read: p1.read, kept: F, dropped: p1.dropped, quality: p1.quality, yaw: p1.yaw, frameIndex: p1.kept, ...(p1.notes.length ? { reason: p1.notes.join('; ') } : {}) };
  writeClipRecord(c.out, r);
  const q = p1.quality;
  const m: ClipMeta = {
    format: CLIP_FORMAT, version: LAYOUT_VERSION, clip: s.clip, split: c.split, identity: s.clip, synthetic: false,
    label: `real video clip (${s.rel}); FLAME parameters tracked with ${c.model.kind === 'demo-head' ? 'the demo head (not FLAME)' : c.model.name}`,
    size: CROP_SIZE, fps, frames: names, maps: c.maps,
    model: c.model.kind === 'demo-head' ? { kind: 'demo-head', name: c.model.name, label: 'demo head (ours, FLAME-structured; not FLAME)' } : { kind: 'FLAME', name: c.model.name, label: 'FLAME 2020' },
    software: { name: 'magicportrait-studio', version: VERSION },
    source: { path: s.rel, sha256: sha, frames: p1.source.frames, width: p1.source.width, height: p1.source.height },
    ...(p1.crop ? { crop: p1.crop } : {}),
    dropped: p1.dropped,
    quality: { metric: '68-landmark NME of the saved parameters (fraction of the outer-eye-corner distance)', mean: q.reduce((a, b) => a + b, 0) / Math.max(1, q.length), max: Math.max(0, ...q), threshold: NME_DROP },
    tracking: { ...p1.tracking, key },
    ...(p1.notes.length ? { notes: p1.notes } : {}),
  } as ClipMeta;
  writeFileAtomic(metaPath(dir), jsonText(m));
  rmSync(work, { recursive: true, force: true });
  return { clip: s.clip, source: s.rel, status: 'complete', kept: F, read: p1.read, ...(p1.notes.length ? { reason: p1.notes.join('; ') } : {}) };
}

/** Phase 1 (see the file header). */
async function trackClip(s: Source, dir: string, key: string, c: ClipContext): Promise<Phase1> {
  const work = workDir(dir);
  const info = probeSource(s, c.folderFps);
  ensureDir(join(work, 'images'));
  const fps = info.fps;
  const dropped: DroppedFrame[] = [];
  const notes: string[] = [];
  let read = 0;
  const frames = sourceFrames(s, c.maxFrames, (message, frame, ended) => {
    if (ended) notes.push(message);
    else {
      dropped.push({ frame, reason: 'decode-error', detail: message });
      read++;
    }
  });
  const it = frames[Symbol.asyncIterator]();
  const check = () => {
    if (c.signal?.aborted) throw new CancelledError('data preparation');
  };
  // the crop: detection on the first frames until a face is found
  let crop: ClipCrop | null = null;
  let first: VideoFrame | null = null;
  let t = threadCpuMs();
  for (;;) {
    check();
    const r = await it.next();
    if (r.done) break;
    read++;
    const face = largestFace(await detectFaces(r.value.image));
    if (face) {
      crop = clipCrop(face.box);
      first = r.value;
      break;
    }
    dropped.push({ frame: r.value.index, reason: 'no-face', detail: 'no face detected (the crop is fixed on the first frame with a face)' });
    c.report(read, 'tracking');
  }
  c.times.decode += threadCpuMs() - t;
  const base: Omit<Phase1, 'skip' | 'kept' | 'quality' | 'yaw' | 'tracking' | 'crop'> = { key, read, dropped, notes, fps, source: { width: info.width, height: info.height, frames: info.frames } };
  const finishPhase1 = (p: Phase1): Phase1 => {
    p.dropped.sort((a, b) => a.frame - b.frame);
    writeFileAtomic(join(work, 'phase1.json'), jsonText(p));
    return p;
  };
  if (!crop || !first) {
    return finishPhase1({ ...base, read, crop: null, skip: `no face found in the ${read} frame(s) read${notes.length ? ` (${notes.join('; ')})` : ''}`, kept: [], quality: [], yaw: [], tracking: {} });
  }
  const cropMeta: NonNullable<ClipMeta['crop']> = {
    tform: [crop.matrix[0], crop.matrix[1], crop.matrix[2], crop.matrix[3], crop.matrix[4], crop.matrix[5], 0, 0, 1],
    size: CROP_SIZE, box: [crop.box.x1, crop.box.y1, crop.box.x2, crop.box.y2], detectedFrame: first.index, rule: CROP_RULE,
  };
  const pool = c.pool;
  const addTimes = (ms: StageTimes) => { for (const k of Object.keys(ms) as (keyof StageTimes)[]) c.times.images[k] += ms[k]; };
  const staged = (index: number) => join(work, 'images', frameName(index));
  // every frame is cropped (and its crop written) on the data pool, a few frames ahead of the tracker
  const firstCrop = await pool.crop(first.image, crop.inverse, staged(first.index));
  addTimes(firstCrop.ms);
  // identity from DECA + SMIRK on the first crop (with --encoder), else fitted by the tracker
  let encoderFit: Awaited<ReturnType<typeof fitFlame>> | null = null;
  if (c.encoder) {
    t = threadCpuMs();
    encoderFit = await fitFlame(firstCrop.image, { model: c.model, encoder: c.encoder, encoderDir: c.encoderDir, overlay: false });
    c.times.photometric += threadCpuMs() - t;
  }
  const AHEAD = 2 + 2 * Math.max(1, pool.size);
  const queue: Promise<VideoFrame>[] = [];
  let ended = false;
  let decodeMs = 0;
  const crops = async function* (): AsyncGenerator<VideoFrame> {
    yield { index: first!.index, image: firstCrop.image };
    for (;;) {
      check();
      const tt = threadCpuMs();
      while (!ended && queue.length < AHEAD) {
        const r = await it.next();
        if (r.done) {
          ended = true;
          break;
        }
        read++;
        const index = r.value.index;
        queue.push(handled(pool.crop(r.value.image, crop!.inverse, staged(index)).then((res) => {
          addTimes(res.ms);
          return { index, image: res.image };
        })));
      }
      decodeMs += threadCpuMs() - tt;
      const next = queue.shift();
      if (!next) return;
      yield await next;
    }
  };
  let tracked = 0;
  const trackStart = threadCpuMs();
  let track: FlameTrack;
  try {
    track = await trackFlame(crops(), {
      model: c.model, fps, frameCount: info.frames, ...(c.signal ? { signal: c.signal } : {}),
      ...(encoderFit ? { shape: encoderFit.shape } : {}),
      onFrame: () => {
        tracked++;
        c.report(dropped.length + tracked, 'tracking');
      },
    });
  } finally {
    if (c.signal?.aborted) pool.abortQueued();
    await Promise.allSettled(queue); // crops in flight finish writing before anything else touches the folder
  }
  c.times.decode += decodeMs;
  c.times.track += threadCpuMs() - trackStart - decodeMs;
  // judge the frames
  const F = track.numFrames, nE = track.numExpression, J = track.numJoints, sm = track.smoothed;
  const keptT: number[] = [];
  const statusOf: number[] = [];
  for (let k = 0; k < F; k++) {
    const fi = track.frames[k]!;
    const severe = fi.flags.filter((f) => SEVERE_FLAGS.includes(f));
    if (fi.flags.includes('no-face')) dropped.push({ frame: fi.index, reason: 'no-face', detail: 'no face detected' });
    else if (fi.status !== 'tracked') dropped.push({ frame: fi.index, reason: 'tracking-failed', detail: `the fit failed (${fi.flags.join(', ') || `NME ${Number.isFinite(fi.nme) ? (100 * fi.nme).toFixed(1) + ' %' : 'not finite'}`}); the tracker interpolated it` });
    else if (!(fi.nmeSmoothed <= NME_DROP)) dropped.push({ frame: fi.index, reason: 'low-quality', detail: `NME ${(100 * fi.nmeSmoothed).toFixed(2)} % > ${100 * NME_DROP} %` });
    else if (severe.length) dropped.push({ frame: fi.index, reason: 'low-quality', detail: severe.join(', ') });
    else {
      keptT.push(k);
      statusOf.push(fi.nmeSmoothed <= NME_GOOD ? STATUS.good : STATUS.fair);
    }
  }
  const kept = keptT.map((k) => track.frames[k]!.index);
  const quality = keptT.map((k) => track.frames[k]!.nmeSmoothed);
  const yaw = keptT.map((k) => headAngles(sm.pose.subarray(k * 3 * J, (k + 1) * 3 * J)).yaw);
  const need = Math.min(MIN_FRAMES, read);
  const tracking = {
    tracker: 'magicportrait fit/track.ts', identity: encoderFit ? 'DECA + SMIRK start on the first crop, refined (fitFlame)' : `fitted jointly over the first frames with a face`,
    smoothing: track.smoothing, nmeMean: quality.length ? quality.reduce((a, b) => a + b, 0) / quality.length : null,
  };
  if (kept.length < need || kept.length < MIN_KEPT_FRACTION * read) {
    const reasons: Record<string, number> = {};
    for (const d of dropped) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    return finishPhase1({ ...base, read, crop: cropMeta, skip: `only ${kept.length} of ${read} frames are good (need ≥ ${100 * MIN_KEPT_FRACTION} % and ≥ ${need}); dropped: ${Object.entries(reasons).map(([k, v]) => `${k} ${v}`).join(', ')}`, kept, quality, yaw, tracking });
  }
  // albedo + light: from the encoder fit, or photometric on the best of the first kept frames
  t = threadCpuMs();
  let albedo: ArrayLike<number>, light: ArrayLike<number>;
  if (encoderFit?.albedo && encoderFit.light) {
    albedo = encoderFit.albedo;
    light = encoderFit.light;
  } else {
    const window = keptT.slice(0, Math.max(1, Math.round(2 * fps)));
    let best = window[0]!;
    for (const k of window) if (track.frames[k]!.nmeSmoothed < track.frames[best]!.nmeSmoothed) best = k;
    const px = readPng(join(work, 'images', frameName(track.frames[best]!.index)));
    const image = { width: px.width, height: px.height, channels: 3 as const, data: px.data };
    const ph = photometricFit(c.model, image, {
      shape: track.shape, expression: sm.expression.subarray(best * nE, (best + 1) * nE), pose: sm.pose.subarray(best * 3 * J, (best + 1) * 3 * J),
      cam: sm.cam.subarray(3 * best, 3 * best + 3), tform: sm.tform.subarray(9 * best, 9 * best + 9),
    }, { numShape: track.shape.length, numExpression: nE, region: faceRegion(track.detected.subarray(136 * best, 136 * best + 136)) });
    albedo = ph.albedo;
    light = ph.light;
    (tracking as Record<string, unknown>).photometric = { frame: track.frames[best]!.index, ...ph.report };
  }
  c.times.photometric += threadCpuMs() - t;
  const FK = keptT.length;
  const params: ClipParams = {
    numJoints: J, numExpression: nE,
    shape: Float32Array.from(track.shape),
    expression: new Float32Array(FK * nE), pose: new Float32Array(FK * 3 * J), cam: new Float32Array(FK * 3),
    tform: REAL_TFORM, albedo: Float32Array.from(albedo), light: Float32Array.from(light),
    quality: Float32Array.from(quality), status: Int8Array.from(statusOf), frameIndex: Int32Array.from(kept),
    size: CROP_SIZE, fps, model: c.model.name, landmarks: new Float32Array(FK * 136),
  };
  keptT.forEach((k, j) => {
    params.expression.set(sm.expression.subarray(k * nE, (k + 1) * nE), j * nE);
    params.pose.set(sm.pose.subarray(k * 3 * J, (k + 1) * 3 * J), j * 3 * J);
    params.cam.set(camToWholeImage(sm.cam.subarray(3 * k, 3 * k + 3), sm.tform.subarray(9 * k, 9 * k + 9)), 3 * j);
    params.landmarks!.set(track.detected.subarray(136 * k, 136 * (k + 1)), 136 * j);
  });
  writeFlameNpz(flamePath(dir), params);
  // the dropped frames' staged images are not needed
  return finishPhase1({ ...base, read, crop: cropMeta, skip: null, kept, quality, yaw, tracking });
}

