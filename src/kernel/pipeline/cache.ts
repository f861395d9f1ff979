/**
 * The stage cache: a stage's result stored on disk under a hash of (stage name, version, inputs, options), so a
 * later cell — or a restarted kernel — gets it back at once when nothing it depends on changed.
 * Entries are written atomically and checksummed; a damaged entry is treated as a miss and rewritten.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { contentHash } from './hash';

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

export function defaultCacheDir(): string {
  return process.env.MAGICPORTRAIT_CACHE ? join(process.env.MAGICPORTRAIT_CACHE, 'stages') : join(homedir(), '.cache', 'magicportrait', 'stages');
}

export class StageCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, corrupt: 0 };
  /** Set to false to bypass (every call computes, nothing is stored). */
  enabled = true;

  constructor(readonly dir = defaultCacheDir()) {}

  key(stage: StageSpec, inputs: unknown, options: unknown = {}): string {
    return contentHash({ stage: stage.name, version: String(stage.version), inputs, options });
  }

  /**
   * Returns the cached result for these inputs or computes, stores and returns it. Results must be structured-
   * cloneable (plain objects, arrays, typed arrays, Maps); class instances come back as plain objects.
   */
  async run<T>(stage: StageSpec, inputs: unknown, options: unknown, compute: () => Promise<T> | T): Promise<T> {
    if (!this.enabled) return await compute();
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

  private file(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.bin`);
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
      return { found: true, value: deserialize(body) as T };
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
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, Buffer.concat([MAGIC, createHash('sha256').update(body).digest(), body]));
    renameSync(tmp, file);
  }

  clear(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let shared: StageCache | null = null;
/** The process-wide cache the `mp` stages use. */
export function stageCache(): StageCache {
  if (!shared) shared = new StageCache();
  return shared;
}
export function setStageCache(cache: StageCache): void {
  shared = cache;
}
