/**
 * `magicportrait synth-data` / `mp.data.synth`: a synthetic dataset of the demo head in the training layout
 * (layout.ts). For every identity and clip: the ground-truth parameters (params.ts) are written to flame.npz first,
 * then the frames are rendered on the data pool (depth / normal / render / mask with the conventions of
 * mp.renderGuidance, and the photo = the render over the clip's backdrop), then meta.json last. A clip whose meta.json
 * exists (with the same settings) is kept as it is, so an interrupted run continues; an incomplete clip is redone
 * from scratch. Identities are split into train / val / test, never shared between splits.
 */
import { availableParallelism } from 'node:os';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledError, MagicPortraitError } from '../../errors';
import { createDemoHead, type FlameModelData } from '../../flame';
import { VERSION } from '../../version';
import { ensureDir, jsonText, removeTempFiles, writeFileAtomic } from '../files';
import { frameParams, writeFlameNpz } from '../flame-npz';
import { zeroTimes, type ClipJob, type StageTimes } from '../frame-writer';
import {
  CLIP_FORMAT, DEFAULT_DATA_MAPS, LAYOUT_VERSION, SYNTHETIC_LABEL, clipDir, datasetJsonFromClips, flamePath, frameName, listCompleteClips,
  metaPath, readClipMeta, type ClipMeta, type DataMapKind, type Split,
} from '../layout';
import { DataPool, handled } from '../pool';
import { writeClipRecord, writeReport } from '../report';
import { rngFor } from '../rng';
import { identityId, synthClip, synthClipId, synthIdentity } from './params';
import { headAngles } from '../../fit/frame-targets';

/** What decides a synthetic dataset's content: the same settings regenerate the same files. */
export interface SynthSettings {
  identities: number;
  clips: number;
  frames: number;
  size: number;
  seed: number;
  fps?: number;
}

export interface SynthOptions extends SynthSettings {
  out: string;
  /** Data worker threads (default: one per core). 0 works on the calling thread. */
  workers?: number;
  maps?: readonly DataMapKind[];
  /** Fractions of identities for [val, test] (default [0.1, 0.1]; at least one each from 3 identities on). */
  holdout?: [number, number];
  /** Write only these clips of the dataset the other settings describe (a split, and/or clip ids such as
   *  'id00016_c00'): each is the same bytes as in the whole dataset (every identity and clip has its own seeded
   *  streams), so an evaluation regenerates the held-out clips it needs without the rest. dataset.json lists what
   *  was written. */
  select?: { split?: Split; clips?: readonly string[] };
  signal?: AbortSignal;
  /** Frames written so far and the total. */
  onProgress?: (done: number, total: number) => void;
  log?: (line: string) => void;
}

export interface SynthSummary {
  out: string;
  clips: number;
  made: number;
  /** Complete from an earlier run with the same settings. */
  kept: number;
  frames: number;
  seconds: number;
  framesPerSecond: number;
  /** Milliseconds per frame by stage, summed over the workers' threads. */
  perFrameMs: StageTimes & { params: number };
  workers: number;
  mode: 'workers' | 'inline';
  splits: Record<Split, string[]>;
}

export const SYNTH_RULES = [
  'Synthetic clips are rendered from known parameters: every frame is kept, quality is exact (0) and status 0.',
  'Identities are split into train / val / test; no identity appears in two splits.',
];

function int(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new MagicPortraitError(`${name} must be an integer in [${lo}, ${hi}], got ${v}`, 'bad-argument');
  return v;
}

/** Split of each identity: a seeded order, the first ones to test, the next ones to val, the rest to train. */
export function identitySplits(n: number, seed: number, holdout: [number, number] = [0.1, 0.1]): Split[] {
  const nTest = n >= 3 ? Math.max(1, Math.round(n * holdout[1])) : 0;
  const nVal = n >= 2 ? Math.max(1, Math.round(n * holdout[0])) : 0;
  const order = Array.from({ length: n }, (_, i) => ({ i, k: rngFor(seed, 'split', i)() })).sort((a, b) => a.k - b.k || a.i - b.i);
  const out: Split[] = new Array(n).fill('train');
  order.forEach(({ i }, rank) => {
    if (rank < nTest) out[i] = 'test';
    else if (rank < nTest + nVal) out[i] = 'val';
  });
  return out;
}

const FRAMES_PER_TASK = 8;

export async function generateSynthetic(o: SynthOptions): Promise<SynthSummary> {
  const t0 = performance.now();
  const N = int('--identities', o.identities, 1, 100000), K = int('--clips', o.clips, 1, 100), F = int('--frames', o.frames, 1, 100000);
  const size = int('--size', o.size, 32, 2048), seed = int('--seed', o.seed, 0, 2 ** 31 - 1);
  const fps = o.fps ?? 25;
  if (!(fps > 0 && fps <= 240)) throw new MagicPortraitError(`--fps must be in (0, 240], got ${fps}`, 'bad-argument');
  const maps = [...(o.maps ?? DEFAULT_DATA_MAPS)];
  for (const m of ['render', 'mask'] as const) if (!maps.includes(m)) maps.push(m); // the photo is composed from them
  const log = o.log ?? (() => {});
  const model = createDemoHead();
  const splits = identitySplits(N, seed, o.holdout);
  ensureDir(o.out);
  for (const d of [o.out, join(o.out, '.report')]) removeTempFiles(d); // left by a killed run
  const pool = new DataPool(o.workers ?? availableParallelism());
  const selected = o.select ? Array.from({ length: N * K }, (_, k) => ({ split: splits[Math.floor(k / K)]!, clip: synthClipId(Math.floor(k / K), k % K) })).filter((x) => (!o.select!.split || o.select!.split === x.split) && (!o.select!.clips || o.select!.clips.includes(x.clip))).length : N * K;
  if (o.select?.clips) for (const c of o.select.clips) if (!/^id\d{5}_c\d{2}$/.test(c) || Number(c.slice(2, 7)) >= N || Number(c.slice(9)) >= K) throw new MagicPortraitError(`--only ${c}: not a clip of ${N} identities × ${K} clips`, 'bad-argument');
  const total = selected * F;
  let done = 0, made = 0, kept = 0;
  const ms = { ...zeroTimes(), params: 0 };
  const byClip: Promise<void>[] = [];
  const summarySplits: Record<Split, string[]> = { train: [], val: [], test: [] };
  try {
    for (let i = 0; i < N; i++) {
      const tp = performance.now();
      const identity = synthIdentity(model, seed, i);
      ms.params += performance.now() - tp;
      for (let c = 0; c < K; c++) {
        const clip = synthClipId(i, c), split = splits[i]!;
        if (o.select && ((o.select.split && o.select.split !== split) || (o.select.clips && !o.select.clips.includes(clip)))) continue;
        summarySplits[split].push(clip);
        const dir = clipDir(o.out, split, clip);
        const want = { seed, identity: i, clip: c };
        const prev = readClipMeta(dir);
        if (prev) {
          const same = prev.synthetic && JSON.stringify((prev.source as { synthetic?: unknown }).synthetic) === JSON.stringify(want) && prev.size === size && prev.frames.length === F && prev.fps === fps && JSON.stringify(prev.maps) === JSON.stringify(maps);
          if (!same) throw new MagicPortraitError(`${dir} holds a clip made with other settings (size ${prev.size}, ${prev.frames.length} frames, maps ${prev.maps.join(',')}); write to a new folder or delete it`, 'bad-argument');
          kept++;
          done += F;
          o.onProgress?.(done, total);
          continue;
        }
        if (o.signal?.aborted) throw new CancelledError('synthetic data generation');
        const tc = performance.now();
        const sc = synthClip(model, { seed, identity, clip: c, frames: F, size, fps });
        ms.params += performance.now() - tc;
        if (existsSync(dir)) rmSync(dir, { recursive: true, force: true }); // an incomplete clip of an interrupted run
        ensureDir(dir);
        writeFlameNpz(flamePath(dir), sc.params);
        const job: ClipJob = {
          key: `${o.out}|${split}|${clip}`,
          model: { kind: 'demo' },
          appearance: { shape: sc.params.shape, albedo: sc.params.albedo, light: sc.params.light, tform: sc.params.tform, size, maps },
          dir,
          background: sc.background,
        };
        const tasks: Promise<void>[] = [];
        const covered = new Array<number>(F).fill(0);
        for (let s = 0; s < F; s += FRAMES_PER_TASK) {
          await pool.drainTo(2 * Math.max(1, pool.size), o.signal).catch((e) => {
            pool.abortQueued();
            throw e;
          });
          if (o.signal?.aborted) {
            pool.abortQueued();
            throw new CancelledError('synthetic data generation');
          }
          const frames = [];
          for (let k = s; k < Math.min(F, s + FRAMES_PER_TASK); k++) {
            const fp = frameParams(sc.params, k);
            frames.push({ name: frameName(k), expression: fp.expression.slice(), pose: fp.pose.slice(), cam: fp.cam.slice() });
          }
          tasks.push(handled(pool.render(job, frames).then((r) => {
            r.covered.forEach((v, j) => (covered[s + j] = v));
            for (const key of Object.keys(r.ms) as (keyof StageTimes)[]) ms[key] += r.ms[key];
            done += frames.length;
            o.onProgress?.(done, total);
          })));
        }
        byClip.push(handled(Promise.all(tasks).then(() => {
          const meta: ClipMeta = {
            format: CLIP_FORMAT, version: LAYOUT_VERSION, clip, split, identity: identityId(i), synthetic: true, label: SYNTHETIC_LABEL,
            size, fps, frames: Array.from({ length: F }, (_, k) => frameName(k)), maps,
            model: { kind: 'demo-head', name: model.name, label: 'demo head (ours, FLAME-structured; not FLAME)' },
            software: { name: 'magicportrait-studio', version: VERSION },
            source: { synthetic: want },
            dropped: [],
            synthesis: { ...sc.summary, albedoCode: Array.from(sc.params.albedo, (v) => +v.toFixed(4)), coveredMin: Math.min(...covered) },
          };
          const yaw = Array.from({ length: F }, (_, k) => headAngles(frameParams(sc.params, k).pose).yaw);
          writeClipRecord(o.out, { clip, split, identity: identityId(i), source: 'synthetic', synthetic: true, status: 'complete', read: F, kept: F, dropped: [], quality: new Array(F).fill(0), yaw, frameIndex: Array.from({ length: F }, (_, k) => k) });
          writeFileAtomic(metaPath(dir), jsonText(meta));
          made++;
          log(`${split}/${clip}: ${F} frames`);
        })));
      }
    }
    await Promise.all(byClip);
  } catch (e) {
    await Promise.allSettled(byClip);
    throw e;
  } finally {
    await pool.close();
  }
  finishDataset(o.out, { size, maps, kind: 'synthetic' }, SYNTH_RULES);
  const seconds = (performance.now() - t0) / 1000;
  const framesMade = made * F;
  const per = (x: number) => (framesMade ? x / framesMade : 0);
  return {
    out: o.out, clips: selected, made, kept, frames: framesMade, seconds, framesPerSecond: framesMade / seconds,
    perFrameMs: { params: per(ms.params), render: per(ms.render), composite: per(ms.composite), crop: 0, encode: per(ms.encode), write: per(ms.write) },
    workers: pool.mode === 'workers' ? pool.size : 0, mode: pool.mode, splits: summarySplits,
  };
}

/** report.json / report.html from the clip records, then dataset.json (last) from the complete clips on disk. */
export function finishDataset(out: string, fallback: { size: number; maps: readonly DataMapKind[]; kind?: 'real' | 'synthetic' }, rules: string[], threshold?: number): void {
  const clips = listCompleteClips(out);
  const ds = datasetJsonFromClips(clips, fallback);
  writeReport(out, ds, rules, threshold);
  writeFileAtomic(join(out, 'dataset.json'), jsonText(ds));
}
