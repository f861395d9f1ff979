import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dataDir, PORTRAITS } from './helpers';
import { readImage, createImage, type Image } from '../../src/kernel/io/image';
import { MagicPortraitError } from '../../src/kernel/errors';
import { decodeBlazeFace, detectFaces, findFace, weightedNms } from '../../src/kernel/perception/detect';
import { warpImage } from '../../src/kernel/perception/warp';

const load = (f: string) => readImage(join(dataDir, f));

test('anchor decoding: a box predicted at anchor 0 lands at its cell centre plus the offset', () => {
  const scores = new Float32Array(896).fill(-10);
  const boxes = new Float32Array(896 * 16);
  scores[0] = 3; // anchor (0.5/16, 0.5/16)
  boxes.set([12.8, -6.4, 32, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0);
  scores[512] = 2; // first anchor of the 8×8 layer: (1/16, 1/16)
  const d = decodeBlazeFace(scores, boxes, 128, 0.5);
  assert.equal(d.length, 2);
  assert.ok(Math.abs(d[0]!.v[0]! - (1 / 32 + 0.1)) < 1e-6 && Math.abs(d[0]!.v[1]! - (1 / 32 - 0.05)) < 1e-6);
  assert.ok(Math.abs(d[0]!.v[2]! - 0.25) < 1e-9 && Math.abs(d[0]!.v[3]! - 0.125) < 1e-9);
  assert.ok(Math.abs(d[1]!.v[0]! - 1 / 16) < 1e-9);
  assert.ok(Math.abs(d[0]!.score - 1 / (1 + Math.exp(-3))) < 1e-12);
});

test('weighted NMS merges overlapping detections by score and keeps separate ones', () => {
  const det = (score: number, cx: number) => ({ score, v: Float64Array.from([cx, 0.5, 0.2, 0.2, ...new Array(12).fill(cx)]) });
  const out = weightedNms([det(0.6, 0.52), det(0.9, 0.5), det(0.8, 0.1)], 0.3);
  assert.equal(out.length, 2);
  assert.equal(out[0]!.score, 0.9);
  assert.ok(Math.abs(out[0]!.v[0]! - (0.9 * 0.5 + 0.6 * 0.52) / 1.5) < 1e-12);
  assert.ok(Math.abs(out[1]!.v[0]! - 0.1) < 1e-12);
});

test('every shared portrait yields exactly one face, with plausible keypoints', async () => {
  for (const f of PORTRAITS) {
    const img = load(f);
    const faces = await detectFaces(img);
    assert.equal(faces.length, 1, `${f}: ${faces.length} faces`);
    const { box, keypoints, score } = faces[0]!;
    assert.ok(score > 0.8, `${f}: score ${score}`);
    const [re, le, nose, mouth] = keypoints as [number, number][];
    assert.ok(re[0]! < le[0]!, `${f}: right eye left of left eye in the image`);
    assert.ok(re[1]! < mouth[1]! && le[1]! < mouth[1]! && nose[1]! < mouth[1]!, `${f}: eyes and nose above the mouth`);
    for (const [x, y] of keypoints.slice(0, 4)) assert.ok(x >= box.x1 && x <= box.x2 && y >= box.y1 && y <= box.y2, `${f}: keypoint inside the box`);
  }
});

test('boy.jpeg: box where the face is', async () => {
  const face = await findFace(load('magicportrait/boy.jpeg'));
  const b = face.box;
  for (const [v, e] of [[b.x1, 218], [b.y1, 175], [b.x2, 500], [b.y2, 460]] as const) assert.ok(Math.abs(v - e) < 20, `box ${JSON.stringify(b)}`);
});

/** Places an image scaled by s at (x, y) on a grey canvas. */
function compose(canvas: Image, img: Image, s: number, x: number, y: number): void {
  const w = Math.round(img.width * s), h = Math.round(img.height * s);
  const part = warpImage(img, [1 / s, 0, (0.5 / s - 0.5), 0, 1 / s, (0.5 / s - 0.5)], w, h);
  for (let j = 0; j < h; j++)
    for (let i = 0; i < w; i++)
      for (let c = 0; c < 3; c++) canvas.data[((y + j) * canvas.width + x + i) * 3 + c] = part.data[(j * w + i) * 3 + c]!;
}

function grey(w: number, h: number): Image {
  const im = createImage(w, h);
  im.data.fill(128);
  return im;
}

test('several faces: largest first by default, others by index, a bad index is explained', async () => {
  const canvas = grey(1200, 600);
  compose(canvas, load('liveportrait/s5.jpg'), 0.8, 0, 0); // small face
  compose(canvas, load('magicportrait/boy.jpeg'), 0.8, 600, 0); // larger face
  const faces = await detectFaces(canvas);
  assert.equal(faces.length, 2);
  const largest = await findFace(canvas);
  assert.ok(largest.box.x1 > 600, 'the boy (larger) is chosen by default');
  const other = await findFace(canvas, { index: 1 });
  assert.ok(other.box.x2 < 600);
  await assert.rejects(findFace(canvas, { index: 2, name: 'two.png' }), (e: Error) => e instanceof MagicPortraitError && /index 2.*two\.png has 2 face/.test(e.message));
});

test('no face: a clear error naming the image', async () => {
  await assert.rejects(findFace(grey(320, 240), { name: 'wall.jpg' }), (e: Error) => e instanceof MagicPortraitError && e.code === 'no-face' && /wall\.jpg/.test(e.message));
});

test('small faces: found in a large frame (full-range fallback when needed); a too-small face is refused clearly', async () => {
  const s1 = load('liveportrait/s1.jpg');
  const canvas = grey(1600, 1600);
  compose(canvas, s1, 0.12, 700, 900); // face ≈ 45 px in a 1600 px frame
  const faces = await detectFaces(canvas);
  assert.equal(faces.length, 1, 'the small face is found');
  assert.equal(faces[0]!.model, 'full', 'by the 256 model');
  assert.ok(faces[0]!.box.x1 > 690 && faces[0]!.box.x2 < 850);
  assert.equal((await detectFaces(canvas, { model: 'short' })).length, 0, 'the short-range model alone misses it');
  const mid = grey(600, 600);
  compose(mid, s1, 0.12, 230, 230); // ≈ 45 px face in 600 px: short finds a poor box, the 256 model a good one
  const m = await detectFaces(mid);
  assert.equal(m.length, 1);
  assert.equal(m[0]!.model, 'full');
  assert.ok(Math.abs(m[0]!.box.x2 - m[0]!.box.x1 - 45) < 12, `box width ${m[0]!.box.x2 - m[0]!.box.x1}`);
  const tiny = grey(400, 400);
  compose(tiny, s1, 0.05, 150, 150); // face ≈ 19 px
  const found = await detectFaces(tiny);
  if (found.length)
    await assert.rejects(findFace(tiny, { name: 'tiny.png' }), (e: Error) => e instanceof MagicPortraitError && e.code === 'face-too-small' && /tiny\.png.*too small/.test(e.message));
  else await assert.rejects(findFace(tiny), (e: Error) => e instanceof MagicPortraitError && e.code === 'no-face');
});

test('corrupt image files are reported before detection', () => {
  assert.throws(() => readImage(join(dataDir, 'liveportrait/d0.mp4')), (e: Error) => e instanceof MagicPortraitError && /d0\.mp4/.test(e.message));
});
