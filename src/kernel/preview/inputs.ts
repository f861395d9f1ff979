// What `mp.preview` accepts, checked and brought to one form: the reference (portrait + the pose it was fitted in)
// and the driving frames, all with one model, camera and crop.

import { MagicPortraitError } from '../errors';
import { createDemoHead, type FlameModelData } from '../flame';
import type { Image } from '../io/image';
import type { AlignedSequence, FlameFit } from '../fit';
import { alignedInCrop, cropImage, fitInCrop, portraitCropOfFit } from '../fit/crop';
import { type PortraitCrop } from '../fit/types';
import type { FlameSequence } from '../render/flame-sequence';
import type { PreviewFrameParams, PreviewRig } from './pose';

/**
 * The reference of a preview: the portrait, and its fit. With a FlameSequence the fit is optional: without it the
 * reference is the sequence's own head (shape, camera, crop) in `frame`'s pose (default neutral, as
 * `mp.demo.portrait` renders it); with it the fit's head and placement are driven by the sequence's expression and pose.
 */
export interface PreviewReference {
  image: Image;
  /** `mp.fit.portrait(image)`; required with an aligned sequence. Without it the reference is the sequence's head
   * with zero expression and pose, the way `mp.demo.portrait` renders it. */
  fit?: FlameFit | null;
  /** Without a fit: the expression and pose the portrait shows (default zeros, as `mp.demo.portrait`). */
  frame?: PreviewFrameParams;
}

export type PreviewDriving = AlignedSequence | FlameSequence;

export interface ResolvedPreview {
  rig: PreviewRig;
  reference: PreviewFrameParams;
  frames: PreviewFrameParams[];
  albedo: ArrayLike<number> | null;
  fps: number;
  label: string;
}

function isAligned(v: PreviewDriving): v is AlignedSequence {
  return !!v && typeof v === 'object' && 'decaTform' in v && 'numFrames' in v;
}

function bad(msg: string, code = 'bad-argument'): never {
  throw new MagicPortraitError(`preview: ${msg}`, code);
}

/**
 * A preview's inputs moved into the photo's 512² generation crop where the method works (a non-square photo, or a
 * sequence already placed in a crop), so the preview matches the guidance maps frame for frame and a large photo is
 * not warped at full resolution. Returns the inputs unchanged (crop null) for a square photo in its own frame.
 */
export function placePreview(reference: PreviewReference, driving: PreviewDriving, mode: 'auto' | 'none' = 'auto'): { reference: PreviewReference; driving: PreviewDriving; crop: PortraitCrop | null } {
  const unchanged = { reference, driving, crop: null };
  if (mode === 'none' || !reference?.image || !reference.fit) return unchanged;
  const { image, fit } = reference;
  const square = image.width === image.height;
  if (fit.imageSize.width !== image.width || fit.imageSize.height !== image.height) return unchanged; // resolvePreview explains
  let crop: PortraitCrop | null = null;
  if (isAligned(driving)) {
    if (driving.placedIn === 'crop' && driving.crop && driving.crop.source.width === image.width && driving.crop.source.height === image.height) {
      const c = driving.crop;
      return { reference: { ...reference, image: cropImage(image, c), fit: fitInCrop(fit, c) }, driving, crop: c };
    }
    if (square || driving.width !== image.width || driving.height !== image.height) return unchanged;
    crop = driving.crop ?? null;
    if (!crop) return unchanged;
    return { reference: { ...reference, image: cropImage(image, crop), fit: fitInCrop(fit, crop) }, driving: alignedInCrop(driving, crop), crop };
  }
  if (square) return unchanged;
  crop = portraitCropOfFit(fit);
  return { reference: { ...reference, image: cropImage(image, crop), fit: fitInCrop(fit, crop) }, driving, crop };
}

export function resolvePreview(reference: PreviewReference, driving: PreviewDriving, model?: FlameModelData): ResolvedPreview {
  if (!reference || typeof reference !== 'object' || !reference.image)
    bad('the first argument is the reference: { image, fit } (the portrait and its mp.fit.portrait result).');
  const { image, fit } = reference;
  if (fit && reference.frame) bad('give the reference pose either as a fit or as a frame, not both.');
  if (!(image.data instanceof Uint8Array) || !(image.width > 0 && image.height > 0) || image.data.length !== image.width * image.height * image.channels)
    bad('reference.image is not an image (use mp.image(path) or mp.demo.portrait(model)).', 'bad-input');
  if (!driving || typeof driving !== 'object') bad('the second argument is the driving motion: an aligned sequence (mp.fit.align) or a FlameSequence.');
  const W = image.width, H = image.height;
  if (fit && (fit.imageSize.width !== W || fit.imageSize.height !== H))
    bad(`the fit was made on a ${fit.imageSize.width}×${fit.imageSize.height} image but the reference image is ${W}×${H}; pass the image that was fitted.`);

  if (isAligned(driving)) {
    const m = model ?? createDemoHead();
    if (!fit) bad('an aligned sequence needs the reference fit: mp.preview({ image, fit }, aligned).');
    if (driving.modelName !== m.name) bad(`the sequence was fitted with '${driving.modelName}' but the model is '${m.name}' (pass { model }).`);
    if (fit.modelName !== m.name) bad(`the reference was fitted with '${fit.modelName}' but the model is '${m.name}'.`);
    if (driving.numFrames < 1) bad('the aligned sequence has no frames.', 'bad-input');
    if (driving.width !== W || driving.height !== H)
      bad(`the sequence is placed in a ${driving.width}×${driving.height} image but the reference image is ${W}×${H}.`);
    if (fit.pose.length !== 3 * driving.numJoints) bad(`the reference has ${fit.pose.length / 3} joints, the sequence ${driving.numJoints}.`);
    for (let f = 1; f < driving.numFrames; f++)
      for (let k = 0; k < 9; k++)
        if (driving.decaTform[9 * f + k] !== driving.decaTform[k] || (k < 3 && driving.cam[3 * f + k] !== driving.cam[k]))
          bad(`the sequence has a camera per frame (${driving.variant}); the preview keeps the reference's camera and crop. Use the default alignment.`, 'unsupported');
    const E = driving.numExpression, P = 3 * driving.numJoints;
    return {
      rig: { model: m, shape: driving.shape, cam: Array.from(driving.cam.subarray(0, 3)), tform: Array.from(driving.decaTform.subarray(0, 9)), width: W, height: H },
      reference: { expression: fit.expression, pose: fit.pose },
      frames: Array.from({ length: driving.numFrames }, (_, f) => ({ expression: driving.expression.subarray(f * E, (f + 1) * E), pose: driving.pose.subarray(f * P, (f + 1) * P) })),
      albedo: fit.albedo ?? driving.albedo,
      fps: driving.fps,
      label: `aligned: ${driving.variant}`,
    };
  }

  const seq = driving;
  if (!seq.model || !Array.isArray(seq.frames)) bad('the driving motion is neither an aligned sequence nor a FlameSequence.');
  const m = seq.model;
  if (model && model !== m && model.name !== m.name) bad(`the sequence's model is '${m.name}' but { model } is '${model.name}'.`);
  if (!seq.frames.length) bad('the sequence has no frames.', 'bad-input');
  if (fit && fit.modelName !== m.name) bad(`the reference was fitted with '${fit.modelName}' but the sequence's model is '${m.name}'.`);
  const tform = seq.tform ?? null;
  if (!fit && !tform && W !== H) bad(`a sequence without a crop transform fills a square image; the reference image is ${W}×${H}.`);
  const zeros = { expression: new Float32Array(m.numExpression), pose: new Float32Array(3 * m.numJoints) };
  // With a fit, identity and placement are the fit's (Eq. 1's reference sources) and only the articulation comes
  // from the sequence, so any motion (e.g. the demo motion) drives a fitted photo in its own frame.
  return {
    rig: fit
      ? { model: m, shape: fit.shape, cam: Array.from(fit.cam), tform: Array.from(fit.decaTform), width: W, height: H }
      : { model: m, shape: seq.shape, cam: seq.cam, tform: tform ? Array.from(tform) : null, width: W, height: H },
    reference: fit ? { expression: fit.expression, pose: fit.pose } : reference.frame ?? zeros,
    frames: seq.frames,
    albedo: fit?.albedo ?? seq.albedoCode ?? null,
    fps: seq.fps ?? 24,
    label: seq.label ?? 'FLAME sequence',
  };
}
