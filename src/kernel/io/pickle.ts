// A safe pickle reader (protocols 0–5). It never runs code: every GLOBAL / STACK_GLOBAL / INST is resolved
// through an explicit allowlist of reconstructors written in TypeScript; anything else is refused.
//
// Value model: None → null, bool → boolean, int → number (bigint beyond ±2^53), float → number,
// str → string, bytes → Uint8Array, Python-2 str → string (latin1) or Uint8Array (encoding 'bytes'),
// list and tuple → Array, dict → Map (keeps order and non-string keys), set/frozenset → Set.
// Reconstructors turn allowed class instances into plain values (numpy arrays → NdArray, …).
import { MagicPortraitError } from '../errors';
import { toSource, type SourceLike } from './source';

/** What an allowlisted global may do. Unset hooks make the corresponding opcode fail cleanly. */
export interface PyGlobal {
  readonly module: string;
  readonly name: string;
  /** REDUCE / INST / OBJ: `global(*args)`. */
  call?(args: unknown[], ctx: PickleContext): unknown;
  /** NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args, **kwargs)`. */
  construct?(args: unknown[], kwargs: Map<unknown, unknown> | undefined, ctx: PickleContext): unknown;
  /** BUILD on an object this global created: apply `state` (`__setstate__`) and return the final value. */
  setState?(obj: unknown, state: unknown, ctx: PickleContext): unknown;
}

export interface PickleContext {
  /** File name used in error messages. */
  readonly file: string;
  /** Byte offset of the opcode being executed. */
  readonly offset: number;
  readonly encoding: PickleEncoding;
  /** A MagicPortraitError naming the file and offset. */
  error(message: string): MagicPortraitError;
  /** Looks a global up in the active allowlist (throws like GLOBAL would when absent). */
  resolve(module: string, name: string): PyGlobal;
  /** Records which global's setState handles BUILD for `obj` (reconstructors that delegate, e.g. copyreg). */
  track(obj: unknown, cls: PyGlobal): void;
  classOf(obj: unknown): PyGlobal | undefined;
}

/** How Python-2 `str` (STRING/BINSTRING/SHORT_BINSTRING) is decoded; 'latin1' is what FLAME/DECA loaders use. */
export type PickleEncoding = 'latin1' | 'utf8' | 'bytes';

export interface UnpickleOptions {
  /** The allowlist: reconstructors (see the presets in pickle-globals.ts). */
  globals: readonly PyGlobal[];
  /** Name used in error messages. */
  file?: string;
  encoding?: PickleEncoding;
  /** Resolves persistent ids (PERSID/BINPERSID), e.g. PyTorch storages. Without it they are refused. */
  persistentLoad?(pid: unknown, ctx: PickleContext): unknown;
}

/** A Python global allowed to be referenced but not called (e.g. a class passed as an argument). */
export function pyToken(module: string, name: string, extra: Partial<PyGlobal> = {}): PyGlobal {
  return { module, name, ...extra };
}

export function globalName(g: PyGlobal): string {
  return `${g.module}.${g.name}`;
}

/** `dict.get` that throws a MagicPortraitError naming the key when absent. */
export function dictGet(d: unknown, key: string, what = 'pickle'): unknown {
  if (!(d instanceof Map)) throw new MagicPortraitError(`Expected a dict in ${what}, got ${describe(d)}.`, 'bad-file');
  if (!d.has(key)) throw new MagicPortraitError(`Key '${key}' not found in ${what}.`, 'missing-key');
  return d.get(key);
}

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return `a list/tuple of ${v.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** Unpickles one pickle from the start of `data`. */
export function unpickle(data: Uint8Array, options: UnpickleOptions): unknown {
  return unpickleAt(data, 0, options).value;
}

/** Reads and unpickles a whole .pkl file (e.g. FLAME's generic_model.pkl with FLAME_GLOBALS). */
export async function readPickle(src: SourceLike, options: UnpickleOptions): Promise<unknown> {
  const s = await toSource(src, options.file);
  try {
    return unpickle(await s.read(0, s.size), { ...options, file: options.file ?? s.name });
  } finally {
    if (s !== src) await s.close();
  }
}

/** Unpickles one pickle starting at `offset`; returns the value and the offset just past STOP. */
export function unpickleAt(data: Uint8Array, offset: number, options: UnpickleOptions): { value: unknown; end: number } {
  return new Unpickler(data, offset, options).run();
}

/** Thrown (as a MagicPortraitError with code 'truncated') when the input ends early. */
export function isTruncation(e: unknown): boolean {
  return e instanceof MagicPortraitError && e.code === 'truncated';
}

// Opcodes (pickletools names).
const enum Op {
  MARK = 0x28, STOP = 0x2e, POP = 0x30, POP_MARK = 0x31, DUP = 0x32, FLOAT = 0x46, INT = 0x49, BININT = 0x4a,
  BININT1 = 0x4b, LONG = 0x4c, BININT2 = 0x4d, NONE = 0x4e, PERSID = 0x50, BINPERSID = 0x51, REDUCE = 0x52,
  STRING = 0x53, BINSTRING = 0x54, SHORT_BINSTRING = 0x55, UNICODE = 0x56, BINUNICODE = 0x58, APPEND = 0x61,
  BUILD = 0x62, GLOBAL = 0x63, DICT = 0x64, EMPTY_DICT = 0x7d, APPENDS = 0x65, GET = 0x67, BINGET = 0x68,
  INST = 0x69, LONG_BINGET = 0x6a, LIST = 0x6c, EMPTY_LIST = 0x5d, OBJ = 0x6f, PUT = 0x70, BINPUT = 0x71,
  LONG_BINPUT = 0x72, SETITEM = 0x73, TUPLE = 0x74, EMPTY_TUPLE = 0x29, SETITEMS = 0x75, BINFLOAT = 0x47,
  PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87,
  NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b, BINBYTES = 0x42, SHORT_BINBYTES = 0x43,
  SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90,
  FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95, BYTEARRAY8 = 0x96,
  NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
}

const utf8 = new TextDecoder('utf-8');
const MARK_NONE = -1;

class Unpickler implements PickleContext {
  readonly file: string;
  readonly encoding: PickleEncoding;
  offset: number;
  private pos: number;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private memo = new Map<number, unknown>();
  /** memo slots holding each object, so BUILD can replace a placeholder everywhere it was memoized */
  private memoSlots = new WeakMap<object, number[]>();
  private classes = new WeakMap<object, PyGlobal>();
  private table = new Map<string, PyGlobal>();
  /** the allowlisted globals themselves: only these may be called by REDUCE/NEWOBJ/OBJ */
  private callables = new Set<unknown>();
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array, start: number, private readonly opts: UnpickleOptions) {
    this.file = opts.file ?? 'pickle';
    this.encoding = opts.encoding ?? 'latin1';
    this.pos = start;
    this.offset = start;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (const g of opts.globals) {
      this.table.set(globalName(g), g);
      this.callables.add(g);
    }
  }

  error(message: string, code = 'bad-file'): MagicPortraitError {
    return new MagicPortraitError(`${message} (in ${this.file} at byte ${this.offset})`, code);
  }

  resolve(module: string, name: string): PyGlobal {
    const g = this.table.get(`${module}.${name}`);
    if (!g) {
      throw new MagicPortraitError(
        `Refusing to load ${this.file}: it references the Python global '${module}.${name}', which is not on the allowlist ` +
          `of safe reconstructors (pickles can run arbitrary code; only known data types are loaded).`,
        'forbidden-global',
      );
    }
    return g;
  }

  track(obj: unknown, cls: PyGlobal): void {
    if (obj !== null && typeof obj === 'object' && !this.classes.has(obj)) this.classes.set(obj, cls);
  }

  classOf(obj: unknown): PyGlobal | undefined {
    return obj !== null && typeof obj === 'object' ? this.classes.get(obj) : undefined;
  }

  // ---- byte readers (all bounds-checked) ----
  private need(n: number): number {
    if (n < 0 || this.pos + n > this.data.length) {
      throw this.error(`Truncated pickle: needs ${n} more byte(s) at byte ${this.pos}, file has ${this.data.length}`, 'truncated');
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }
  private u8(): number {
    return this.data[this.need(1)];
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private u64(): number {
    const p = this.need(8);
    const v = this.view.getBigUint64(p, true);
    // any length beyond the remaining bytes is truncation, which need() reports
    return v > BigInt(this.data.length) ? this.data.length + 1 : Number(v);
  }
  private bytes(n: number): Uint8Array {
    const p = this.need(n);
    return this.data.subarray(p, p + n);
  }
  private line(): string {
    const start = this.pos;
    const nl = this.data.indexOf(0x0a, start);
    if (nl < 0) throw this.error('Truncated pickle: a text argument has no end of line', 'truncated');
    this.pos = nl + 1;
    let end = nl;
    if (end > start && this.data[end - 1] === 0x0d) end--;
    return latin1(this.data.subarray(start, end));
  }

  // ---- stack helpers ----
  private pop(): unknown {
    const base = this.marks.length ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= base) throw this.error('Malformed pickle: stack underflow');
    return this.stack.pop();
  }
  private top(): unknown {
    const base = this.marks.length ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= base) throw this.error('Malformed pickle: stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) throw this.error('Malformed pickle: no MARK on the stack');
    return this.stack.splice(m);
  }
  private memoPut(idx: number, v: unknown): void {
    this.memo.set(idx, v);
    if (v !== null && typeof v === 'object') {
      const slots = this.memoSlots.get(v);
      if (slots) slots.push(idx);
      else this.memoSlots.set(v, [idx]);
    }
  }
  private memoGet(idx: number): unknown {
    if (!this.memo.has(idx)) throw this.error(`Malformed pickle: memo entry ${idx} is not defined`);
    return this.memo.get(idx);
  }

  private str2(b: Uint8Array): string | Uint8Array {
    if (this.encoding === 'bytes') return b;
    return this.encoding === 'latin1' ? latin1(b) : utf8.decode(b);
  }

  private asGlobal(v: unknown, op: string): PyGlobal {
    if (this.callables.has(v)) return v as PyGlobal;
    throw this.error(`Malformed pickle: ${op} on ${describe(v)}, which is not an allowed callable`);
  }

  private callGlobal(g: PyGlobal, args: unknown[]): unknown {
    if (!g.call) throw this.error(`'${globalName(g)}' cannot be called`);
    const v = g.call(args, this);
    this.track(v, g);
    return v;
  }

  private construct(g: PyGlobal, args: unknown[], kwargs?: Map<unknown, unknown>): unknown {
    if (!g.construct) throw this.error(`'${globalName(g)}' cannot be instantiated`);
    const v = g.construct(args, kwargs, this);
    this.track(v, g);
    return v;
  }

  private build(state: unknown): void {
    const obj = this.pop();
    const cls = this.classOf(obj);
    if (!cls?.setState) {
      throw this.error(`Cannot restore the state of ${cls ? `'${globalName(cls)}'` : describe(obj)} (BUILD is not supported for it)`);
    }
    const out = cls.setState(obj, state, this);
    if (out !== obj) {
      // Python mutates in place; we may return a new value, so re-point the memo slots of the placeholder.
      for (const idx of (obj !== null && typeof obj === 'object' && this.memoSlots.get(obj)) || []) this.memoPut(idx, out);
      this.track(out, cls);
    }
    this.stack.push(out);
  }

  run(): { value: unknown; end: number } {
    try {
      return this.loop();
    } catch (e) {
      if (e instanceof MagicPortraitError) throw e;
      // reconstructor bugs or malformed arguments: never leak a bare stack
      throw this.error(`Malformed pickle: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private loop(): { value: unknown; end: number } {
    const st = this.stack;
    for (;;) {
      this.offset = this.pos;
      const op = this.u8();
      switch (op) {
        case Op.PROTO: {
          const v = this.u8();
          if (v > 5) throw this.error(`Unsupported pickle protocol ${v}`);
          break;
        }
        case Op.FRAME:
          this.u64(); // frames only matter for streaming; the whole buffer is here
          break;
        case Op.STOP: {
          const v = this.pop();
          return { value: v, end: this.pos };
        }
        case Op.MARK:
          this.marks.push(st.length);
          break;
        case Op.POP:
          if (this.marks.length && st.length === this.marks[this.marks.length - 1]) this.popMark();
          else this.pop();
          break;
        case Op.POP_MARK:
          this.popMark();
          break;
        case Op.DUP:
          st.push(this.top());
          break;

        // ---- numbers ----
        case Op.NONE:
          st.push(null);
          break;
        case Op.NEWTRUE:
          st.push(true);
          break;
        case Op.NEWFALSE:
          st.push(false);
          break;
        case Op.BININT:
          st.push(this.i32());
          break;
        case Op.BININT1:
          st.push(this.u8());
          break;
        case Op.BININT2:
          st.push(this.u16());
          break;
        case Op.INT: {
          const s = this.line();
          if (s === '00') st.push(false);
          else if (s === '01') st.push(true);
          else st.push(this.parseInt(s));
          break;
        }
        case Op.LONG:
          st.push(this.parseInt(this.line().replace(/L$/, '')));
          break;
        case Op.LONG1:
          st.push(decodeLong(this.bytes(this.u8())));
          break;
        case Op.LONG4: {
          const n = this.i32();
          if (n < 0) throw this.error('Malformed pickle: negative LONG4 length');
          st.push(decodeLong(this.bytes(n)));
          break;
        }
        case Op.FLOAT: {
          const s = this.line();
          const v = Number(s);
          if (Number.isNaN(v) && !/^[-+]?nan$/i.test(s)) throw this.error(`Malformed pickle: bad float '${s}'`);
          st.push(v);
          break;
        }
        case Op.BINFLOAT:
          st.push(this.view.getFloat64(this.need(8), false));
          break;

        // ---- strings and bytes ----
        case Op.STRING:
          st.push(this.str2(parseQuoted(this.line(), (m) => this.error(m))));
          break;
        case Op.BINSTRING: {
          const n = this.i32();
          if (n < 0) throw this.error('Malformed pickle: negative BINSTRING length');
          st.push(this.str2(this.bytes(n)));
          break;
        }
        case Op.SHORT_BINSTRING:
          st.push(this.str2(this.bytes(this.u8())));
          break;
        case Op.UNICODE:
          st.push(rawUnicodeEscape(this.line()));
          break;
        case Op.BINUNICODE:
          st.push(utf8.decode(this.bytes(this.u32())));
          break;
        case Op.SHORT_BINUNICODE:
          st.push(utf8.decode(this.bytes(this.u8())));
          break;
        case Op.BINUNICODE8:
          st.push(utf8.decode(this.bytes(this.u64())));
          break;
        case Op.BINBYTES:
          st.push(this.bytes(this.u32()));
          break;
        case Op.SHORT_BINBYTES:
          st.push(this.bytes(this.u8()));
          break;
        case Op.BINBYTES8:
          st.push(this.bytes(this.u64()));
          break;
        case Op.BYTEARRAY8:
          st.push(this.bytes(this.u64()).slice());
          break;
        case Op.NEXT_BUFFER:
          throw this.error('Pickle uses out-of-band buffers (protocol 5 NEXT_BUFFER), which are not supported');
        case Op.READONLY_BUFFER:
          this.top();
          break;

        // ---- containers ----
        case Op.EMPTY_TUPLE:
          st.push([]);
          break;
        case Op.TUPLE:
          st.push(this.popMark());
          break;
        case Op.TUPLE1: {
          const a = this.pop();
          st.push([a]);
          break;
        }
        case Op.TUPLE2: {
          const b = this.pop();
          const a = this.pop();
          st.push([a, b]);
          break;
        }
        case Op.TUPLE3: {
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          st.push([a, b, c]);
          break;
        }
        case Op.EMPTY_LIST:
          st.push([]);
          break;
        case Op.LIST:
          st.push(this.popMark());
          break;
        case Op.APPEND: {
          const v = this.pop();
          this.listOf(this.top()).push(v);
          break;
        }
        case Op.APPENDS: {
          const items = this.popMark();
          const l = this.listOf(this.top());
          for (const it of items) l.push(it);
          break;
        }
        case Op.EMPTY_DICT:
          st.push(new Map());
          break;
        case Op.DICT: {
          const items = this.popMark();
          const m = new Map<unknown, unknown>();
          this.setItems(m, items);
          st.push(m);
          break;
        }
        case Op.SETITEM: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.dictOf(this.top()), [k, v]);
          break;
        }
        case Op.SETITEMS: {
          const items = this.popMark();
          this.setItems(this.dictOf(this.top()), items);
          break;
        }
        case Op.EMPTY_SET:
          st.push(new Set());
          break;
        case Op.ADDITEMS: {
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) throw this.error(`Malformed pickle: ADDITEMS on ${describe(s)}`);
          for (const it of items) s.add(it);
          break;
        }
        case Op.FROZENSET:
          st.push(new Set(this.popMark()));
          break;

        // ---- memo ----
        case Op.PUT:
          this.memoPut(this.parseIndex(this.line()), this.top());
          break;
        case Op.BINPUT:
          this.memoPut(this.u8(), this.top());
          break;
        case Op.LONG_BINPUT:
          this.memoPut(this.u32(), this.top());
          break;
        case Op.MEMOIZE:
          this.memoPut(this.memo.size, this.top());
          break;
        case Op.GET:
          st.push(this.memoGet(this.parseIndex(this.line())));
          break;
        case Op.BINGET:
          st.push(this.memoGet(this.u8()));
          break;
        case Op.LONG_BINGET:
          st.push(this.memoGet(this.u32()));
          break;

        // ---- globals and objects ----
        case Op.GLOBAL: {
          const module = this.line();
          const name = this.line();
          st.push(this.resolve(module, name));
          break;
        }
        case Op.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') throw this.error('Malformed pickle: STACK_GLOBAL needs two strings');
          st.push(this.resolve(module, name));
          break;
        }
        case Op.EXT1:
        case Op.EXT2:
        case Op.EXT4: {
          const code = op === Op.EXT1 ? this.u8() : op === Op.EXT2 ? this.u16() : this.i32();
          throw this.error(`Pickle uses the copyreg extension registry (code ${code}), which is not supported`);
        }
        case Op.REDUCE: {
          const args = this.pop();
          const g = this.asGlobal(this.pop(), 'REDUCE');
          if (!Array.isArray(args)) throw this.error('Malformed pickle: REDUCE arguments are not a tuple');
          st.push(this.callGlobal(g, args));
          break;
        }
        case Op.NEWOBJ: {
          const args = this.pop();
          const g = this.asGlobal(this.pop(), 'NEWOBJ');
          if (!Array.isArray(args)) throw this.error('Malformed pickle: NEWOBJ arguments are not a tuple');
          st.push(this.construct(g, args));
          break;
        }
        case Op.NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.pop();
          const g = this.asGlobal(this.pop(), 'NEWOBJ_EX');
          if (!Array.isArray(args) || !(kwargs instanceof Map)) throw this.error('Malformed pickle: bad NEWOBJ_EX arguments');
          st.push(this.construct(g, args, kwargs));
          break;
        }
        case Op.INST: {
          const module = this.line();
          const name = this.line();
          const g = this.resolve(module, name);
          st.push(this.instantiate(g, this.popMark()));
          break;
        }
        case Op.OBJ: {
          const items = this.popMark();
          if (!items.length) throw this.error('Malformed pickle: OBJ without a class');
          const g = this.asGlobal(items[0], 'OBJ');
          st.push(this.instantiate(g, items.slice(1)));
          break;
        }
        case Op.BUILD:
          this.build(this.pop());
          break;
        case Op.PERSID:
          st.push(this.persistent(this.line()));
          break;
        case Op.BINPERSID:
          st.push(this.persistent(this.pop()));
          break;
        default:
          throw this.error(`Unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  /** Protocol 0/1 class instantiation: like Python's _instantiate (construct without args, else call). */
  private instantiate(g: PyGlobal, args: unknown[]): unknown {
    if (!args.length && g.construct) return this.construct(g, []);
    return this.callGlobal(g, args);
  }

  private persistent(pid: unknown): unknown {
    if (!this.opts.persistentLoad) throw this.error('Pickle uses persistent ids, which this file type does not allow');
    return this.opts.persistentLoad(pid, this);
  }

  private listOf(v: unknown): unknown[] {
    if (!Array.isArray(v)) throw this.error(`Malformed pickle: append to ${describe(v)}`);
    return v;
  }
  private dictOf(v: unknown): Map<unknown, unknown> {
    if (!(v instanceof Map)) throw this.error(`Malformed pickle: set item on ${describe(v)}`);
    return v;
  }
  private setItems(m: Map<unknown, unknown>, items: unknown[]): void {
    if (items.length % 2) throw this.error('Malformed pickle: odd number of dict items');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      // Python hashes tuples by value: give tuple keys a value-comparable string form
      m.set(Array.isArray(k) ? keyString(k) : k, items[i + 1]);
    }
  }
  private parseInt(s: string): number | bigint {
    if (!/^[-+]?\d+$/.test(s.trim())) throw this.error(`Malformed pickle: bad integer '${s}'`);
    const b = BigInt(s.trim());
    return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
  }
  private parseIndex(s: string): number {
    const v = this.parseInt(s);
    if (typeof v !== 'number' || v < 0) throw this.error(`Malformed pickle: bad memo index '${s}'`);
    return v;
  }
}

/** Map key used for tuple/bytes dict keys (Python compares them by value). */
function keyString(k: unknown): string {
  return JSON.stringify(k, (_, v) => (v instanceof Uint8Array ? Array.from(v) : typeof v === 'bigint' ? v.toString() : v));
}

export function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** Little-endian two's-complement integer (LONG1/LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (!b.length) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** Protocol-0 STRING argument: a Python bytes literal repr, e.g. 'ab\x00\n'. */
function parseQuoted(s: string, fail: (m: string) => Error): Uint8Array {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw fail('Malformed pickle: STRING argument is not quoted');
  const body = s.slice(1, -1);
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c !== 0x5c) {
      out.push(c & 0xff);
      continue;
    }
    const e = body[++i];
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11, '\n': -1 };
    if (e === undefined) throw fail('Malformed pickle: dangling escape in STRING');
    if (e in simple) {
      if (simple[e] >= 0) out.push(simple[e]);
    } else if (e === 'x') {
      const h = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw fail('Malformed pickle: bad \\x escape in STRING');
      out.push(parseInt(h, 16));
      i += 2;
    } else if (/[0-7]/.test(e)) {
      let j = i;
      while (j < i + 3 && j < body.length && /[0-7]/.test(body[j])) j++;
      out.push(parseInt(body.slice(i, j), 8) & 0xff);
      i = j - 1;
    } else {
      out.push(0x5c, e.charCodeAt(0) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/** Protocol-0 UNICODE argument: raw-unicode-escape (only \uXXXX and \UXXXXXXXX are escapes). */
function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a: string | undefined, b: string | undefined) =>
    String.fromCodePoint(parseInt((a ?? b) as string, 16)),
  );
}

