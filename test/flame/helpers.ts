// Shared helpers for the flame tests: the synthetic FLAME-format folder (gunzipped into a temp dir once per
// process) and the expected values written by golden/flame_reference.py.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openNpz, toFloat64, type NdArray } from '../../src/kernel/io';

export const FIXTURES = join(__dirname, 'fixtures');
const SYNTH = join(FIXTURES, 'synthetic_flame');

let synthDir: string | null = null;
const created: string[] = [];
process.on('exit', () => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

/** A temp folder laid out like a FLAME/DECA data folder, from the committed (gzipped) synthetic fixtures. */
export function syntheticFlameDir(): string {
  if (synthDir) return synthDir;
  const dir = tempDir();
  for (const name of readdirSync(SYNTH)) {
    if (name.endsWith('.gz')) writeFileSync(join(dir, name.slice(0, -3)), gunzipSync(readFileSync(join(SYNTH, name))));
    else copyFileSync(join(SYNTH, name), join(dir, name));
  }
  synthDir = dir;
  return dir;
}

/** A fresh temp folder, removed when the process exits. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mp-flame-'));
  created.push(d);
  return d;
}

export interface Expected {
  get(name: string): NdArray;
  f64(name: string): Float64Array;
  str(name: string): string;
  has(name: string): boolean;
}

let expected: Expected | null = null;

export async function loadExpected(): Promise<Expected> {
  if (expected) return expected;
  const z = await openNpz(join(FIXTURES, 'flame_expected.npz'));
  const arrays = new Map<string, NdArray>();
  for (const n of z.names()) arrays.set(n, await z.get(n));
  await z.close();
  const get = (n: string) => {
    const a = arrays.get(n);
    if (!a) throw new Error(`flame_expected.npz has no '${n}'`);
    return a;
  };
  expected = {
    get,
    f64: (n) => toFloat64(get(n)),
    str: (n) => String((get(n).data as ArrayLike<unknown>)[0]),
    has: (n) => arrays.has(n),
  };
  return expected;
}

/** max |a − b| over all elements (optionally through index maps). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Largest extent of a V×3 point set's bounding box: the "model scale" tolerances are relative to. */
export function modelScale(v: ArrayLike<number>): number {
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < v.length; i += 3) for (let c = 0; c < 3; c++) { lo[c] = Math.min(lo[c], v[i + c]); hi[c] = Math.max(hi[c], v[i + c]); }
  return Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
}
