/**
 * A file of frames written one at a time and read back by index: how long frame sequences (guidance maps) live in
 * the stage cache without ever being whole in memory. Each frame is a fixed list of byte planes (depth, normal, …),
 * each deflated (zlib level 1: the maps are mostly flat background, ~5–10× smaller, and fast to write) and the frame
 * record checksummed (SHA-256), so a damaged frame is reported instead of shown.
 *
 *   "MPFF1\n" | record 0 | record 1 | … | index (JSON: meta, per frame [offset, plane lengths, sha256]) | u64 offset |
 *   u64 length | "MPFFEND\n"
 *
 * The index is written last: a file cut short has no footer and is refused as a whole.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { MagicPortraitError } from '../errors';

const HEAD = Buffer.from('MPFF1\n');
const TAIL = Buffer.from('MPFFEND\n');
const FOOTER = 16 + TAIL.length;

interface IndexJson<M> {
  meta: M;
  /** Bytes of each plane, uncompressed (every frame has the same planes). */
  planes: number[];
  frames: [offset: number, lengths: number[], sha256: string][];
}

export class FrameFileWriter<M> {
  private fd: number | null;
  private pos = HEAD.length;
  private readonly frames: IndexJson<M>['frames'] = [];

  constructor(readonly path: string, private readonly planes: readonly number[]) {
    this.fd = openSync(path, 'w');
    writeSync(this.fd, HEAD);
  }

  get count(): number {
    return this.frames.length;
  }

  /** Appends the next frame (planes in the order and sizes given to the constructor). */
  append(planes: readonly Uint8Array[]): void {
    if (this.fd === null) throw new MagicPortraitError('This frame file is closed.', 'bad-state');
    if (planes.length !== this.planes.length) throw new MagicPortraitError(`Frame ${this.frames.length}: ${planes.length} planes, expected ${this.planes.length}.`, 'internal');
    const parts = planes.map((p, i) => {
      if (p.byteLength !== this.planes[i]) throw new MagicPortraitError(`Frame ${this.frames.length}: plane ${i} has ${p.byteLength} bytes, expected ${this.planes[i]}.`, 'internal');
      return deflateRawSync(p, { level: 1 });
    });
    const record = Buffer.concat(parts);
    writeSync(this.fd, record, 0, record.length, this.pos);
    this.frames.push([this.pos, parts.map((p) => p.length), createHash('sha256').update(record).digest('hex')]);
    this.pos += record.length;
  }

  /** Writes the index and closes the file; `meta` is returned by the reader. */
  finish(meta: M): void {
    if (this.fd === null) return;
    const index = Buffer.from(JSON.stringify({ meta, planes: [...this.planes], frames: this.frames } satisfies IndexJson<M>));
    const footer = Buffer.alloc(16);
    footer.writeBigUInt64LE(BigInt(this.pos), 0);
    footer.writeBigUInt64LE(BigInt(index.length), 8);
    writeSync(this.fd, Buffer.concat([index, footer, TAIL]), 0, index.length + FOOTER, this.pos);
    closeSync(this.fd);
    this.fd = null;
  }

  /** Closes without an index (the file is then unreadable; the caller removes it). */
  abort(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export class FrameFileReader<M> {
  private fd: number | null;
  readonly meta: M;
  readonly count: number;
  private readonly planes: number[];
  private readonly frames: IndexJson<M>['frames'];

  /** Opens a finished frame file (throws a MagicPortraitError when it is incomplete or not a frame file). */
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      const size = fstatSync(this.fd).size;
      const head = Buffer.alloc(HEAD.length), foot = Buffer.alloc(FOOTER);
      if (size < HEAD.length + FOOTER) throw new Error('too short');
      readSync(this.fd, head, 0, HEAD.length, 0);
      readSync(this.fd, foot, 0, FOOTER, size - FOOTER);
      if (!head.equals(HEAD) || !foot.subarray(16).equals(TAIL)) throw new Error('no header or footer');
      const at = Number(foot.readBigUInt64LE(0)), len = Number(foot.readBigUInt64LE(8));
      if (at + len + FOOTER !== size) throw new Error('index out of place');
      const idx = Buffer.alloc(len);
      readSync(this.fd, idx, 0, len, at);
      const json = JSON.parse(idx.toString('utf8')) as IndexJson<M>;
      this.meta = json.meta;
      this.planes = json.planes;
      this.frames = json.frames;
      this.count = json.frames.length;
    } catch (e) {
      closeSync(this.fd);
      this.fd = null;
      throw new MagicPortraitError(`${path} is not a complete frame file (${(e as Error).message}).`, 'bad-cache');
    }
  }

  /** Whether `path` is a complete frame file (for the stage cache's hit check). */
  static isComplete(path: string): boolean {
    try {
      new FrameFileReader(path).close();
      return true;
    } catch {
      return false;
    }
  }

  /** The planes of frame i (fresh buffers; the frame's checksum is verified). */
  read(i: number): Uint8Array[] {
    if (this.fd === null) throw new MagicPortraitError('This frame file is closed.', 'bad-state');
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`frame ${i} of ${this.count}`);
    const [offset, lengths, sha] = this.frames[i]!;
    const total = lengths.reduce((a, b) => a + b, 0);
    const record = Buffer.alloc(total);
    readSync(this.fd, record, 0, total, offset);
    if (createHash('sha256').update(record).digest('hex') !== sha)
      throw new MagicPortraitError(`Frame ${i} of ${this.path} is damaged (checksum mismatch); clear the stage cache entry (magicportrait cache clear) and re-run the cell.`, 'bad-cache');
    const out: Uint8Array[] = [];
    let p = 0;
    for (let k = 0; k < lengths.length; k++) {
      const plane = inflateRawSync(record.subarray(p, p + lengths[k]!));
      if (plane.length !== this.planes[k]) throw new MagicPortraitError(`Frame ${i} of ${this.path}: plane ${k} inflates to ${plane.length} bytes, expected ${this.planes[k]}.`, 'bad-cache');
      out.push(new Uint8Array(plane.buffer, plane.byteOffset, plane.byteLength));
      p += lengths[k]!;
    }
    return out;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * An array whose elements are loaded on access and not kept: `length`, indexing, iteration and the array methods
 * work, so code written for in-memory frame arrays reads long on-disk sequences unchanged (each access reads again).
 */
export function lazyArray<T>(length: number, get: (i: number) => T): T[] {
  return new Proxy([] as T[], {
    get(target, prop, receiver) {
      if (prop === 'length') return length;
      if (typeof prop === 'string') {
        const i = Number(prop);
        if (Number.isInteger(i) && String(i) === prop) return i >= 0 && i < length ? get(i) : undefined;
      }
      return Reflect.get(target, prop, receiver);
    },
    has(target, prop) {
      if (typeof prop === 'string') {
        const i = Number(prop);
        if (Number.isInteger(i) && String(i) === prop) return i >= 0 && i < length;
      }
      return Reflect.has(target, prop);
    },
    set() {
      return false;
    },
  });
}
