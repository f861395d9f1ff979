// .safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the
// raw little-endian tensor bytes. Read lazily: opening reads the header only.
import { MagicPortraitError } from '../errors';
import { NdArray, itemSize, sizeOf, typedFromBytes, type NumericDType } from './ndarray';
import { toSource, type ByteSource, type SourceLike } from './source';
import type { TensorInfo, TensorStore } from './torch-checkpoint';

const DTYPES: Record<string, NumericDType> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', I16: 'int16',
  I8: 'int8', U64: 'uint64', U32: 'uint32', U16: 'uint16', U8: 'uint8', BOOL: 'bool',
};

interface Entry extends TensorInfo {
  begin: number;
  end: number;
}

export interface SafetensorsFile extends TensorStore {
  /** The optional `__metadata__` string map. */
  readonly metadata: Record<string, string>;
  close(): Promise<void>;
}

class Safetensors implements SafetensorsFile {
  constructor(
    readonly file: string,
    private readonly entries: Map<string, Entry>,
    readonly metadata: Record<string, string>,
    private readonly source: ByteSource,
    private readonly dataStart: number,
    private readonly owned: boolean,
  ) {}
  keys(): string[] {
    return [...this.entries.keys()];
  }
  has(key: string): boolean {
    return this.entries.has(key);
  }
  private entry(key: string): Entry {
    const e = this.entries.get(key);
    if (!e) throw new MagicPortraitError(`Tensor '${key}' not found in ${this.file} (it has ${this.entries.size} tensors).`, 'missing-key');
    return e;
  }
  info(key: string): TensorInfo {
    const e = this.entry(key);
    return { key, dtype: e.dtype, shape: e.shape.slice() };
  }
  async get(key: string): Promise<NdArray> {
    const e = this.entry(key);
    const n = sizeOf(e.shape);
    const bytes = await this.source.read(this.dataStart + e.begin, e.end - e.begin);
    return new NdArray(e.dtype, e.shape.slice(), typedFromBytes(e.dtype, bytes, n));
  }
  scope(prefix: string): TensorStore {
    const p = prefix.endsWith('.') ? prefix : `${prefix}.`;
    const sub = new Map<string, Entry>();
    for (const [k, v] of this.entries) if (k.startsWith(p)) sub.set(k.slice(p.length), { ...v, key: k.slice(p.length) });
    if (!sub.size) throw new MagicPortraitError(`No tensors under '${prefix}' in ${this.file}.`, 'missing-key');
    return new Safetensors(`${this.file}:${prefix}`, sub, this.metadata, this.source, this.dataStart, false);
  }
  async close(): Promise<void> {
    if (this.owned) await this.source.close();
  }
}

/** Opens a .safetensors file; only the header is read. */
export async function openSafetensors(src: SourceLike): Promise<SafetensorsFile> {
  const source = await toSource(src, 'safetensors');
  const owned = source !== src;
  const bad = (why: string) => new MagicPortraitError(`${source.name} is not a valid .safetensors file: ${why}.`, 'bad-file');
  try {
    if (source.size < 8) throw bad('too short');
    const lenBytes = await source.read(0, 8);
    const hlen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
    if (hlen > BigInt(source.size - 8) || hlen > 100_000_000n) throw bad('header length exceeds the file (truncated download?)');
    const text = new TextDecoder().decode(await source.read(8, Number(hlen)));
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(text);
    } catch {
      throw bad('header is not JSON');
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not an object');
    const dataStart = 8 + Number(hlen);
    const dataLen = source.size - dataStart;
    const entries: [string, Entry][] = [];
    let metadata: Record<string, string> = {};
    for (const [key, v] of Object.entries(header)) {
      if (key === '__metadata__') {
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const dtype = DTYPES[String(t?.dtype)];
      if (!dtype) throw bad(`tensor '${key}' has unsupported dtype ${String(t?.dtype)}`);
      const shape = t.shape;
      const off = t.data_offsets;
      if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) throw bad(`tensor '${key}' has a bad shape`);
      if (!Array.isArray(off) || off.length !== 2 || !off.every((s) => Number.isInteger(s) && s >= 0)) throw bad(`tensor '${key}' has bad data_offsets`);
      const [begin, end] = off as [number, number];
      if (end < begin || end > dataLen) throw bad(`tensor '${key}' lies outside the file (truncated?)`);
      if (end - begin !== sizeOf(shape) * itemSize(dtype)) throw bad(`tensor '${key}' byte size does not match its shape`);
      entries.push([key, { key, dtype, shape, begin, end }]);
    }
    // file order = data order (JSON key order is not guaranteed to match it)
    entries.sort((a, b) => a[1].begin - b[1].begin);
    return new Safetensors(source.name, new Map(entries), metadata, source, dataStart, owned);
  } catch (e) {
    if (owned) await source.close();
    throw e;
  }
}

/** A .safetensors file of float32 tensors (header JSON padded to 8 bytes, then the raw little-endian data). */
export function encodeSafetensorsF32(tensors: readonly { name: string; shape: readonly number[]; data: Float32Array }[]): Uint8Array {
  const header: Record<string, { dtype: 'F32'; shape: number[]; data_offsets: [number, number] }> = {};
  let offset = 0;
  for (const t of tensors) {
    if (t.data.length !== sizeOf([...t.shape])) throw new MagicPortraitError(`safetensors: '${t.name}' has ${t.data.length} values for shape (${t.shape.join(', ')}).`, 'bad-shape');
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
