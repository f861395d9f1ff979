/**
 * The stage cache's store (the process-wide instance the stages use is pipeline/cache.ts): a stage's result stored on disk under a hash of (stage name, version, inputs, options), so a
 * later cell — or a restarted kernel — gets it back at once when nothing it depends on changed.
 * Entries are written atomically and checksummed; a damaged entry is treated as a miss and rewritten.
 *
 * Size: the folder is kept under a limit (default 10 GiB; `MAGICPORTRAIT_CACHE_MAX_BYTES`, the extension's
 * `magicportrait.cacheMaxSizeGB`) by evicting the least recently used entries after each write (a hit refreshes an
 * entry's time). Large results (frame sequences) are *file entries*: the stage streams them into a file the cache
 * names (`runFile`), so they are never held in memory whole.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { contentHash } from './content-hash';
import { cacheDir, settings } from '../settings';
import { removeOrphanTemps, tempPathFor } from './temp-files';

export interface StageSpec {
  /** Stage name, e.g. 'fitFlame'. */
  name: string;
  /** Bump when the stage's algorithm changes, so old results are not reused. */
  version: string | number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  corrupt: number;
}

const MAGIC = Buffer.from('MPSC1\n');

/** The stage cache's folder: `stages/` under the cache root (settings.ts). */
export function defaultCacheDir(): string {
  return cacheDir('stages');
}

export interface CacheEntryInfo {
  file: string;
  bytes: number;
  /** Last use (ms since the epoch). */
  usedAt: number;
  kind: 'value' | 'file';
}

export interface CacheInfo {
  dir: string;
  entries: number;
  bytes: number;
  /** 0 = no limit. */
  maxBytes: number;
  /** Least and most recently used entries (ms since the epoch), null when empty. */
  oldest: number | null;
  newest: number | null;
  /** Per kind: plain results and streamed file entries (frame sequences). */
  values: { entries: number; bytes: number };
  files: { entries: number; bytes: number };
}

const ENTRY = /^[0-9a-f]{64}\.(bin|[a-z]+)$/;

export class StageCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, corrupt: 0 };
  /** Entries this object evicted to stay under `maxBytes`. */
  evicted = 0;
  /** Set to false to bypass (every call computes, nothing is stored). */
  enabled = true;
  private swept = false;
  /** Size limit in bytes (0 = none); least recently used entries are evicted after a write to stay under it. */
  maxBytes: number;

  constructor(readonly dir = defaultCacheDir(), options: { maxBytes?: number } = {}) {
    this.maxBytes = options.maxBytes ?? settings().cacheMaxBytes;
  }

  key(stage: StageSpec, inputs: unknown, options: unknown = {}): string {
    return contentHash({ stage: stage.name, version: String(stage.version), inputs, options });
  }

  /**
   * Returns the cached result for these inputs or computes, stores and returns it. Results must be structured-
   * cloneable (plain objects, arrays, typed arrays, Maps); class instances come back as plain objects.
   */
  async run<T>(stage: StageSpec, inputs: unknown, options: unknown, compute: () => Promise<T> | T): Promise<T> {
    if (!this.enabled) return await compute();
    this.sweepOnce();
    const key = this.key(stage, inputs, options);
    const hit = this.read<T>(key);
    if (hit.found) {
      this.stats.hits++;
      return hit.value;
    }
    this.stats.misses++;
    const value = await compute();
    this.write(key, value);
    return value;
  }

  has(stage: StageSpec, inputs: unknown, options: unknown = {}): boolean {
    return this.read(this.key(stage, inputs, options)).found;
  }

  /**
   * A file entry: returns the path of the cached file for these inputs, or has `produce` write it (to a temporary
   * path it is given; renamed into place only when `produce` resolves, so an interrupted stage leaves nothing that
   * looks complete) and returns its path. `valid(path)` checks a hit (a damaged file is removed and produced again).
   * The caller should open the file at once: a later write may evict it (an open file stays readable).
   */
  async runFile(stage: StageSpec, inputs: unknown, options: unknown, ext: string, produce: (tmpPath: string) => Promise<void>, valid: (path: string) => boolean): Promise<{ path: string; hit: boolean }> {
    if (!/^[a-z]+$/.test(ext) || ext === 'bin') throw new Error(`StageCache.runFile: bad extension '${ext}'`);
    this.sweepOnce();
    const key = this.key(stage, inputs, options);
    const file = join(this.dir, key.slice(0, 2), `${key}.${ext}`);
    if (this.enabled && existsSync(file)) {
      let ok = false;
      try {
        ok = valid(file);
      } catch {
        ok = false;
      }
      if (ok) {
        this.stats.hits++;
        touch(file);
        return { path: file, hit: true };
      }
      this.stats.corrupt++;
      rmSync(file, { force: true });
    }
    this.stats.misses++;
    mkdirSync(join(this.dir, key.slice(0, 2)), { recursive: true });
    const tmp = tempPathFor(file);
    try {
      await produce(tmp);
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    this.enforceLimit(file);
    return { path: file, hit: false };
  }

  private file(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.bin`);
  }

  /** Every entry with its size and last use. */
  entries(): CacheEntryInfo[] {
    const out: CacheEntryInfo[] = [];
    if (!existsSync(this.dir)) return out;
    for (const sub of readdirSync(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      let names: string[];
      try {
        names = readdirSync(join(this.dir, sub));
      } catch {
        continue;
      }
      for (const name of names) {
        const m = ENTRY.exec(name);
        if (!m) continue;
        const file = join(this.dir, sub, name);
        try {
          const st = statSync(file);
          out.push({ file, bytes: st.size, usedAt: st.mtimeMs, kind: m[1] === 'bin' ? 'value' : 'file' });
        } catch {
          /* removed meanwhile */
        }
      }
    }
    return out;
  }

  /** Size, entry count, limit and age range of the cache (for `magicportrait cache` and the command). */
  info(): CacheInfo {
    const e = this.entries();
    const sum = (k: 'value' | 'file') => e.filter((x) => x.kind === k).reduce((a, x) => ({ entries: a.entries + 1, bytes: a.bytes + x.bytes }), { entries: 0, bytes: 0 });
    const times = e.map((x) => x.usedAt);
    return {
      dir: this.dir, entries: e.length, bytes: e.reduce((a, x) => a + x.bytes, 0), maxBytes: this.maxBytes,
      oldest: times.length ? Math.min(...times) : null, newest: times.length ? Math.max(...times) : null, values: sum('value'), files: sum('file'),
    };
  }

  /** Evicts least recently used entries until the cache is under its limit (`keep` is evicted last). */
  enforceLimit(keep?: string): { evicted: number; bytes: number } {
    if (!(this.maxBytes > 0)) return { evicted: 0, bytes: 0 };
    const all = this.entries();
    let total = all.reduce((a, x) => a + x.bytes, 0);
    let evicted = 0, freed = 0;
    if (total <= this.maxBytes) return { evicted, bytes: freed };
    all.sort((a, b) => (a.file === keep ? 1 : b.file === keep ? -1 : a.usedAt - b.usedAt));
    for (const x of all) {
      if (total <= this.maxBytes || x.file === keep) break;
      try {
        rmSync(x.file, { force: true });
      } catch {
        continue; // in use elsewhere (Windows): try the next one
      }
      total -= x.bytes;
      freed += x.bytes;
      evicted++;
    }
    this.evicted += evicted;
    return { evicted, bytes: freed };
  }

  private read<T>(key: string): { found: true; value: T } | { found: false } {
    const file = this.file(key);
    if (!existsSync(file)) return { found: false };
    try {
      const buf = readFileSync(file);
      if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('bad magic');
      const digest = buf.subarray(MAGIC.length, MAGIC.length + 32);
      const body = buf.subarray(MAGIC.length + 32);
      if (!createHash('sha256').update(body).digest().equals(digest)) throw new Error('checksum mismatch');
      const value = deserialize(body) as T;
      touch(file);
      return { found: true, value };
    } catch {
      // A damaged entry (torn write from a killed process, disk error): drop it and recompute.
      this.stats.corrupt++;
      rmSync(file, { force: true });
      return { found: false };
    }
  }

  private write(key: string, value: unknown): void {
    const body = serialize(value);
    const file = this.file(key);
    mkdirSync(join(this.dir, key.slice(0, 2)), { recursive: true });
    // named after this process: if it is killed mid-write, the next cache user removes the leftover
    const tmp = tempPathFor(file);
    try {
      writeFileSync(tmp, Buffer.concat([MAGIC, createHash('sha256').update(body).digest(), body]));
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    this.enforceLimit(file);
  }

  /** Removes temp files of writers that were killed mid-write (they can be hundreds of MB), once per process. */
  private sweepOnce(): void {
    if (this.swept) return;
    this.swept = true;
    removeOrphanTemps(this.dir, { depth: 1 });
  }

  /** Removes every entry; returns what was removed. */
  clear(): { entries: number; bytes: number } {
    const e = this.entries();
    rmSync(this.dir, { recursive: true, force: true });
    return { entries: e.length, bytes: e.reduce((a, x) => a + x.bytes, 0) };
  }
}

/** Marks an entry as just used (the LRU order is the files' modification times). */
function touch(file: string): void {
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    /* read-only cache: the order just does not refresh */
  }
}
