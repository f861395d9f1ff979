// The instant preview's frames: the reference projected onto its fitted mesh once, then every driving frame warped
// through the posed mesh. Pure: no runtime, no files; the stage (pipeline/preview.ts) adds progress, the MP4 and the
// display, and parallel.ts runs the same warp on worker threads.

import type { AnyImage, Image } from '../io/image';
import { MeshPoser } from './pose';
import { ReferenceTexture } from './reference';
import { PreviewWarper, warpTables, type WarpTables } from './warp';
import { featureWeights, type PreviewRegion } from './model-maps';
import type { ResolvedPreview } from './inputs';

export interface PreviewRenderOptions {
  /** Which part follows the motion (default 'face': hair, ears, neck and background stay). */
  region?: PreviewRegion;
  /** Keep a fill mask per frame (default true). */
  mask?: boolean;
  /** Called after each frame (frames done); may throw (e.g. CancelledError) to stop. */
  onFrame?: (done: number) => void;
  /** Receives each finished frame (any order) instead of the result keeping it: long previews stream to a store. */
  sink?: (index: number, rgb: Uint8Array, mask: Uint8Array | null) => void;
}

export interface PreviewFrames {
  frames: AnyImage[];
  /** One channel per frame: 255 where the pixel was filled (not seen in the reference), else 0; null when not kept. */
  masks: AnyImage[] | null;
  /** Milliseconds: projecting the reference (once), and warping all frames. */
  setupMs: number;
  framesMs: number;
}

/** What a preview computes once: the poser, the reference projected onto its mesh, and the model's warp tables. */
export function prepareReference(r: ResolvedPreview, image: Image, region: PreviewRegion): { poser: MeshPoser; texture: ReferenceTexture; tables: WarpTables } {
  const { model } = r.rig;
  const poser = new MeshPoser(r.rig);
  const refMesh = poser.posed(r.reference);
  const tables = warpTables(model, region);
  const texture = new ReferenceTexture({
    model, image, world: Float32Array.from(refMesh.world), ndc: Float32Array.from(refMesh.ndc), depthPerPx: poser.scale().depthPerPx,
    mirror: tables.mirror, weight: tables.weight, features: featureWeights(model), albedo: r.albedo,
  });
  return { poser, texture, tables };
}

/** The warp itself on the calling thread, with no runtime around it (scripts, tests): every frame of a resolved preview. */
export function renderPreviewFrames(r: ResolvedPreview, image: Image, options: PreviewRenderOptions = {}): PreviewFrames {
  const t0 = performance.now();
  const { poser, texture, tables } = prepareReference(r, image, options.region ?? 'face');
  const warper = new PreviewWarper(tables, texture);
  const t1 = performance.now();
  const W = image.width, H = image.height;
  const keepMask = options.mask ?? true;
  const frames: AnyImage[] = [], masks: AnyImage[] = [];
  const ndc = new Float32Array(r.rig.model.numVertices * 3);
  for (let i = 0; i < r.frames.length; i++) {
    poser.posed(r.frames[i]!, ndc);
    const data = new Uint8Array(W * H * 3);
    const mask = keepMask ? new Uint8Array(W * H) : undefined;
    warper.render(ndc, data, mask);
    if (options.sink) options.sink(i, data, mask ?? null);
    else {
      frames.push({ width: W, height: H, channels: 3, data });
      if (mask) masks.push({ width: W, height: H, channels: 1, data: mask });
    }
    options.onFrame?.(i + 1);
  }
  return { frames, masks: keepMask ? masks : null, setupMs: t1 - t0, framesMs: performance.now() - t1 };
}

