/**
 * Programmatic access to prepared clips, for evaluation code: re-render a clip from its flame.npz, and the ground truth
 * of a cross-reenactment (identity A driven by clip B's motion). Both stream one frame at a time (a generator), so
 * any clip length fits in memory.
 */
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';
import { createDemoHead, type FlameModelData } from '../flame';
import type { GuidanceMaps } from '../render';
import { ClipFrameRenderer, compositeOver } from './frame-renderer';
import { frameParams, readFlameNpz, type ClipParams } from './flame-npz';
import { DEFAULT_DATA_MAPS, flamePath, frameName, readClipMeta, type ClipMeta, type DataMapKind } from './layout';
import { drawBackground, type BackgroundSpec } from './synth/background';

export interface RenderedFrame {
  /** Position in the clip (0-based) and the file name of the frame (source frame index). */
  index: number;
  name: string;
  maps: GuidanceMaps;
  /** Synthetic clips: the photo (RGB, size²) — the render over the clip's backdrop. */
  photo?: Uint8Array;
}

export interface LoadedClip {
  dir: string;
  meta: ClipMeta;
  params: ClipParams;
}

/** Reads a complete clip (meta.json + flame.npz); a clip without meta.json is refused as incomplete. */
export async function loadClip(dir: string): Promise<LoadedClip> {
  const meta = readClipMeta(dir);
  if (!meta) throw new MagicPortraitError(`${dir} is not a complete clip (no meta.json)`, 'incomplete');
  return { dir, meta, params: await readFlameNpz(flamePath(dir)) };
}

function modelOf(c: LoadedClip, model?: FlameModelData): FlameModelData {
  if (model) {
    if (model.name !== c.params.model) throw new MagicPortraitError(`${c.dir} was made with '${c.params.model}', the model given is '${model.name}'`, 'bad-argument');
    return model;
  }
  if (c.meta.model.kind === 'demo-head') return createDemoHead();
  throw new MagicPortraitError(`${c.dir} was made with ${c.params.model}: pass that model (mp.flame.load(dir)) to re-render it`, 'bad-argument');
}

export interface RerenderOptions {
  /** Maps to draw (default: the clip's). */
  maps?: readonly DataMapKind[];
  /** The model, for clips made with FLAME files (the demo head is built in). */
  model?: FlameModelData;
}

/** Every frame of a clip re-rendered from its flame.npz (equal, byte for byte, to the saved maps and photos). */
export async function* rerenderClip(dir: string, options: RerenderOptions = {}): AsyncGenerator<RenderedFrame> {
  const c = await loadClip(dir);
  const p = c.params;
  const maps = withPhotoMaps(options.maps ?? c.meta.maps, !!p.background);
  const r = new ClipFrameRenderer(modelOf(c, options.model), { shape: p.shape, albedo: p.albedo, light: p.light, tform: p.tform, size: p.size, maps });
  const bg = p.background ? drawBackground(JSON.parse(p.background) as BackgroundSpec, p.size) : null;
  for (let k = 0; k < p.frameIndex.length; k++) {
    const f = frameParams(p, k);
    const m = r.render(f.expression, f.pose, f.cam, undefined, `${dir} frame ${k}`);
    yield { index: k, name: frameName(p.frameIndex[k]!), maps: m, ...(bg ? { photo: compositeOver(m, bg) } : {}) };
  }
}

function withPhotoMaps(maps: readonly DataMapKind[], photo: boolean): DataMapKind[] {
  const out = [...maps];
  if (photo) for (const m of ['render', 'mask'] as const) if (!out.includes(m)) out.push(m);
  return out;
}

export interface CrossOptions {
  /** The identity: a clip of identity A (its shape, albedo, light, placement, backdrop and camera). */
  reference: string;
  /** Which frame of the reference clip gives the camera (default 0). */
  referenceFrame?: number;
  /** The motion: a clip of identity B (its expression and pose: head rotation, jaw, eyes). */
  driving: string;
  maps?: readonly DataMapKind[];
  model?: FlameModelData;
}

/**
 * Ground truth of a cross-reenactment, following the reference pipeline's parameter sources (reference-pipeline.md
 * §4.2): identity, appearance, placement and camera from the reference, expression and rotations from the driving
 * clip, frame by frame; the driving clip's camera moves (translation, scale) are not transferred. The reference
 * clip's size and backdrop are used; for synthetic clips `photo` is what a perfect reenactment shows.
 */
export async function* crossReenactment(o: CrossOptions): AsyncGenerator<RenderedFrame> {
  const ref = await loadClip(o.reference), drv = await loadClip(o.driving);
  const model = modelOf(ref, o.model);
  if (drv.params.model !== ref.params.model) throw new MagicPortraitError(`${o.driving} was made with '${drv.params.model}', ${o.reference} with '${ref.params.model}'`, 'bad-argument');
  const rf = o.referenceFrame ?? 0;
  if (!(Number.isInteger(rf) && rf >= 0 && rf < ref.params.frameIndex.length)) throw new MagicPortraitError(`referenceFrame ${rf} is outside ${o.reference} (${ref.params.frameIndex.length} frames)`, 'bad-argument');
  const p = ref.params;
  const maps = withPhotoMaps(o.maps ?? ref.meta.maps ?? DEFAULT_DATA_MAPS, !!p.background);
  const r = new ClipFrameRenderer(model, { shape: p.shape, albedo: p.albedo, light: p.light, tform: p.tform, size: p.size, maps });
  const cam = frameParams(p, rf).cam.slice();
  const bg = p.background ? drawBackground(JSON.parse(p.background) as BackgroundSpec, p.size) : null;
  for (let k = 0; k < drv.params.frameIndex.length; k++) {
    const f = frameParams(drv.params, k);
    const m = r.render(f.expression, f.pose, cam, undefined, `${join(o.driving)} frame ${k}`);
    yield { index: k, name: frameName(drv.params.frameIndex[k]!), maps: m, ...(bg ? { photo: compositeOver(m, bg) } : {}) };
  }
}
