/**
 * Fitting as notebook stages: `mp.fit.portrait` and `mp.fit.track` run the pure fitters of fit/ with the cell's
 * interrupt and progress bar, cached in the stage cache (a re-run cell, or a restarted kernel, gets the fit back at
 * once), and say in the cell what the result warns about.
 */
import * as fit from '../fit';
import { createDemoHead } from '../flame';
import type { Image } from '../io/image';
import { runCellTask } from './cell-task';
import { stageCache } from './cache';
import { dataKey, fileKey, folderKey, keyable } from './stage-keys';
import { cellPath } from './cell';

/** Bump when the fitter's results change for the same inputs. */
export const FIT_STAGE = { name: 'fit.portrait', version: 1 } as const;
export const TRACK_STAGE = { name: 'fit.track', version: 1 } as const;

/** `mp.fit.portrait` options: the fitter's, and whether to use the stage cache (default true). */
export type FitStageOptions = fit.FitFlameOptions & { cache?: boolean };

/** `mp.fit.track` options: the tracker's, whether to show a progress bar (default true) and to use the stage cache
 * (default true; a frame iterator or an `onFrame` callback is never cached). */
export type TrackStageOptions = fit.TrackFlameOptions & { progress?: boolean; cache?: boolean };

type TrackSource = Parameters<typeof fit.trackFlame>[0];

/** The models a fit or track depends on: the model (the demo head by default, except for 'reference', whose FLAME
 * comes from the bundle), the bundle and the encoder folder, each by content or listing. */
function modelsKey(o: { preset?: fit.EstimatorPreset; model?: fit.FitFlameOptions['model']; bundle?: string; encoderDir?: string }, usesEncoders: boolean) {
  const reference = o.preset === 'reference';
  return {
    model: o.model ? dataKey(o.model) : reference ? null : dataKey(createDemoHead()),
    bundle: typeof o.bundle === 'string' ? folderKey(o.bundle) : null,
    encoderDir: typeof o.encoderDir === 'string' ? folderKey(o.encoderDir) : usesEncoders && !o.bundle ? folderKey(fit.defaultEncoderDir()) : null,
  };
}

/** The stage-cache key of a portrait fit, or null when the call cannot be cached (an init hook). */
export function fitKey(input: fit.FitInput, options: fit.FitFlameOptions): { inputs: unknown; options: unknown } | null {
  const { model, bundle: _b, encoderDir: _e, dense, shape, init, ...plain } = options;
  if (init || !input || typeof input !== 'object' || (model !== undefined && (!model || typeof model !== 'object'))) return null;
  const image = keyable(input);
  const rest = keyable(plain);
  if (!image || !rest) return null;
  return {
    inputs: {
      input: image,
      ...modelsKey(options, options.preset === 'reference' || !!options.encoder),
      dense: dense && typeof dense === 'object' ? dataKey(dense) : (dense ?? 'default'),
      shape: shape ? Array.from(shape) : null,
    },
    options: rest,
  };
}

/**
 * FLAME fitted to a portrait (cached); its warnings (several faces, a non-square photo…) printed in the cell. The
 * cache keeps the fit without its overlay image, which is the photo's size (144 MB for a 48-MP photo): a hit draws it
 * again from the photo, as the fitter does.
 */
export async function fitPortrait(input: fit.FitInput, options: FitStageOptions = {}): Promise<fit.FlameFit> {
  const { cache, ...o } = options;
  const key = cache === false || !stageCache().enabled ? null : fitKey(input, o);
  let r: fit.FlameFit;
  if (!key) r = await fit.fitFlame(input, o);
  else {
    let fresh = null as fit.FlameFit | null;
    const stored = await stageCache().run(FIT_STAGE, key.inputs, key.options, async () => {
      fresh = await fit.fitFlame(input, o);
      return { ...fresh, overlay: null };
    });
    r = fresh ?? (await withOverlay(stored, input, o));
  }
  for (const w of r.warnings ?? []) console.warn(`⚠ ${w}`);
  return r;
}

/** A cached fit with its overlay drawn on the photo again (when there is one and the overlay was not turned off). */
async function withOverlay(f: fit.FlameFit, input: fit.FitInput, o: fit.FitFlameOptions): Promise<fit.FlameFit> {
  // an image, or landmarks with an image (as fit.ts tells them apart)
  const asImage = input as Image;
  const image = asImage.data instanceof Uint8Array && typeof asImage.channels === 'number' ? asImage : (input as fit.FitLandmarkInput).image ?? null;
  if (!image || o.overlay === false) return f;
  const model = o.preset === 'reference' ? (await fit.referenceModels({ bundle: o.bundle, model: o.model, encoderDir: o.encoderDir })).model : o.model ?? createDemoHead();
  return { ...f, overlay: fit.drawFitOverlay(image, model, f) };
}

/**
 * The stage-cache key of a track, or null when the call cannot be cached: frames from an iterator (read once, no
 * content to key before reading) or an `onFrame` callback (it must see every frame). A path keys by its bytes;
 * frames given as an array by their content.
 */
export async function trackKey(source: TrackSource, options: fit.TrackFlameOptions): Promise<{ inputs: unknown; options: unknown } | null> {
  const { signal: _s, onProgress: _p, onFrame, model, bundle: _b, encoderDir: _e, dense, shape, frameCount: _n, fps, ...plain } = options;
  if (onFrame || (model !== undefined && (!model || typeof model !== 'object'))) return null;
  const path = typeof source === 'string';
  const frames = path ? await fileKey(source) : Array.isArray(source) ? keyable(source) : null;
  const rest = keyable(plain);
  if (!frames || !rest) return null;
  const s = shape && typeof shape === 'object' && 'shape' in shape ? shape.shape : shape;
  return {
    inputs: {
      source: frames,
      ...modelsKey(options, options.preset === 'reference'),
      dense: dense && typeof dense === 'object' ? dataKey(dense) : (dense ?? 'default'),
      shape: s ? Array.from(s) : null,
    },
    // a path's frame rate is its own; `frameCount` only sizes an iterator's progress bar
    options: { ...rest, ...(path ? {} : { fps: fps ?? 25 }) },
  };
}

/** A driving video tracked (cached) with a progress bar and the cell's interrupt; its warnings printed in the cell. */
export async function trackDriving(source: TrackSource, options: TrackStageOptions = {}): Promise<fit.FlameTrack> {
  const { progress, cache, ...rest } = options;
  const label = rest.preset === 'reference' ? 'Reference estimator (DECA + SMIRK)' : 'Tracking FLAME';
  const compute = () => runCellTask(label, 'frames', progress, (task) =>
    fit.trackFlame(source, {
      ...rest,
      signal: rest.signal ?? task.signal,
      onProgress: (done, total) => { task.onProgress?.(done, total); rest.onProgress?.(done, total); },
    }));
  const key = cache === false || !stageCache().enabled ? null : await trackKey(source, rest);
  const r = key ? await stageCache().run(TRACK_STAGE, key.inputs, key.options, compute) : await compute();
  for (const w of r.warnings ?? []) console.warn(`⚠ ${w}`);
  return r;
}

/** What of FLAME / DECA / SMIRK the 'reference' preset is missing (empty when all is there); folders relative to
 * the notebook. */
export function missingReferenceModels(o: fit.ReferenceModelOptions = {}): string[] {
  return fit.missingReferenceModels({ ...o, ...(o.bundle ? { bundle: cellPath(o.bundle) } : {}), ...(o.encoderDir ? { encoderDir: cellPath(o.encoderDir) } : {}) });
}
