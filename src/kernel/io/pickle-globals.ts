// Allowlist presets for the safe pickle reader: the Python globals that legitimately appear in the data files
// users bring (numpy arrays, FLAME's chumpy/scipy objects, OrderedDicts). Each one is re-implemented here as a
// pure data reconstructor. Only `import type` from pickle.ts (pickle.ts re-exports this module).
import { MagicPortraitError } from '../errors';
import { NdArray, halfToFloat, isNdArray, isNumericDType, toFloat64, toInt32, typedFromBytes } from './ndarray';
import { arrayFromNumpyBytes, parseNumpyDescr } from './numpy-dtype';
import type { PickleContext, PyGlobal } from './pickle';

/** A pickled `numpy.dtype`; byteorder comes from its BUILD state. */
export class NumpyDTypeValue {
  constructor(
    readonly descr: string,
    public byteorder = '=',
  ) {}
}

/** A scipy sparse matrix as stored (indices as written by scipy; use sparseToDense to densify). */
export interface SparseMatrix {
  format: 'csc' | 'csr' | 'coo';
  shape: [number, number];
  data: NdArray;
  /** csc/csr */
  indices?: NdArray;
  indptr?: NdArray;
  /** coo */
  row?: NdArray;
  col?: NdArray;
}

// placeholders that BUILD turns into the final value
class PendingArray {}
class PendingCh {}
class PendingSparse {
  constructor(readonly format: SparseMatrix['format']) {}
}

function g(module: string, name: string, hooks: Omit<PyGlobal, 'module' | 'name'> = {}): PyGlobal {
  return { module, name, ...hooks };
}
function latin1Bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}
/** numpy raw data: bytes, or a Python-2 str decoded as latin1 (numpy re-encodes it the same way). */
function rawBytes(v: unknown, ctx: PickleContext, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return latin1Bytes(v);
  throw ctx.error(`Expected bytes for ${what}, got ${typeof v}`);
}
/** A str argument; Python-2 str read with encoding 'bytes' arrives as bytes. */
function strArg(v: unknown): string | undefined {
  return typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : undefined;
}
/** state[key] for instance dicts, also when keys are bytes (encoding 'bytes'). */
function stateGet(state: Map<unknown, unknown>, key: string): unknown {
  if (state.has(key)) return state.get(key);
  for (const [k, v] of state) if (k instanceof Uint8Array && strArg(k) === key) return v;
  return undefined;
}
function dtypeArg(v: unknown, ctx: PickleContext): NumpyDTypeValue {
  if (v instanceof NumpyDTypeValue) return v;
  throw ctx.error('Expected a numpy dtype');
}
function shapeArg(v: unknown, ctx: PickleContext): number[] {
  if (typeof v === 'number') return [v];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) throw ctx.error('Bad array shape');
  return v as number[];
}

// ---- Python builtins that plain data pickles use ----
const reconstructor: PyGlobal['call'] = (args, ctx) => {
  // copyreg._reconstructor(cls, base, state): cls.__new__(cls) for object subclasses (protocol 0/1)
  const [cls, base] = args as [PyGlobal, PyGlobal];
  if (!cls || typeof cls !== 'object' || !('construct' in cls) || !cls.construct) throw ctx.error('copyreg._reconstructor on a class that cannot be instantiated');
  if (base && base.name !== 'object') throw ctx.error(`copyreg._reconstructor with base '${base.module}.${base.name}' is not supported`);
  const obj = cls.construct([], undefined, ctx);
  ctx.track(obj, cls);
  return obj;
};
const codecsEncode: PyGlobal['call'] = (args, ctx) => {
  // how protocol-2 pickles from Python 3 spell bytes: _codecs.encode('\x00…', 'latin1')
  const [s, enc = 'utf-8'] = args;
  if (typeof s !== 'string' || typeof enc !== 'string') throw ctx.error('Bad _codecs.encode arguments');
  const e = enc.toLowerCase().replace(/[-_]/g, '');
  if (e === 'latin1' || e === 'iso88591') return latin1Bytes(s);
  if (e === 'utf8') return new TextEncoder().encode(s);
  throw ctx.error(`_codecs.encode with encoding '${enc}' is not supported`);
};
const makeSet: PyGlobal['call'] = (args) => new Set((args[0] as Iterable<unknown>) ?? []);

export const BUILTIN_GLOBALS: readonly PyGlobal[] = [
  ...['builtins', '__builtin__'].flatMap((m) => [
    g(m, 'object'),
    g(m, 'set', { call: makeSet }),
    g(m, 'frozenset', { call: makeSet }),
    // protocol 0–2 spell b'' as bytes() and other bytes via _codecs.encode
    g(m, 'bytes', {
      call: (args, ctx) =>
        args.length === 0 ? new Uint8Array(0) : typeof args[0] === 'string' ? codecsEncode!(args, ctx) : Array.isArray(args[0]) ? Uint8Array.from(args[0] as number[]) : rawBytes(args[0], ctx, 'bytes'),
    }),
    g(m, 'bytearray', {
      call: (args, ctx) => (args.length === 0 ? new Uint8Array(0) : typeof args[0] === 'string' ? codecsEncode!(args, ctx) : rawBytes(args[0], ctx, 'bytearray').slice()),
    }),
  ]),
  g('copyreg', '_reconstructor', { call: reconstructor }),
  g('copy_reg', '_reconstructor', { call: reconstructor }),
  g('_codecs', 'encode', { call: codecsEncode }),
];

// ---- numpy ----
function ndarraySetState(_obj: unknown, state: unknown, ctx: PickleContext): NdArray {
  if (!Array.isArray(state)) throw ctx.error('Bad numpy array state');
  // (version, shape, dtype, is_fortran, data) or the older (shape, dtype, is_fortran, data)
  const s = state.length === 5 ? state.slice(1) : state;
  if (s.length !== 4) throw ctx.error('Bad numpy array state');
  const [shapeV, dtV, fortran, raw] = s;
  const shape = shapeArg(shapeV, ctx);
  const dt = dtypeArg(dtV, ctx);
  const d = parseNumpyDescr(dt.descr, dt.byteorder, ctx.file);
  const order = fortran ? 'F' : 'C';
  if (d.dtype === 'object') {
    if (!Array.isArray(raw)) throw ctx.error('Bad object-array data');
    return new NdArray('object', shape, raw, order);
  }
  return arrayFromNumpyBytes(d, shape, !!fortran, rawBytes(raw, ctx, 'numpy array data'), ctx.file);
}

const numpyScalar: PyGlobal['call'] = (args, ctx) => {
  const dt = dtypeArg(args[0], ctx);
  const d = parseNumpyDescr(dt.descr, dt.byteorder, ctx.file);
  if (d.dtype === 'object') return args[1];
  if (!isNumericDType(d.dtype)) throw ctx.error(`numpy scalar of dtype ${d.dtype} is not supported`);
  const v = typedFromBytes(d.dtype, rawBytes(args[1], ctx, 'numpy scalar'), 1, d.bigEndian)[0];
  if (d.dtype === 'bool') return v !== 0;
  if (typeof v === 'bigint') return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  if (d.dtype === 'float16') return halfToFloat(v as number);
  return v;
};

const frombuffer: PyGlobal['call'] = (args, ctx) => {
  // numpy's protocol-5 reduce: _frombuffer(buffer, dtype, shape, order)
  const [buf, dtV, shapeV, order] = args;
  const dt = dtypeArg(dtV, ctx);
  const d = parseNumpyDescr(dt.descr, dt.byteorder, ctx.file);
  return arrayFromNumpyBytes(d, shapeArg(shapeV, ctx), order === 'F', rawBytes(buf, ctx, 'numpy buffer'), ctx.file);
};

export const NUMPY_GLOBALS: readonly PyGlobal[] = [
  ...BUILTIN_GLOBALS,
  g('numpy', 'ndarray'),
  g('numpy', 'dtype', {
    call: (args, ctx) => {
      const d = strArg(args[0]);
      if (d === undefined) throw ctx.error('Bad numpy.dtype arguments');
      return new NumpyDTypeValue(d);
    },
    setState: (obj, state, ctx) => {
      // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
      const bo = Array.isArray(state) ? strArg(state[1]) : undefined;
      if (!Array.isArray(state) || bo === undefined) throw ctx.error('Bad numpy dtype state');
      if (state[3] != null || state[2] != null) throw ctx.error('Structured/subarray numpy dtypes are not supported');
      (obj as NumpyDTypeValue).byteorder = bo;
      return obj;
    },
  }),
  ...['numpy.core', 'numpy._core'].flatMap((p) => [
    g(`${p}.multiarray`, '_reconstruct', { call: () => new PendingArray(), setState: ndarraySetState }),
    g(`${p}.multiarray`, 'scalar', { call: numpyScalar }),
    g(`${p}.numeric`, '_frombuffer', { call: frombuffer }),
  ]),
];

// ---- collections ----
function toMap(v: unknown, ctx: PickleContext): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  if (v == null) return m;
  if (v instanceof Map) return new Map(v);
  if (!Array.isArray(v)) throw ctx.error('Bad OrderedDict argument');
  for (const kv of v) {
    if (!Array.isArray(kv) || kv.length !== 2) throw ctx.error('Bad OrderedDict item');
    m.set(kv[0], kv[1]);
  }
  return m;
}
export const COLLECTIONS_GLOBALS: readonly PyGlobal[] = [
  g('collections', 'OrderedDict', {
    call: (args, ctx) => toMap(args[0], ctx),
    construct: (args, _kw, ctx) => toMap(args[0], ctx),
    // state is the instance __dict__ (e.g. a state dict's `_metadata`): not data we need
    setState: (obj) => obj,
  }),
];

// ---- chumpy (FLAME / SMPL model files) ----
export const CHUMPY_GLOBALS: readonly PyGlobal[] = [
  ...NUMPY_GLOBALS,
  g('chumpy.ch', 'Ch', {
    construct: () => new PendingCh(),
    call: () => new PendingCh(),
    // a Ch's state dict holds its value in 'x'; we keep just the array
    setState: (_obj, state, ctx) => {
      const x = state instanceof Map ? stateGet(state, 'x') : undefined;
      if (!isNdArray(x) && typeof x !== 'number') throw ctx.error("chumpy.ch.Ch state has no array 'x'");
      return x;
    },
  }),
];

// ---- scipy.sparse ----
export interface SparseOptions {
  /** Return dense float64 NdArrays instead of SparseMatrix records. */
  densify?: boolean;
}
function sparseSetState(densify: boolean) {
  return (obj: unknown, state: unknown, ctx: PickleContext): SparseMatrix | NdArray => {
    const fmt = (obj as PendingSparse).format;
    if (!(state instanceof Map)) throw ctx.error(`Bad scipy ${fmt} matrix state`);
    const shapeV = stateGet(state, '_shape') ?? stateGet(state, 'shape');
    if (!Array.isArray(shapeV) || shapeV.length !== 2) throw ctx.error(`scipy ${fmt} matrix has no 2-d shape`);
    const arr = (k: string): NdArray => {
      const v = stateGet(state, k);
      if (!isNdArray(v)) throw ctx.error(`scipy ${fmt} matrix has no array '${k}'`);
      return v;
    };
    const m: SparseMatrix = { format: fmt, shape: [shapeV[0] as number, shapeV[1] as number], data: arr('data') };
    if (fmt === 'coo') {
      const coords = stateGet(state, 'coords');
      if (Array.isArray(coords) && coords.length === 2 && isNdArray(coords[0]) && isNdArray(coords[1])) [m.row, m.col] = coords as NdArray[];
      else [m.row, m.col] = [arr('row'), arr('col')];
    } else {
      m.indices = arr('indices');
      m.indptr = arr('indptr');
    }
    return densify ? sparseToDense(m) : m;
  };
}
export function scipySparseGlobals(opts: SparseOptions = {}): readonly PyGlobal[] {
  const out: PyGlobal[] = [];
  for (const fmt of ['csc', 'csr', 'coo'] as const) {
    for (const mod of [`scipy.sparse.${fmt}`, `scipy.sparse._${fmt}`]) {
      for (const cls of [`${fmt}_matrix`, `${fmt}_array`]) {
        out.push(g(mod, cls, { construct: () => new PendingSparse(fmt), setState: sparseSetState(!!opts.densify) }));
      }
    }
  }
  return [...NUMPY_GLOBALS, ...out];
}
export const SCIPY_SPARSE_GLOBALS = scipySparseGlobals();

/** Dense C-order float64 copy of a sparse matrix (duplicate entries are summed, as scipy does). */
export function sparseToDense(m: SparseMatrix): NdArray {
  const [rows, cols] = m.shape;
  const out = new Float64Array(rows * cols);
  const data = toFloat64(m.data);
  const put = (r: number, c: number, v: number) => {
    if (r < 0 || r >= rows || c < 0 || c >= cols) throw new MagicPortraitError(`Sparse matrix index (${r}, ${c}) outside shape (${rows}, ${cols}).`, 'bad-file');
    out[r * cols + c] += v;
  };
  if (m.format === 'coo') {
    const r = toInt32(m.row!, 'row'), c = toInt32(m.col!, 'col');
    for (let k = 0; k < data.length; k++) put(r[k], c[k], data[k]);
  } else {
    const idx = toInt32(m.indices!, 'indices'), ptr = toInt32(m.indptr!, 'indptr');
    const major = m.format === 'csc' ? cols : rows;
    if (ptr.length !== major + 1) throw new MagicPortraitError(`Sparse ${m.format} indptr has ${ptr.length} entries, expected ${major + 1}.`, 'bad-file');
    for (let j = 0; j < major; j++) {
      for (let k = ptr[j]; k < ptr[j + 1]; k++) {
        if (m.format === 'csc') put(idx[k], j, data[k]);
        else put(j, idx[k], data[k]);
      }
    }
  }
  return new NdArray('float64', [rows, cols], out);
}

/** Everything FLAME's generic_model.pkl needs (read it with encoding 'latin1'). */
export const FLAME_GLOBALS: readonly PyGlobal[] = [...CHUMPY_GLOBALS, ...SCIPY_SPARSE_GLOBALS, ...COLLECTIONS_GLOBALS];
