// PyTorch checkpoints (.pt/.pth/.ckpt/.tar), read lazily: opening parses only the pickle (and the zip directory),
// `get(key)` then reads just that tensor's byte range. Handles the zip format (any archive folder name, byteorder
// file) and the legacy non-zip torch.save stream. Nested dicts are flattened to dotted keys
// ('E_flame.encoder.conv1.weight'); `scope('E_flame')` gives the inner state dict.
import { MagicPortraitError } from '../errors';
import { NdArray, isNdArray, itemSize, type NumericDType } from './ndarray';
import { isTruncation, unpickle, type PyGlobal } from './pickle';
import { toSource, type ByteSource, type SourceLike } from './source';
import {
  TORCH_NUMPY_GLOBALS,
  TorchTensorRef,
  loadTensor,
  locateLegacyStorages,
  parseLegacyHeader,
  torchPersistentLoad,
  type LegacyHeader,
} from './torch-pickle';
import { ZipReader } from './zip';

export interface TensorInfo {
  key: string;
  dtype: NumericDType;
  shape: number[];
}

/** A lazily read set of named tensors (a state dict). Shared by torch checkpoints and safetensors. */
export interface TensorStore {
  /** File name, for messages. */
  readonly file: string;
  /** Tensor keys in file order. */
  keys(): string[];
  has(key: string): boolean;
  /** dtype and shape without reading data; throws 'missing-key' naming the key and file. */
  info(key: string): TensorInfo;
  /** Reads one tensor as a contiguous C-order array; throws 'missing-key' naming the key and file. */
  get(key: string): Promise<NdArray>;
  /** The tensors under `prefix.` with the prefix removed (e.g. 'E_flame', 'state_dict'). */
  scope(prefix: string): TensorStore;
}

export interface TorchCheckpoint extends TensorStore {
  readonly format: 'zip' | 'legacy';
  /** The unpickled object: Maps, plain values, TorchTensorRef (unread tensors) and NdArray (numpy) leaves. */
  readonly root: unknown;
  close(): Promise<void>;
}

export interface TorchOpenOptions {
  /** Extra pickle globals to allow (beyond torch/numpy/OrderedDict). */
  globals?: readonly PyGlobal[];
  /** Legacy format: first guess of the pickle prefix length, grown ×4 until it parses (default 1 MiB). */
  legacyProbeBytes?: number;
}

type Leaf = TorchTensorRef | NdArray;

/** Flattens nested string-keyed dicts to dotted keys; non-tensor values are skipped. */
function flatten(root: unknown): Map<string, Leaf> {
  const out = new Map<string, Leaf>();
  const walk = (v: unknown, prefix: string, depth: number) => {
    if (v instanceof TorchTensorRef || isNdArray(v)) {
      out.set(prefix, v);
    } else if (v instanceof Map && depth < 64) {
      for (const [k, x] of v) if (typeof k === 'string' || typeof k === 'number') walk(x, prefix ? `${prefix}.${k}` : String(k), depth + 1);
    }
  };
  walk(root, '', 0);
  return out;
}

function missing(key: string, file: string, keys: string[]): MagicPortraitError {
  const near = keys.filter((k) => k.endsWith(key.split('.').pop() ?? key)).slice(0, 3);
  const hint = near.length ? ` Similar keys: ${near.join(', ')}.` : keys.length ? ` It has ${keys.length} tensors, e.g. ${keys.slice(0, 3).join(', ')}.` : ' It has no tensors.';
  return new MagicPortraitError(`Tensor '${key}' not found in ${file}.${hint}`, 'missing-key');
}

/** A TensorStore over flattened leaves. */
export class LeafStore implements TensorStore {
  constructor(
    readonly file: string,
    private readonly leaves: Map<string, Leaf>,
  ) {}
  keys(): string[] {
    return [...this.leaves.keys()];
  }
  has(key: string): boolean {
    return this.leaves.has(key);
  }
  private leaf(key: string): Leaf {
    const l = this.leaves.get(key);
    if (!l) throw missing(key, this.file, this.keys());
    return l;
  }
  info(key: string): TensorInfo {
    const l = this.leaf(key);
    if (l.dtype === 'object' || l.dtype === 'str') throw new MagicPortraitError(`'${key}' in ${this.file} is not a numeric tensor.`, 'bad-file');
    return { key, dtype: l.dtype, shape: l.shape.slice() };
  }
  async get(key: string): Promise<NdArray> {
    const l = this.leaf(key);
    return l instanceof TorchTensorRef ? loadTensor(l) : l;
  }
  scope(prefix: string): TensorStore {
    const p = prefix.endsWith('.') ? prefix : `${prefix}.`;
    const sub = new Map<string, Leaf>();
    for (const [k, v] of this.leaves) if (k.startsWith(p)) sub.set(k.slice(p.length), v);
    if (!sub.size) {
      const tops = [...new Set(this.keys().map((k) => k.split('.')[0]))].slice(0, 8);
      throw new MagicPortraitError(`No tensors under '${prefix}' in ${this.file} (top-level keys: ${tops.join(', ') || 'none'}).`, 'missing-key');
    }
    return new LeafStore(`${this.file}:${prefix}`, sub);
  }
}

class Checkpoint extends LeafStore implements TorchCheckpoint {
  constructor(
    file: string,
    readonly format: 'zip' | 'legacy',
    readonly root: unknown,
    private readonly source: ByteSource,
    private readonly owned: boolean,
  ) {
    super(file, flatten(root));
  }
  async close(): Promise<void> {
    if (this.owned) await this.source.close();
  }
}

/** Opens a PyTorch checkpoint. Reads the pickle and directory only; tensors are read on `get`. */
export async function openTorchCheckpoint(src: SourceLike, opts: TorchOpenOptions = {}): Promise<TorchCheckpoint> {
  const source = await toSource(src, 'checkpoint');
  const owned = source !== src;
  try {
    const head = await source.read(0, Math.min(source.size, 512));
    if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4) {
      return await openZip(source, owned, opts);
    }
    if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2) return await openLegacy(source, owned, opts);
    if (head.length >= 262 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar') {
      throw new MagicPortraitError(
        `${source.name} is a tar-format checkpoint from PyTorch < 0.4, which is not supported; load and re-save it with a current PyTorch (torch.save).`,
        'bad-file',
      );
    }
    throw new MagicPortraitError(`${source.name} is not a PyTorch checkpoint (neither a torch zip archive nor a torch.save stream).`, 'bad-file');
  } catch (e) {
    if (owned) await source.close();
    throw e;
  }
}

async function openZip(source: ByteSource, owned: boolean, opts: TorchOpenOptions): Promise<TorchCheckpoint> {
  const zip = await ZipReader.open(source);
  // the archive folder is named after the file by older torch, 'archive' by newer: find data.pkl at any depth-1 path
  const pkl = [...zip.entries.keys()].filter((n) => /^[^/]*\/?data\.pkl$/.test(n)).sort((a, b) => a.length - b.length)[0];
  if (!pkl) throw new MagicPortraitError(`${source.name} is a zip file but not a PyTorch checkpoint (no data.pkl).`, 'bad-file');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const bo = zip.get(`${prefix}byteorder`);
  const bigEndian = bo ? new TextDecoder().decode(await zip.read(bo)).trim() === 'big' : false;
  const file = source.name;
  const root = unpickle(await zip.read(zip.get(pkl)!), {
    file: `${file}:${pkl}`,
    globals: [...TORCH_NUMPY_GLOBALS, ...(opts.globals ?? [])],
    encoding: 'latin1',
    persistentLoad: torchPersistentLoad((key, dtype, numel, ctx) => {
      const entry = zip.get(`${prefix}data/${key}`);
      if (!entry) throw ctx.error(`Storage '${key}' is missing from the archive`);
      if (entry.size < numel * itemSize(dtype)) throw ctx.error(`Storage '${key}' is shorter than its ${numel} elements`);
      return { bigEndian, read: (off, len) => zip.readRange(entry, off, len) };
    }),
  });
  return new Checkpoint(file, 'zip', root, source, owned);
}

async function openLegacy(source: ByteSource, owned: boolean, opts: TorchOpenOptions): Promise<TorchCheckpoint> {
  // The pickles come first and their length is unknown: read a growing prefix until they parse.
  let n = Math.min(source.size, Math.max(64, opts.legacyProbeBytes ?? 1 << 20));
  let h: LegacyHeader;
  for (;;) {
    const head = await source.read(0, n);
    try {
      h = parseLegacyHeader(head, source.name, opts.globals);
      break;
    } catch (e) {
      if (!isTruncation(e) || n === source.size) throw e;
      n = Math.min(source.size, n * 4);
    }
  }
  await locateLegacyStorages(h, (o, l) => source.read(o, l), source.size, source.name);
  return new Checkpoint(source.name, 'legacy', h.root, source, owned);
}
