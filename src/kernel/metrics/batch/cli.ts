/**
 * `magicportrait eval` and `magicportrait eval-merge` argument handling.
 */
import { MagicPortraitError } from '../../errors';
import type { LpipsWeights } from '../nets/lpips';
import { readPaperRows } from '../paper';
import { parseShard } from './manifest';
import { mergeEval, runEval, type EvalRunOptions } from './run';

export const EVAL_USAGE = `  magicportrait eval --manifest pairs.json [--out DIR] [--shard i/N | auto/N] [--workers K]
                    [--lpips-linear alex.pth --lpips-backbone alexnet-owt-7be5be79.pth [--lpips-net alex|vgg] | --no-lpips]
                    [--fid-weights pt_inception-2015-12-05-6726825d.pth | --no-fid]
                    [--fvd-weights i3d_pretrained_400.pt | --no-fvd]
                    [--cache DIR | --no-cache] [--threads T] [--paper-table rows.json] [--no-table]
        evaluate the manifest's pairs (or shard i of N; auto = $JOB_COMPLETION_INDEX) in K local processes; finished
        pairs are kept in DIR/pairs and skipped on re-runs; writes DIR/results.{csv,json} and DIR/report.html
  magicportrait eval-merge --out DIR [--manifest pairs.json] [--paper-table rows.json] [RESULT_DIR...]
        combine the pairs of shard output folders (default: DIR itself) into one table and report`;

function takeValue(args: string[], i: number, flag: string): string {
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new MagicPortraitError(`${flag} needs a value.\n${EVAL_USAGE}`, 'bad-argument');
  return v;
}

/** Parses `eval` arguments into run options. */
export function parseEvalArgs(args: string[]): EvalRunOptions {
  const o: Partial<EvalRunOptions> & { out: string } = { out: 'eval-out' };
  const lp: Partial<LpipsWeights> = {};
  let noLpips = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = () => takeValue(args, i++, a);
    switch (a) {
      case '--manifest':
      case '-m':
        o.manifest = val();
        break;
      case '--out':
      case '-o':
        o.out = val();
        break;
      case '--shard':
        o.shard = parseShard(val());
        break;
      case '--workers': {
        const k = Number(val());
        if (!Number.isInteger(k) || k < 1) throw new MagicPortraitError('--workers needs a positive integer.', 'bad-argument');
        o.workers = k;
        break;
      }
      case '--threads': {
        const t = Number(val());
        if (!Number.isInteger(t) || t < 0) throw new MagicPortraitError('--threads needs a non-negative integer (0 = one per core).', 'bad-argument');
        o.threads = t;
        break;
      }
      case '--cache':
        o.cacheDir = val();
        break;
      case '--no-cache':
        o.cacheDir = null;
        break;
      case '--lpips-linear':
        lp.linear = val();
        break;
      case '--lpips-backbone':
        lp.backbone = val();
        break;
      case '--lpips-net': {
        const n = val();
        if (n !== 'alex' && n !== 'vgg') throw new MagicPortraitError('--lpips-net is alex or vgg.', 'bad-argument');
        lp.net = n;
        break;
      }
      case '--no-lpips':
        noLpips = true;
        break;
      case '--fid-weights':
        o.fid = val();
        break;
      case '--no-fid':
        o.fid = null;
        break;
      case '--fvd-weights':
        o.fvd = val();
        break;
      case '--no-fvd':
        o.fvd = null;
        break;
      case '--paper-table':
        o.paperTable = val();
        o.paperRows = readPaperRows(o.paperTable);
        break;
      case '--no-table':
        o.writeTable = false;
        break;
      default:
        throw new MagicPortraitError(`Unexpected argument '${a}'\n${EVAL_USAGE}`, 'bad-argument');
    }
  }
  if (!o.manifest) throw new MagicPortraitError(`eval needs --manifest.\n${EVAL_USAGE}`, 'bad-argument');
  if (noLpips) o.lpips = null;
  else if (lp.linear) o.lpips = lp as LpipsWeights;
  else if (lp.backbone) throw new MagicPortraitError('--lpips-backbone needs --lpips-linear too.', 'bad-argument');
  return o as EvalRunOptions;
}

export async function evalCommand(args: string[]): Promise<number> {
  const opts = parseEvalArgs(args);
  const t0 = Date.now();
  const s = await runEval(opts);
  console.log(
    `eval ${s.shard}: ${s.pairs.length} pair(s): ${s.computed.length} computed, ${s.skipped.length} already done, ${s.failed.length} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  for (const f of s.failed) console.error(`  ${f.id}: ${f.error}`);
  return s.failed.length ? 1 : 0;
}

export async function evalMergeCommand(args: string[]): Promise<number> {
  let out: string | undefined;
  let manifest: string | undefined;
  let paperRows;
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--out' || a === '-o') out = takeValue(args, i++, a);
    else if (a === '--manifest' || a === '-m') manifest = takeValue(args, i++, a);
    else if (a === '--paper-table') paperRows = readPaperRows(takeValue(args, i++, a));
    else if (a.startsWith('--')) throw new MagicPortraitError(`Unexpected argument '${a}'\n${EVAL_USAGE}`, 'bad-argument');
    else dirs.push(a);
  }
  if (!out) throw new MagicPortraitError(`eval-merge needs --out.\n${EVAL_USAGE}`, 'bad-argument');
  const { table } = await mergeEval({ dirs: dirs.length ? dirs : [out], out, manifest: manifest ?? null, paperRows, lines: [`Merged from ${(dirs.length ? dirs : [out]).join(', ')}.`] });
  console.log(`eval-merge: ${table.rows.length} pair(s) → ${out}/results.csv, results.json, report.html`);
  if (table.missing.length) {
    console.error(`  missing ${table.missing.length} pair(s): ${table.missing.join(', ')}`);
    return 1;
  }
  return 0;
}
