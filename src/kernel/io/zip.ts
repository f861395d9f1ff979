// A small random-access zip reader (central directory + zip64). Reads only the directory up front, then the
// byte ranges of the entries asked for: torch checkpoints store tensors uncompressed, so a tensor read is one
// file read. Deflated entries (npz written by np.savez_compressed) are inflated with fflate.
import { inflateSync } from 'fflate';
import { MagicPortraitError } from '../errors';
import type { ByteSource } from './source';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

function u64(dv: DataView, off: number): number {
  const v = dv.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MagicPortraitError('Zip offset too large.', 'bad-file');
  return Number(v);
}

export class ZipReader {
  private readonly dataOffsets = new Map<string, number>();

  private constructor(
    readonly source: ByteSource,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  /** Lists the entries. Throws a 'bad-file' MagicPortraitError when `source` is not a zip. */
  static async open(source: ByteSource): Promise<ZipReader> {
    const fail = (why: string) => new MagicPortraitError(`${source.name} is not a valid zip archive: ${why}.`, 'bad-file');
    if (source.size < 22) throw fail('too short');
    const tailLen = Math.min(source.size, 22 + 65535 + 20);
    const tailStart = source.size - tailLen;
    const tail = await source.read(tailStart, tailLen);
    const tdv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tdv.getUint32(i, true) === SIG_EOCD && i + 22 + tdv.getUint16(i + 20, true) <= tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw fail('no end-of-central-directory record');
    let count = tdv.getUint16(eocd + 10, true);
    let cdSize = tdv.getUint32(eocd + 12, true);
    let cdOffset = tdv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // zip64: the locator sits just before the EOCD and points at the zip64 EOCD record
      const loc = eocd - 20;
      if (loc < 0 || tdv.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) throw fail('zip64 locator missing');
      const recOff = u64(tdv, loc + 8);
      const rec = await source.read(recOff, 56);
      const rdv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
      if (rdv.getUint32(0, true) !== SIG_ZIP64_EOCD) throw fail('bad zip64 end record');
      count = u64(rdv, 32);
      cdSize = u64(rdv, 40);
      cdOffset = u64(rdv, 48);
    }
    if (cdOffset + cdSize > source.size) throw fail('central directory outside the file (truncated download?)');
    const cd = await source.read(cdOffset, cdSize);
    const dv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const entries = new Map<string, ZipEntry>();
    const dec = new TextDecoder();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || dv.getUint32(p, true) !== SIG_CENTRAL) throw fail('corrupt central directory');
      const flags = dv.getUint16(p + 8, true);
      const method = dv.getUint16(p + 10, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let size = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      let localHeaderOffset = dv.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen > cd.length) throw fail('corrupt central directory');
      const name = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // zip64 extra field: present values replace the 0xffffffff placeholders, in this order
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = dv.getUint16(e, true);
        const len = dv.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) (size = u64(dv, q)), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = u64(dv, q)), (q += 8);
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(dv, q);
        }
        e += 4 + len;
      }
      if (flags & 1) throw fail(`entry '${name}' is encrypted`);
      entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return new ZipReader(source, entries);
  }

  get(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /** Offset of the entry's data (after its local header). */
  async dataOffset(e: ZipEntry): Promise<number> {
    let off = this.dataOffsets.get(e.name);
    if (off === undefined) {
      const h = await this.source.read(e.localHeaderOffset, 30);
      const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
      if (dv.getUint32(0, true) !== SIG_LOCAL) {
        throw new MagicPortraitError(`${this.source.name}: corrupt zip entry '${e.name}' (bad local header).`, 'bad-file');
      }
      off = e.localHeaderOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
      this.dataOffsets.set(e.name, off);
    }
    return off;
  }

  /** The whole (decompressed) entry. */
  async read(e: ZipEntry): Promise<Uint8Array> {
    const raw = await this.source.read(await this.dataOffset(e), e.compressedSize);
    if (e.method === 0) return raw;
    if (e.method === 8) {
      let out: Uint8Array;
      try {
        out = inflateSync(raw, { out: new Uint8Array(e.size) });
      } catch (err) {
        throw new MagicPortraitError(`${this.source.name}: cannot inflate zip entry '${e.name}': ${(err as Error).message}.`, 'bad-file');
      }
      if (out.length !== e.size) throw new MagicPortraitError(`${this.source.name}: zip entry '${e.name}' inflated to the wrong size.`, 'bad-file');
      return out;
    }
    throw new MagicPortraitError(`${this.source.name}: zip entry '${e.name}' uses unsupported compression method ${e.method}.`, 'bad-file');
  }

  /** A byte range of a stored (uncompressed) entry, read without touching the rest. */
  async readRange(e: ZipEntry, offset: number, length: number): Promise<Uint8Array> {
    if (e.method !== 0) return (await this.read(e)).subarray(offset, offset + length);
    if (offset < 0 || offset + length > e.size) {
      throw new MagicPortraitError(`${this.source.name}: read of bytes ${offset}–${offset + length} past the end of '${e.name}' (${e.size} bytes).`, 'bad-file');
    }
    return this.source.read((await this.dataOffset(e)) + offset, length);
  }
}
