/**
 * `magicportrait data-merge --out DATASET [SHARD_DIR...]`: combines the output of `prepare-data --shard i/N` runs.
 * Shards that wrote into DATASET itself (a shared volume, as the Kubernetes Job does) only need the report and
 * dataset.json written from everything on disk; shard folders given as arguments first have their complete clips
 * and their clip records moved into DATASET (renamed, or copied across file systems). A clip present in two places
 * must be the same preparation (same source and settings), else the merge stops and names it. Incomplete clips of a
 * shard (no meta.json) are left where they are and reported.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MagicPortraitError } from '../errors';
import { writeFileAtomic } from './files';
import { CROP_SIZE } from './crop';
import { DEFAULT_DATA_MAPS, listCompleteClips, readClipMeta, type ClipMeta } from './layout';
import { NME_DROP, PREPARE_RULES } from './prepare';
import { REPORT_DIR } from './report';
import { finishDataset, SYNTH_RULES } from './synth/generate';

export interface MergeSummary {
  moved: number;
  alreadyThere: number;
  incomplete: string[];
  clips: number;
  kind: string;
}

const identityOf = (m: ClipMeta) => JSON.stringify(m.synthetic ? m.source : { source: m.source, key: (m.tracking as { key?: string } | undefined)?.key ?? null, size: m.size, maps: m.maps });

function move(from: string, to: string): void {
  mkdirSync(resolve(to, '..'), { recursive: true });
  try {
    renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw new MagicPortraitError(`Cannot move ${from} to ${to}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'write-failed');
    // another file system: copy everything but meta.json, then meta.json last, then remove the source
    cpSync(from, to, { recursive: true, filter: (src) => !src.endsWith('/meta.json') || statSync(src).isDirectory() });
    const meta = join(from, 'meta.json');
    if (existsSync(meta)) writeFileAtomic(join(to, 'meta.json'), readFileSync(meta));
    rmSync(from, { recursive: true, force: true });
  }
}

export function mergeData(out: string, shardDirs: string[] = [], log: (line: string) => void = () => {}): MergeSummary {
  const outAbs = resolve(out);
  mkdirSync(outAbs, { recursive: true });
  const s: MergeSummary = { moved: 0, alreadyThere: 0, incomplete: [], clips: 0, kind: 'real' };
  for (const d of shardDirs.map((x) => resolve(x)).filter((x) => x !== outAbs)) {
    if (!existsSync(d)) throw new MagicPortraitError(`Shard folder ${d} does not exist`, 'bad-argument');
    for (const c of listCompleteClips(d)) {
      const target = join(outAbs, c.split, c.clip);
      const there = readClipMeta(target);
      if (there) {
        if (identityOf(there) !== identityOf(c.meta)) throw new MagicPortraitError(`${c.split}/${c.clip} is in ${d} and in ${outAbs} with different sources or settings; remove one of them`, 'conflict');
        s.alreadyThere++;
        continue;
      }
      if (existsSync(target)) rmSync(target, { recursive: true, force: true }); // an incomplete copy of an earlier attempt
      move(c.dir, target);
      s.moved++;
    }
    const recDir = join(d, REPORT_DIR);
    if (existsSync(recDir)) for (const f of readdirSync(recDir).filter((x) => x.endsWith('.json') && !x.startsWith('.'))) {
      mkdirSync(join(outAbs, REPORT_DIR), { recursive: true });
      writeFileAtomic(join(outAbs, REPORT_DIR, f), readFileSync(join(recDir, f)));
    }
    for (const split of readdirSync(d).filter((x) => !x.startsWith('.') && statSync(join(d, x)).isDirectory())) {
      for (const clip of readdirSync(join(d, split))) if (!existsSync(join(d, split, clip, 'meta.json'))) s.incomplete.push(join(d, split, clip));
    }
    log(`${d}: merged`);
  }
  const clips = listCompleteClips(outAbs);
  s.clips = clips.length;
  const synthetic = clips.length > 0 && clips.every((c) => c.meta.synthetic);
  s.kind = clips.length === 0 ? 'real' : synthetic ? 'synthetic' : clips.some((c) => c.meta.synthetic) ? 'mixed' : 'real';
  const size = clips[0]?.meta.size ?? CROP_SIZE;
  finishDataset(outAbs, { size, maps: clips[0]?.meta.maps ?? DEFAULT_DATA_MAPS, kind: synthetic ? 'synthetic' : 'real' }, synthetic ? SYNTH_RULES : PREPARE_RULES, synthetic ? undefined : NME_DROP);
  return s;
}
