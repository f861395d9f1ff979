import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead } from '../../src/kernel/flame';
import { DEFAULT_LIGHT, demoPortrait, framingCamera, renderGuidanceSequence, type FlameSequence } from '../../src/kernel/pipeline/render-guidance';
import { mp } from '../../src/kernel/mp';
import { renderPreviewFrames, renderPreviewFramesParallel, resolvePreview } from '../../src/kernel/preview';
import { preview } from '../../src/kernel/pipeline/preview';
import { detachedContext, setCurrentRun } from '../../src/kernel/runtime/context';
import { DISPLAY } from '../../src/kernel/runtime/display';
import { MIME } from '../../src/shared/outputs';
import { CancelledError, MagicPortraitError } from '../../src/kernel/errors';
import type { AnyImage, Image } from '../../src/kernel/io/image';
import { fitFlame, align, type FlameFit, type AlignedSequence } from '../../src/kernel/fit';
import { greenBlobs, landmarkPixels, landmarkVisible, maskedPsnr, paintDot, privateStageCache } from './helpers';

privateStageCache();
const model = createDemoHead();
const S = 512;
const cam = framingCamera(model);
const J = model.numJoints, E = model.numExpression;
const jaw = model.jointNames.indexOf('jaw');

const neutral = () => ({ expression: new Float32Array(E), pose: new Float32Array(3 * J) });
function frame(o: { yaw?: number; pitch?: number; jaw?: number; expr?: Record<string, number> } = {}) {
  const f = neutral();
  f.pose[1] = o.yaw ?? 0;
  f.pose[0] = o.pitch ?? 0;
  if (o.jaw) f.pose[3 * jaw] = o.jaw;
  for (const [k, v] of Object.entries(o.expr ?? {})) f.expression[model.expressionNames![k]!] = v;
  return f;
}
const sequence = (frames: ReturnType<typeof neutral>[]): FlameSequence => ({ model, shape: new Float32Array(0), frames, cam, light: DEFAULT_LIGHT, fps: 24, label: 'test' });

/** A portrait of the demo head in any pose: its shaded render over a grey backdrop (as demoPortrait composes it). */
async function portraitIn(f: ReturnType<typeof neutral>): Promise<Image> {
  const g = await renderGuidanceSequence({ ...sequence([f]) }, { size: S, maps: ['render', 'mask'] });
  const m = g.frames[0]!;
  const data = new Uint8Array(S * S * 3);
  for (let p = 0; p < S * S; p++) {
    const a = m.mask![p]! / 255;
    for (let c = 0; c < 3; c++) data[3 * p + c] = Math.round(a * m.render![3 * p + c]! + (1 - a) * 170);
  }
  return { width: S, height: S, channels: 3, data };
}

/** The head's coverage in the reference (guidance 'mask'), > 50%. */
async function faceMask(f: ReturnType<typeof neutral>): Promise<Uint8Array> {
  const g = await renderGuidanceSequence(sequence([f]), { size: S, maps: ['mask'] });
  return g.frames[0]!.mask!;
}

test('identity (demo head): driving with the reference pose reproduces the portrait, nothing is marked filled', async () => {
  const image = await demoPortrait(model, S) as Image;
  const mask = await faceMask(neutral());
  const out = renderPreviewFrames(resolvePreview({ image }, sequence([neutral(), neutral(), neutral()])), image, { region: 'head' });
  assert.equal(out.frames.length, 3);
  for (const [i, f] of out.frames.entries()) {
    const { psnr, pixels } = maskedPsnr(f, image, (p) => mask[p]! > 127);
    assert.ok(pixels > 0.2 * S * S, `face mask has ${pixels} px`);
    assert.ok(psnr >= 35, `frame ${i}: PSNR ${psnr.toFixed(2)} dB in the face mask`);
    assert.ok(out.masks![i]!.data.every((v) => v === 0), 'nothing filled');
  }
});

test('motion: painted landmark dots follow the driven mesh\'s projected landmarks within 1 px (jaw opening and yaw)', async () => {
  const image = await demoPortrait(model, S) as Image;
  // brows, nose, eyes and the outer lips (the inner lip points coincide while the mouth is closed)
  // Brows, nose and outer lips (the inner lip points coincide while the mouth is closed). The eye points lie on the
  // eyelid margin, at the depth step down to the eyeball: a dot there covers two surfaces that part by parallax when
  // the head turns, so its centroid need not follow the margin; they get a looser bound below.
  const eyes = Array.from({ length: 12 }, (_, k) => 36 + k);
  const ids = Array.from({ length: 42 }, (_, k) => 17 + k);
  const ref = landmarkPixels(model, neutral(), cam, image);
  for (const l of ids) paintDot(image, ref[2 * l]!, ref[2 * l + 1]!, 1.6);
  const drives = [frame({ jaw: 0.2 }), frame({ yaw: 0.3 }), frame({ yaw: -0.25, jaw: 0.15, pitch: 0.1 })];
  const out = renderPreviewFrames(resolvePreview({ image }, sequence(drives)), image);
  let worst = 0, worstEye = 0, checked = 0;
  for (const [i, d] of drives.entries()) {
    const want = landmarkPixels(model, d, cam, image);
    const blobs = greenBlobs(out.frames[i]!);
    for (const l of ids) {
      if (!landmarkVisible(model, neutral(), cam, S, l) || !landmarkVisible(model, d, cam, S, l)) {
        console.log(`# frame ${i}: landmark ${l + 1} is not on the visible surface (reference or driven view), skipped`);
        continue;
      }
      checked++;
      const x = want[2 * l]!, y = want[2 * l + 1]!;
      let best = Infinity;
      for (const b of blobs) best = Math.min(best, Math.hypot(b.x - x, b.y - y));
      if (eyes.includes(l)) {
        worstEye = Math.max(worstEye, best);
        assert.ok(best <= 3, `frame ${i}, eye landmark ${l + 1}: nearest dot ${best.toFixed(2)} px from the driven landmark`);
        continue;
      }
      worst = Math.max(worst, best);
      assert.ok(best <= 1, `frame ${i}, landmark ${l + 1}: nearest dot ${best.toFixed(2)} px from the driven landmark`);
    }
    // the driven landmarks did move: the test measures motion, not a still image
    let moved = 0;
    for (const l of ids) moved = Math.max(moved, Math.hypot(want[2 * l]! - ref[2 * l]!, want[2 * l + 1]! - ref[2 * l + 1]!));
    assert.ok(moved > 10, `frame ${i}: landmarks moved ${moved.toFixed(1)} px`);
  }
  console.log(`# worst landmark-dot distance ${worst.toFixed(3)} px (eyes ${worstEye.toFixed(3)} px) over ${checked} landmark positions`);
  assert.ok(checked >= 0.9 * ids.length * drives.length, `${checked} landmark positions checked`);
});

test('mask: an opening jaw shows a dark, marked mouth cavity; a turn reveals the hidden cheek, filled and marked on that side only', async () => {
  // jaw: the middle of the mouth opening (between the inner lip centres 63 and 67) is marked and dark
  const image = await demoPortrait(model, S) as Image;
  const open = frame({ jaw: 0.25 });
  const out = renderPreviewFrames(resolvePreview({ image }, sequence([open])), image);
  const lm = landmarkPixels(model, open, cam, image);
  const mx = Math.round((lm[2 * 62]! + lm[2 * 66]!) / 2), my = Math.round((lm[2 * 62 + 1]! + lm[2 * 66 + 1]!) / 2);
  assert.ok(lm[2 * 66 + 1]! - lm[2 * 62 + 1]! > 8, 'the mouth is open');
  const p = my * S + mx;
  assert.equal(out.masks![0]!.data[p], 255, 'mouth interior marked');
  const px = out.frames[0]!.data;
  assert.ok(px[3 * p]! + px[3 * p + 1]! + px[3 * p + 2]! < 3 * 80, `mouth interior is dark: ${px.subarray(3 * p, 3 * p + 3).join(',')}`);

  // turn: a reference turned to one side hides the other cheek; driven frontal, that cheek is filled (marked)
  const turned = frame({ yaw: 0.6 });
  const refImg = await portraitIn(turned);
  const res = renderPreviewFrames(resolvePreview({ image: refImg, frame: turned }, sequence([neutral()])), refImg, { region: 'head' });
  const m = res.masks![0]!.data;
  const nose = landmarkPixels(model, neutral(), cam, refImg);
  const cx = nose[2 * 30]!;
  let left = 0, right = 0;
  for (let q = 0; q < S * S; q++) if (m[q] === 255) (q % S < cx ? left++ : right++);
  // +yaw turns the head to its left (image right for a viewer): the image-left cheek was hidden
  assert.ok(Math.max(left, right) > 1500, `filled pixels: left ${left}, right ${right}`);
  assert.ok(Math.min(left, right) < 0.1 * Math.max(left, right), `filled on one side only: left ${left}, right ${right}`);
  // filled colours are skin-like: close to the mean of the seen face, far from the grey backdrop
  const mean = (sel: (q: number) => boolean) => {
    const s = [0, 0, 0];
    let n = 0;
    for (let q = 0; q < S * S; q++) if (sel(q)) { n++; for (let c = 0; c < 3; c++) s[c]! += res.frames[0]!.data[3 * q + c]!; }
    return s.map((v) => v / n);
  };
  const cover = await faceMask(neutral());
  const filled = mean((q) => m[q] === 255 && cover[q]! > 127);
  const seen = mean((q) => m[q] === 0 && cover[q]! > 127 && Math.abs((q % S) - cx) < 60 && Math.abs(((q / S) | 0) - nose[2 * 30 + 1]!) < 60);
  const dist = Math.hypot(filled[0]! - seen[0]!, filled[1]! - seen[1]!, filled[2]! - seen[2]!);
  assert.ok(dist < 60, `filled mean ${filled.map((v) => v.toFixed(0))} vs seen skin ${seen.map((v) => v.toFixed(0))}`);

  // a large nod moves the inner face off part of where it was: that part shows smooth skin (marked 128), not a ghost
  const away = renderPreviewFrames(resolvePreview({ image }, sequence([frame({ pitch: 0.5 })])), image);
  const am = away.masks![0]!.data, ad = away.frames[0]!.data;
  let n128 = 0, dark = 0;
  for (let q = 0; q < S * S; q++) {
    if (am[q] !== 128) continue;
    n128++;
    if (ad[3 * q]! + ad[3 * q + 1]! + ad[3 * q + 2]! < 3 * 90) dark++;
  }
  assert.ok(n128 > 300, `${n128} pixels vacated by the face`);
  assert.ok(dark < 0.02 * n128, `${dark} of the ${n128} vacated pixels are dark (ghost features)`);
});

test('bad input: clear errors, nothing computed', async () => {
  const image = await demoPortrait(model, 128) as Image;
  const seq = sequence([neutral()]);
  const code = (fn: () => unknown, c: string, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof MagicPortraitError && e.code === c && re.test(e.message));
  code(() => resolvePreview({ image }, { ...seq, frames: [] }), 'bad-input', /no frames/);
  code(() => resolvePreview(image as never, seq), 'bad-argument', /reference: \{ image, fit \}/);
  code(() => resolvePreview({ image: { width: 4, height: 4, channels: 3, data: new Uint8Array(5) } }, seq), 'bad-input', /not an image/);
  code(() => resolvePreview({ image: { width: 8, height: 4, channels: 3, data: new Uint8Array(96) } }, seq), 'bad-argument', /square/);
  code(() => resolvePreview({ image }, null as never), 'bad-argument', /driving motion/);
  // a fit of another model, and of another image size
  const fit = fitCache!;
  code(() => resolvePreview({ image, fit: { ...fit, modelName: 'FLAME 2020 (generic_model.pkl)' } }, seq), 'bad-argument', /fitted with 'FLAME 2020/);
  code(() => resolvePreview({ image, fit: { ...fit, imageSize: { width: 256, height: 256 } } }, seq), 'bad-argument', /256×256 image/);
  // an aligned sequence needs the fit, the same model and the same image size
  const aligned = alignedOf(fit, 2);
  code(() => resolvePreview({ image }, aligned), 'bad-argument', /needs the reference fit/);
  code(() => resolvePreview({ image, fit }, { ...aligned, modelName: 'FLAME 2020' }), 'bad-argument', /fitted with 'FLAME 2020'/);
  code(() => resolvePreview({ image, fit }, { ...aligned, numFrames: 0 }), 'bad-input', /no frames/);
  code(() => resolvePreview({ image, fit }, { ...aligned, width: 64, height: 64 }), 'bad-argument', /64×64/);
  await assert.rejects(preview({ image }, { ...seq, frames: [] }), MagicPortraitError);
});

/** A real FlameFit of the demo portrait (landmarks-only: the head's own projected landmarks), made once. */
let fitCache: FlameFit | null = null;

/** An aligned sequence of n frames that all repeat the fit's own parameters (a track that holds still). */
function alignedOf(fit: FlameFit, n: number): AlignedSequence {
  const P = 3 * J;
  const series = { expression: new Float64Array(n * E), pose: new Float64Array(n * P), cam: new Float64Array(n * 3), tform: new Float64Array(n * 9) };
  for (let f = 0; f < n; f++) { series.pose.set(fit.pose, f * P); series.expression.set(fit.expression, f * E); series.cam.set(fit.cam, 3 * f); series.tform.set(fit.tform, 9 * f); }
  const track = {
    modelName: fit.modelName, numJoints: J, numExpression: E, numFrames: n, fps: 24, width: fit.imageSize.width, height: fit.imageSize.height, source: null,
    frames: Array.from({ length: n }, (_, index) => ({ index, status: 'tracked' })), raw: series, smoothed: series,
  };
  return align(fit, track as never);
}

test.before(async () => {
  const image = await demoPortrait(model, 128) as Image;
  const lm = landmarkPixels(model, neutral(), cam, image);
  fitCache = await fitFlame({ width: 128, height: 128, landmarks68: lm }, { model, photometric: false, overlay: false, dense: false });
});

test('aligned sequence + fit: an identity alignment reproduces the reference; MP4 and scrubber go to the artifact store', async () => {
  const image = await demoPortrait(model, 128) as Image;
  const fit = fitCache!;
  const store = mkdtempSync(join(tmpdir(), 'mp-preview-store-'));
  setCurrentRun(detachedContext(store, store));
  try {
    const driving: AnyImage[] = [image, image];
    const res = await mp.preview({ image, fit }, alignedOf(fit, 2), { model, driving, region: 'head' });
    assert.equal(res.length, 2);
    assert.equal(res.timings.mode, 'workers');
    // the fit's own pose and camera both ways: every frame is the reference (the fit's mesh covers the face)
    for (const f of res.frames) assert.ok(maskedPsnr(f, image, () => true).psnr >= 35);
    assert.ok(res.video && existsSync(res.video.path) && res.video.path.startsWith(store));
    // a FlameSequence drives the fitted head in the fit's own frame: its own parameters reproduce the reference too
    const still: FlameSequence = { ...sequence([{ expression: Float32Array.from(fit.expression), pose: Float32Array.from(fit.pose) }]), cam: [0.5, 0, 0] };
    const seqRes = await mp.preview({ image, fit }, still, { video: false, region: 'head' });
    assert.ok(maskedPsnr(seqRes.frames[0]!, image, () => true).psnr >= 35);
    assert.equal(seqRes.video, null);
    const bundle = await res[DISPLAY]({ artifacts: detachedContext(store, store).artifacts });
    const out = bundle[MIME.frames] as { tracks: { name: string; frames: unknown[] }[] };
    assert.deepEqual(out.tracks.map((t) => t.name), ['driving', 'preview', 'filled (not seen in the reference)']);
    assert.ok(out.tracks.every((t) => t.frames.length === 2));
  } finally {
    setCurrentRun(null);
  }
});

test('a cancelled preview throws CancelledError and stores no video', async () => {
  const image = await demoPortrait(model, 128) as Image;
  const store = mkdtempSync(join(tmpdir(), 'mp-preview-store-'));
  const ac = new AbortController();
  setCurrentRun({ ...detachedContext(store, store), signal: ac.signal });
  try {
    const frames = Array.from({ length: 8 }, () => frame({ jaw: 0.1 }));
    // the user interrupts while frame 3 is being posed
    Object.defineProperty(frames, 3, { get: () => { ac.abort(); return neutral(); } });
    await assert.rejects(preview({ image }, sequence(frames)), CancelledError);
    const files = existsSync(store) ? readdirSync(store) : [];
    assert.deepEqual(files.filter((f) => f.endsWith('.mp4') || f.endsWith('.png')), [], 'no video or frames stored');
  } finally {
    setCurrentRun(null);
  }
});

test('worker threads render the same frames and masks as the calling thread', async () => {
  const image = await demoPortrait(model, 128) as Image;
  const r = resolvePreview({ image }, sequence([frame({ jaw: 0.2 }), frame({ yaw: 0.4 }), frame({ yaw: -0.3, pitch: 0.1 }), neutral(), frame({ expr: { smile: 1 } })]));
  const inline = renderPreviewFrames(r, image);
  const par = await renderPreviewFramesParallel(r, image, { workers: 2 });
  assert.equal(par.mode, 'workers', par.reason);
  for (let i = 0; i < inline.frames.length; i++) {
    assert.deepEqual(par.frames[i]!.data, inline.frames[i]!.data, `frame ${i}`);
    assert.deepEqual(par.masks![i]!.data, inline.masks![i]!.data, `mask ${i}`);
  }
});
