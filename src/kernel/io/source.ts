// Random-access byte sources: checkpoints can be many GB, so readers fetch only the byte ranges they need.
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { MagicPortraitError } from '../errors';

export interface ByteSource {
  /** Display name for error messages (the file name). */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws a MagicPortraitError past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
    throw new MagicPortraitError(`${name} is truncated or corrupt: needs bytes ${offset}–${offset + length}, file has ${size}.`, 'truncated');
  }
}

class FileSource implements ByteSource {
  constructor(
    readonly name: string,
    readonly size: number,
    private readonly fh: FileHandle,
  ) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, this.size, offset, length);
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new MagicPortraitError(`${this.name} ended early while reading (was it modified?).`, 'truncated');
      done += bytesRead;
    }
    return buf;
  }
  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Opens a file for random access; the error names the file when it cannot be opened. */
export async function openFileSource(path: string): Promise<ByteSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MagicPortraitError(`Cannot open ${path}: ${code === 'ENOENT' ? 'file not found' : (e as Error).message}`, 'missing-file');
  }
  const st = await fh.stat();
  return new FileSource(basename(path), st.size, fh);
}

/** An in-memory source (tests, embedded files). `read` returns views, not copies. */
export function bufferSource(bytes: Uint8Array, name = 'buffer'): ByteSource {
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}

/** A path, in-memory bytes or an already open source. */
export type SourceLike = string | Uint8Array | ByteSource;

export async function toSource(src: SourceLike, name?: string): Promise<ByteSource> {
  if (typeof src === 'string') return openFileSource(src);
  if (src instanceof Uint8Array) return bufferSource(src, name);
  return src;
}
