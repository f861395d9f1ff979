/**
 * `magicportrait cache [show|clear]`: the stage cache's size against its limit, and clearing it. The same text is
 * what the editor's *MagicPortrait: Show or Clear the Stage Cache* command shows.
 */
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { defaultCacheDir, StageCache, type CacheInfo } from './cache';

export const CACHE_USAGE = `  magicportrait cache [show|clear] [--dir CACHE_DIR] [--max-gb N]
                                                              the stage cache (CACHE_DIR/stages; default
                                                              $MAGICPORTRAIT_CACHE or ~/.cache/magicportrait): size,
                                                              entries and limit, or remove every entry`;

const GIB = 1024 ** 3;

export function formatBytes(n: number): string {
  return n >= GIB ? `${(n / GIB).toFixed(2)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

/** A few lines: where, how much against the limit, what kind of entries, how old. */
export function describeCache(info: CacheInfo): string {
  const limit = info.maxBytes > 0 ? `of its ${formatBytes(info.maxBytes)} limit (${Math.round((100 * info.bytes) / info.maxBytes)}%; least recently used entries are evicted beyond it)` : '(no size limit)';
  const when = (t: number | null) => (t === null ? '—' : new Date(t).toISOString().replace('T', ' ').slice(0, 19));
  return [
    `Stage cache ${info.dir}`,
    `  ${info.entries} entr${info.entries === 1 ? 'y' : 'ies'}, ${formatBytes(info.bytes)} ${limit}`,
    `  results: ${info.values.entries} (${formatBytes(info.values.bytes)}); frame files (guidance maps): ${info.files.entries} (${formatBytes(info.files.bytes)})`,
    `  least recently used ${when(info.oldest)}, most recently ${when(info.newest)}`,
  ].join('\n');
}

/** The cache a CLI call means: --dir ROOT (its stages/ folder), else the kernel's default; --max-gb overrides the limit. */
function cacheFrom(args: string[]): { cache: StageCache; rest: string[] } {
  let dir: string | undefined;
  let maxGb: number | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--dir') dir = args[++i];
    else if (a === '--max-gb') {
      maxGb = Number(args[++i]);
      if (!(maxGb >= 0)) throw new MagicPortraitError(`--max-gb needs a number ≥ 0 (0 = no limit)\n${CACHE_USAGE}`);
    } else rest.push(a);
  }
  const cache = new StageCache(dir ? join(resolve(dir), 'stages') : defaultCacheDir(), maxGb !== undefined ? { maxBytes: maxGb * GIB } : {});
  return { cache, rest };
}

export function cacheCommand(args: string[]): number {
  const { cache, rest } = cacheFrom(args);
  const verb = rest[0] ?? 'show';
  if (rest.length > 1) throw new MagicPortraitError(`Unexpected argument '${rest[1]}'\n${CACHE_USAGE}`);
  if (verb === 'show') {
    console.log(describeCache(cache.info()));
    return 0;
  }
  if (verb === 'clear') {
    const r = cache.clear();
    console.log(`Removed ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'} (${formatBytes(r.bytes)}) from ${cache.dir}.`);
    return 0;
  }
  throw new MagicPortraitError(`Unknown cache command '${verb}' (show or clear)\n${CACHE_USAGE}`);
}
