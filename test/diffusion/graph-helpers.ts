import { GraphBuilder } from '../../src/kernel/onnx/graph';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { WeightLookup, stateDictFromArrays, type BlockContext, type StateDict } from '../../src/kernel/diffusion/graph/ops';
import { toFloat32 } from '../../src/kernel/io/ndarray';
import type { NpzFile } from '../../src/kernel/io/npy';

/** The arrays of an npz whose names start with `prefix`, renamed to `rename + rest`. */
export async function stateDictFrom(z: NpzFile, prefix: string, rename = ''): Promise<StateDict> {
  const entries: [string, { shape: number[]; data: Float32Array }][] = [];
  for (const name of z.names())
    if (name.startsWith(prefix)) {
      const a = await z.get(name);
      entries.push([rename + name.slice(prefix.length), { shape: a.shape, data: toFloat32(a) }]);
    }
  return stateDictFromArrays(entries);
}

export function blockContext(sd: StateDict, name: string): BlockContext {
  return { g: new GraphBuilder(name), w: new WeightLookup(sd, name) };
}

export async function runGraph(
  g: GraphBuilder,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, ort.Tensor>> {
  const s = await createSession(g.toBytes(), { label: g.name, threads: 1 });
  try {
    return (await s.run(feeds)) as Record<string, ort.Tensor>;
  } finally {
    await s.release();
  }
}

export const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

/** max |a − b| / (1 + |b|): absolute for small values, relative for large. */
export function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return m;
}

export function halfBitsToFloat(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}
