import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyRgb, drawBox, drawDot, drawLine, drawPoints } from '../../src/kernel/io/draw';

const lit = (img: { data: Uint8Array; width: number }, rgb: readonly number[]) => {
  const out: string[] = [];
  for (let i = 0; i < img.data.length / 3; i++) if (img.data[3 * i] === rgb[0] && img.data[3 * i + 1] === rgb[1] && img.data[3 * i + 2] === rgb[2]) out.push(`${i % img.width},${Math.floor(i / img.width)}`);
  return out;
};

test('copyRgb: grey replicated, alpha dropped, a black canvas from null; the copy is independent', () => {
  const grey = { width: 2, height: 1, channels: 1 as const, data: Uint8Array.of(10, 200) };
  assert.deepEqual([...copyRgb(grey).data], [10, 10, 10, 200, 200, 200]);
  const rgba = { width: 1, height: 1, channels: 4 as const, data: Uint8Array.of(1, 2, 3, 4) };
  const c = copyRgb(rgba);
  assert.deepEqual([...c.data], [1, 2, 3]);
  c.data[0] = 99;
  assert.equal(rgba.data[0], 1);
  const blank = copyRgb(null, 3, 2);
  assert.deepEqual([blank.width, blank.height, blank.channels], [3, 2, 3]);
  assert.ok(blank.data.every((v) => v === 0));
});

test('drawLine: one pixel per step along the longer axis (a diagonal hits exactly the diagonal), clipped at the border', () => {
  const img = copyRgb(null, 8, 8);
  drawLine(img, 0, 0, 7, 7, [255, 0, 0]);
  assert.deepEqual(lit(img, [255, 0, 0]), Array.from({ length: 8 }, (_, i) => `${i},${i}`));
  const h = copyRgb(null, 8, 8);
  drawLine(h, -5, 3, 20, 3, [0, 255, 0]);
  assert.deepEqual(lit(h, [0, 255, 0]), Array.from({ length: 8 }, (_, i) => `${i},3`));
  const n = copyRgb(null, 4, 4);
  drawLine(n, 0, 0, NaN, 3, [9, 9, 9]);
  drawLine(n, 0, 0, 1e9, 0, [9, 9, 9]);
  assert.ok(n.data.every((v) => v === 0), 'non-finite and far off-canvas lines draw nothing');
});

test('alpha blends towards the colour; thickness widens; boxes, dots and points land where asked', () => {
  const img = { width: 4, height: 1, channels: 3 as const, data: new Uint8Array(12).fill(100) };
  drawLine(img, 0, 0, 3, 0, [200, 0, 100], { alpha: 0.5 });
  assert.deepEqual([...img.data.subarray(0, 3)], [150, 50, 100]);
  const t = copyRgb(null, 9, 9);
  drawLine(t, 1, 4, 7, 4, [1, 1, 1], { thickness: 3 });
  assert.equal(lit(t, [1, 1, 1]).length, 9 * 3); // the square brush reaches one pixel past each end
  const b = copyRgb(null, 10, 10);
  drawBox(b, { x1: 2, y1: 2, x2: 6, y2: 5 }, [5, 5, 5], 1);
  assert.equal(lit(b, [5, 5, 5]).length, 2 * 5 + 2 * 2);
  const d = copyRgb(null, 9, 9);
  drawDot(d, 4, 4, 2, [7, 7, 7]);
  const disc = lit(d, [7, 7, 7]);
  assert.equal(disc.length, 13); // dx² + dy² ≤ r² + 0.5: the centre, 4 at distance 1, 4 at √2, 4 at 2
  assert.ok(disc.includes('4,2') && disc.includes('6,4') && !disc.includes('6,6'));
  const p = copyRgb(null, 6, 6);
  drawPoints(p, [1, 1, 0, 4, 4, 0], [3, 3, 3], 0, 3);
  assert.deepEqual(lit(p, [3, 3, 3]), ['1,1', '4,4']);
});
