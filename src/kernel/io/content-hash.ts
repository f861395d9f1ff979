/**
 * Stable content hashes of stage inputs: JSON-like values, typed arrays (by their bytes), Maps and nested objects.
 * Key order does not matter; a value's type does (1 and "1" hash differently).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';

/** Objects may provide their own content key (e.g. a model loaded from a file hashes as its file digest). */
export const CONTENT_KEY = Symbol.for('magicportrait.contentKey');

export function contentHash(value: unknown): string {
  const h = createHash('sha256');
  feed(h, value, new Set());
  return h.digest('hex');
}

function feed(h: Hash, v: unknown, seen: Set<object>): void {
  if (v === null) return void h.update('n;');
  switch (typeof v) {
    case 'undefined':
      return void h.update('u;');
    case 'boolean':
      return void h.update(v ? 'T;' : 'F;');
    case 'number':
      return void h.update(`d${Object.is(v, -0) ? '-0' : String(v)};`);
    case 'bigint':
      return void h.update(`b${v};`);
    case 'string':
      return void h.update(`s${v.length}:${v};`);
    case 'function':
    case 'symbol':
      throw new Error(`Cannot hash a ${typeof v} as a stage input`);
  }
  const o = v as object;
  const key = (o as Record<symbol, unknown>)[CONTENT_KEY];
  if (typeof key === 'string') return void h.update(`k${key};`);
  if (seen.has(o)) throw new Error('Cannot hash a cyclic stage input');
  seen.add(o);
  if (ArrayBuffer.isView(o)) {
    h.update(`a${o.constructor.name}${o.byteLength}:`);
    h.update(new Uint8Array(o.buffer, o.byteOffset, o.byteLength));
  } else if (o instanceof ArrayBuffer) {
    h.update(`B${o.byteLength}:`);
    h.update(new Uint8Array(o));
  } else if (Array.isArray(o)) {
    h.update(`[${o.length}:`);
    for (const x of o) feed(h, x, seen);
    h.update(']');
  } else if (o instanceof Map) {
    const entries = [...o.entries()].map(([k, x]) => [contentHash(k), x] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    h.update(`M${entries.length}:`);
    for (const [k, x] of entries) {
      h.update(k);
      feed(h, x, seen);
    }
  } else if (o instanceof Date) {
    h.update(`D${o.toISOString()};`);
  } else {
    const keys = Object.keys(o).sort();
    h.update(`{${keys.length}:`);
    for (const k of keys) {
      h.update(`${k.length}:${k}`);
      feed(h, (o as Record<string, unknown>)[k], seen);
    }
    h.update('}');
  }
  seen.delete(o);
}

const fileDigests = new Map<string, string>();

/** SHA-256 of a file's bytes (memoised per path, size and mtime). */
export async function fileDigest(path: string): Promise<string> {
  const st = statSync(path);
  const memo = `${path}|${st.size}|${st.mtimeMs}`;
  const hit = fileDigests.get(memo);
  if (hit) return hit;
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  const d = h.digest('hex');
  fileDigests.set(memo, d);
  return d;
}
