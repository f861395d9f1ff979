/**
 * `magicportrait models scan|import`: the Model manager's steps on the command line (the VS Code panel runs these
 * same commands with --json and reads one ManagerEvent per stdout line).
 *
 *   models.json: { "folders": { "magicportrait": "pre_trained/ckpts", "sd15": "…", "vae": "…", "flame": "…", "deca": "…" },
 *                  "out": "bundles/magicportrait", "precision": "fp16" }      (relative paths: from the config's folder)
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { CancelledError, MagicPortraitError } from '../errors';
import { fmtBytes } from '../diffusion/import';
import { estimateScan, importAll, scanModelFolders } from './manager';
import { folderSpecs } from './steps';
import type { ManagerEvent, ModelConfig, ScanResult } from '../../shared/model-manager';

export const MODELS_USAGE = `  magicportrait models scan (--config models.json | --config-json JSON) [--no-estimate] [--json]
                                                              what is found and missing per folder, and the disk/memory estimate
  magicportrait models import (--config models.json | --config-json JSON) [--out DIR] [--precision fp32|fp16] [--json]
                                                              import every ready step into the model bundle (incremental:
                                                              unchanged sources are kept); folder ids: ${folderSpecs().map((f) => f.id).join(', ')}`;

/** Reads a config and makes its paths absolute (relative ones are from the config file's folder). */
export function loadModelConfig(raw: unknown, baseDir: string, where: string): ModelConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new MagicPortraitError(`${where}: the config must be a JSON object with "folders".`, 'bad-config');
  const c = raw as Record<string, unknown>;
  const folders = c.folders ?? {};
  if (typeof folders !== 'object' || Array.isArray(folders)) throw new MagicPortraitError(`${where}: "folders" must map folder ids to paths.`, 'bad-config');
  const known = new Set(folderSpecs().map((f) => f.id));
  const abs = (p: unknown, key: string) => {
    if (p === undefined || p === null || p === '') return undefined;
    if (typeof p !== 'string') throw new MagicPortraitError(`${where}: ${key} must be a path string.`, 'bad-config');
    return isAbsolute(p) ? p : resolve(baseDir, p);
  };
  const out: ModelConfig = { folders: {} };
  for (const [k, v] of Object.entries(folders as Record<string, unknown>)) {
    if (!known.has(k)) throw new MagicPortraitError(`${where}: unknown folder id '${k}' (known: ${[...known].join(', ')}).`, 'bad-config');
    out.folders[k] = abs(v, `folders.${k}`);
  }
  out.out = abs(c.out, 'out');
  if (c.precision !== undefined) out.precision = c.precision as ModelConfig['precision'];
  if (typeof c.architecture === 'string') out.architecture = abs(c.architecture, 'architecture');
  else if (c.architecture !== undefined) out.architecture = c.architecture as Record<string, unknown>;
  return out;
}

function parseArgs(args: string[]): { config: ModelConfig; json: boolean; noEstimate: boolean } {
  let config: ModelConfig | undefined;
  let json = false;
  let noEstimate = false;
  const over: Partial<ModelConfig> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new MagicPortraitError(`${a} needs a value\n${MODELS_USAGE}`);
      return v;
    };
    if (a === '--json') json = true;
    else if (a === '--no-estimate') noEstimate = true;
    else if (a === '--config') {
      const p = resolve(value());
      if (!existsSync(p)) throw new MagicPortraitError(`Config ${p} does not exist.`, 'missing-file');
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(p, 'utf8'));
      } catch (e) {
        throw new MagicPortraitError(`Config ${p} is not valid JSON: ${(e as Error).message}`, 'bad-config');
      }
      config = loadModelConfig(raw, dirname(p), p);
    } else if (a === '--config-json') {
      let raw: unknown;
      const v = value();
      try {
        raw = JSON.parse(v);
      } catch (e) {
        throw new MagicPortraitError(`--config-json is not valid JSON: ${(e as Error).message}`, 'bad-config');
      }
      config = loadModelConfig(raw, process.cwd(), '--config-json');
    } else if (a === '--out') over.out = resolve(value());
    else if (a === '--precision') over.precision = value() as ModelConfig['precision'];
    else throw new MagicPortraitError(`Unexpected argument '${a}'\n${MODELS_USAGE}`);
  }
  if (!config) throw new MagicPortraitError(`magicportrait models needs --config FILE or --config-json JSON\n${MODELS_USAGE}`);
  return { config: { ...config, ...over }, json, noEstimate };
}

/** One event per stdout line (console.log: a single write per line, so lines never interleave). */
const emit = (e: ManagerEvent) => console.log(JSON.stringify(e));

export function formatScan(s: ScanResult): string {
  const lines: string[] = [];
  for (const f of s.folders) {
    lines.push(`${f.label}: ${f.dir ?? '(not set)'}${f.status === 'not-a-folder' ? ' — NOT A FOLDER' : ''}`);
    if (f.status === 'unset') continue;
    for (const x of f.files) lines.push(`  ${x.path ? 'found  ' : x.required ? 'MISSING' : 'absent '} ${x.found ?? x.name}${x.bytes !== undefined ? `  ${fmtBytes(x.bytes)}` : x.required ? '' : '  (optional)'}`);
  }
  lines.push('');
  for (const st of s.steps) {
    const est = st.estimate ? ` — ${st.estimate.exact ? '' : '≤ '}${fmtBytes(st.estimate.diskBytes)} disk, ${st.estimate.exact ? '' : '≤ '}${fmtBytes(st.estimate.peakMemoryBytes)} memory` : '';
    lines.push(`${st.status === 'ready' ? 'READY     ' : st.status === 'unset' ? 'not set   ' : 'INCOMPLETE'} ${st.label}${est}${st.estimateError ? ` — ${st.estimateError}` : ''}`);
    for (const m of st.status === 'incomplete' ? st.missing : []) lines.push(`             missing ${m}`);
  }
  if (s.estimate) lines.push(`\nImport needs about ${fmtBytes(s.estimate.diskBytes)} of disk and ${fmtBytes(s.estimate.peakMemoryBytes)} of memory (one step at a time).`);
  return lines.join('\n');
}

async function cmdScan(args: string[]): Promise<number> {
  const { config, json, noEstimate } = parseArgs(args);
  let s = scanModelFolders(config.folders);
  if (!noEstimate) s = await estimateScan(s, config);
  if (json) emit({ type: 'scan', scan: s });
  else console.log(formatScan(s));
  return s.steps.some((x) => x.status === 'ready') ? 0 : 1;
}

async function cmdImport(args: string[]): Promise<number> {
  const { config, json } = parseArgs(args);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // --json: the caller (the VS Code panel) cancels with a line "cancel" on stdin, which works on every platform.
  const rl = json ? createInterface({ input: process.stdin }) : undefined;
  rl?.on('line', (l) => l.trim() === 'cancel' && ac.abort());
  let last = 0;
  try {
    const r = await importAll(config, {
      signal: ac.signal,
      onProgress: (p) => {
        if (json) return emit({ type: 'progress', ...p });
        if (Date.now() - last < 1000 && p.fraction < 1) return;
        last = Date.now();
        console.log(`[${(100 * p.fraction).toFixed(0).padStart(3)}%] ${p.message}`);
      },
    });
    if (json) emit({ type: 'result', result: r });
    else {
      for (const s of r.steps) console.log(`\n${s.label}: ${s.status}\n${s.record.report}`);
      for (const s of r.skipped) console.log(`\n${s.label}: not imported — missing ${s.missing.join('; ')}`);
      console.log(`\nKey coverage: ${r.coverage.accounted}/${r.coverage.keys} keys accounted for (${r.coverage.percent.toFixed(1)}%), ${r.coverage.unexpected} unexpected`);
      console.log(`Model bundle: ${r.dir}`);
    }
    return r.steps.every((s) => s.record.complete) ? 0 : 1;
  } catch (e) {
    if (json && e instanceof MagicPortraitError) {
      emit({ type: 'error', message: e.message, code: e.code });
      return e instanceof CancelledError ? 130 : 2;
    }
    if (e instanceof CancelledError) {
      console.error(`magicportrait: ${e.message} The bundle has no manifest; steps that finished are reused next time.`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    rl?.close();
  }
}

export async function modelsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'scan') return cmdScan(rest);
  if (sub === 'import') return cmdImport(rest);
  throw new MagicPortraitError(`magicportrait models needs 'scan', 'import' or 'download'\n${MODELS_USAGE}`);
}
