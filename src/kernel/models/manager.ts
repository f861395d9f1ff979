/**
 * The model manager service: scan the user's folders (found / missing, sizes), estimate disk and memory from the
 * checkpoint headers, and import every ready step into one model bundle:
 *
 *   <out>/manifest.json        format 'magicportrait.model-bundle': steps, sources (SHA-256), coverage — written LAST
 *   <out>/<step>/…             the step's outputs (diffusion/ is a diffusion bundle, flame/ the FLAME files, deca/ …)
 *   <out>/<step>/.import.json  the step's record: source hashes + options it was built from, outputs, coverage
 *
 * Re-import is incremental: a step whose sources hash the same (and whose options are the same) and whose outputs
 * are intact is kept; any other step is rebuilt from an empty folder. Cancelling (AbortSignal) or a failure removes
 * the step being built; the top manifest is removed when an import starts and written only when every step is done,
 * so an interrupted import never looks complete, while the steps it finished are reused by the next run.
 * Used by the CLI (`magicportrait models …`) and by the VS Code panel through that CLI (JSON lines).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import { sha256File } from '../gge/import';
import { fmtBytes } from '../diffusion/import';
import { scanFolder } from './folders';
import { type ModelStep, MODEL_STEPS, type StepFolders, folderSpecs } from './steps';
export type * from '../../shared/model-manager';
import type { CoverageRow, CoverageSummary, ImportAllResult, ManagerProgress, ModelBundleManifest, ModelConfig, Precision, ScanResult, SourceRecord, StepRecord, StepScan } from '../../shared/model-manager';

export const MODEL_BUNDLE_FORMAT = 'magicportrait.model-bundle' as const;
export const MODEL_BUNDLE_VERSION = 1 as const;
export const MODEL_MANIFEST = 'manifest.json';
export const STEP_RECORD = '.import.json';

export interface ImportAllOptions {
  onProgress?: (p: ManagerProgress) => void;
  signal?: AbortSignal;
  steps?: readonly ModelStep[];
}

// ------------------------------------------------------------------------------------------------------------------
// Scan and estimate

/** Found / missing per folder and per step, from names and sizes only (nothing is parsed). */
export function scanModelFolders(folders: ModelConfig['folders'], steps: readonly ModelStep[] = MODEL_STEPS): ScanResult {
  const scans = folderSpecs(steps).map((spec) => scanFolder(spec, folders[spec.id]));
  const byId = new Map(scans.map((s) => [s.id, s]));
  return {
    folders: scans,
    steps: steps.map((step) => {
      const mine = step.folders.map((f) => byId.get(f.id)!);
      const missing = mine.flatMap((s) =>
        s.status === 'unset' || s.status === 'not-a-folder'
          ? [`${s.label}: ${s.status === 'unset' ? 'no folder given' : `${s.dir} is not a folder`}`]
          : s.files.filter((x) => x.required && !x.path).map((x) => `${s.label}: ${x.name}`),
      );
      const status = mine.every((s) => s.status === 'complete') ? 'ready' : mine.every((s) => s.status === 'unset') ? 'unset' : 'incomplete';
      return { id: step.id, label: step.label, folders: mine.map((s) => s.id), status, missing, usesPrecision: step.usesPrecision };
    }),
  };
}

function stepFolders(scan: ScanResult, step: ModelStep): StepFolders {
  return Object.fromEntries(step.folders.map((f) => [f.id, scan.folders.find((s) => s.id === f.id)!]));
}

/** Reads the architecture overrides (a JSON file or an object), keyed by step id. */
export function architectureOverrides(a: ModelConfig['architecture'], baseDir = process.cwd()): Record<string, unknown> {
  if (!a) return {};
  if (typeof a !== 'string') return a;
  const p = resolve(baseDir, a);
  if (!existsSync(p)) throw new MagicPortraitError(`Architecture file ${p} does not exist.`, 'missing-file');
  try {
    const o = JSON.parse(readFileSync(p, 'utf8'));
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('not an object keyed by step id');
    return o;
  } catch (e) {
    throw new MagicPortraitError(`Architecture file ${p}: ${(e as Error).message}`, 'bad-config');
  }
}

/** Adds the disk/memory estimate (from headers) to every ready step of `scan`, and the total. */
export async function estimateScan(scan: ScanResult, config: Pick<ModelConfig, 'precision' | 'architecture'>, steps: readonly ModelStep[] = MODEL_STEPS): Promise<ScanResult> {
  const arch = architectureOverrides(config.architecture);
  const precision = checkPrecision(config.precision);
  const out: StepScan[] = [];
  for (const s of scan.steps) {
    const step = steps.find((x) => x.id === s.id)!;
    if (s.status !== 'ready') {
      out.push(s);
      continue;
    }
    try {
      out.push({ ...s, estimate: await step.estimate(stepFolders(scan, step), precision, arch[s.id]) });
    } catch (e) {
      if (!(e instanceof MagicPortraitError)) throw e;
      out.push({ ...s, estimateError: e.message });
    }
  }
  const est = out.filter((s) => s.estimate).map((s) => s.estimate!);
  const estimate = est.length
    ? { diskBytes: est.reduce((a, e) => a + e.diskBytes, 0), peakMemoryBytes: Math.max(...est.map((e) => e.peakMemoryBytes)), exact: est.every((e) => e.exact) }
    : undefined;
  return { ...scan, steps: out, estimate };
}

function checkPrecision(p: unknown): Precision {
  if (p === undefined) return 'fp32';
  if (p !== 'fp32' && p !== 'fp16') throw new MagicPortraitError(`precision must be 'fp32' or 'fp16', got '${String(p)}'.`, 'bad-config');
  return p;
}

// ------------------------------------------------------------------------------------------------------------------
// Bundle records

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = join(dirname(path), `.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

function readRecord(path: string): StepRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as StepRecord;
  } catch {
    return undefined;
  }
}

/** Every file under `dir` except the step record. */
function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : e.name === STEP_RECORD ? [] : [join(dir, e.name)]));
}

/** A record still describes what is on disk: every output there with its size. */
function intact(out: string, r: StepRecord): boolean {
  return r.outputs.length > 0 && r.outputs.every((o) => existsSync(join(out, o.path)) && statSync(join(out, o.path)).size === o.bytes);
}

/** The steps to (re)build must fit on the bundle's disk (estimate from the headers), checked before anything is written. */
function checkFreeSpace(out: string, needed: number): void {
  const fs = statfsSync(out);
  const free = fs.bavail * fs.bsize;
  if (free < needed) throw new MagicPortraitError(`${out}: ${fmtBytes(free)} free, the import needs about ${fmtBytes(needed)}.`, 'no-space');
}

/** A step folder is emptied before it is rebuilt: never one that is not ours, nor one holding the sources. */
function guardStepFolder(dir: string, sources: SourceRecord[]): void {
  const inside = sources.find((s) => !relative(dir, s.path).startsWith('..'));
  if (inside) throw new MagicPortraitError(`${inside.path} is inside ${dir}, which the import rebuilds: choose a bundle folder apart from the downloads.`, 'bad-config');
  if (existsSync(dir) && !existsSync(join(dir, STEP_RECORD)) && readdirSync(dir).length)
    throw new MagicPortraitError(`${dir} exists and is not a step of a model bundle (no ${STEP_RECORD}); choose an empty or new bundle folder.`, 'bad-config');
}

export function summarizeCoverage(rows: CoverageRow[]): CoverageSummary {
  const withKeys = rows.filter((r) => r.total !== undefined);
  const keys = withKeys.reduce((a, r) => a + r.total!, 0);
  const unexpected = withKeys.reduce((a, r) => a + (r.unexpected ?? 0), 0);
  const accounted = keys - unexpected;
  return { keys, accounted, unexpected, percent: keys ? (100 * accounted) / keys : 100 };
}

/** Reads a model bundle's manifest (undefined when the bundle is absent or its import did not finish). */
export function readModelBundle(dir: string): ModelBundleManifest | undefined {
  const p = join(resolve(dir), MODEL_MANIFEST);
  if (!existsSync(p)) return undefined;
  const m = JSON.parse(readFileSync(p, 'utf8')) as ModelBundleManifest;
  if (m.format !== MODEL_BUNDLE_FORMAT) throw new MagicPortraitError(`${p} is not a model bundle manifest (format '${String(m.format)}').`, 'bad-bundle');
  return m;
}

// ------------------------------------------------------------------------------------------------------------------
// Import

/**
 * Imports every ready step of `config` into `config.out`. Steps with missing files are reported in `skipped`; with
 * no ready step at all, a MagicPortraitError says what is missing.
 */
export async function importAll(config: ModelConfig, opts: ImportAllOptions = {}): Promise<ImportAllResult> {
  const steps = opts.steps ?? MODEL_STEPS;
  const signal = opts.signal ?? new AbortController().signal;
  const report = opts.onProgress ?? (() => {});
  const progress = (p: ManagerProgress) => {
    if (signal.aborted) throw new CancelledError('import');
    report(p);
  };
  if (!config.out?.trim()) throw new MagicPortraitError('No bundle folder given: set "out" (where the model bundle is written).', 'bad-config');
  const precision = checkPrecision(config.precision);
  const arch = architectureOverrides(config.architecture);
  const out = resolve(config.out);
  const scan = scanModelFolders(config.folders, steps);
  const ready = scan.steps.filter((s) => s.status === 'ready');
  const skipped = scan.steps.filter((s) => s.status !== 'ready').map((s) => ({ id: s.id, label: s.label, missing: s.missing }));
  if (!ready.length) throw new MagicPortraitError(`Nothing to import: no step has all its files.\n${skipped.map((s) => `  ${s.label}: ${s.missing.join('; ')}`).join('\n')}`, 'missing-file');

  progress({ fraction: 0, message: 'estimating disk and memory from the checkpoint headers' });
  const estimated = await estimateScan(scan, { precision, architecture: arch }, steps);
  const bad = estimated.steps.find((s) => s.estimateError);
  if (bad) throw new MagicPortraitError(`${bad.label}: ${bad.estimateError}`, 'bad-file');
  mkdirSync(out, { recursive: true });

  // Hash every source once: the re-import key, and the provenance in the manifest.
  const sources = new Map<string, SourceRecord[]>();
  const allFiles = ready.flatMap((s) => s.folders.flatMap((fid) => scan.folders.find((f) => f.id === fid)!.files.filter((x) => x.path).map((x) => ({ step: s.id, folder: fid, x }))));
  const totalBytes = allFiles.reduce((a, f) => a + f.x.bytes!, 0) || 1;
  let hashed = 0;
  const hashCache = new Map<string, string>();
  for (const { step, folder, x } of allFiles) {
    progress({ fraction: (0.1 * hashed) / totalBytes, step, message: `SHA-256 of ${x.path}` });
    let h = hashCache.get(x.path!);
    if (!h) hashCache.set(x.path!, (h = await sha256File(x.path!)));
    hashed += x.bytes!;
    sources.set(step, [...(sources.get(step) ?? []), { folder, file: x.found!, path: x.path!, bytes: x.bytes!, sha256: h }]);
  }

  const keyOf = (step: ModelStep) =>
    createHash('sha256')
      .update(JSON.stringify({ step: step.id, version: MODEL_BUNDLE_VERSION, sources: sources.get(step.id)!.map((s) => [s.folder, s.file, s.sha256]), precision: step.usesPrecision ? precision : null, arch: arch[step.id] ?? null }))
      .digest('hex');
  const plan = ready.map((s) => {
    const step = steps.find((x) => x.id === s.id)!;
    const key = keyOf(step);
    const prev = readRecord(join(out, step.id, STEP_RECORD));
    const unchanged = !!prev && prev.key === key && intact(out, prev);
    return { step, key, prev, unchanged, weight: unchanged ? 0 : sources.get(step.id)!.reduce((a, s) => a + s.bytes, 0) };
  });
  checkFreeSpace(out, plan.filter((p) => !p.unchanged).reduce((a, p) => a + (estimated.steps.find((s) => s.id === p.step.id)!.estimate?.diskBytes ?? 0), 0));
  // from here on the bundle is being changed: it must not look complete until the new manifest is written
  rmSync(join(out, MODEL_MANIFEST), { force: true });
  const runWeight = plan.reduce((a, p) => a + p.weight, 0) || 1;
  let done = 0;
  const results: ImportAllResult['steps'] = [];
  for (const p of plan) {
    const { step } = p;
    if (p.unchanged) {
      progress({ fraction: 0.1 + (0.9 * done) / runWeight, step: step.id, message: `${step.label}: unchanged (same source hashes), kept` });
      results.push({ id: step.id, label: step.label, status: 'unchanged', record: p.prev! });
      continue;
    }
    const dir = join(out, step.id);
    guardStepFolder(dir, sources.get(step.id)!);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    // marks the folder as ours while it is built (a killed process leaves it rebuildable, never "unchanged")
    writeJsonAtomic(join(dir, STEP_RECORD), { step: step.id, key: '', inProgress: true });
    try {
      const stepProgress = (f: number, message: string) => progress({ fraction: 0.1 + (0.9 * (done + Math.min(1, Math.max(0, f)) * p.weight)) / runWeight, step: step.id, message });
      stepProgress(0, `${step.label}: importing`);
      const o = await step.run(stepFolders(scan, step), { dir, precision, arch: arch[step.id], signal, hashes: hashCache, progress: stepProgress });
      if (signal.aborted) throw new CancelledError('import');
      const record: StepRecord = {
        step: step.id,
        label: step.label,
        key: p.key,
        ...(step.usesPrecision ? { precision } : {}),
        sources: sources.get(step.id)!,
        outputs: listFiles(dir).map((f) => ({ path: relative(out, f).split('\\').join('/'), bytes: statSync(f).size })),
        coverage: o.coverage,
        report: o.report,
        complete: o.complete,
        importedAt: new Date().toISOString(),
      };
      writeJsonAtomic(join(dir, STEP_RECORD), record);
      results.push({ id: step.id, label: step.label, status: 'imported', record });
    } catch (e) {
      // a half-built step is removed: nothing of it can be mistaken for an import
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    done += p.weight;
  }
  const manifest: ModelBundleManifest = {
    format: MODEL_BUNDLE_FORMAT,
    version: MODEL_BUNDLE_VERSION,
    createdAt: new Date().toISOString(),
    precision,
    steps: Object.fromEntries(results.map((r) => [r.id, r.record])),
  };
  if (signal.aborted) throw new CancelledError('import');
  writeJsonAtomic(join(out, MODEL_MANIFEST), manifest);
  report({ fraction: 1, message: `model bundle written to ${out}` });
  return { dir: out, manifest, steps: results, skipped, coverage: summarizeCoverage(results.flatMap((r) => r.record.coverage)), estimate: estimated.estimate };
}
