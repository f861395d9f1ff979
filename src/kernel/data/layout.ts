/**
 * The dataset layout shared with the trainer (/work/coord/DATASET-CONTRACT.md, README "Training data"):
 *
 *   DATASET/dataset.json, report.json, report.html
 *   DATASET/<split>/<clip>/images|depth|normal|render|mask[|landmarks]/frame_NNNNNN.png, flame.npz, meta.json
 *
 * A clip folder is complete only when its meta.json exists (written last, atomically); dataset.json is written last
 * by every run and merge. This module names the paths and the JSON documents; the writers are prepare.ts and
 * synth/generate.ts.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';
import type { GuidanceMapKind } from '../render';

export const CLIP_FORMAT = 'magicportrait.clip';
export const DATASET_FORMAT = 'magicportrait.dataset';
export const REPORT_FORMAT = 'magicportrait.data-report';
export const LAYOUT_VERSION = 1;
export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];
export const SYNTHETIC_LABEL = 'synthetic demo-head data — not real faces';

/** Guidance folders a clip can have (the maps `mp.renderGuidance` draws). */
export type DataMapKind = Extract<GuidanceMapKind, 'depth' | 'normal' | 'render' | 'mask' | 'landmarks'>;
export const DEFAULT_DATA_MAPS: readonly DataMapKind[] = ['depth', 'normal', 'render', 'mask'];
export const ALL_DATA_MAPS: readonly DataMapKind[] = ['depth', 'normal', 'render', 'mask', 'landmarks'];

const CLIP_ID = /^[A-Za-z0-9_.-]+$/;

/** Frame file name for a source frame index: frame_000017.png. */
export function frameName(index: number): string {
  return `frame_${String(index).padStart(6, '0')}.png`;
}

export function checkClipId(id: string): string {
  if (!CLIP_ID.test(id) || id === '.' || id === '..') throw new MagicPortraitError(`Clip id '${id}' must match [A-Za-z0-9_.-]+`, 'bad-argument');
  return id;
}

/** A clip id from a file or folder name: characters outside [A-Za-z0-9_.-] become '_'. */
export function clipIdFromName(name: string): string {
  const id = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
  return id || 'clip';
}

export const clipDir = (root: string, split: string, clip: string) => join(root, split, clip);
export const metaPath = (dir: string) => join(dir, 'meta.json');
export const flamePath = (dir: string) => join(dir, 'flame.npz');

export interface ModelInfo {
  kind: 'demo-head' | 'FLAME';
  name: string;
  label: string;
}

export interface DroppedFrame {
  frame: number;
  reason: 'no-face' | 'low-quality' | 'tracking-failed' | 'decode-error';
  detail: string;
}

/** meta.json of a clip (the trainer relies on the first fields; see the contract). */
export interface ClipMeta {
  format: typeof CLIP_FORMAT;
  version: number;
  clip: string;
  split: string;
  identity: string;
  synthetic: boolean;
  label: string;
  size: number;
  fps: number;
  frames: string[];
  maps: DataMapKind[];
  model: ModelInfo;
  software: { name: string; version: string };
  source: { path: string; sha256: string; frames?: number; width?: number; height?: number } | { synthetic: { seed: number; identity: number; clip: number } };
  crop?: { tform: number[]; size: number; box: [number, number, number, number]; detectedFrame: number; rule: string };
  dropped: DroppedFrame[];
  /** Per-frame summaries for the report (kept frames, in order). */
  quality?: { metric: string; mean: number; max: number; threshold?: number };
  /** Extra fields of synthetic clips: what was randomised. */
  synthesis?: Record<string, unknown>;
  tracking?: Record<string, unknown>;
}

export interface DatasetJson {
  format: typeof DATASET_FORMAT;
  version: number;
  kind: 'real' | 'synthetic' | 'mixed';
  label: string;
  size: number;
  maps: DataMapKind[];
  splits: Record<string, string[]>;
  identities: Record<string, string[]>;
}

/** Reads a clip's meta.json (null when absent: the clip is incomplete). */
export function readClipMeta(dir: string): ClipMeta | null {
  const p = metaPath(dir);
  if (!existsSync(p)) return null;
  let m: ClipMeta;
  try {
    m = JSON.parse(readFileSync(p, 'utf8')) as ClipMeta;
  } catch (e) {
    throw new MagicPortraitError(`${p} is not valid JSON: ${(e as Error).message}`, 'bad-file');
  }
  if (m.format !== CLIP_FORMAT) throw new MagicPortraitError(`${p} is not a MagicPortrait clip (format '${String(m.format)}')`, 'bad-file');
  return m;
}

/** The complete clips under a dataset root (folders <split>/<clip> with a meta.json), sorted by split then id. */
export function listCompleteClips(root: string): { split: string; clip: string; dir: string; meta: ClipMeta }[] {
  const out: { split: string; clip: string; dir: string; meta: ClipMeta }[] = [];
  if (!existsSync(root)) return out;
  for (const split of readdirSync(root).sort()) {
    const sd = join(root, split);
    if (split.startsWith('.') || !statSync(sd).isDirectory()) continue;
    for (const clip of readdirSync(sd).sort()) {
      const dir = join(sd, clip);
      if (clip.startsWith('.') || !statSync(dir).isDirectory()) continue;
      const meta = readClipMeta(dir);
      if (meta) out.push({ split, clip, dir, meta });
    }
  }
  return out;
}

/** dataset.json from the complete clips found on disk (the same for a single run and a merge of shards). */
export function datasetJsonFromClips(clips: { split: string; meta: ClipMeta }[], fallback: { size: number; maps: readonly DataMapKind[]; kind?: DatasetJson['kind'] }): DatasetJson {
  const splits: Record<string, string[]> = {};
  const ids: Record<string, Set<string>> = {};
  let synth = 0;
  for (const { split, meta } of clips) {
    (splits[split] ??= []).push(meta.clip);
    (ids[split] ??= new Set()).add(meta.identity);
    if (meta.synthetic) synth++;
  }
  for (const s of SPLITS) splits[s] ??= [];
  const order = (a: string, b: string) => (SPLITS.indexOf(a as Split) + 1 || 99) - (SPLITS.indexOf(b as Split) + 1 || 99) || a.localeCompare(b);
  const sortedSplits = Object.fromEntries(Object.keys(splits).sort(order).map((k) => [k, [...splits[k]!].sort()]));
  const identities = Object.fromEntries(Object.keys(sortedSplits).map((k) => [k, [...(ids[k] ?? [])].sort()]));
  const kind: DatasetJson['kind'] = clips.length === 0 ? (fallback.kind ?? 'real') : synth === clips.length ? 'synthetic' : synth === 0 ? 'real' : 'mixed';
  const sizes = [...new Set(clips.map((c) => c.meta.size))];
  const maps = clips.length ? clips[0]!.meta.maps : [...fallback.maps];
  return {
    format: DATASET_FORMAT,
    version: LAYOUT_VERSION,
    kind,
    label: kind === 'synthetic' ? SYNTHETIC_LABEL : kind === 'mixed' ? `mixed: ${synth} synthetic demo-head clip(s) (not real faces) and ${clips.length - synth} real clip(s)` : 'real video clips prepared with MagicPortrait Studio',
    size: sizes.length === 1 ? sizes[0]! : fallback.size,
    maps,
    splits: sortedSplits,
    identities,
  };
}
