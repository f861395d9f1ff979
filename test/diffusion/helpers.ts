import { join } from 'node:path';
import { openNpz, type NpzFile } from '../../src/kernel/io/npy';
import { toFloat32, toFloat64, type NdArray } from '../../src/kernel/io/ndarray';

export const FIXTURES = join(__dirname, 'fixtures');

export async function npz(name: string): Promise<NpzFile> {
  return openNpz(join(FIXTURES, name));
}

export async function f32(file: NpzFile, key: string): Promise<Float32Array> {
  return toFloat32(await file.get(key));
}

export async function f64(file: NpzFile, key: string): Promise<Float64Array> {
  return toFloat64(await file.get(key));
}

export async function arr(file: NpzFile, key: string): Promise<NdArray> {
  return file.get(key);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
