/**
 * Batch evaluation: the self- and cross-reenactment protocol over a manifest of pairs, sharded across machines
 * (`--shard i/N`, e.g. a Kubernetes Indexed Job) and/or local processes (`--workers K`), resumable, merged into one
 * table + report.
 *
 * Every pair is evaluated independently by the same code with the same settings (ONNX Runtime with a fixed number
 * of intra-op threads per process, 1 by default), so the numbers do not depend on how the pairs were split.
 * A finished pair is written atomically to `<out>/pairs/<id>.json` together with a key over everything its numbers
 * depend on; a re-run skips pairs whose file has the current key, so an interrupted run only computes what is
 * missing. The per-stage cache (`<out>/cache` by default) additionally keeps stage results (e.g. the reference
 * embedding shared by many pairs) across runs.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MagicPortraitError } from '../../errors';
import { configure } from '../../settings';
import { StageCache } from '../../io/stage-cache';
import { contentHash } from '../../io/content-hash';
import { evaluate, fileDigest, METRICS_STAGE_VERSION, resultToJson, type ClipFeatureNetwork, type FeatureNetwork } from '../evaluate';
import { identityModelKey } from '../identity';
import { Lpips, type LpipsWeights } from '../nets/lpips';
import { InceptionFeatures } from '../nets/inception';
import { I3dFeatures } from '../nets/i3d';
import { NdArray, writeNpz } from '../../io';
import type { PaperRow } from '../paper';
import { inShard, readManifest, subShards, type LoadedManifest, type ResolvedPair, type Shard } from './manifest';
import { renderReport } from './report';
import { buildTable, collectPairRecords, clipFeaturesFile, featuresFile, pairFile, readPairRecord, writeFileAtomic, writeTableFiles, PAIR_FORMAT, type EvalTable, type PairRecord } from './table';

export interface EvalRunOptions {
  /** Path of the manifest (workers re-read it) or an already loaded one (in-process runs only). */
  manifest: string | LoadedManifest;
  /** Output folder: pairs/, shards/, cache/, results.{json,csv}, report.html. */
  out: string;
  /** This process's share (default 0/1: every pair). */
  shard?: Shard;
  /** Local worker processes (default 1: evaluate in this process). */
  workers?: number;
  /** Stage cache folder (default <out>/cache); null: no stage cache. */
  cacheDir?: string | null;
  /** LPIPS weights (overrides the manifest's options.lpips); must be file paths with workers. */
  lpips?: LpipsWeights | null;
  /** FID: the Inception weights path (overrides the manifest's options.fid), or a feature network (in-process runs); null: no FID. */
  fid?: string | FeatureNetwork | null;
  /** FVD: the I3D weights path (overrides the manifest's options.fvd), or a clip network (in-process runs); null: no FVD. */
  fvd?: string | ClipFeatureNetwork | null;
  /** ONNX Runtime intra-op threads per process (default 1). */
  threads?: number;
  /** Write results.{json,csv} + report.html at the end (default: when the run covers every pair, i.e. shard 0/1). */
  writeTable?: boolean;
  paperRows?: PaperRow[];
  /** Passed on to worker processes. */
  paperTable?: string;
  log?: (line: string) => void;
}

export interface EvalRunSummary {
  shard: string;
  /** Pair ids of this shard, in manifest order. */
  pairs: string[];
  computed: string[];
  /** Already finished (result file with the current key): not recomputed. */
  skipped: string[];
  failed: { id: string; error: string }[];
  table: EvalTable | null;
}

const shardName = (s: Shard) => `${s.index}/${s.count}`;

/** The key of a pair: file contents, protocol options, LPIPS weights and stage versions. */
async function pairKey(p: ResolvedPair, lpipsKey: unknown, fidKey: unknown, fvdKey: unknown): Promise<string> {
  const ref = typeof p.reference === 'string' ? { file: await fileDigest(p.reference) } : { file: await fileDigest(p.reference.video), frame: p.reference.frame };
  return contentHash({
    format: PAIR_FORMAT,
    stages: METRICS_STAGE_VERSION,
    mode: p.mode,
    generated: await fileDigest(p.generated),
    target: p.target ? await fileDigest(p.target) : null,
    reference: ref,
    flame: p.flame ? { generated: await fileDigest(p.flame.generated), driving: await fileDigest(p.flame.driving) } : null,
    options: p.options,
    lpips: lpipsKey,
    fid: fidKey,
    ...(fvdKey !== null ? { fvd: fvdKey } : {}),
    faceModels: p.options.csim ? identityModelKey() : null,
  });
}

async function lpipsWeightsKey(w: LpipsWeights | null): Promise<unknown> {
  if (!w) return null;
  const key = async (s: unknown) => (typeof s === 'string' ? fileDigest(s) : s instanceof Uint8Array ? contentHash(s) : 'in-memory');
  return { linear: await key(w.linear), backbone: w.backbone ? await key(w.backbone) : null, net: w.net ?? null };
}

/** The CLI entry to start worker processes with (the bundled dist/cli.js, or the TypeScript source under tsx). */
export function cliLaunch(): { entry: string; execArgv: string[] } {
  if (__filename.endsWith('.ts'))
    return { entry: join(__dirname, '..', '..', 'cli', 'main.ts'), execArgv: ['--import', pathToFileURL(require.resolve('tsx')).href] };
  return { entry: join(__dirname, 'cli.js'), execArgv: [] };
}

/** Runs (this shard of) the evaluation. See the file comment. */
export async function runEval(options: EvalRunOptions): Promise<EvalRunSummary> {
  const log = options.log ?? ((l: string) => console.log(l));
  const manifest = typeof options.manifest === 'string' ? readManifest(options.manifest) : options.manifest;
  const out = resolve(options.out);
  const shard = options.shard ?? { index: 0, count: 1 };
  const workers = Math.max(1, Math.floor(options.workers ?? 1));
  const writeTable = options.writeTable ?? shard.count === 1;
  const threads = options.threads ?? 1;
  const lpipsWeights = options.lpips === undefined ? manifest.lpips : options.lpips;
  const fidWeights = options.fid === undefined ? manifest.fid : options.fid;
  const fvdWeights = options.fvd === undefined ? manifest.fvd : options.fvd;
  const mine = manifest.pairs.filter((p) => inShard(p.index, shard));
  const summary: EvalRunSummary = { shard: shardName(shard), pairs: mine.map((p) => p.id), computed: [], skipped: [], failed: [], table: null };

  if (workers > 1) {
    await runWorkers(manifest, out, shard, workers, { ...options, lpips: lpipsWeights, fid: fidWeights, fvd: fvdWeights, threads }, log, summary);
  } else {
    configure({ threads });
    const cache = options.cacheDir === null ? null : new StageCache(options.cacheDir ?? join(out, 'cache'));
    const lkey = await lpipsWeightsKey(lpipsWeights);
    const fkey = !fidWeights ? null : typeof fidWeights === 'string' ? await fileDigest(fidWeights) : (fidWeights.key ?? fidWeights.name);
    let lpips: Lpips | null = null;
    let fid: FeatureNetwork | null = fidWeights && typeof fidWeights !== 'string' ? fidWeights : null;
    let ownFid: InceptionFeatures | null = null;
    const vkey = !fvdWeights ? null : typeof fvdWeights === 'string' ? await fileDigest(fvdWeights) : (fvdWeights.key ?? fvdWeights.name);
    let fvd: ClipFeatureNetwork | null = fvdWeights && typeof fvdWeights !== 'string' ? fvdWeights : null;
    let ownFvd: I3dFeatures | null = null;
    try {
      for (const p of mine) {
        const file = pairFile(out, p.id);
        const key = await pairKey(p, lkey, fkey, vkey);
        const prev = readPairRecord(file);
        if (prev && prev.key === key) {
          summary.skipped.push(p.id);
          log(`[${summary.shard}] ${p.id}: done earlier (${prev.computedAt}), skipped`);
          continue;
        }
        if (prev) log(`[${summary.shard}] ${p.id}: inputs changed since the last run, recomputing`);
        const t0 = Date.now();
        try {
          if (lpipsWeights && !lpips && p.mode === 'self') lpips = await Lpips.load(lpipsWeights);
          if (typeof fidWeights === 'string' && !fid && p.mode === 'self') fid = ownFid = await InceptionFeatures.load(fidWeights);
          if (typeof fvdWeights === 'string' && !fvd && p.mode === 'self') fvd = ownFvd = await I3dFeatures.load(fvdWeights);
          const result = await evaluate(p.generated, p.target, {
            mode: p.mode,
            reference: p.reference,
            step: p.options.step,
            ...(p.options.maxFrames !== null ? { maxFrames: p.options.maxFrames } : {}),
            csim: p.options.csim,
            aedIncludesJaw: p.options.aedIncludesJaw,
            ...(lpips ? { lpips } : {}),
            ...(fid ? { fid } : {}),
            ...(fvd ? { fvd } : {}),
            ...(p.flame ? { flame: p.flame } : {}),
            cache,
          });
          const record: PairRecord = {
            format: PAIR_FORMAT,
            version: 1,
            id: p.id,
            index: p.index,
            mode: p.mode,
            key,
            inputs: { generated: p.generated, target: p.target, reference: p.reference, driving: p.driving, flame: p.flame, options: p.options },
            result: resultToJson(result),
            computedAt: new Date().toISOString(),
            durationMs: Date.now() - t0,
            host: hostname(),
            pid: process.pid,
            shard: summary.shard,
          };
          if (result.features) {
            const { dim, generated, target } = result.features;
            const n = generated.length / dim;
            writeFileAtomic(featuresFile(out, p.id), writeNpz({ generated: new NdArray('float32', [n, dim], generated), target: new NdArray('float32', [n, dim], target) }));
          }
          if (result.clipFeatures) {
            const { dim, generated, target } = result.clipFeatures;
            const n = generated.length / dim;
            writeFileAtomic(clipFeaturesFile(out, p.id), writeNpz({ generated: new NdArray('float32', [n, dim], generated), target: new NdArray('float32', [n, dim], target) }));
          }
          writeFileAtomic(file, JSON.stringify(record, null, 1) + '\n');
          summary.computed.push(p.id);
          log(`[${summary.shard}] ${p.id}: ${result.frames} frames in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        } catch (e) {
          if ((e as MagicPortraitError).code === 'cancelled') throw e;
          const msg = (e as Error).message;
          summary.failed.push({ id: p.id, error: msg });
          log(`[${summary.shard}] ${p.id}: FAILED: ${msg}`);
        }
      }
    } finally {
      if (lpips) await lpips.dispose();
      if (ownFid) await ownFid.dispose();
      if (ownFvd) await ownFvd.dispose();
    }
    writeFileAtomic(
      join(out, 'shards', `shard-${shard.index}-of-${shard.count}.json`),
      JSON.stringify({ shard: summary.shard, pairs: summary.pairs, computed: summary.computed, skipped: summary.skipped, failed: summary.failed, finishedAt: new Date().toISOString(), host: hostname(), pid: process.pid }, null, 1) + '\n',
    );
  }

  if (writeTable) {
    summary.table = (await mergeEval({ dirs: [out], out, manifest, paperRows: options.paperRows, lines: [`Run as ${workers > 1 ? `${workers} local worker processes` : 'one process'}${shard.count > 1 ? `, shard ${summary.shard}` : ''}.`] })).table;
    log(`results: ${join(out, 'results.csv')}, ${join(out, 'report.html')}${summary.table.missing.length ? ` (${summary.table.missing.length} pair(s) missing)` : ''}`);
  }
  return summary;
}

async function runWorkers(
  manifest: LoadedManifest,
  out: string,
  shard: Shard,
  workers: number,
  options: EvalRunOptions & { lpips: LpipsWeights | null; fid: string | FeatureNetwork | null; fvd: string | ClipFeatureNetwork | null; threads: number },
  log: (l: string) => void,
  summary: EvalRunSummary,
): Promise<void> {
  const { entry, execArgv } = cliLaunch();
  const args = (s: Shard) => {
    const a = ['eval', '--manifest', manifest.path, '--out', out, '--shard', shardName(s), '--threads', String(options.threads), '--no-table'];
    if (options.cacheDir === null) a.push('--no-cache');
    else if (options.cacheDir) a.push('--cache', options.cacheDir);
    const w = options.lpips;
    if (w) {
      if (typeof w.linear !== 'string' || (w.backbone !== undefined && typeof w.backbone !== 'string'))
        throw new MagicPortraitError('Worker processes need the LPIPS weights as file paths.', 'bad-argument');
      a.push('--lpips-linear', w.linear);
      if (w.backbone) a.push('--lpips-backbone', w.backbone as string);
      if (w.net) a.push('--lpips-net', w.net);
    } else if (options.lpips === null) a.push('--no-lpips');
    if (options.fid && typeof options.fid !== 'string') throw new MagicPortraitError('Worker processes need the FID weights as a file path.', 'bad-argument');
    if (options.fid) a.push('--fid-weights', options.fid);
    else if (options.fid === null) a.push('--no-fid');
    if (options.fvd && typeof options.fvd !== 'string') throw new MagicPortraitError('Worker processes need the FVD weights as a file path.', 'bad-argument');
    if (options.fvd) a.push('--fvd-weights', options.fvd);
    else if (options.fvd === null) a.push('--no-fvd');
    return a;
  };
  const shards = subShards(shard, workers);
  log(`[${summary.shard}] starting ${workers} worker processes: shards ${shards.map(shardName).join(', ')}`);
  const codes = await Promise.all(
    shards.map(
      (s) =>
        new Promise<number>((resolveExit) => {
          const child = spawn(process.execPath, [...execArgv, entry, ...args(s)], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
          const prefix = (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach((l) => log(`  ${l}`));
          child.stdout!.on('data', prefix);
          child.stderr!.on('data', prefix);
          child.on('error', (e) => {
            log(`worker ${shardName(s)} could not start: ${e.message}`);
            resolveExit(1);
          });
          child.on('close', (code) => resolveExit(code ?? 1));
        }),
    ),
  );
  // Gather what the workers did from their shard files.
  for (const [i, s] of shards.entries()) {
    const rec = readShardSummary(out, s);
    if (!rec) {
      summary.failed.push({ id: `(shard ${shardName(s)})`, error: `worker exited with code ${codes[i]} before finishing` });
      continue;
    }
    summary.computed.push(...rec.computed);
    summary.skipped.push(...rec.skipped);
    summary.failed.push(...rec.failed);
  }
  const order = new Map(manifest.pairs.map((p) => [p.id, p.index]));
  for (const list of [summary.computed, summary.skipped]) list.sort((a, b) => order.get(a)! - order.get(b)!);
}

function readShardSummary(out: string, s: Shard): { computed: string[]; skipped: string[]; failed: { id: string; error: string }[] } | null {
  try {
    return JSON.parse(readFileSync(join(out, 'shards', `shard-${s.index}-of-${s.count}.json`), 'utf8'));
  } catch {
    return null;
  }
}

export interface MergeOptions {
  /** Output folders of the runs to merge (each with a pairs/ folder). */
  dirs: string[];
  /** Where results.{json,csv} and report.html go. */
  out: string;
  /** The manifest: table order and the list of missing pairs (else: the pairs found, by manifest index). */
  manifest?: string | LoadedManifest | null;
  paperRows?: PaperRow[];
  lines?: string[];
}

/** Combines finished pairs from one or more output folders into the table and the HTML report. */
export async function mergeEval(options: MergeOptions): Promise<{ table: EvalTable }> {
  const manifest = typeof options.manifest === 'string' ? readManifest(options.manifest, { checkFiles: false }) : (options.manifest ?? null);
  const records = collectPairRecords(options.dirs.map((d) => resolve(d)));
  if (!records.size) throw new MagicPortraitError(`No finished pairs under ${options.dirs.map((d) => join(d, 'pairs')).join(', ')}.`, 'bad-argument');
  const { table, results } = await buildTable(records, manifest);
  const out = resolve(options.out);
  writeTableFiles(out, table);
  writeFileAtomic(join(out, 'report.html'), renderReport(table, results, { manifest: manifest?.path, lines: options.lines, paperRows: options.paperRows }));
  return { table };
}
