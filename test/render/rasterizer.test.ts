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

test('two-winding drawing with occlusion skipping gives the per-pixel face-order result (random overlapping faces)', () => {
  // Brute force per pixel over all faces in index order: the float32 inside test of the file header, float64 z,
  // smallest z wins. Faces of both windings at many depths, so that most of one winding is hidden (skipped whole)
  // and some of it pokes through.
  const N = 48, F = 300, f32 = Math.fround;
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const v = new Float32Array(9 * F);
  // faces 0 and 1: a screen-filling square at z = 10 (one winding), so the occlusion tiles fill up; the rest lie
  // in front of or behind it, in both windings
  v.set([-1.2, -1.2, 10, 1.2, -1.2, 10, 1.2, 1.2, 10, -1.2, -1.2, 10, 1.2, 1.2, 10, -1.2, 1.2, 10]);
  for (let f = 2; f < F; f++) {
    const cx = rnd() * 2.2 - 1.1, cy = rnd() * 2.2 - 1.1, s = 0.05 + rnd() * 0.5, z = 5 + rnd() * 10;
    for (let k = 0; k < 3; k++) {
      v[9 * f + 3 * k] = cx + (rnd() - 0.5) * s;
      v[9 * f + 3 * k + 1] = cy + (rnd() - 0.5) * s;
      v[9 * f + 3 * k + 2] = z + (rnd() - 0.5) * 0.5;
    }
  }
  const faces = Int32Array.from({ length: 3 * F }, (_, k) => k);
  const r = new Rasterizer(N, N);
  const edge32 = (px: number, py: number, ax: number, ay: number, bx: number, by: number) =>
    f32(f32(f32(px - ax) * f32(by - ay)) - f32(f32(py - ay) * f32(bx - ax)));
  const EPS32 = f32(1e-8);
  for (const off of [0, -10]) {
    for (let call = 0; call < 2; call++) { // the second call draws the windings in the order the first one chose
      r.rasterize(v, faces, { altZOffset: off });
      let covered = 0, checked = 0;
      for (let i = 0; i < N; i++) {
        for (let j = 0; j < N; j++) {
          const px = centre(j, N), py = centre(i, N);
          let best = -1, bz = Infinity, second = Infinity, bestA = -1, bza = Infinity, secondA = Infinity;
          for (let f = 0; f < F; f++) {
            const o = 9 * f;
            const [x0, y0, z0, x1, y1, z1, x2, y2, z2] = v.subarray(o, o + 9);
            if (z0 < EPS32 || z1 < EPS32 || z2 < EPS32) continue;
            const a32 = edge32(x0, y0, x1, y1, x2, y2);
            if (Math.abs(a32) <= EPS32) continue;
            if (px < Math.min(x0, x1, x2) || px > Math.max(x0, x1, x2) || py < Math.min(y0, y1, y2) || py > Math.max(y0, y1, y2)) continue;
            const area32 = f32(edge32(x2, y2, x0, y0, x1, y1) + EPS32);
            const in32 = f32(edge32(px, py, x1, y1, x2, y2) / area32) > 0 && f32(edge32(px, py, x2, y2, x0, y0) / area32) > 0 &&
              f32(edge32(px, py, x0, y0, x1, y1) / area32) > 0;
            if (!in32) continue;
            const areaB = (x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0) + 1e-8;
            const e0 = (px - x1) * (y2 - y1) - (py - y1) * (x2 - x1);
            const e1 = (px - x2) * (y0 - y2) - (py - y2) * (x0 - x2);
            const e2 = (px - x0) * (y1 - y0) - (py - y0) * (x1 - x0);
            const z = (e0 * z0 + e1 * z1 + e2 * z2) / areaB;
            const za = z + off * ((areaB - 1e-8) / areaB);
            if (z < bz) [second, bz, best] = [bz, z, f];
            else if (z < second) second = z;
            if (za < bza) [secondA, bza, bestA] = [bza, za, f];
            else if (za < secondA) secondA = za;
          }
          const p = i * N + j;
          if (best >= 0) covered++;
          assert.equal(r.face[p] >= 0, best >= 0, `coverage of pixel ${p}`);
          // (float64 z of the brute force and the rasteriser's incremental z differ in the last bits: skip near-ties)
          if (best >= 0 && second - bz > 1e-9) {
            assert.equal(r.face[p], best, `winner of pixel ${p}`);
            checked++;
          }
          if (off !== 0 && bestA >= 0 && secondA - bza > 1e-9) assert.equal(r.altFace[p], bestA, `alt winner of pixel ${p}`);
        }
      }
      assert.equal(r.covered, covered);
      assert.ok(covered >= N * N - N, `covered ${covered}`); // (all but pixel centres on the square's diagonal)
      assert.ok(checked > 0.9 * covered, `checked ${checked} of ${covered}`);
    }
  }
});
