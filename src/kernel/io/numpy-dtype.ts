// numpy dtype strings ('<f4', '|b1', 'i8', '>U10', 'O8', single-char codes) → our DType.
import { MagicPortraitError } from '../errors';
import { itemSize, isNumericDType, NdArray, typedFromBytes, type DType, type NumericDType } from './ndarray';

export interface ParsedDescr {
  dtype: DType;
  bigEndian: boolean;
  /** bytes per element (object: 8, a pointer) */
  itemSize: number;
  /** characters per element for 'str' */
  chars?: number;
}

const KIND_SIZE: Record<string, NumericDType> = {
  b1: 'bool', i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16', i4: 'int32', u4: 'uint32',
  i8: 'int64', u8: 'uint64', f2: 'float16', f4: 'float32', f8: 'float64',
};
// single-character type codes (as in np.dtype('d')); 'l'/'L' are 8 bytes on the 64-bit Linux/macOS files we meet
const CHAR: Record<string, string> = {
  '?': 'b1', b: 'i1', B: 'u1', h: 'i2', H: 'u2', i: 'i4', I: 'u4', l: 'i8', L: 'u8', q: 'i8', Q: 'u8',
  e: 'f2', f: 'f4', d: 'f8',
};

/** Parses a numpy dtype string; `byteorder` (from a pickled dtype's state) overrides any prefix. */
export function parseNumpyDescr(descr: string, byteorder?: string, where = 'array'): ParsedDescr {
  let s = descr;
  let order = '=';
  if (s.length && '<>|=!'.includes(s[0])) {
    order = s[0];
    s = s.slice(1);
  }
  if (byteorder) order = byteorder;
  const bigEndian = order === '>' || order === '!';
  if (s.length === 1 && CHAR[s]) s = CHAR[s];
  if (s === 'O' || s === 'O8') return { dtype: 'object', bigEndian, itemSize: 8 };
  const u = /^U(\d+)$/.exec(s);
  if (u) return { dtype: 'str', bigEndian, itemSize: 4 * Number(u[1]), chars: Number(u[1]) };
  const dt = KIND_SIZE[s];
  if (!dt) {
    throw new MagicPortraitError(`Unsupported numpy dtype '${descr}' in ${where} (supported: bool, int8–64, uint8–64, float16/32/64, str, object).`, 'bad-file');
  }
  return { dtype: dt, bigEndian, itemSize: itemSize(dt) };
}

/** Builds an array from raw numpy bytes (C or F order). */
export function arrayFromNumpyBytes(d: ParsedDescr, shape: number[], fortran: boolean, bytes: Uint8Array, where: string): NdArray {
  let n = 1;
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new MagicPortraitError(`Bad array shape (${shape.join(', ')}) in ${where}.`, 'bad-file');
    n *= s;
  }
  const order = fortran ? 'F' : 'C';
  if (bytes.length < n * d.itemSize) {
    throw new MagicPortraitError(`Array data in ${where} is truncated: ${bytes.length} bytes, expected ${n * d.itemSize}.`, 'bad-file');
  }
  if (d.dtype === 'str') {
    const out: string[] = new Array(n);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) {
      let str = '';
      for (let c = 0; c < d.chars!; c++) {
        const cp = dv.getUint32(i * d.itemSize + 4 * c, !d.bigEndian);
        if (cp === 0) break; // numpy strips trailing NULs
        str += String.fromCodePoint(cp);
      }
      out[i] = str;
    }
    return new NdArray('str', shape, out, order);
  }
  if (!isNumericDType(d.dtype)) throw new MagicPortraitError(`Object array data in ${where} must be pickled.`, 'bad-file');
  return new NdArray(d.dtype, shape, typedFromBytes(d.dtype, bytes, n, d.bigEndian), order);
}
