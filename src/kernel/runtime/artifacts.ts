/**
 * Content-addressed artifact store: large outputs (frames, meshes, tensors, videos) live in files named by their
 * SHA-256 beside the notebook, and outputs reference them by hash, so notebooks stay small and diffable.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';

export interface ArtifactRef {
  /** sha256 of the content, hex. */
  hash: string;
  /** File extension without the dot: png, mp4, bin, json… */
  ext: string;
  size: number;
  mime: string;
}

const NAME = /^([0-9a-f]{64})\.([a-z0-9]+)$/;

export class ArtifactStore {
  constructor(readonly dir: string) {}

  /** The conventional store of a notebook: `<notebook>.artifacts/`. */
  static besideNotebook(notebookPath: string): ArtifactStore {
    return new ArtifactStore(`${notebookPath}.artifacts`);
  }

  put(bytes: Uint8Array, ext: string, mime: string): ArtifactRef {
    if (!/^[a-z0-9]+$/.test(ext)) throw new MagicPortraitError(`Artifact extension '${ext}' must be lowercase letters and digits.`);
    const hash = createHash('sha256').update(bytes).digest('hex');
    const file = this.path({ hash, ext });
    if (!existsSync(file)) {
      mkdirSync(this.dir, { recursive: true });
      // Write then rename: a crash never leaves a partial file under the final (hash) name.
      const tmp = join(this.dir, `.tmp-${randomBytes(6).toString('hex')}`);
      writeFileSync(tmp, bytes);
      renameSync(tmp, file);
    }
    return { hash, ext, size: bytes.byteLength, mime };
  }

  path(ref: Pick<ArtifactRef, 'hash' | 'ext'>): string {
    if (!/^[0-9a-f]{64}$/.test(ref.hash) || !/^[a-z0-9]+$/.test(ref.ext))
      throw new MagicPortraitError(`Not an artifact reference: ${ref.hash}.${ref.ext}`, 'bad-artifact');
    return join(this.dir, `${ref.hash}.${ref.ext}`);
  }

  /** Reads an artifact and verifies its hash, so a damaged file is reported rather than shown. */
  read(ref: Pick<ArtifactRef, 'hash' | 'ext'>): Uint8Array {
    const file = this.path(ref);
    if (!existsSync(file)) throw new MagicPortraitError(`Artifact ${ref.hash.slice(0, 12)}….${ref.ext} is missing from ${this.dir}`, 'missing-artifact');
    const bytes = readFileSync(file);
    if (createHash('sha256').update(bytes).digest('hex') !== ref.hash)
      throw new MagicPortraitError(`Artifact ${file} is damaged (its content no longer matches its hash).`, 'bad-artifact');
    return bytes;
  }

  list(): { hash: string; ext: string; size: number }[] {
    if (!existsSync(this.dir)) return [];
    const out: { hash: string; ext: string; size: number }[] = [];
    for (const name of readdirSync(this.dir)) {
      const m = NAME.exec(name);
      if (m) out.push({ hash: m[1]!, ext: m[2]!, size: statSync(join(this.dir, name)).size });
    }
    return out;
  }

  /** Removes artifacts whose hash is not in `referenced` (and stale temp files). Returns what was removed. */
  collectGarbage(referenced: ReadonlySet<string>): { removed: number; bytes: number } {
    let removed = 0;
    let bytes = 0;
    if (!existsSync(this.dir)) return { removed, bytes };
    for (const name of readdirSync(this.dir)) {
      const m = NAME.exec(name);
      const stale = name.startsWith('.tmp-');
      if ((m && !referenced.has(m[1]!)) || stale) {
        const p = join(this.dir, name);
        bytes += statSync(p).size;
        unlinkSync(p);
        removed++;
      }
    }
    return { removed, bytes };
  }
}

/** Every artifact hash referenced anywhere inside an output value (walks JSON looking for {hash, ext}). */
export function referencedHashes(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) referencedHashes(v, into);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.hash === 'string' && typeof o.ext === 'string' && /^[0-9a-f]{64}$/.test(o.hash)) into.add(o.hash);
    for (const v of Object.values(o)) referencedHashes(v, into);
  } else if (typeof value === 'string' && value.startsWith('{')) {
    try {
      referencedHashes(JSON.parse(value), into);
    } catch {
      /* plain text that happens to start with a brace */
    }
  }
  return into;
}
