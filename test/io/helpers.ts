// Shared helpers for the io tests: fixture paths and the tagged-JSON mirror of make_fixtures.py's tag().
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NdArray, cOrderData, halfToFloat, bfloat16ToFloat } from '../../src/kernel/io/ndarray';

export const FIXTURES = join(__dirname, 'fixtures');
export const fixture = (name: string): string => join(FIXTURES, name);
export const readFixture = (name: string): Uint8Array => new Uint8Array(readFileSync(fixture(name)));
export const loadJson = (name: string): any => JSON.parse(readFileSync(fixture(name), 'utf8'));

function ftag(x: number): unknown {
  if (Number.isNaN(x)) return { __float__: 'nan' };
  if (x === Infinity || x === -Infinity) return { __float__: x > 0 ? 'inf' : '-inf' };
  return x;
}

/** The tagged JSON form of a value read by our readers (see the header of golden/make_fixtures.py). */
export function tag(v: unknown): unknown {
  if (v instanceof NdArray) return tagNd(v);
  if (v instanceof Map) return { __map__: [...v.entries()].map(([k, x]) => [tag(k), tag(x)]) };
  if (v instanceof Set) return { __set__: [...v].map(tag) };
  if (Array.isArray(v)) return v.map(tag);
  if (v instanceof Uint8Array) return { __bytes__: Buffer.from(v).toString('hex') };
  if (typeof v === 'bigint') return { __bigint__: v.toString() };
  if (typeof v === 'number') return ftag(v);
  if (v && typeof v === 'object' && 'format' in v && 'indptr' in v) {
    const m = v as { format: string; shape: number[]; data: NdArray; indices: NdArray; indptr: NdArray };
    return { __sparse__: m.format, shape: m.shape, data: tagNd(m.data), indices: tagNd(m.indices), indptr: tagNd(m.indptr) };
  }
  return v;
}

export function tagNd(a: NdArray): unknown {
  const d = cOrderData(a) as ArrayLike<unknown>;
  const data: unknown[] = [];
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    if (a.dtype === 'object') data.push(tag(x));
    else if (typeof x === 'bigint') data.push(x.toString());
    else if (a.dtype === 'float16') data.push(ftag(halfToFloat(x as number)));
    else if (a.dtype === 'bfloat16') data.push(ftag(bfloat16ToFloat(x as number)));
    else if (typeof x === 'number') data.push(ftag(x));
    else data.push(x);
  }
  return { __nd__: a.dtype, shape: a.shape, order: a.order, data };
}
