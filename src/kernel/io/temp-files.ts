/**
 * Temporary files for atomic writes, named after the process that writes them, so a file left behind by a process
 * that was killed mid-write (Ctrl-C, an interrupt that ended in a kill, out of memory) can be told apart from one a
 * live writer is still filling, and removed.
 *
 *   <dir>/.<final name>.<pid>.<8 hex>.tmp
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TEMP = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;
/** A temp file this old is removed whoever wrote it (a writer on another machine sharing the folder, a reused pid). */
const STALE_MS = 24 * 3600 * 1000;

/** A fresh temporary path beside `path`, tagged with this process's id. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes a file so that readers see either the old content or the complete new one; concurrent writers never collide. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The writer's process id of a temp file made by `tempPathFor`, or null for any other name. */
export function tempFileOwner(name: string): number | null {
  const m = TEMP.exec(name);
  return m ? Number(m[1]) : null;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Removes temp files in `dir` (and, with `depth` 1, its subfolders) whose writer is gone: `pid` given, that
 * process's files (the caller knows it has exited); otherwise every file whose writer is no longer running or that
 * is older than a day. Returns the bytes removed.
 */
export function removeOrphanTemps(dir: string, opts: { pid?: number; depth?: 0 | 1 } = {}): { removed: number; bytes: number } {
  let removed = 0;
  let bytes = 0;
  const alive = new Map<number, boolean>();
  const visit = (folder: string, depth: number) => {
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(folder, e.name);
      if (e.isDirectory()) {
        if (depth > 0) visit(p, depth - 1);
        continue;
      }
      const owner = tempFileOwner(e.name);
      if (owner === null || owner === process.pid) continue;
      let orphan: boolean;
      if (opts.pid !== undefined) orphan = owner === opts.pid;
      else {
        if (!alive.has(owner)) alive.set(owner, processAlive(owner));
        orphan = !alive.get(owner);
      }
      try {
        const st = statSync(p);
        if (!orphan && Date.now() - st.mtimeMs > STALE_MS) orphan = true;
        if (!orphan) continue;
        rmSync(p, { force: true });
        removed++;
        bytes += st.size;
      } catch {
        /* removed meanwhile */
      }
    }
  };
  visit(dir, opts.depth ?? 0);
  return { removed, bytes };
}
