/**
 * Fixed-size records (decoded frames, per-frame guidance features) kept in memory while they fit a budget, else in
 * a temporary file read back record by record, so a long video never has to fit in memory.
 *
 * The temporary file is unlinked as soon as it is open (POSIX keeps it until the descriptor closes), so the space
 * comes back however the process ends — a kernel killed by Interrupt or SIGKILL included; stores are often dropped
 * without dispose() (the preview's FinalizationRegistry does not run at exit). Where an open file cannot be unlinked
 * (Windows), the folder is removed at process exit instead.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';

export class RecordStore {
  private readonly mem: Uint8Array | null;
  private fd: number | null = null;
  private dir: string | null = null;
  private readonly written: Uint8Array;

  constructor(
    readonly recordBytes: number,
    readonly count: number,
    /** Bytes kept in memory at most (default 256 MB). */
    budgetBytes = 256 * 1024 ** 2,
  ) {
    const total = recordBytes * count;
    this.written = new Uint8Array(count);
    if (total <= budgetBytes) this.mem = new Uint8Array(total);
    else {
      this.mem = null;
      const dir = mkdtempSync(join(tmpdir(), 'mp-store-'));
      const file = join(dir, 'records.bin');
      this.fd = openSync(file, 'w+');
      try {
        unlinkSync(file);
        rmSync(dir, { recursive: true, force: true });
      } catch {
        this.dir = dir;
        removeAtExit(dir);
      }
    }
  }

  /** The folder of the temporary file while it is visible on disk (only where an open file cannot be unlinked). */
  get spillDir(): string | null {
    return this.dir;
  }

  get inMemory(): boolean {
    return this.mem !== null;
  }

  write(i: number, bytes: Uint8Array): void {
    this.check(i);
    if (bytes.byteLength !== this.recordBytes) throw new Error(`RecordStore: record ${i} has ${bytes.byteLength} bytes, expected ${this.recordBytes}`);
    if (this.mem) this.mem.set(bytes, i * this.recordBytes);
    else writeSync(this.fd!, bytes, 0, bytes.byteLength, i * this.recordBytes);
    this.written[i] = 1;
  }

  /** The record's bytes (a view into memory, or a fresh buffer read from the file). */
  read(i: number): Uint8Array {
    this.check(i);
    if (!this.written[i]) throw new MagicPortraitError(`Record ${i} was never written.`, 'internal');
    if (this.mem) return this.mem.subarray(i * this.recordBytes, (i + 1) * this.recordBytes);
    const out = new Uint8Array(this.recordBytes);
    readSync(this.fd!, out, 0, this.recordBytes, i * this.recordBytes);
    return out;
  }

  /** Deletes the temporary file (memory stores need nothing). Safe to call twice. */
  dispose(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    if (this.dir) {
      rmSync(this.dir, { recursive: true, force: true });
      leftAtExit.delete(this.dir);
    }
    this.dir = null;
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`record ${i} of ${this.count}`);
    if (!this.mem && this.fd === null) throw new MagicPortraitError('This frame store was disposed.', 'bad-state');
  }
}

const leftAtExit = new Set<string>();
let exitHook = false;
function removeAtExit(dir: string): void {
  if (!exitHook) process.once('exit', () => leftAtExit.forEach((d) => rmSync(d, { recursive: true, force: true })));
  exitHook = true;
  leftAtExit.add(dir);
}

/** Float32 records (e.g. C·h·w features per frame). */
export class FloatRecordStore {
  readonly store: RecordStore;
  constructor(
    readonly recordLength: number,
    readonly count: number,
    budgetBytes?: number,
  ) {
    this.store = new RecordStore(recordLength * 4, count, budgetBytes);
  }
  write(i: number, v: Float32Array): void {
    this.store.write(i, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  read(i: number): Float32Array {
    const b = this.store.read(i);
    // copy: file reads are fresh; memory views may be unaligned for Float32Array only if recordLength is odd·… (never)
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  dispose(): void {
    this.store.dispose();
  }
}
