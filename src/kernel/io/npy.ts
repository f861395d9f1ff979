// .npy (format v1/v2/v3) reader and writer, and a lazy .npz reader.
// Object arrays ('|O') hold a pickle; they go through the safe unpickler with the caller's allowlist.
import { zipSync } from 'fflate';
import { MagicPortraitError } from '../errors';
import { NdArray, bytesOf, isNdArray, isNumericDType } from './ndarray';
import { arrayFromNumpyBytes, parseNumpyDescr } from './numpy-dtype';
import { NUMPY_GLOBALS } from './pickle-globals';
import { unpickle, type PickleEncoding, type PyGlobal } from './pickle';
import { toSource, type SourceLike } from './source';
import { ZipReader } from './zip';

export interface NpyReadOptions {
  /** Name used in error messages. */
  file?: string;
  /** Extra pickle globals allowed in object arrays (numpy's own are always allowed). */
  globals?: readonly PyGlobal[];
  /** Python-2 str decoding in object arrays (np.load's `encoding`, default 'latin1'). */
  encoding?: PickleEncoding;
  /** Resolves persistent ids in object-array pickles (rarely needed). */
  persistentLoad?: Parameters<typeof unpickle>[1]['persistentLoad'];
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && MAGIC.every((b, i) => bytes[i] === b);
}

/** Parses a whole .npy file held in memory. */
export function parseNpy(bytes: Uint8Array, opts: NpyReadOptions = {}): NdArray {
  const file = opts.file ?? 'npy';
  const bad = (why: string) => new MagicPortraitError(`${file} is not a valid .npy file: ${why}.`, 'bad-file');
  if (!isNpy(bytes)) throw bad('wrong magic (expected \\x93NUMPY)');
  if (bytes.length < 10) throw bad('truncated header');
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number, hstart: number;
  if (major === 1) [hlen, hstart] = [dv.getUint16(8, true), 10];
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('truncated header');
    [hlen, hstart] = [dv.getUint32(8, true), 12];
  } else throw bad(`unsupported format version ${major}`);
  if (hstart + hlen > bytes.length) throw bad('truncated header');
  const hbytes = bytes.subarray(hstart, hstart + hlen);
  const header = major === 3 ? new TextDecoder().decode(hbytes) : Buffer.from(hbytes).toString('latin1');
  let h: unknown;
  try {
    h = parsePyLiteral(header);
  } catch (e) {
    throw bad(`unreadable header (${(e as Error).message})`);
  }
  if (!(h instanceof Map)) throw bad('header is not a dict');
  const descr = h.get('descr');
  const fortran = h.get('fortran_order');
  const shape = h.get('shape');
  if (typeof descr !== 'string') throw bad(Array.isArray(descr) ? 'structured dtypes are not supported' : 'no descr');
  if (typeof fortran !== 'boolean') throw bad('no fortran_order');
  if (!Array.isArray(shape) || !shape.every((s) => typeof s === 'number' && Number.isInteger(s) && s >= 0)) throw bad('bad shape');
  const d = parseNumpyDescr(descr, undefined, file);
  const body = bytes.subarray(hstart + hlen);
  if (d.dtype === 'object') {
    const v = unpickle(body, {
      file,
      globals: [...NUMPY_GLOBALS, ...(opts.globals ?? [])],
      encoding: opts.encoding ?? 'latin1',
      persistentLoad: opts.persistentLoad,
    });
    if (!isNdArray(v)) throw bad('object array pickle did not hold an array');
    return v;
  }
  return arrayFromNumpyBytes(d, shape as number[], fortran, body, file);
}

/** Reads a .npy file. */
export async function readNpy(src: SourceLike, opts: NpyReadOptions = {}): Promise<NdArray> {
  const s = await toSource(src, opts.file);
  try {
    return parseNpy(await s.read(0, s.size), { ...opts, file: opts.file ?? s.name });
  } finally {
    if (s !== src) await s.close();
  }
}

const DESCR: Record<string, string> = {
  bool: '|b1', int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2', int32: '<i4', uint32: '<u4',
  int64: '<i8', uint64: '<u8', float16: '<f2', float32: '<f4', float64: '<f8',
};

/** Serialises an array as .npy (v1 header, or v2 if the header needs it). Keeps F order as fortran_order. */
export function writeNpy(a: NdArray): Uint8Array {
  let descr: string;
  let body: Uint8Array;
  if (isNumericDType(a.dtype) && DESCR[a.dtype]) {
    descr = DESCR[a.dtype];
    body = bytesOf(a);
  } else if (a.dtype === 'str') {
    const strs = a.data as string[];
    const width = Math.max(1, ...strs.map((s) => [...s].length));
    descr = `<U${width}`;
    const out = new Uint32Array(strs.length * width);
    strs.forEach((s, i) => [...s].forEach((ch, j) => (out[i * width + j] = ch.codePointAt(0)!)));
    body = new Uint8Array(out.buffer);
  } else {
    throw new MagicPortraitError(`Cannot write an array of dtype ${a.dtype} to .npy.`, 'bad-input');
  }
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${a.order === 'F' && a.ndim > 1 ? 'True' : 'False'}, 'shape': ${shape}, }`;
  const v1 = dict.length + 1 + 10 <= 65535 + 10;
  const pre = v1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total + body.length);
  out.set(MAGIC);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (v1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  out.set(Buffer.from(dict, 'latin1'), pre);
  out.set(body, total);
  return out;
}

/** A lazily read .npz: arrays are decoded on `get`. */
export interface NpzFile {
  readonly name: string;
  /** Array names without the '.npy' suffix, in archive order. */
  names(): string[];
  has(name: string): boolean;
  /** Throws a 'missing-key' MagicPortraitError naming the array and the file when absent. */
  get(name: string): Promise<NdArray>;
  close(): Promise<void>;
}

/** Opens an .npz (zip of .npy, stored or deflated). Only the zip directory is read up front. */
export async function openNpz(src: SourceLike, opts: NpyReadOptions = {}): Promise<NpzFile> {
  const s = await toSource(src, opts.file);
  const owned = s !== src;
  let zip: ZipReader;
  try {
    zip = await ZipReader.open(s);
  } catch (e) {
    if (owned) await s.close();
    throw e;
  }
  const byName = new Map<string, string>();
  for (const n of zip.entries.keys()) byName.set(n.endsWith('.npy') ? n.slice(0, -4) : n, n);
  return {
    name: s.name,
    names: () => [...byName.keys()],
    has: (n) => byName.has(n),
    async get(n) {
      const entry = byName.has(n) ? zip.get(byName.get(n)!) : undefined;
      if (!entry) {
        throw new MagicPortraitError(`Array '${n}' not found in ${s.name} (it has: ${[...byName.keys()].join(', ') || 'nothing'}).`, 'missing-key');
      }
      return parseNpy(await zip.read(entry), { ...opts, file: `${s.name}:${entry.name}` });
    },
    close: async () => {
      if (owned) await s.close();
    },
  };
}

/**
 * Builds an .npz archive in memory (deflated when `compress`). The zip entries carry `mtime` (default: now); pass a
 * fixed date for files whose bytes must depend only on their content.
 */
export function writeNpz(arrays: Record<string, NdArray> | Map<string, NdArray>, opts: { compress?: boolean; mtime?: Date } = {}): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  const it = arrays instanceof Map ? arrays.entries() : Object.entries(arrays);
  for (const [k, v] of it) files[`${k}.npy`] = writeNpy(v);
  return zipSync(files, { level: opts.compress ? 6 : 0, ...(opts.mtime ? { mtime: opts.mtime } : {}) });
}

/**
 * Parses the Python literal of an .npy header: dicts, tuples, lists, strings, ints (py2 'L' suffix), True/False/None.
 * Tuples and lists become arrays, dicts Maps.
 */
export function parsePyLiteral(src: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  const expect = (c: string) => {
    ws();
    if (src[i] !== c) throw new Error(`expected '${c}' at ${i}`);
    i++;
  };
  const value = (): unknown => {
    ws();
    const c = src[i];
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: unknown[] = [];
      const map = new Map<unknown, unknown>();
      for (;;) {
        ws();
        if (src[i] === close) {
          i++;
          break;
        }
        const v = value();
        if (c === '{') {
          expect(':');
          map.set(v, value());
        } else items.push(v);
        ws();
        if (src[i] === ',') i++;
        else if (src[i] !== close) throw new Error(`expected ',' or '${close}' at ${i}`);
      }
      return c === '{' ? map : items;
    }
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new Error('unterminated string');
      const s = src.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(src.slice(i));
    if (!m) throw new Error(`unexpected '${src.slice(i, i + 10)}'`);
    i += m[0].length;
    return m[0] === 'True' ? true : m[0] === 'False' ? false : m[0] === 'None' ? null : Number(m[0].replace('L', ''));
  };
  const v = value();
  ws();
  if (i !== src.length) throw new Error(`trailing text at ${i}`);
  return v;
}
