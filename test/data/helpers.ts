/** Shared helpers of the dataset tests: file hashes of a folder, PNG pixels, temp folders. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

export const dataDir = join(__dirname, '..', '..', '..', 'shared', 'data');

export const tmp = (name: string) => mkdtempSync(join(tmpdir(), `mp-data-${name}-`));

/** sha256 of every file under `root` (relative path → hash), hidden folders included unless `skipHidden`. */
export function treeHashes(root: string, skipHidden = false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (skipHidden && name.startsWith('.')) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(root, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(root);
  return out;
}

/** First difference between two hash maps, or null. */
export function firstDifference(a: Map<string, string>, b: Map<string, string>): string | null {
  for (const [k, v] of a) if (b.get(k) !== v) return `${k}: ${b.has(k) ? 'content differs' : 'missing in the second'}`;
  for (const k of b.keys()) if (!a.has(k)) return `${k}: only in the second`;
  return null;
}
