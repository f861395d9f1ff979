/** File writes of the dataset: every file appears complete or not at all (temp file in the same folder + rename). */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MagicPortraitError } from '../errors';

let counter = 0;

/** Writes `data` to `path` through a temporary file beside it and a rename; errors name the file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${(++counter).toString(36)}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw new MagicPortraitError(`Cannot write ${path}: ${code ?? (e as Error).message}`, code === 'EACCES' || code === 'EROFS' || code === 'EPERM' ? 'read-only' : 'write-failed');
  }
}

/** mkdir -p with a clear error (read-only or missing parents). */
export function ensureDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MagicPortraitError(`Cannot create the folder ${path}: ${code ?? (e as Error).message}`, code === 'EACCES' || code === 'EROFS' || code === 'EPERM' ? 'read-only' : 'write-failed');
  }
}

/** Stable JSON for files whose bytes must not depend on anything but their content (sorted keys are not needed: the
 * writers build their objects in a fixed order). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 1) + '\n';
}

/** Removes the temporary files a killed writer can leave in `dir` (`.<name>.<pid>.<n>.tmp`, see writeFileAtomic). */
export function removeTempFiles(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith('.') && n.endsWith('.tmp')) rmSync(join(dir, n), { force: true });
}
