// PyTorch's pickle vocabulary: storages (persistent ids), tensor rebuild functions, and the legacy
// (non-zip) torch.save stream, which also appears embedded in plain pickles via torch.storage._load_from_bytes
// (e.g. DECA's landmark_embedding.npy holds torch tensors pickled that way).
import { MagicPortraitError } from '../errors';
import { NdArray, itemSize, stridedToContiguous, sizeOf, typedFromBytes, type NumericDType } from './ndarray';
import { BUILTIN_GLOBALS, COLLECTIONS_GLOBALS, NUMPY_GLOBALS } from './pickle-globals';
import { unpickleAt, type PickleContext, type PyGlobal, type UnpickleOptions } from './pickle';

/** Where a storage's bytes are: in memory, or fetched on demand from a file. Shared by a storage and its views. */
export interface StorageData {
  bytes?: Uint8Array;
  read?(byteOffset: number, byteLength: number): Promise<Uint8Array>;
  bigEndian: boolean;
}

export interface TorchStorage {
  dtype: NumericDType;
  key: string;
  /** element count of this storage (view) */
  numel: number;
  location: string;
  /** element offset into the shared data (legacy view storages) */
  elementOffset: number;
  data: StorageData;
}

/** A tensor whose data has not been read yet (checkpoints are read lazily; see loadTensor). */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorage,
    /** in elements */
    readonly storageOffset: number,
    readonly shape: number[],
    /** in elements */
    readonly stride: number[],
    readonly dtype: NumericDType,
  ) {}
}

interface TorchStorageType extends PyGlobal {
  storageDtype: NumericDType;
}
interface TorchDTypeToken extends PyGlobal {
  torchDtype: NumericDType;
}

const STORAGE_TYPES: Record<string, NumericDType> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8',
  BoolStorage: 'bool', UntypedStorage: 'uint8',
};
const TORCH_DTYPES: Record<string, NumericDType> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16',
  int8: 'int8', uint8: 'uint8', bool: 'bool',
};

export function storageDtypeOf(v: unknown): NumericDType | undefined {
  return v && typeof v === 'object' && 'storageDtype' in v ? (v as TorchStorageType).storageDtype : undefined;
}

function isStorage(v: unknown): v is TorchStorage {
  return !!v && typeof v === 'object' && 'data' in v && 'numel' in v && 'elementOffset' in v;
}

function intList(v: unknown, what: string, ctx: PickleContext): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) throw ctx.error(`Bad tensor ${what}`);
  return v as number[];
}

/** Elements [first, last+1) of the storage that a view touches, relative to its storage offset. */
function extent(shape: number[], stride: number[]): number {
  if (sizeOf(shape) === 0) return 0;
  let last = 0;
  for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * stride[i];
  return last + 1;
}

function rebuild(storage: unknown, offset: unknown, size: unknown, stride: unknown, dtype: NumericDType | undefined, ctx: PickleContext): NdArray | TorchTensorRef {
  if (!isStorage(storage)) throw ctx.error('Tensor without a storage');
  if (typeof offset !== 'number') throw ctx.error('Bad tensor storage offset');
  const shape = intList(size, 'size', ctx);
  const strides = intList(stride, 'stride', ctx);
  if (strides.length !== shape.length) throw ctx.error('Tensor stride and size differ in length');
  const dt = dtype ?? storage.dtype;
  let st = storage;
  if (dt !== storage.dtype) {
    // v3 rebuilds type an untyped (byte) storage
    const n = (storage.numel * itemSize(storage.dtype)) / itemSize(dt);
    st = { ...storage, dtype: dt, numel: Math.floor(n), elementOffset: (storage.elementOffset * itemSize(storage.dtype)) / itemSize(dt) };
  }
  if (offset + extent(shape, strides) > st.numel) throw ctx.error(`Tensor view exceeds its storage '${st.key}'`);
  const ref = new TorchTensorRef(st, offset, shape, strides, dt);
  // storages already in memory (embedded in plain pickles) give arrays right away
  return st.data.bytes ? materialize(ref, sliceBytes(ref, st.data.bytes)) : ref;
}

/** Byte range [start, end) of the shared storage data that a tensor needs. */
export function tensorByteRange(t: TorchTensorRef): [number, number] {
  const size = itemSize(t.dtype);
  const start = (t.storage.elementOffset + t.storageOffset) * size;
  return [start, start + extent(t.shape, t.stride) * size];
}

function sliceBytes(t: TorchTensorRef, bytes: Uint8Array): Uint8Array {
  const [a, b] = tensorByteRange(t);
  if (b > bytes.length) throw new MagicPortraitError(`Storage '${t.storage.key}' is truncated.`, 'bad-file');
  return bytes.subarray(a, b);
}

/** Builds a contiguous C-order array from exactly the bytes of tensorByteRange(t). */
export function materialize(t: TorchTensorRef, bytes: Uint8Array): NdArray {
  const n = extent(t.shape, t.stride);
  const flat = typedFromBytes(t.dtype, bytes, n, t.storage.data.bigEndian);
  const numel = sizeOf(t.shape);
  let contiguous = n === numel;
  for (let i = t.shape.length - 1, acc = 1; contiguous && i >= 0; i--) {
    if (t.shape[i] !== 1 && t.stride[i] !== acc) contiguous = false;
    acc *= t.shape[i];
  }
  return new NdArray(t.dtype, t.shape.slice(), contiguous ? flat : stridedToContiguous(flat, t.shape, t.stride));
}

/** Reads a lazy tensor: only its byte range of the storage is fetched. */
export async function loadTensor(t: TorchTensorRef): Promise<NdArray> {
  const d = t.storage.data;
  if (d.bytes) return materialize(t, sliceBytes(t, d.bytes));
  if (!d.read) throw new MagicPortraitError(`Storage '${t.storage.key}' has no data.`, 'bad-file');
  const [a, b] = tensorByteRange(t);
  return materialize(t, await d.read(a, b - a));
}

const rebuildV2: PyGlobal['call'] = (args, ctx) => rebuild(args[0], args[1], args[2], args[3], undefined, ctx);
const rebuildV3: PyGlobal['call'] = (args, ctx) => {
  const dt = args[6] && typeof args[6] === 'object' && 'torchDtype' in args[6] ? (args[6] as TorchDTypeToken).torchDtype : undefined;
  if (!dt) throw ctx.error('_rebuild_tensor_v3 without a known dtype');
  return rebuild(args[0], args[1], args[2], args[3], dt, ctx);
};

/**
 * The torch globals. Storages are created by the caller's persistentLoad (see torchPersistentLoad) or by
 * torch.storage._load_from_bytes for tensors pickled with plain pickle.
 */
export const TORCH_GLOBALS: readonly PyGlobal[] = [
  ...BUILTIN_GLOBALS,
  ...COLLECTIONS_GLOBALS,
  ...Object.entries(STORAGE_TYPES).map(([name, dt]): TorchStorageType => ({ module: 'torch', name, storageDtype: dt })),
  ...Object.entries(TORCH_DTYPES).map(([name, dt]): TorchDTypeToken => ({ module: 'torch', name, torchDtype: dt })),
  { module: 'torch._utils', name: '_rebuild_tensor', call: rebuildV2 },
  { module: 'torch._utils', name: '_rebuild_tensor_v2', call: rebuildV2 },
  { module: 'torch._utils', name: '_rebuild_tensor_v3', call: rebuildV3 },
  // a Parameter is its data; requires_grad and hooks do not matter for inference
  { module: 'torch._utils', name: '_rebuild_parameter', call: (args) => args[0] },
  { module: 'torch._utils', name: '_rebuild_parameter_with_state', call: (args) => args[0] },
  { module: 'torch', name: 'Tensor' },
  { module: 'torch.nn.parameter', name: 'Parameter' },
  {
    // tensor subclasses: _rebuild_from_type_v2(func, new_type, args, state) → func(*args)
    module: 'torch._tensor',
    name: '_rebuild_from_type_v2',
    call: (args, ctx) => {
      const f = args[0] as PyGlobal;
      if (!f?.call || !Array.isArray(args[2])) throw ctx.error('Bad _rebuild_from_type_v2 arguments');
      return f.call(args[2], ctx);
    },
  },
  { module: 'torch', name: 'Size', call: (args) => (Array.isArray(args[0]) ? args[0].slice() : []) },
  { module: 'torch', name: 'device', call: (args) => args.map(String).join(':') },
  {
    module: 'torch.storage',
    name: '_load_from_bytes',
    call: (args, ctx) => {
      if (!(args[0] instanceof Uint8Array)) throw ctx.error('_load_from_bytes without bytes');
      return parseLegacyInMemory(args[0], `${ctx.file} (embedded torch storage)`);
    },
  },
];

/** Globals for plain pickles that may hold numpy arrays and torch tensors (DECA's landmark_embedding.npy). */
export const TORCH_NUMPY_GLOBALS: readonly PyGlobal[] = [...NUMPY_GLOBALS, ...TORCH_GLOBALS];

/** Persistent ids ('storage', storage_type, key, location, numel[, view_metadata]) → TorchStorage. */
export function torchPersistentLoad(
  dataFor: (key: string, dtype: NumericDType, numel: number, ctx: PickleContext) => StorageData,
): NonNullable<UnpickleOptions['persistentLoad']> {
  const seen = new Map<string, TorchStorage>();
  return (pid, ctx) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage') {
      throw ctx.error(`Unsupported persistent id ${Array.isArray(pid) ? `'${String(pid[0])}'` : ''} (only tensor storages are supported)`);
    }
    const [, type, key, location, numel, view] = pid;
    const dtype = storageDtypeOf(type);
    if (!dtype) throw ctx.error('Unknown storage type');
    if (typeof key !== 'string' || typeof numel !== 'number') throw ctx.error('Bad storage persistent id');
    let root = seen.get(key);
    if (!root) {
      root = { dtype, key, numel, location: String(location), elementOffset: 0, data: dataFor(key, dtype, numel, ctx) };
      seen.set(key, root);
    }
    if (Array.isArray(view) && view.length === 3) {
      // legacy view storage: (view_key, offset, size) into the root storage
      const [vkey, voff, vsize] = view as [string, number, number];
      return { ...root, key: vkey, numel: vsize, elementOffset: voff };
    }
    return root;
  };
}

// ---- legacy torch.save stream: magic, protocol, sys_info, main pickle, storage keys, then raw storages ----
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

export interface LegacyHeader {
  /** the main object, with lazy storages */
  root: unknown;
  /** storage keys in file order, with the objects to fill */
  storages: Map<string, TorchStorage>;
  keyOrder: string[];
  /** offset of the first storage record */
  dataStart: number;
  bigEndian: boolean;
}

/** Parses the pickles at the start of a legacy torch.save stream held in `head` (may be a prefix of the file). */
export function parseLegacyHeader(head: Uint8Array, file: string, extraGlobals: readonly PyGlobal[] = []): LegacyHeader {
  const opts = { file, globals: [...TORCH_NUMPY_GLOBALS, ...extraGlobals], encoding: 'latin1' as const };
  let r = unpickleAt(head, 0, opts);
  if (r.value !== LEGACY_MAGIC) {
    throw new MagicPortraitError(`${file} is not a PyTorch checkpoint (a pickle without torch's magic number).`, 'bad-file');
  }
  r = unpickleAt(head, r.end, opts);
  if (r.value !== 1001) throw new MagicPortraitError(`${file}: unsupported legacy torch protocol ${String(r.value)}.`, 'bad-file');
  r = unpickleAt(head, r.end, opts);
  const sys = r.value instanceof Map ? r.value : new Map();
  const bigEndian = sys.get('little_endian') === false;
  const storages = new Map<string, TorchStorage>();
  const datas = new Map<string, StorageData>();
  const main = unpickleAt(head, r.end, {
    ...opts,
    persistentLoad: torchPersistentLoad((key, dtype, numel) => {
      const d: StorageData = { bigEndian };
      datas.set(key, d);
      storages.set(key, { dtype, key, numel, location: '', elementOffset: 0, data: d });
      return d;
    }),
  });
  const keys = unpickleAt(head, main.end, opts);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new MagicPortraitError(`${file}: corrupt legacy checkpoint (no storage key list).`, 'bad-file');
  }
  return { root: main.value, storages, keyOrder: keys.value as string[], dataStart: keys.end, bigEndian };
}

/** Record layout of legacy storage data: 8-byte little-endian element count, then the elements. */
function legacyRecordSize(numelBytes: Uint8Array): number {
  const n = new DataView(numelBytes.buffer, numelBytes.byteOffset, 8).getBigInt64(0, true);
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new MagicPortraitError('Corrupt legacy storage size.', 'bad-file');
  return Number(n);
}

/** A whole legacy stream in memory (the bytes of torch.storage._load_from_bytes). */
function parseLegacyInMemory(bytes: Uint8Array, file: string): unknown {
  const h = parseLegacyHeader(bytes, file);
  let pos = h.dataStart;
  for (const key of h.keyOrder) {
    const s = h.storages.get(key);
    if (!s) throw new MagicPortraitError(`${file}: storage '${key}' is listed but never used.`, 'bad-file');
    if (pos + 8 > bytes.length) throw new MagicPortraitError(`${file} is truncated.`, 'truncated');
    const n = legacyRecordSize(bytes.subarray(pos, pos + 8)) * itemSize(s.dtype);
    if (pos + 8 + n > bytes.length) throw new MagicPortraitError(`${file} is truncated.`, 'truncated');
    s.data.bytes = bytes.subarray(pos + 8, pos + 8 + n);
    pos += 8 + n;
  }
  return h.root;
}

/** Locates each storage of a legacy file by hopping over the 8-byte size headers (one small read each). */
export async function locateLegacyStorages(
  h: LegacyHeader,
  read: (off: number, len: number) => Promise<Uint8Array>,
  fileSize: number,
  file: string,
): Promise<void> {
  let pos = h.dataStart;
  for (const key of h.keyOrder) {
    const s = h.storages.get(key);
    if (!s) throw new MagicPortraitError(`${file}: storage '${key}' is listed but never used.`, 'bad-file');
    const n = legacyRecordSize(await read(pos, 8)) * itemSize(s.dtype);
    const start = pos + 8;
    const total = n;
    if (start + n > fileSize) throw new MagicPortraitError(`${file} is truncated: storage '${key}' ends past the end of the file.`, 'truncated');
    s.data.read = (off, len) => {
      if (off + len > total) throw new MagicPortraitError(`${file}: read past the end of storage '${key}'.`, 'bad-file');
      return read(start + off, len);
    };
    pos = start + n;
  }
}
