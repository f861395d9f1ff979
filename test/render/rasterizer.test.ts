import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rasterizer } from '../../src/kernel/render/rasterizer';

/** NDC x of the centre of column j (and y of row i) at size n. */
const centre = (j: number, n: number) => (2 * j + 1) / n - 1;

test('pixel centres: row i, column j sits at ((2j+1)/W − 1, (2i+1)/H − 1), row 0 at the top (+y down)', () => {
  const W = 8, H = 4;
  const r = new Rasterizer(W, H);
  // a small triangle around the centre of pixel (row 1, col 5) only
  const cx = centre(5, W), cy = centre(1, H), e = 0.05;
  const v = new Float32Array([cx - e, cy - e, 1, cx + e, cy - e, 1, cx, cy + e, 1]);
  r.rasterize(v, new Int32Array([0, 1, 2]));
  assert.equal(r.covered, 1);
  assert.equal(r.face[1 * W + 5], 0);
  assert.equal(r.rowMin, 1);
  assert.equal(r.rowMax, 1);
});

test('strict inside test: a shared edge through pixel centres covers neither face; both windings are drawn', () => {
  const N = 16;
  const r = new Rasterizer(N, N);
  // square [-0.5, 0.5]² split along the diagonal x = y, which passes exactly through the centres (i, i)
  const v = new Float32Array([-0.5, -0.5, 1, 0.5, -0.5, 1, 0.5, 0.5, 1, -0.5, 0.5, 1]);
  // first face counter-clockwise on screen, second clockwise
  r.rasterize(v, new Int32Array([0, 1, 2, 0, 3, 2]));
  for (let i = 0; i < N; i++) {
    const inSquare = Math.abs(centre(i, N)) < 0.5;
    if (inSquare) assert.equal(r.face[i * N + i], -1, `diagonal pixel ${i} must be background`);
  }
  let f0 = 0, f1 = 0;
  for (let p = 0; p < N * N; p++) {
    if (r.face[p] === 0) f0++;
    if (r.face[p] === 1) f1++;
  }
  assert.equal(f0, f1);
  assert.equal(f0 + f1, 8 * 8 - 8);
  // barycentrics are screen-space and sum to area/(area + 1e-8)
  const p = 5 * N + 9;
  assert.ok(r.face[p] >= 0);
  const s = r.bary[3 * p] + r.bary[3 * p + 1] + r.bary[3 * p + 2];
  assert.ok(Math.abs(s - 1) < 1e-6);
});

test('nearest z wins; exact ties keep the lower face index; faces with a vertex at z < 1e-8 are skipped', () => {
  const N = 8;
  const r = new Rasterizer(N, N);
  const tri = (z: number) => [-0.9, -0.9, z, 0.9, -0.9, z, 0, 0.9, z];
  let v = new Float32Array([...tri(5), ...tri(3), ...tri(3), ...tri(4)]);
  r.rasterize(v, new Int32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  const p = 4 * N + 4;
  assert.equal(r.face[p], 1, 'smallest z, first of the tie');
  assert.ok(Math.abs(r.zbuf[p] - 3) < 1e-5);
  // a face touching z = 0 is dropped even though it would be nearest
  v = new Float32Array([...tri(5), -0.9, -0.9, 0, 0.9, -0.9, 1, 0, 0.9, 1]);
  r.rasterize(v, new Int32Array([0, 1, 2, 3, 4, 5]));
  assert.equal(r.face[p], 0);
});

test('degenerate faces (|area| ≤ 1e-8) are skipped; background is face −1, zbuf −1, bary 0', () => {
  const r = new Rasterizer(4, 4);
  const v = new Float32Array([-1, -1, 1, 1, 1, 1, 0, 0, 1]); // collinear
  r.rasterize(v, new Int32Array([0, 1, 2]));
  assert.equal(r.covered, 0);
  assert.ok(r.face.every((f) => f === -1));
  assert.ok(r.zbuf.every((z) => z === -1));
  assert.ok(r.bary.every((b) => b === 0));
});

test('buffers are reused across calls without stale pixels', () => {
  const N = 32;
  const r = new Rasterizer(N, N);
  const big = new Float32Array([-1, -1, 1, 1, -1, 1, 0, 1, 1]);
  r.rasterize(big, new Int32Array([0, 1, 2]));
  const first = r.covered;
  assert.ok(first > 200);
  const small = new Float32Array([0, 0, 1, 0.2, 0, 1, 0, 0.2, 1]);
  r.rasterize(small, new Int32Array([0, 1, 2]));
  let n = 0;
  for (let p = 0; p < N * N; p++) if (r.face[p] >= 0) n++;
  assert.equal(n, r.covered);
  assert.ok(r.covered < 10);
  for (let p = 0; p < N * N; p++) if (r.face[p] < 0) assert.equal(r.zbuf[p], -1);
});

test('altZOffset: barycentrics sum to area/(area+1e-8), so a z shift can change the winner of near faces', () => {
  // Two overlapping faces: a tiny one (Σw noticeably ≠ 1) slightly behind a large one. With a positive signed area
  // (v0→v1→v2 clockwise in DECA's +y-down NDC) Σw < 1, so at z ≈ 20 the tiny face's interpolated z is pulled in
  // by 20·1e-8/area and wins; at z ≈ 10 the pull is halved and it loses. (The other winding has Σw > 1 and is
  // pushed away instead.)
  const N = 64;
  const r = new Rasterizer(N, N);
  const cx = centre(32, N), cy = centre(32, N);
  const e = 0.004; // twice the area = 4e² = 6.4e-5 → Σw ≈ 1 − 1.56e-4
  const zBig = 20, zSmall = 20.002; // behind by 0.002 < 20·1.56e-4 = 0.0031 but > 10·1.56e-4 = 0.0016
  const v = new Float32Array([
    -0.9, -0.9, zBig, 0.9, -0.9, zBig, 0, 0.9, zBig,
    cx - e, cy - e, zSmall, cx, cy + e, zSmall, cx + e, cy - e, zSmall,
  ]);
  r.rasterize(v, new Int32Array([0, 1, 2, 3, 4, 5]), { altZOffset: -10 });
  const p = 32 * N + 32;
  assert.equal(r.face[p], 1, 'at z ≈ 20 the tiny face wins');
  assert.equal(r.altFace[p], 0, 'at z ≈ 10 the large face wins');
  const w = new Float32Array(3);
  r.baryAt(0, p, w);
  assert.ok(Math.abs(w[0] + w[1] + w[2] - 1) < 1e-6);
});
