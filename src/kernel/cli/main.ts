/**
 * `magicportrait` command line: run a notebook headless, clean its artifact store, evaluate generated videos.
 *   magicportrait run NOTEBOOK [-p key=value]... [--out DIR]
 *   magicportrait gc NOTEBOOK
 *   magicportrait cache [show|clear] [--dir CACHE_DIR] [--max-gb N]
 *   magicportrait eval --manifest pairs.json [--shard i/N] [--workers K] [--out DIR]
 *   magicportrait eval-merge --out DIR [--manifest pairs.json] [RESULT_DIR...]
 *   magicportrait import-deca deca_model.tar (OUT.onnx | --out DIR)
 *   magicportrait import-smirk SMIRK_em1.pt --out DIR
 *   magicportrait models scan|import --config models.json [--json]
 *   magicportrait models download --to DIR [--only NAME,...]
 *   magicportrait import --sd15 DIR --vae DIR --motion FILE --ckpts DIR --out DIR [--text-embeds FILE.npy] [--precision fp32|fp16]
 *   magicportrait models download --to DIR [--only NAME[,NAME]] [--list]
 *   magicportrait runtime providers | install-cuda
 *   magicportrait synth-data --out DATASET [--identities N] [--clips K] [--frames F] [--size S] [--seed s]
 *   magicportrait prepare-data --videos DIR --out DATASET [--max-frames N] [--workers W] [--shard i/N]
 *   magicportrait data-merge --out DATASET [SHARD_DIR...]
 *   magicportrait infer --config inference.yaml [--bundle DIR] [--out DIR] [--latents FILE.npy]
 */
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KernelClient } from '../runtime/client';
import { ArtifactStore, notebookReferences } from '../runtime/artifacts';
import { parseNotebook } from '../notebook/nbformat';
import { runNotebook } from '../notebook/run-notebook';
import { MagicPortraitError } from '../errors';
import { removeOrphanTemps } from '../io/temp-files';
import { defaultCacheDir } from '../pipeline/cache';
import { EVAL_USAGE, evalCommand, evalMergeCommand } from '../metrics/batch/cli';
import { estimateImport, fmtBytes, importMagicPortrait } from '../diffusion/import';
import { type DiffusionArch, validateArch } from '../diffusion/graph/config';
import { DECA_ENCODER_FILE, importDecaEncoder } from '../perception/deca-encoder';
import { importSmirk } from '../perception/smirk-encoder';
import { MODELS_USAGE, modelsCommand } from '../models/cli';
import { MODELS_DOWNLOAD_USAGE, modelsDownloadCommand } from '../models/download-cli';
import { CACHE_USAGE, cacheCommand } from '../pipeline/cache-cli';
import { RUNTIME_USAGE, runtimeCommand } from '../onnx/cli';
import { DATA_USAGE, dataMergeCommand, prepareDataCommand, synthDataCommand } from './data';
import { INFER_USAGE, inferCommand } from './infer';

const USAGE = `usage:
  magicportrait run NOTEBOOK [-p key=value]... [--out DIR]   run every cell headless; writes DIR/<name>.mpnb and its artifacts
  magicportrait gc NOTEBOOK                                   remove artifacts no output of NOTEBOOK references
${CACHE_USAGE}
  magicportrait import --sd15 DIR --vae DIR --motion FILE --ckpts DIR --out DIR [--text-embeds FILE.npy]
                       [--precision fp32|fp16] [--estimate] [--arch auto|FILE.json]
                                                              build a diffusion bundle from the real checkpoints;
                                                              prints the disk/memory estimate, progress and key coverage
  magicportrait import-deca deca_model.tar (OUT.onnx | --out DIR)
                                                              DECA's coarse encoder E_flame → ONNX (prints key coverage);
                                                              --out DIR writes DIR/${DECA_ENCODER_FILE}
  magicportrait import-smirk SMIRK_em1.pt --out DIR           SMIRK's encoders → DIR/smirk_encoder.onnx (strict key check);
                                                              with import-deca into the same DIR: fit encoder 'deca+smirk'
${INFER_USAGE}
${MODELS_USAGE}
${MODELS_DOWNLOAD_USAGE}
${RUNTIME_USAGE}
${EVAL_USAGE}
${DATA_USAGE}`;

/** The kernel entry next to this file: the bundled dist/kernel.js, or the TypeScript source under tsx. */
export function kernelLaunch(): { entry: string; execArgv: string[] } {
  if (__filename.endsWith('.ts'))
    return { entry: join(__dirname, '..', 'main.ts'), execArgv: ['--import', pathToFileURL(require.resolve('tsx')).href] };
  return { entry: join(__dirname, 'kernel.js'), execArgv: [] };
}

/** `-p key=value`: JSON values (numbers, booleans, quoted strings, arrays) are parsed, anything else is a string. */
export function parseParam(arg: string): [string, unknown] {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new MagicPortraitError(`Parameter '${arg}' must look like key=value`);
  const key = arg.slice(0, eq);
  const raw = arg.slice(eq + 1);
  try {
    return [key, JSON.parse(raw)];
  } catch {
    return [key, raw];
  }
}

async function cmdRun(args: string[]): Promise<number> {
  let notebook: string | undefined;
  let outDir = 'out';
  const params: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-p' || a === '--parameter') {
      const [k, v] = parseParam(args[++i] ?? '');
      params[k] = v;
    } else if (a === '--out' || a === '-o') outDir = args[++i] ?? outDir;
    else if (!notebook) notebook = a;
    else throw new MagicPortraitError(`Unexpected argument '${a}'\n${USAGE}`);
  }
  if (!notebook) throw new MagicPortraitError(USAGE);
  const nbPath = resolve(notebook);
  if (!existsSync(nbPath)) throw new MagicPortraitError(`Notebook not found: ${nbPath}`);
  const outPath = resolve(outDir, basename(nbPath));
  if (samePath(resolve(outDir), dirname(nbPath)))
    throw new MagicPortraitError(`--out ${outDir} is the folder of ${basename(nbPath)}: the executed notebook would overwrite its source. Choose another folder (the default is ./out).`);
  const nb = parseNotebook(readFileSync(nbPath, 'utf8'), nbPath);
  mkdirSync(outDir, { recursive: true });
  // Cells resolve relative paths against the source notebook's folder, as they would in the editor.
  const kernel = new KernelClient({ ...kernelLaunch(), cwd: resolve(nbPath, '..'), env: { MAGICPORTRAIT_NOTEBOOK_DIR: resolve(nbPath, '..') } });
  kernel.on('log', (text: string) => process.stderr.write(text));
  const t0 = Date.now();
  // Ctrl-C (or SIGTERM): the running cell is asked to stop (the kernel is killed if it has not within the grace
  // period), what ran is saved, and the exit code is 130 (143) as for any interrupted command; a second Ctrl-C kills
  // the kernel at once.
  const abort = new AbortController();
  let current = 'the notebook';
  let exitCode = 130;
  const onSignal = (signal: NodeJS.Signals) => {
    exitCode = signal === 'SIGTERM' ? 143 : 130; // 128 + the signal's number, as shells report it
    if (abort.signal.aborted) {
      console.error(`${signal} again: stopping the kernel now.`);
      kernel.kill('interrupt');
      return;
    }
    console.error(`\nInterrupted (${signal}): stopping ${current}…`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const { failed, interrupted } = await runNotebook(nb, {
      kernel,
      outPath,
      parameters: params,
      baseDir: resolve(nbPath, '..'),
      signal: abort.signal,
      log: (l) => {
        const m = /^▶ (Cell \d+)/.exec(l);
        if (m) current = m[1]!;
        console.log(l);
      },
    });
    if (interrupted || abort.signal.aborted) {
      console.error(`Interrupted${failed ? ` in ${failed.label}` : ''}; the cells before it are saved: ${outPath}`);
      return exitCode;
    }
    if (failed) {
      console.error(`\n${failed.label} failed: ${failed.message}\nPartial results: ${outPath}`);
      return 1;
    }
    console.log(`\nExecuted ${basename(nbPath)} in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${outPath} (artifacts: ${outPath}.artifacts)`);
    return 0;
  } finally {
    await kernel.shutdown();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // A kernel killed while writing a cache entry or an artifact leaves its temp file: remove those of every writer
    // that is gone (this run's kernels now are).
    removeOrphanTemps(defaultCacheDir(), { depth: 1 });
    removeOrphanTemps(`${outPath}.artifacts`);
  }
}

/** Whether two paths name the same folder (symbolic links resolved where they exist). */
function samePath(a: string, b: string): boolean {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : p);
  return real(a) === real(b);
}

function cmdGc(args: string[]): number {
  const nbPath = resolve(args[0] ?? '');
  if (!args[0] || !existsSync(nbPath)) throw new MagicPortraitError(`Notebook not found: ${nbPath}`);
  const nb = parseNotebook(readFileSync(nbPath, 'utf8'), nbPath);
  const refs = notebookReferences(nb.cells);
  const { removed, bytes } = ArtifactStore.besideNotebook(nbPath).collectGarbage(refs);
  console.log(`Removed ${removed} unreferenced artifact(s), ${(bytes / 1e6).toFixed(2)} MB; ${refs.size} still referenced.`);
  return 0;
}

/** `magicportrait import …`: the real checkpoints → a diffusion bundle (src/kernel/diffusion/import.ts). */
async function cmdImport(args: string[]): Promise<number> {
  const flags: Record<string, string> = {};
  let estimateOnly = false;
  const known = ['--sd15', '--vae', '--motion', '--ckpts', '--out', '--text-embeds', '--precision', '--arch'];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--estimate') estimateOnly = true;
    else if (known.includes(a)) {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new MagicPortraitError(`${a} needs a value\n${USAGE}`);
      flags[a] = v;
    } else throw new MagicPortraitError(`Unexpected argument '${a}'\n${USAGE}`);
  }
  const required = ['--sd15', '--vae', '--motion', '--ckpts', ...(estimateOnly ? [] : ['--out'])];
  const missing = required.filter((f) => !flags[f]);
  if (missing.length) throw new MagicPortraitError(`magicportrait import needs ${missing.join(', ')}\n${USAGE}`);
  const precision = flags['--precision'] ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'fp16') throw new MagicPortraitError(`--precision must be fp32 or fp16, got '${precision}'`);
  let arch: DiffusionArch | 'auto' | undefined;
  if (flags['--arch'] === 'auto') arch = 'auto';
  else if (flags['--arch']) {
    const a = JSON.parse(readFileSync(resolve(flags['--arch']), 'utf8')) as DiffusionArch;
    validateArch(a, flags['--arch']);
    arch = a;
  }
  const paths = { sd15Dir: flags['--sd15']!, vaeDir: flags['--vae']!, motionModule: flags['--motion']!, ckptDir: flags['--ckpts']!, textEmbeds: flags['--text-embeds'] };
  if (estimateOnly) {
    const e = await estimateImport(paths, arch, precision as 'fp32' | 'fp16');
    for (const [role, bytes] of Object.entries(e.perModel)) console.log(`  ${role.padEnd(16)} ${fmtBytes(bytes)}`);
    console.log(`Needs about ${fmtBytes(e.diskBytes)} of disk and ${fmtBytes(e.peakMemoryBytes)} of memory.`);
    return 0;
  }
  let lastLoad = 0;
  const b = await importMagicPortrait(paths, flags['--out']!, {
    arch,
    precision: precision as 'fp32' | 'fp16',
    onProgress: (p) => {
      if (p.stage === 'load' && Date.now() - lastLoad < 2000) return; // throttle per-tensor lines
      lastLoad = Date.now();
      console.log(`[${(100 * p.fraction).toFixed(0).padStart(3)}%] ${p.message}`);
    },
  });
  console.log(b.report ?? '');
  console.log(b.importReport.text);
  console.log(`Bundle: ${b.dir}`);
  return b.importReport.complete ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await cmdRun(rest);
      case 'gc':
        return cmdGc(rest);
      case 'cache':
        return cacheCommand(rest);
      case 'eval':
        return await evalCommand(rest);
      case 'eval-merge':
        return await evalMergeCommand(rest);
      case 'import':
        return await cmdImport(rest);
      case 'synth-data':
        return await synthDataCommand(rest);
      case 'prepare-data':
        return await prepareDataCommand(rest);
      case 'data-merge':
        return await dataMergeCommand(rest);
      case 'infer':
        return await inferCommand(rest);
      case 'models':
        if (rest[0] === 'download') return await modelsDownloadCommand(rest.slice(1));
        return await modelsCommand(rest);
      case 'runtime':
        return await runtimeCommand(rest);
      case 'import-deca': {
        const outFlag = rest.length === 3 && rest[1] === '--out';
        if (rest.length !== 2 && !outFlag) throw new MagicPortraitError(`magicportrait import-deca needs deca_model.tar and OUT.onnx (or --out DIR)\n${USAGE}`);
        const out = outFlag ? join(resolve(rest[2]!), DECA_ENCODER_FILE) : resolve(rest[1]!);
        if (outFlag) mkdirSync(resolve(rest[2]!), { recursive: true });
        const r = await importDecaEncoder(resolve(rest[0]!), out);
        console.log(r.report);
        console.log(`Wrote ${out}`);
        return r.coverage.unexpected.length ? 1 : 0;
      }
      case 'import-smirk': {
        if (rest.length !== 3 || rest[1] !== '--out') throw new MagicPortraitError(`magicportrait import-smirk needs SMIRK_em1.pt --out DIR\n${USAGE}`);
        const r = await importSmirk(resolve(rest[0]!), resolve(rest[2]!));
        console.log(r.report);
        console.log(`Wrote ${r.path}`);
        return r.coverage.unexpected.length ? 1 : 0;
      }
      case undefined:
      case '-h':
      case '--help':
        console.log(USAGE);
        return cmd ? 0 : 2;
      default:
        throw new MagicPortraitError(`Unknown command '${cmd}'\n${USAGE}`);
    }
  } catch (e) {
    console.error(e instanceof MagicPortraitError ? `magicportrait: ${e.message}` : e);
    return 2;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
