/**
 * `magicportrait synth-data`, `prepare-data` and `data-merge`: argument handling, a terminal progress line (counts,
 * rate, ETA) and Ctrl+C → stop after the current frame (the clip stays incomplete and is redone by the next run).
 */
import { resolve } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import { progressText } from '../runtime/progress';
import { ALL_DATA_MAPS, type DataMapKind } from '../data/layout';
import { generateSynthetic } from '../data/synth/generate';
import { prepareData, NME_DROP } from '../data/prepare';
import { mergeData } from '../data/merge';
import { parseShard } from '../metrics/batch/manifest';

export const DATA_USAGE = `  magicportrait synth-data --out DATASET [--identities N] [--clips K] [--frames F] [--size S] [--seed s]
                          [--fps 25] [--workers W] [--maps depth,normal,render,mask[,landmarks]]
                          [--split test] [--only id00016_c00,…]
        a synthetic demo-head dataset in the training layout (labelled synthetic; identities split train/val/test);
        --split / --only write just those clips of the dataset the other settings describe (the same bytes)
  magicportrait prepare-data --videos DIR --out DATASET [--max-frames N] [--workers W] [--shard i/N | auto/N]
                          [--split train] [--encoder deca+smirk [--encoder-dir DIR]] [--flame DIR] [--fps 25]
                          [--maps depth,normal,render,mask[,landmarks]] [--no-report]
        every video (mp4, mov, webm, mkv) and frame folder under DIR: the reference's crop, our FLAME tracker, the
        guidance maps, flame.npz and meta.json per clip; report.json / report.html; resumable (run it again)
  magicportrait data-merge --out DATASET [SHARD_DIR...]
        combine prepare-data shards (moved from SHARD_DIRs, or already in DATASET) and write the report + dataset.json`;

function takeValue(args: string[], i: number, flag: string, usage: string): string {
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new MagicPortraitError(`${flag} needs a value.\n${usage}`, 'bad-argument');
  return v;
}

function intArg(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new MagicPortraitError(`${flag} needs an integer, got '${v}'.`, 'bad-argument');
  return n;
}

export function parseMaps(v: string): DataMapKind[] {
  const maps = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const m of maps) if (!(ALL_DATA_MAPS as readonly string[]).includes(m)) throw new MagicPortraitError(`--maps: unknown map '${m}' (known: ${ALL_DATA_MAPS.join(', ')}).`, 'bad-argument');
  return [...new Set(maps)] as DataMapKind[];
}

/** A progress line on stderr: redrawn in place on a terminal, one line every few seconds otherwise. */
export function terminalProgress(label: string, unit: string): { update(done: number, total: number, detail?: string): void; end(): void } {
  const t0 = Date.now();
  const tty = process.stderr.isTTY;
  let last = 0, lastText = '';
  return {
    update(done, total, detail) {
      const now = Date.now();
      if (now - last < (tty ? 200 : 5000) && done < total) return;
      last = now;
      const elapsedMs = now - t0;
      const etaMs = done > 0 ? Math.round((elapsedMs / done) * (total - done)) : null;
      const rate = elapsedMs > 0 ? (1000 * done) / elapsedMs : 0;
      lastText = `${progressText({ label: detail ? `${label} (${detail})` : label, done: Math.floor(done), total, unit, elapsedMs, etaMs, finished: false })} ${rate.toFixed(1)} ${unit}/s`;
      process.stderr.write(tty ? `\r\x1b[K${lastText}` : `${lastText}\n`);
    },
    end() {
      if (tty && lastText) process.stderr.write('\n');
    },
  };
}

/** Ctrl+C aborts the signal (the run stops after the current frame); a second Ctrl+C exits at once. */
function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSig = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\nStopping after the current frame (Ctrl+C again to quit at once)…\n');
    ac.abort();
  };
  process.on('SIGINT', onSig);
  return { signal: ac.signal, dispose: () => process.off('SIGINT', onSig) };
}

export async function synthDataCommand(args: string[]): Promise<number> {
  const o = { out: '', identities: 10, clips: 2, frames: 48, size: 512, seed: 0, fps: 25, workers: undefined as number | undefined, maps: undefined as DataMapKind[] | undefined, select: undefined as { split?: 'train' | 'val' | 'test'; clips?: string[] } | undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = () => takeValue(args, i++, a, DATA_USAGE);
    switch (a) {
      case '--out': case '-o': o.out = resolve(val()); break;
      case '--identities': o.identities = intArg(a, val()); break;
      case '--clips': o.clips = intArg(a, val()); break;
      case '--frames': o.frames = intArg(a, val()); break;
      case '--size': o.size = intArg(a, val()); break;
      case '--seed': o.seed = intArg(a, val()); break;
      case '--fps': o.fps = Number(val()); break;
      case '--workers': o.workers = intArg(a, val()); break;
      case '--maps': o.maps = parseMaps(val()); break;
      case '--split': {
        const v = val();
        if (v !== 'train' && v !== 'val' && v !== 'test') throw new MagicPortraitError(`--split must be train, val or test, got '${v}'`, 'bad-argument');
        o.select = { ...o.select, split: v };
        break;
      }
      case '--only': o.select = { ...o.select, clips: val().split(',').filter(Boolean) }; break;
      default: throw new MagicPortraitError(`Unexpected argument '${a}'\n${DATA_USAGE}`, 'bad-argument');
    }
  }
  if (!o.out) throw new MagicPortraitError(`synth-data needs --out.\n${DATA_USAGE}`, 'bad-argument');
  const bar = terminalProgress('Synthetic frames', 'frames');
  const stop = interruptSignal();
  try {
    const s = await generateSynthetic({ ...o, signal: stop.signal, onProgress: (d, t) => bar.update(d, t) });
    bar.end();
    const p = s.perFrameMs;
    console.log(`synth-data: ${s.clips} clip(s) (${s.made} made, ${s.kept} complete from an earlier run), ${s.frames} frames in ${s.seconds.toFixed(1)} s = ${s.framesPerSecond.toFixed(1)} frames/s on ${s.mode === 'workers' ? `${s.workers} worker(s)` : 'the main thread'}`);
    console.log(`  per frame: parameters ${p.params.toFixed(2)} ms, render ${p.render.toFixed(1)} ms, composite ${p.composite.toFixed(1)} ms, PNG encode ${p.encode.toFixed(1)} ms, write ${p.write.toFixed(1)} ms`);
    console.log(`  splits: train ${s.splits.train.length}, val ${s.splits.val.length}, test ${s.splits.test.length} clip(s) → ${s.out}/dataset.json`);
    return 0;
  } catch (e) {
    bar.end();
    if (e instanceof CancelledError) {
      console.error('synth-data: stopped; complete clips are kept, run the same command again to continue.');
      return 130;
    }
    throw e;
  } finally {
    stop.dispose();
  }
}

/** Parses `prepare-data` arguments into run options. */
export function parsePrepareArgs(args: string[]): Parameters<typeof prepareData>[0] {
  const o: Parameters<typeof prepareData>[0] = { videos: '', out: '' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = () => takeValue(args, i++, a, DATA_USAGE);
    switch (a) {
      case '--videos': o.videos = resolve(val()); break;
      case '--out': case '-o': o.out = resolve(val()); break;
      case '--max-frames': o.maxFrames = intArg(a, val()); break;
      case '--workers': o.workers = intArg(a, val()); break;
      case '--shard': o.shard = parseShard(val()); break;
      case '--split': o.split = val(); break;
      case '--encoder': o.encoder = val() as 'deca+smirk'; break;
      case '--encoder-dir': o.encoderDir = resolve(val()); break;
      case '--flame': o.flameDir = resolve(val()); break;
      case '--fps': o.folderFps = Number(val()); break;
      case '--maps': o.maps = parseMaps(val()); break;
      case '--no-report': o.writeReport = false; break;
      default: throw new MagicPortraitError(`Unexpected argument '${a}'\n${DATA_USAGE}`, 'bad-argument');
    }
  }
  if (!o.videos || !o.out) throw new MagicPortraitError(`prepare-data needs --videos and --out.\n${DATA_USAGE}`, 'bad-argument');
  return o;
}

export async function prepareDataCommand(args: string[]): Promise<number> {
  const o = parsePrepareArgs(args);
  const bar = terminalProgress('Preparing', 'frame steps');
  const stop = interruptSignal();
  try {
    const s = await prepareData({ ...o, signal: stop.signal, onProgress: (p) => bar.update(p.done, p.total, `clip ${p.clipIndex + 1}/${p.clips} ${p.clip}: ${p.phase}`) });
    bar.end();
    for (const c of s.clips) console.log(`  ${c.source}: ${c.status}${c.reason ? ` — ${c.reason}` : ''} (${c.kept}/${c.read} frames kept)`);
    const failed = s.clips.filter((c) => c.status === 'failed').length;
    console.log(`prepare-data: ${s.clips.length} clip(s), ${s.framesKept} of ${s.framesRead} frames kept (drop threshold: NME > ${100 * NME_DROP} %), ${s.seconds.toFixed(1)} s → ${o.out}${o.writeReport === false || (o.shard && o.shard.count > 1) ? ' (run data-merge for the report)' : '/report.html'}`);
    return failed ? 1 : 0;
  } catch (e) {
    bar.end();
    if (e instanceof CancelledError) {
      console.error('prepare-data: stopped after the current frame; run the same command again to continue.');
      return 130;
    }
    throw e;
  } finally {
    stop.dispose();
  }
}

export async function dataMergeCommand(args: string[]): Promise<number> {
  let out = '';
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--out' || a === '-o') out = resolve(takeValue(args, i++, a, DATA_USAGE));
    else if (a.startsWith('--')) throw new MagicPortraitError(`Unexpected argument '${a}'\n${DATA_USAGE}`, 'bad-argument');
    else dirs.push(a);
  }
  if (!out) throw new MagicPortraitError(`data-merge needs --out.\n${DATA_USAGE}`, 'bad-argument');
  const s = mergeData(out, dirs, (l) => console.log(l));
  console.log(`data-merge: ${s.clips} complete clip(s) in ${out} (${s.moved} moved, ${s.alreadyThere} already there) → report.html, dataset.json`);
  if (s.incomplete.length) console.error(`  incomplete (not merged; run their shard again): ${s.incomplete.join(', ')}`);
  return s.incomplete.length ? 1 : 0;
}
