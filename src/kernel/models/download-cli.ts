/**
 * `magicportrait models download [--only NAME[,NAME]] --to DIR [--list]`: the public model files into DIR (the hub's
 * `pre_trained` layout), resumable; licence-gated FLAME/DECA are refused with their notice. Self-contained so other
 * `models` subcommands can sit beside it.
 */
import { MagicPortraitError } from '../errors';
import { GATED_FILES, HUB_BASE, PUBLIC_FILES, downloadModels, importPathsFor, licenceNotice } from './download';
import { type DownloadProgress } from '../io/download';

export const MODELS_DOWNLOAD_USAGE = `  magicportrait models download --to DIR [--only NAME[,NAME]] [--list]
                                                              fetch the public MagicPortrait model files (resumable,
                                                              SHA-256 checked); FLAME/DECA need registration: never
                                                              fetched, their licence notice is printed`;

function listing(): string {
  const lines = [`Public files (from ${HUB_BASE}):`];
  for (const e of PUBLIC_FILES) lines.push(`  ${e.name.padEnd(20)} ${e.what}`, ...e.files.map((f) => `  ${''.padEnd(20)}   ${f.candidates.join(' | ')}`));
  return `${lines.join('\n')}\n\n${licenceNotice(GATED_FILES)}`;
}

export async function modelsDownloadCommand(args: string[], out: (line: string) => void = (l) => console.log(l)): Promise<number> {
  let to: string | undefined;
  const only: string[] = [];
  let list = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--to') to = args[++i];
    else if (a === '--only') only.push(...(args[++i] ?? '').split(',').filter(Boolean));
    else if (a === '--list') list = true;
    else throw new MagicPortraitError(`Unexpected argument '${a}'\nusage:\n${MODELS_DOWNLOAD_USAGE}`, 'bad-argument');
  }
  if (list) {
    out(listing());
    return 0;
  }
  if (!to) throw new MagicPortraitError(`magicportrait models download needs --to DIR\nusage:\n${MODELS_DOWNLOAD_USAGE}`, 'bad-argument');
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  let lastPrint = 0;
  const progress = (p: DownloadProgress) => {
    const now = Date.now();
    if (now - lastPrint < 1000 && p.received !== p.total) return;
    lastPrint = now;
    const pct = p.total ? ` ${((100 * p.received) / p.total).toFixed(1)} %` : '';
    process.stderr.write(`\r  ${p.dest}: ${(p.received / 1024 ** 2).toFixed(1)} MiB${pct}${p.resumedFrom ? ` (resumed at ${(p.resumedFrom / 1024 ** 2).toFixed(1)} MiB)` : ''}   `);
    if (p.received === p.total) process.stderr.write('\n');
  };
  try {
    await downloadModels(to, { only: only.length ? only : undefined, signal: abort.signal, onProgress: progress, log: out });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const p = importPathsFor(to);
  out(`\nNext: magicportrait import --sd15 ${p.sd15Dir} --vae ${p.vaeDir} --motion ${p.motionModule} --ckpts ${p.ckptDir} --out BUNDLE_DIR`);
  if (!only.length) out(`\n${licenceNotice(GATED_FILES)}`);
  return 0;
}
