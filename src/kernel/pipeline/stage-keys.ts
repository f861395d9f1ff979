/**
 * What a stage's cache key is made of, where its inputs are more than plain data: a model by its content (hashed
 * once per object), a file by its path and the digest of its bytes, a folder of model files by its listing. A value
 * that cannot be keyed — a callback, a stream of frames that can be read only once — makes the call uncacheable
 * (`null`): the stage then computes, as it does with `cache: false`.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { contentHash, fileDigest } from '../io/content-hash';

const dataKeys = new WeakMap<object, string>();

/**
 * A large data object (a FLAME model, a dense correspondence table) by its content, hashed once per object: stages
 * are called many times with the same model, whose tens of MB need not be hashed again each time. (Models are not
 * mutated after loading; a changed one is a new object.)
 */
export function dataKey(x: object): string {
  let k = dataKeys.get(x);
  if (!k) dataKeys.set(x, (k = contentHash(x)));
  return k;
}

/** True for values a content hash cannot stand for: functions, and iterables other than arrays, typed arrays and
 * Maps (a generator or a stream has no own keys, so every one would hash alike). */
function unkeyable(v: unknown, seen = new Set<object>()): boolean {
  if (typeof v === 'function' || typeof v === 'symbol') return true;
  if (!v || typeof v !== 'object' || seen.has(v)) return false;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date) return false;
  seen.add(v);
  if (v instanceof Map) return [...v.entries()].some(([k, x]) => unkeyable(k, seen) || unkeyable(x, seen));
  if (!Array.isArray(v) && (Symbol.iterator in v || Symbol.asyncIterator in v)) return true;
  return Object.values(v).some((x) => unkeyable(x, seen));
}

/** The value itself when a content hash can stand for it (see unkeyable), else null. */
export function keyable<T>(value: T): T | null {
  return unkeyable(value) ? null : value;
}

/** A file by its resolved path (a result may name it) and the SHA-256 of its bytes (memoised per size and mtime). */
export async function fileKey(path: string): Promise<{ path: string; sha256: string }> {
  const p = resolve(path);
  return { path: p, sha256: await fileDigest(p) };
}

/**
 * A folder of model files (a bundle, imported encoders) by its resolved path and its files' names, sizes and
 * modification times: re-hashing gigabytes of weights on every call would cost more than most stages. A folder that
 * does not exist keys as such (the stage then fails or falls back as it would uncached).
 */
export function folderKey(dir: string): { dir: string; files: [string, number, number][] } {
  const root = resolve(dir);
  const files: [string, number, number][] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(root, rel)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      try {
        const st = statSync(join(root, r));
        if (st.isDirectory()) walk(r);
        else files.push([r, st.size, Math.round(st.mtimeMs)]);
      } catch {
        /* removed meanwhile */
      }
    }
  };
  walk('');
  return { dir: root, files };
}
