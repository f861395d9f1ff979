/**
 * Content-addressed artifact store: large outputs (frames, meshes, tensors, videos) live in files named by their
 * SHA-256 beside the notebook, and outputs reference them by hash, so notebooks stay small and diffable.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';
import { removeOrphanTemps, tempPathFor } from '../io/temp-files';
import type { ArtifactRef } from '../../shared/outputs';



const NAME = /^([0-9a-f]{64})\.([a-z0-9]+)$/;

export class ArtifactStore {
  /** What was put through this store object (one per cell run): the host keeps these from garbage collection. */
  private readonly puts = new Map<string, Pick<ArtifactRef, 'hash' | 'ext'>>();

  constructor(readonly dir: string) {}

  /**
   * The same folder through an object whose puts nobody reads: displays store what they show through it (their
   * outputs reference it), so `written` lists only what stages wrote for values that may not be shown.
   */
  forDisplay(): ArtifactStore {
    return new ArtifactStore(this.dir);
  }

  /** Every artifact put through this object, whether it was new or already stored. */
  get written(): Pick<ArtifactRef, 'hash' | 'ext'>[] {
    return [...this.puts.values()];
  }

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
      const tmp = tempPathFor(file);
      writeFileSync(tmp, bytes);
      renameSync(tmp, file);
    }
    this.puts.set(`${hash}.${ext}`, { hash, ext });
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

  /**
   * Removes artifacts whose hash is not in `referenced`, and temp files of writers that are gone (a kernel still
   * writing keeps its own). Returns what was removed.
   */
  collectGarbage(referenced: ReadonlySet<string>): { removed: number; bytes: number } {
    if (!existsSync(this.dir)) return { removed: 0, bytes: 0 };
    let { removed, bytes } = removeOrphanTemps(this.dir);
    for (const name of readdirSync(this.dir)) {
      const m = NAME.exec(name);
      const stale = name.startsWith('.tmp-'); // the unowned temp names of earlier versions
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

/**
 * What a cell wrote that its outputs do not show (the sampler's MP4 when only the grid is displayed, a preview video
 * kept in a variable for a later cell) is listed in the cell's metadata, `metadata.magicportrait.artifacts`, so
 * garbage collection keeps it for as long as the cell's outputs are kept (re-running the cell replaces the list).
 */
export const CELL_METADATA_KEY = 'magicportrait';

/** The artifacts of `written` whose hash is not in `shown` (what the cell's outputs reference). */
export function unreferencedWrites(written: readonly Pick<ArtifactRef, 'hash' | 'ext'>[] | undefined, shown: ReadonlySet<string>): Pick<ArtifactRef, 'hash' | 'ext'>[] {
  return (written ?? []).filter((w) => !shown.has(w.hash));
}

/** Cell metadata with its kept artifacts replaced by `kept` (the entry dropped when there are none). */
export function withKeptArtifacts(metadata: Record<string, unknown>, kept: readonly Pick<ArtifactRef, 'hash' | 'ext'>[]): Record<string, unknown> {
  const { [CELL_METADATA_KEY]: ours, ...rest } = metadata;
  const { artifacts: _old, ...other } = (ours && typeof ours === 'object' ? ours : {}) as Record<string, unknown>;
  const next = kept.length ? { ...other, artifacts: kept.map(({ hash, ext }) => ({ hash, ext })) } : other;
  return Object.keys(next).length ? { ...rest, [CELL_METADATA_KEY]: next } : rest;
}

/** Every artifact a notebook keeps: referenced by an output, or listed in a cell's metadata. */
export function notebookReferences(cells: readonly { outputs: unknown; metadata?: Record<string, unknown> }[]): Set<string> {
  const refs = new Set<string>();
  for (const c of cells) {
    referencedHashes(c.outputs, refs);
    const ours = c.metadata?.[CELL_METADATA_KEY];
    if (ours) referencedHashes(ours, refs);
  }
  return refs;
}
