/**
 * Per-pair result files and the results table (JSON + CSV) that `eval` / `eval-merge` write.
 *
 * `<out>/pairs/<id>.json` holds one finished pair (written atomically: temp file + rename, so a killed run leaves
 * either the whole file or none). The table files contain only the numbers and the protocol, never timestamps or
 * hosts, so the same pairs give byte-identical tables however they were sharded.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MagicPortraitError } from '../../errors';
import { writeFileAtomic } from '../../io/temp-files';
import { openNpz, toFloat32 } from '../../io';
import { resultFromJson, type MetricsResult } from '../evaluate';
import { frechetDistanceFromFeatures } from '../frechet';
import { METRIC_IDS, jsonNumber, meanDefined, type MetricId } from '../types';
import type { LoadedManifest } from './manifest';

export const PAIR_FORMAT = 'magicportrait-eval-pair';
export const TABLE_FORMAT = 'magicportrait-eval-table';

/** What a finished pair's file holds. */
export interface PairRecord {
  format: typeof PAIR_FORMAT;
  version: 1;
  id: string;
  index: number;
  mode: 'self' | 'cross';
  /** Digest of everything the numbers depend on (file contents, options, weights, stage versions). */
  key: string;
  inputs: Record<string, unknown>;
  result: unknown;
  computedAt: string;
  durationMs: number;
  host: string;
  pid: number;
  shard: string;
}

export { writeFileAtomic };

export const pairFile = (out: string, id: string) => join(out, 'pairs', `${id}.json`);
/** FID feature vectors of a pair (written before its .json, so a finished pair always has them). */
export const featuresFile = (out: string, id: string) => join(out, 'pairs', `${id}.features.npz`);
/** FVD clip feature vectors of a pair (likewise written before its .json). */
export const clipFeaturesFile = (out: string, id: string) => join(out, 'pairs', `${id}.fvd-features.npz`);

/** Reads a pair's generated / target feature matrices (rows × dim). */
async function readFeaturePair(file: string): Promise<{ rows: number; dim: number; generated: Float32Array; target: Float32Array }> {
  const npz = await openNpz(file);
  try {
    const g = await npz.get('generated'), t = await npz.get('target');
    return { rows: g.shape[0]!, dim: g.shape[1]!, generated: toFloat32(g), target: toFloat32(t) };
  } finally {
    await npz.close();
  }
}

function concatRows(parts: Float32Array[]): Float32Array {
  const o = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    o.set(p, off);
    off += p.length;
  }
  return o;
}

export function readPairRecord(path: string): PairRecord | null {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as PairRecord;
    return r.format === PAIR_FORMAT && typeof r.id === 'string' ? r : null;
  } catch {
    return null;
  }
}

/** Every finished pair under `<dir>/pairs/` of each dir (temp files of interrupted or running writes are ignored). */
export function collectPairRecords(dirs: readonly string[]): Map<string, PairRecord & { dir: string }> {
  const out = new Map<string, PairRecord & { dir: string }>();
  for (const dir of dirs) {
    const pdir = join(dir, 'pairs');
    if (!existsSync(pdir)) continue;
    for (const name of readdirSync(pdir).sort()) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const rec = readPairRecord(join(pdir, name));
      if (!rec) continue;
      const prev = out.get(rec.id);
      if (prev && prev.key !== rec.key)
        throw new MagicPortraitError(`Pair '${rec.id}' has different results in two folders (${dir} and an earlier one): were they run with different inputs?`, 'bad-argument');
      out.set(rec.id, { ...rec, dir });
    }
  }
  return out;
}

export interface TableRow {
  id: string;
  mode: 'self' | 'cross';
  frames: number;
  values: Partial<Record<MetricId, number | string | null>>;
}

export interface EvalTable {
  format: typeof TABLE_FORMAT;
  version: 1;
  name: string;
  metrics: readonly MetricId[];
  /** One row per finished pair, in manifest order. */
  rows: TableRow[];
  /**
   * Per mode: the mean of the per-pair values (pairs lacking a metric are left out of its mean); except FID (self),
   * which is the Fréchet distance of the features pooled over every compared frame of every self pair that has them,
   * and FVD (self), pooled likewise over every clip (also of pairs with a single clip, too few for a per-pair FVD).
   */
  aggregate: Record<'self' | 'cross', { pairs: number; values: Partial<Record<MetricId, number | string | null>> }>;
  /** Why metrics are absent, per pair. */
  absent: Record<string, Partial<Record<MetricId, string>>>;
  notes: Record<string, string[]>;
  /** How aggregates were formed, where not a plain mean. */
  aggregateNotes: string[];
  /** Manifest pairs without a result (not yet run, failed, or in another shard's folder). */
  missing: string[];
}

/** Builds the table from finished pairs (in manifest order when a manifest is given, else by index then id). */
export async function buildTable(records: Map<string, PairRecord & { dir?: string }>, manifest: LoadedManifest | null): Promise<{ table: EvalTable; results: Map<string, MetricsResult> }> {
  const order = manifest
    ? manifest.pairs.map((p) => p.id)
    : [...records.values()].sort((a, b) => a.index - b.index || (a.id < b.id ? -1 : 1)).map((r) => r.id);
  const results = new Map<string, MetricsResult>();
  const table: EvalTable = {
    format: TABLE_FORMAT,
    version: 1,
    name: manifest?.name ?? 'evaluation',
    metrics: METRIC_IDS,
    rows: [],
    aggregate: { self: { pairs: 0, values: {} }, cross: { pairs: 0, values: {} } },
    absent: {},
    notes: {},
    aggregateNotes: [],
    missing: [],
  };
  const sums: Record<'self' | 'cross', Partial<Record<MetricId, number[]>>> = { self: {}, cross: {} };
  for (const id of order) {
    const rec = records.get(id);
    if (!rec) {
      table.missing.push(id);
      continue;
    }
    const r = resultFromJson(rec.result);
    results.set(id, r);
    const values: TableRow['values'] = {};
    for (const m of METRIC_IDS) {
      const v = r.summary[m];
      if (v === undefined) continue;
      values[m] = jsonNumber(v);
      (sums[rec.mode][m] ??= []).push(v);
    }
    table.rows.push({ id, mode: rec.mode, frames: r.frames, values });
    if (Object.keys(r.absent).length) table.absent[id] = r.absent;
    if (r.notes.length) table.notes[id] = r.notes;
    table.aggregate[rec.mode].pairs++;
  }
  for (const mode of ['self', 'cross'] as const)
    for (const m of METRIC_IDS) {
      const v = sums[mode][m];
      if (v?.length) table.aggregate[mode].values[m] = jsonNumber(meanDefined(v));
    }
  // FID over the whole self set: pool the per-frame features of the pairs.
  const withFid = table.rows.filter((r) => r.mode === 'self' && r.values.fid !== undefined);
  if (withFid.length) {
    const gen: Float32Array[] = [], tgt: Float32Array[] = [];
    let dim = 0, n = 0;
    for (const r of withFid) {
      const rec = records.get(r.id)!;
      const file = rec.dir ? featuresFile(rec.dir, r.id) : '';
      if (!file || !existsSync(file)) {
        gen.length = 0;
        break;
      }
      const npz = await openNpz(file);
      try {
        const g = await npz.get('generated'), t = await npz.get('target');
        dim = g.shape[1]!;
        gen.push(toFloat32(g));
        tgt.push(toFloat32(t));
        n += g.shape[0]!;
      } finally {
        await npz.close();
      }
    }
    if (gen.length && n >= 2) {
      const cat = (parts: Float32Array[]) => {
        const o = new Float32Array(n * dim);
        let off = 0;
        for (const p of parts) o.set(p, (off += p.length) - p.length);
        return o;
      };
      table.aggregate.self.values.fid = jsonNumber(frechetDistanceFromFeatures(cat(gen), n, cat(tgt), n, dim));
      table.aggregateNotes.push(`FID (self) is pooled over ${n} frames of ${withFid.length} pair(s), not a mean of per-pair FIDs`);
    } else table.aggregateNotes.push('FID (self) is the mean of per-pair FIDs (feature files missing)');
  }
  await poolFvd(table, records, results);
  return { table, results };
}

/** FVD over the whole self set: the clip features of every self pair that computed them. */
async function poolFvd(table: EvalTable, records: Map<string, PairRecord & { dir?: string }>, results: Map<string, MetricsResult>): Promise<void> {
  const withClips = table.rows.filter((r) => r.mode === 'self' && (results.get(r.id)?.details.fvdClips ?? 0) > 0);
  if (!withClips.length) return;
  const gen: Float32Array[] = [], tgt: Float32Array[] = [];
  let dim = 0, n = 0;
  for (const r of withClips) {
    const rec = records.get(r.id)!;
    const file = rec.dir ? clipFeaturesFile(rec.dir, r.id) : '';
    const f = file && existsSync(file) ? await readFeaturePair(file) : null;
    if (!f || f.rows !== results.get(r.id)!.details.fvdClips || (dim && f.dim !== dim)) {
      delete table.aggregate.self.values.fvd;
      table.aggregateNotes.push(`FVD (self) not pooled: the clip features of pair '${r.id}' are missing or do not match its result`);
      return;
    }
    dim = f.dim;
    n += f.rows;
    gen.push(f.generated);
    tgt.push(f.target);
  }
  if (n < 2) {
    table.aggregateNotes.push(`FVD (self) needs at least 2 clips over the self pairs, got ${n}`);
    return;
  }
  table.aggregate.self.values.fvd = jsonNumber(frechetDistanceFromFeatures(concatRows(gen), n, concatRows(tgt), n, dim));
  table.aggregateNotes.push(`FVD (self) is pooled over ${n} clips of ${withClips.length} pair(s), not a mean of per-pair FVDs`);
}

const csvCell = (v: unknown) => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** CSV: one row per pair, then `mean(self)` / `mean(cross)`; numbers in full precision, ∞ as "inf", absent empty. */
export function tableCsv(t: EvalTable): string {
  const lines = [['id', 'mode', 'frames', ...t.metrics].join(',')];
  for (const r of t.rows) lines.push([r.id, r.mode, r.frames, ...t.metrics.map((m) => r.values[m])].map(csvCell).join(','));
  for (const mode of ['self', 'cross'] as const) {
    const a = t.aggregate[mode];
    if (a.pairs) lines.push([`mean(${mode})`, mode, '', ...t.metrics.map((m) => a.values[m])].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

export function writeTableFiles(out: string, t: EvalTable): void {
  writeFileAtomic(join(out, 'results.json'), JSON.stringify(t, null, 1) + '\n');
  writeFileAtomic(join(out, 'results.csv'), tableCsv(t));
}
