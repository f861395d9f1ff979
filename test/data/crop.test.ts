import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipCrop, clipCropCorners, cropFrame, largestFace } from '../../src/kernel/data/crop';
import { invertAffine, warpImage, type Affine } from '../../src/kernel/perception/warp';
import type { Face } from '../../src/kernel/perception/detect';
import { rngFor } from '../../src/kernel/data/rng';

const face = (x1: number, y1: number, x2: number, y2: number): Face => ({ box: { x1, y1, x2, y2 }, score: 0.9, keypoints: [], model: 'short' });

test('the clip crop rule: square of 1.5 · max(w, h) on the largest box by area, onto [80, 432]² of 512²', () => {
  // a tall box: the official script's side is the width twice (100); ours is the height (160)
  const corners = clipCropCorners({ x1: 100, y1: 50, x2: 200, y2: 210 });
  assert.deepEqual(corners, [[30, 10], [30, 250], [270, 250], [270, 10]]);
  const c = clipCrop({ x1: 100, y1: 50, x2: 200, y2: 210 });
  const s = 352 / 240;
  [s, 0, 256 - s * 150, 0, s, 256 - s * 130].forEach((v, i) => assert.ok(Math.abs(c.matrix[i]! - v) < 1e-12, `M[${i}]`));
  // the official key (x2 − x1)·y2 − y1 would prefer the low, narrow face; the area picks the big one
  const big = face(10, 10, 210, 230), lowNarrow = face(300, 400, 420, 470);
  assert.equal(largestFace([lowNarrow, big]), big);
  assert.ok((lowNarrow.box.x2 - lowNarrow.box.x1) * lowNarrow.box.y2 - lowNarrow.box.y1 > (big.box.x2 - big.box.x1) * big.box.y2 - big.box.y1);
  assert.equal(largestFace([]), null);
});

test('cropFrame is warpImage byte for byte (axis-aligned maps through their fast path, any other map through warpImage)', () => {
  const r = rngFor(7, 'crop-test');
  for (let k = 0; k < 12; k++) {
    const W = 40 + r.int(300), H = 40 + r.int(300);
    const data = new Uint8Array(W * H * 3);
    for (let i = 0; i < data.length; i++) data[i] = r.int(256);
    const src = { width: W, height: H, channels: 3 as const, data };
    const box = { x1: r.uniform(-50, W), y1: r.uniform(-50, H), x2: 0, y2: 0 };
    box.x2 = box.x1 + r.uniform(5, W);
    box.y2 = box.y1 + r.uniform(5, H);
    const size = [64, 128, 512][k % 3]!;
    const inv = k === 11 ? invertAffine([0.9, 0.2, 10, -0.2, 0.9, 30] as Affine) : clipCrop(box).inverse;
    if (k < 11) assert.ok(inv[1] === 0 && inv[3] === 0, 'the clip crop has no rotation: the fast path runs');
    assert.ok(Buffer.from(cropFrame(src, inv, size).data).equals(Buffer.from(warpImage(src, inv, size, size).data)), `case ${k}`);
  }
});
