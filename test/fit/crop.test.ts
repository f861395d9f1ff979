// Any photo, any shape: 3:4, 4:3, 16:9 and 9:16 crops and pads of the shared portraits (made here with ffmpeg) go
// through fit → track → align → guidance in the official 512² generation crop (reference-pipeline.md §1.1), with the
// crop transform kept, and results composite back into the photo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataDir, missingPerception } from './helpers';
import { locateFfmpeg } from '../../src/kernel/io/ffmpeg';
import { readImage, type Image } from '../../src/kernel/io/image';
import { detectFaces } from '../../src/kernel/perception/detect';
import { StageCache, setStageCache } from '../../src/kernel/pipeline/cache';
import { renderGuidanceSequence } from '../../src/kernel/pipeline/render-guidance';
import { mp } from '../../src/kernel/mp';
import { compositeFrame, cropImage, fitInCrop } from '../../src/kernel/fit/crop';
import { type PortraitCrop } from '../../src/kernel/fit/types';
import type { FlameFit, FlameTrack } from '../../src/kernel/fit';

const skip = missingPerception();
const tmp = mkdtempSync(join(tmpdir(), 'mp-crop-'));
setStageCache(new StageCache(join(tmp, 'cache')));

/** A crop or pad of a shared portrait, made by ffmpeg (lossless PNG). */
function variant(file: string, filter: string, name: string): Image {
  const out = join(tmp, `${name}.png`);
  const r = spawnSync(locateFfmpeg().path, ['-v', 'error', '-y', '-i', join(dataDir, file), '-vf', `format=rgb24,${filter}`, out]);
  assert.equal(r.status, 0, String(r.stderr));
  return readImage(out);
}

// boy.jpeg is 736², its face box ≈ [216, 169, 510, 464]; s5.jpg is 720², face ≈ [277, 196, 431, 350].
const VARIANTS: [file: string, name: string, filter: string, w: number, h: number][] = [
  ['magicportrait/boy.jpeg', 'boy crop 3:4', 'crop=552:736:90:0', 552, 736],
  ['magicportrait/boy.jpeg', 'boy crop 4:3', 'crop=736:552:0:40', 736, 552],
  ['magicportrait/boy.jpeg', 'boy crop 16:9', 'crop=736:414:0:110', 736, 414],
  ['magicportrait/boy.jpeg', 'boy crop 9:16', 'crop=414:736:156:0', 414, 736],
  ['magicportrait/boy.jpeg', 'boy pad 3:4', 'pad=736:981:0:122', 736, 981],
  ['magicportrait/boy.jpeg', 'boy pad 4:3', 'pad=981:736:122:0', 981, 736],
  ['magicportrait/boy.jpeg', 'boy pad 16:9', 'pad=1308:736:286:0', 1308, 736],
  ['magicportrait/boy.jpeg', 'boy pad 9:16', 'pad=736:1308:0:286', 736, 1308],
  ['liveportrait/s5.jpg', 's5 crop 3:4', 'crop=540:720:90:0', 540, 720],
  ['liveportrait/s5.jpg', 's5 pad 4:3', 'pad=960:720:120:0', 960, 720],
  ['liveportrait/s5.jpg', 's5 crop 16:9', 'crop=720:405:0:60', 720, 405],
  ['liveportrait/s5.jpg', 's5 pad 9:16', 'pad=720:1280:0:280', 720, 1280],
];

let trackP: Promise<FlameTrack> | null = null;
const track = () => (trackP ??= mp.fit.track(join(dataDir, 'magicportrait/driving.mp4'), { read: { maxFrames: 4 }, progress: false }));

/** Fraction of the points (n × 2, crop pixels) that fall on the mask. */
function onMask(mask: Uint8Array, size: number, pts: ArrayLike<number>, from = 0, to = pts.length / 2): number {
  let on = 0;
  for (let i = from; i < to; i++) {
    const x = Math.round(pts[2 * i]!), y = Math.round(pts[2 * i + 1]!);
    if (x >= 0 && y >= 0 && x < size && y < size && mask[y * size + x]! > 127) on++;
  }
  return on / (to - from);
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let i = 0, u = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k]! > 127, y = b[k]! > 127;
    if (x && y) i++;
    if (x || y) u++;
  }
  return i / u;
}

/** The mask of the fit's own pose rendered in the crop (the reference frame itself). */
async function referenceMask(fit: FlameFit, crop: PortraitCrop): Promise<Uint8Array> {
  const inCrop = fitInCrop(fit, crop);
  const g = await renderGuidanceSequence({ model: mp.flame.demoHead(), shape: fit.shape, frames: [{ expression: fit.expression, pose: fit.pose }], cam: Array.from(fit.cam), tform: inCrop.decaTform }, { size: crop.size, maps: ['mask'] });
  return g.frame(0).mask!;
}

const originals = new Map<string, Promise<{ mask: Uint8Array }>>();
function original(file: string) {
  let p = originals.get(file);
  if (!p) {
    p = (async () => {
      const photo = readImage(join(dataDir, file));
      const fit = await mp.fit.portrait(photo);
      const g = await mp.renderGuidance(mp.fit.align(fit, await track()), { crop: 'generation', maps: ['mask'] });
      return { mask: g.frame(0).mask! };
    })();
    originals.set(file, p);
  }
  return p;
}

for (const [file, name, filter, w, h] of VARIANTS) {
  test(`${name} (${w}×${h}): fit → track → align → guidance in the 512² generation crop, transform kept`, { skip }, async () => {
    const photo = variant(file, filter, name.replace(/[ :]/g, '_'));
    assert.deepEqual([photo.width, photo.height], [w, h]);
    const fit = await mp.fit.portrait(photo);
    assert.deepEqual(fit.imageSize, { width: w, height: h });
    const aligned = mp.fit.align(fit, await track());
    const guidance = await mp.renderGuidance(aligned, { maps: ['depth', 'normal', 'render', 'mask'] });
    assert.equal(guidance.size, 512);
    assert.equal(guidance.length, aligned.numFrames);
    const crop = guidance.crop!;
    assert.ok(crop, 'the crop transform is kept');
    assert.deepEqual(crop.source, { width: w, height: h });

    // §1.1: the crop puts the face box, 1.5 box widths wide, in the middle: re-detected, the face is centred and
    // about 512 / 1.5 · (176 / 256) ≈ 235 px wide
    const cropped = cropImage(photo, crop);
    const [face] = await detectFaces(cropped);
    assert.ok(face, 'a face in the crop');
    const cx = (face.box.x1 + face.box.x2) / 2, cy = (face.box.y1 + face.box.y2) / 2, fw = face.box.x2 - face.box.x1;
    assert.ok(Math.hypot(cx - 256, cy - 256) < 14, `face centre (${cx.toFixed(1)}, ${cy.toFixed(1)})`);
    assert.ok(Math.abs(fw / 234.7 - 1) < 0.12, `face width ${fw.toFixed(1)}`);

    // the chain photo → crop → 224 crop → render: the fitted face rendered in the crop covers the photo's own inner
    // landmarks moved into the crop by the kept transform
    const refMask = await referenceMask(fit, crop);
    const lm = fitInCrop(fit, crop).detected;
    const frac = onMask(refMask, 512, lm, 17, 68);
    assert.ok(frac >= 0.95, `${(100 * frac).toFixed(0)}% of the inner landmarks on the rendered face`);

    // the same face gives the same guidance whatever was cut or added around it (vs. the square original's crop)
    const o = await original(file);
    const overlap = iou(guidance.frame(0).mask!, o.mask);
    assert.ok(overlap >= 0.85, `mask IoU with the square original ${overlap.toFixed(3)}`);
    console.log(`# ${name}: face centre off by ${Math.hypot(cx - 256, cy - 256).toFixed(1)} px, width ${fw.toFixed(0)} px, ` +
      `${(100 * frac).toFixed(0)}% inner landmarks on the face, mask IoU vs original ${overlap.toFixed(3)}`);
  });
}

test('a non-square portrait previews in its 512² crop, on the face of its guidance, for aligned and demo motion', { skip }, async () => {
  const photo = variant('magicportrait/boy.jpeg', 'crop=552:736:90:0', 'boy_34_preview');
  const fit = await mp.fit.portrait(photo);
  const aligned = mp.fit.align(fit, await track());
  const guidance = await mp.renderGuidance(aligned);
  const preview = await mp.preview({ image: photo, fit }, aligned, { video: false, workers: 0 });
  assert.deepEqual([preview.width, preview.height], [512, 512]);
  assert.deepEqual(preview.crop, guidance.crop);
  // the preview's warped face sits on the guidance's rendered face (same frame, same placement)
  const m = guidance.frame(1).mask!, f = preview.masks![1]!.data;
  let faceMoved = 0, n = 0;
  for (let i = 0; i < m.length; i++) if (m[i]! > 127) { n++; if (f[i] === 0) faceMoved++; }
  assert.ok(faceMoved / n > 0.8, `${(100 * faceMoved / n).toFixed(0)}% of the rendered face is drawn from the photo`);

  // demo motion on the same photo (a FlameSequence driving a fitted photo) also works in the crop
  const demo = await mp.preview({ image: photo, fit }, mp.demo.drivingSequence(mp.flame.demoHead(), { frames: 3 }), { video: false, workers: 0 });
  assert.equal(demo.width, 512);
  assert.ok(demo.crop);
});

test('compositing the crop back: the photo is unchanged outside, the crop inside, blended over the feather only', () => {
  const W = 300, H = 200;
  const photo: Image = { width: W, height: H, channels: 3, data: new Uint8Array(W * H * 3) };
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) photo.data[3 * (y * W + x) + c] = Math.round(20 + 0.3 * x + 0.4 * y + 20 * c); // smooth: bilinear is near exact
  // a crop of 64² around (150, 100) at scale 2: photo [134, 166]² ↔ crop [0, 64]²
  const c: PortraitCrop = { matrix: [2, 0, -268 + 0.5, 0, 2, -68 + 0.5], inverse: [0.5, 0, 134 - 0.25, 0, 0.5, 34 - 0.25], size: 64, source: { width: W, height: H }, box: { x1: 0, y1: 0, x2: 1, y2: 1 } };
  // round trip: the photo's own crop pasted back is the photo (bilinear twice: within a level in the interior)
  const back = compositeFrame(photo, cropImage(photo, c), c, { feather: 0.2 });
  let worst = 0;
  for (let y = 36; y < 64; y++) for (let x = 136; x < 164; x++) for (let ch = 0; ch < 3; ch++) worst = Math.max(worst, Math.abs(back.data[3 * (y * W + x) + ch]! - photo.data[3 * (y * W + x) + ch]!));
  assert.ok(worst <= 1, `round trip differs by ${worst}`);
  // a flat grey frame: grey deep inside, the photo itself outside the crop, a monotonic ramp across the feather
  const grey: Image = { width: 64, height: 64, channels: 3, data: new Uint8Array(64 * 64 * 3).fill(128) };
  const out = compositeFrame(photo, grey, c, { feather: 0.25 });
  const px = (x: number, y: number) => out.data[3 * (y * W + x)]!;
  assert.equal(px(150, 50), 128);
  for (const [x, y] of [[10, 10], [133, 50], [167, 50], [150, 33], [150, 67]]) assert.equal(px(x!, y!), photo.data[3 * (y! * W + x!)]!);
  const weight = (x: number) => (px(x, 50) - photo.data[3 * (50 * W + x)]!) / (128 - photo.data[3 * (50 * W + x)]!);
  let last = -1;
  for (let x = 134; x <= 150; x++) {
    const wgt = weight(x);
    if (Math.abs(128 - photo.data[3 * (50 * W + x)]!) < 20) continue; // too close to grey to read a weight
    assert.ok(wgt >= last - 0.05, `weight falls at x=${x}`);
    last = wgt;
  }
});
