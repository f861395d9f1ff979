// The in-memory array model shared by the pickle, npy/npz, torch and safetensors readers.
// Data is always stored in native (little-endian) byte order; readers swap on load.
import { MagicPortraitError } from '../errors';

export type NumericDType =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float16'
  | 'bfloat16'
  | 'float32'
  | 'float64';
/** 'object' holds arbitrary unpickled values; 'str' holds numpy unicode ('<U…') elements. */
export type DType = NumericDType | 'object' | 'str';

export type TypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;
export type ArrayData = TypedArray | unknown[];

interface DTypeInfo {
  size: number;
  ctor: { new (buf: ArrayBufferLike, off: number, len: number): TypedArray; new (len: number): TypedArray };
}
// bool is one byte per element (0/1); float16/bfloat16 keep their raw bits (see toFloat32).
const NUMERIC: Record<NumericDType, DTypeInfo> = {
  bool: { size: 1, ctor: Uint8Array },
  int8: { size: 1, ctor: Int8Array },
  uint8: { size: 1, ctor: Uint8Array },
  int16: { size: 2, ctor: Int16Array },
  uint16: { size: 2, ctor: Uint16Array },
  int32: { size: 4, ctor: Int32Array },
  uint32: { size: 4, ctor: Uint32Array },
  int64: { size: 8, ctor: BigInt64Array },
  uint64: { size: 8, ctor: BigUint64Array },
  float16: { size: 2, ctor: Uint16Array },
  bfloat16: { size: 2, ctor: Uint16Array },
  float32: { size: 4, ctor: Float32Array },
  float64: { size: 8, ctor: Float64Array },
};

export function isNumericDType(d: string): d is NumericDType {
  return Object.prototype.hasOwnProperty.call(NUMERIC, d);
}
export function itemSize(d: NumericDType): number {
  return NUMERIC[d].size;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** An n-dimensional array. `order` tells how `data` is laid out; use `cOrderData()` for row-major data. */
export class NdArray {
  constructor(
    readonly dtype: DType,
    readonly shape: number[],
    readonly data: ArrayData,
    readonly order: 'C' | 'F' = 'C',
  ) {
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new MagicPortraitError(`Array data has ${data.length} elements but shape (${shape.join(', ')}) needs ${n}.`, 'bad-file');
    }
  }
  get size(): number {
    return this.data.length;
  }
  get ndim(): number {
    return this.shape.length;
  }
}

export function isNdArray(x: unknown): x is NdArray {
  return x instanceof NdArray;
}

/** Copies little/big-endian bytes into a fresh, aligned typed array of `count` elements. */
export function typedFromBytes(dtype: NumericDType, bytes: Uint8Array, count: number, bigEndian = false): TypedArray {
  const { size, ctor } = NUMERIC[dtype];
  const n = count * size;
  if (bytes.length < n) {
    throw new MagicPortraitError(`Array data is truncated: ${bytes.length} bytes for ${count} × ${dtype} (${n} bytes).`, 'bad-file');
  }
  const copy = new Uint8Array(n);
  copy.set(bytes.subarray(0, n));
  if (bigEndian && size > 1) swapBytes(copy, size);
  return new ctor(copy.buffer, 0, count);
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}

/** Raw little-endian bytes of a numeric array's data (a view, no copy). */
export function bytesOf(a: NdArray): Uint8Array {
  if (!isNumericDType(a.dtype)) throw new MagicPortraitError(`Array of dtype ${a.dtype} has no raw bytes.`, 'bad-file');
  const d = a.data as TypedArray;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function emptyLike(data: ArrayData, n: number): ArrayData {
  if (Array.isArray(data)) return new Array<unknown>(n);
  return new (data.constructor as new (n: number) => TypedArray)(n);
}

/**
 * Gathers a strided view into a new contiguous C-order buffer. Strides and offset are in elements.
 * Iterates an index odometer with a tight innermost loop (no per-element allocation).
 */
export function stridedToContiguous<T extends ArrayData>(src: T, shape: readonly number[], strides: readonly number[], offset = 0): T {
  const n = sizeOf(shape);
  const out = emptyLike(src, n) as T;
  if (n === 0) return out;
  const nd = shape.length;
  if (nd === 0) {
    (out as unknown[])[0] = (src as unknown[])[offset];
    return out;
  }
  const inner = shape[nd - 1];
  const innerStride = strides[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let base = offset;
  const s = src as unknown as { [i: number]: unknown };
  const o = out as unknown as { [i: number]: unknown };
  for (let k = 0; k < n; k += inner) {
    for (let j = 0, p = base; j < inner; j++, p += innerStride) o[k + j] = s[p];
    // advance the odometer over the outer dimensions
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      base += strides[d];
      if (idx[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** C-order strides (in elements) of a shape. */
export function cStrides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

/** The array with its data in C (row-major) order; returns `a` itself when it already is. */
export function toCOrder(a: NdArray): NdArray {
  if (a.order === 'C') return a;
  if (a.ndim < 2) return new NdArray(a.dtype, a.shape, a.data, 'C');
  // F-order data of shape s has strides (1, s0, s0*s1, ...)
  const fStrides: number[] = [];
  let acc = 1;
  for (const s of a.shape) {
    fStrides.push(acc);
    acc *= s;
  }
  return new NdArray(a.dtype, a.shape, stridedToContiguous(a.data, a.shape, fStrides), 'C');
}

/** Row-major data of any array. */
export function cOrderData(a: NdArray): ArrayData {
  return toCOrder(a).data;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function bfloat16ToFloat(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0];
}

/** Converts C-order data of any numeric array to `out` (float32/float64); int64 values go through Number(). */
function convertInto<T extends Float32Array | Float64Array>(a: NdArray, out: T): T {
  const d = cOrderData(a);
  if (a.dtype === 'float16') {
    const h = d as Uint16Array;
    for (let i = 0; i < h.length; i++) out[i] = halfToFloat(h[i]);
  } else if (a.dtype === 'bfloat16') {
    const h = d as Uint16Array;
    for (let i = 0; i < h.length; i++) out[i] = bfloat16ToFloat(h[i]);
  } else if (a.dtype === 'int64' || a.dtype === 'uint64') {
    const b = d as BigInt64Array;
    for (let i = 0; i < b.length; i++) out[i] = Number(b[i]);
  } else if (isNumericDType(a.dtype)) {
    out.set(d as Exclude<TypedArray, BigInt64Array | BigUint64Array>);
  } else {
    throw new MagicPortraitError(`Cannot convert an array of dtype ${a.dtype} to numbers.`, 'bad-file');
  }
  return out;
}

/** C-order Float32Array of any numeric array (decodes float16/bfloat16). Shares data when already float32 C-order. */
export function toFloat32(a: NdArray): Float32Array {
  if (a.dtype === 'float32') return cOrderData(a) as Float32Array;
  return convertInto(a, new Float32Array(a.size));
}

/** C-order Float64Array of any numeric array. Shares data when already float64 C-order. */
export function toFloat64(a: NdArray): Float64Array {
  if (a.dtype === 'float64') return cOrderData(a) as Float64Array;
  return convertInto(a, new Float64Array(a.size));
}

/** C-order Int32Array of an integer/bool array; throws when an int64 value does not fit. */
export function toInt32(a: NdArray, what = 'array'): Int32Array {
  const d = cOrderData(a);
  if (a.dtype === 'int32') return d as Int32Array;
  const out = new Int32Array(a.size);
  if (a.dtype === 'int64' || a.dtype === 'uint64') {
    const b = d as BigInt64Array;
    for (let i = 0; i < b.length; i++) {
      const v = b[i];
      if (v > 2147483647n || v < -2147483648n) {
        throw new MagicPortraitError(`Value ${v} at index ${i} of ${what} does not fit in int32.`, 'bad-file');
      }
      out[i] = Number(v);
    }
    return out;
  }
  if (a.dtype === 'bool' || a.dtype.startsWith('int') || a.dtype.startsWith('uint')) {
    const src = d as Uint8Array;
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      if (v > 2147483647) throw new MagicPortraitError(`Value ${v} at index ${i} of ${what} does not fit in int32.`, 'bad-file');
      out[i] = v;
    }
    return out;
  }
  throw new MagicPortraitError(`Expected an integer array for ${what}, got ${a.dtype}.`, 'bad-file');
}

/** int64 data as plain numbers; throws beyond ±2^53. */
export function int64ToNumbers(data: BigInt64Array | BigUint64Array): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v > 9007199254740991n || v < -9007199254740991n) {
      throw new MagicPortraitError(`int64 value ${v} at index ${i} is not exactly representable as a number.`, 'bad-file');
    }
    out[i] = Number(v);
  }
  return out;
}

/** The single element of a 0-d (or size-1) array as a JS value (bigint for int64, boolean for bool). */
export function scalarOf(a: NdArray): unknown {
  if (a.size !== 1) throw new MagicPortraitError(`Expected a single-element array, got shape (${a.shape.join(', ')}).`, 'bad-file');
  const v = (a.data as ArrayLike<unknown>)[0];
  if (a.dtype === 'bool') return v !== 0;
  if (a.dtype === 'float16') return halfToFloat(v as number);
  if (a.dtype === 'bfloat16') return bfloat16ToFloat(v as number);
  return v;
}
