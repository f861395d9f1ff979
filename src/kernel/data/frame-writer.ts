/**
 * What a data worker does with a batch of frames: render each frame's maps (frame-renderer.ts), compose the
 * synthetic photo over the clip's backdrop, encode PNGs and write every file atomically. Also plain PNG writes of
 * prepared video frames. Runs in worker threads (worker.ts) or inline on the calling thread (same code, same bytes).
 */
import { join } from 'node:path';
import { createDemoHead, loadFlame, type FlameModelData } from '../flame';
import type { GuidanceMaps } from '../render';
import { ensureDir, writeFileAtomic } from './files';
import { ClipFrameRenderer, compositeOver, type ClipAppearance } from './frame-renderer';
import type { DataMapKind } from './layout';
import { encodePng } from '../io/png';
import { threadCpuMs } from './cpu-time';
import type { Affine } from '../perception/warp';
import type { Image } from '../io/image';
import { cropFrame } from './crop';
import { drawBackground, type BackgroundSpec } from './synth/background';

/** Which head model: the built-in demo head, or FLAME files in a folder (mp.flame.load). */
export type ModelSpec = { kind: 'demo' } | { kind: 'flame'; dir: string };

export interface ClipJob {
  /** Identifies the clip's renderer in a worker's cache. */
  key: string;
  model: ModelSpec;
  appearance: ClipAppearance;
  /** Output folder of the clip (map folders and images/ beneath). */
  dir: string;
  /** Synthetic clips: the backdrop the photo (images/) is composed over. */
  background?: BackgroundSpec;
}

export interface FrameJob {
  name: string;
  expression: Float32Array;
  pose: Float32Array;
  cam: Float32Array;
}

export interface StageTimes {
  /** Thread CPU time (ms, summed over frames; cpu-time.ts) of the FLAME forward + rasterisation + shading. */
  render: number;
  composite: number;
  /** The clip crop of a video frame (crop.ts). */
  crop: number;
  encode: number;
  write: number;
}

export interface RenderResult {
  /** Covered (face) pixels per frame. */
  covered: number[];
  ms: StageTimes;
}

export const zeroTimes = (): StageTimes => ({ render: 0, composite: 0, crop: 0, encode: 0, write: 0 });

const models = new Map<string, Promise<FlameModelData>>();
function modelFor(spec: ModelSpec): Promise<FlameModelData> {
  const key = spec.kind === 'demo' ? 'demo' : `flame:${spec.dir}`;
  let m = models.get(key);
  if (!m) {
    m = spec.kind === 'demo' ? Promise.resolve(createDemoHead()) : loadFlame(spec.dir);
    models.set(key, m);
  }
  return m;
}

interface CachedClip {
  key: string;
  renderer: ClipFrameRenderer;
  background: Uint8Array | null;
  spare?: GuidanceMaps;
  photo?: Uint8Array;
}
let cache: CachedClip[] = [];

async function clipFor(job: ClipJob): Promise<CachedClip> {
  const hit = cache.find((c) => c.key === job.key);
  if (hit) return hit;
  const model = await modelFor(job.model);
  const entry: CachedClip = {
    key: job.key,
    renderer: new ClipFrameRenderer(model, job.appearance),
    background: job.background ? drawBackground(job.background, job.appearance.size) : null,
  };
  for (const k of [...(job.background ? ['images'] : []), ...job.appearance.maps]) ensureDir(join(job.dir, k));
  cache = [entry, ...cache].slice(0, 2); // a worker moves through clips in order: keep the current and the previous
  return entry;
}

/** Renders and writes the frames (see the file header). */
export async function renderFrames(job: ClipJob, frames: readonly FrameJob[]): Promise<RenderResult> {
  const c = await clipFor(job);
  const ms = zeroTimes();
  const covered: number[] = [];
  const size = job.appearance.size;
  const maps = job.appearance.maps as readonly DataMapKind[];
  for (const f of frames) {
    let t = threadCpuMs();
    const m = c.renderer.render(f.expression, f.pose, f.cam, c.spare, f.name);
    c.spare = m;
    covered.push(m.covered);
    let t2 = threadCpuMs();
    ms.render += t2 - t;
    const files: [string, Uint8Array][] = [];
    if (c.background) {
      c.photo = compositeOver(m, c.background, c.photo);
      t = threadCpuMs();
      ms.composite += t - t2;
      t2 = t;
      files.push([join(job.dir, 'images', f.name), encodePng({ width: size, height: size, channels: 3, data: c.photo }, { photo: true })]);
    }
    for (const k of maps) {
      const data = m[k]!;
      files.push([join(job.dir, k, f.name), encodePng({ width: size, height: size, channels: k === 'mask' ? 1 : 3, data })]);
    }
    t = threadCpuMs();
    ms.encode += t - t2;
    for (const [p, bytes] of files) writeFileAtomic(p, bytes);
    ms.write += threadCpuMs() - t;
  }
  return { covered, ms };
}

/** A video frame through the clip's crop, written as PNG to `path`; the crop is returned for tracking. */
export function cropAndWrite(frame: Image, inverse: Affine, path: string): { image: Image; ms: StageTimes } {
  const t = threadCpuMs();
  const image = cropFrame(frame, inverse);
  const ms = writeImagePng(path, image.width, image.height, image.data);
  ms.crop = threadCpuMs() - t - ms.encode - ms.write;
  return { image, ms };
}

/** Encodes and writes one RGB image atomically (prepared video frames). */
export function writeImagePng(path: string, width: number, height: number, data: Uint8Array): StageTimes {
  const ms = zeroTimes();
  const t = threadCpuMs();
  const bytes = encodePng({ width, height, channels: 3, data }, { photo: true });
  const t2 = threadCpuMs();
  ms.encode = t2 - t;
  writeFileAtomic(path, bytes);
  ms.write = threadCpuMs() - t2;
  return ms;
}
