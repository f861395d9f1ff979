import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rasterizer, type IndexArray } from '../../src/kernel/render/rasterizer';
import { orthProject, placeInImage } from '../../src/kernel/render/vertex-placement';
import { depthAttribute } from '../../src/kernel/render/guidance-maps';
import { ReferenceRasterizer } from './rasterizer-reference';
import { loadDemoCases, loadSyntheticCases, loadSyntheticMesh, rotateAbout } from './fixtures';

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

// ------------------------------------------------------------------------------------------------------------
// The WebAssembly rasteriser against the JavaScript implementation it replaced (rasterizer-reference.ts, the
// oracle): every output array bit for bit, over call sequences that share one pair of rasterisers (so the state
// carried between calls — winding order, dirty spans, stale bary/zbuf after resolve: false, the vertex copy's
// tail — is compared too).

/** Compares every output of the two; returns the number of covered pixels. */
function assertSame(ref: ReferenceRasterizer, ras: Rasterizer, what: string): number {
  assert.equal(ras.covered, ref.covered, `${what}: covered`);
  // (=== : the JavaScript could report row −0)
  assert.ok(ras.rowMin === ref.rowMin && ras.rowMax === ref.rowMax, `${what}: rows ${ras.rowMin}..${ras.rowMax} vs ${ref.rowMin}..${ref.rowMax}`);
  const same = (a: Int32Array | Float32Array, b: Int32Array | Float32Array, name: string) => {
    assert.equal(a.length, b.length, `${what}: ${name} length`);
    const x = new Int32Array(a.buffer, a.byteOffset, a.length), y = new Int32Array(b.buffer, b.byteOffset, b.length);
    for (let k = 0; k < x.length; k++) {
      if (x[k] !== y[k]) assert.fail(`${what}: ${name}[${k}] = ${a[k]} vs ${b[k]} (oracle)`);
    }
  };
  same(ras.face, ref.face, 'face');
  same(ras.altFace, ref.altFace, 'altFace');
  same(ras.colLo, ref.colLo, 'colLo');
  same(ras.colHi, ref.colHi, 'colHi');
  same(ras.bary, ref.bary, 'bary');
  same(ras.zbuf, ref.zbuf, 'zbuf');
  return ref.covered;
}

/** Deterministic random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A random mesh of one of several kinds: overlapping triangle soup in both windings, a jittered grid (shared edges,
 * vertices on pixel centres and pixel-centre lines, so the float32 fallback and ties are exercised), tiny faces,
 * and odd input (degenerate faces, z at and below 1e-8, far outside the view, NaN and infinite coordinates, face
 * indices out of range).
 */
function randomMesh(rnd: () => number, kind: number, W: number, H: number): { verts: Float32Array | Float64Array; faces: Int32Array | Uint32Array | Uint16Array } {
  const cx = (j: number) => (2 * j + 1) / W - 1, cy = (i: number) => (2 * i + 1) / H - 1;
  const v: number[] = [], f: number[] = [];
  const pick = <T,>(a: T[]) => a[Math.floor(rnd() * a.length)];
  if (kind === 0 || kind === 3) {
    // soup; kind 3 adds odd faces
    const F = 50 + Math.floor(rnd() * 400), size = pick([0.02, 0.1, 0.4, 1.5]);
    for (let k = 0; k < F; k++) {
      const x = rnd() * 2.4 - 1.2, y = rnd() * 2.4 - 1.2, z = 1 + rnd() * 10, s = size * (0.2 + rnd());
      for (let c = 0; c < 3; c++) v.push(x + (rnd() - 0.5) * s, y + (rnd() - 0.5) * s, z + (rnd() - 0.5) * pick([0, 0.1, 3]));
      f.push(3 * k, 3 * k + 1, 3 * k + 2);
    }
    if (kind === 3) {
      const n = v.length / 3;
      const odd = [NaN, Infinity, -Infinity, 1e-8, 0, -1, 1e30, -1e30, 5e-9, Math.fround(1e-8)];
      for (let k = 0; k < 40; k++) {
        const base = v.length / 3;
        for (let c = 0; c < 3; c++) v.push(rnd() * 2 - 1, rnd() * 2 - 1, 2 + rnd());
        v[3 * base + Math.floor(rnd() * 9)] = pick(odd);
        f.push(base, base + 1, base + 2);
      }
      // collinear and repeated vertices, and indices past the end
      v.push(-0.5, -0.5, 3, 0.5, 0.5, 3, 0, 0, 3);
      f.push(n + 120, n + 121, n + 122, 0, 0, 1, n + 120, n + 121, v.length / 3 + 5, -1 as number, 1, 2);
    }
  } else if (kind === 1) {
    // jittered grid in both windings; vertices snapped to pixel centres or their midlines some of the time
    const G = 4 + Math.floor(rnd() * 30), jit = pick([0, 0.2, 0.6]);
    for (let i = 0; i <= G; i++) {
      for (let j = 0; j <= G; j++) {
        let x = -1.1 + (2.2 * j) / G + (rnd() - 0.5) * jit * (2.2 / G), y = -1.1 + (2.2 * i) / G + (rnd() - 0.5) * jit * (2.2 / G);
        const snap = rnd();
        if (snap < 0.3) x = cx(Math.round(((x + 1) * W) / 2 - 0.5));
        if (snap > 0.7) y = cy(Math.round(((y + 1) * H) / 2 - 0.5));
        if (snap > 0.45 && snap < 0.55) x = Math.round(((x + 1) * W) / 2) * (2 / W) - 1; // on a pixel boundary
        v.push(x, y, 5 + (rnd() - 0.5) * pick([0, 0.01, 2]));
      }
    }
    for (let i = 0; i < G; i++) {
      for (let j = 0; j < G; j++) {
        const a = i * (G + 1) + j, b = a + 1, c = a + G + 1, d = c + 1;
        if (rnd() < 0.5) f.push(a, b, d, a, d, c);
        else f.push(a, d, b, a, c, d);
      }
    }
    // a second, nearer layer over part of it, and duplicates of some faces (exact z ties)
    const F = f.length / 3;
    for (let k = 0; k < F / 4; k++) {
      const g = Math.floor(rnd() * F);
      f.push(f[3 * g + 2], f[3 * g + 1], f[3 * g]);
    }
  } else {
    // tiny faces (a pixel or less), some tied in z
    const F = 200 + Math.floor(rnd() * 800);
    for (let k = 0; k < F; k++) {
      const x = cx(Math.floor(rnd() * W)) + (rnd() - 0.5) * (2 / W), y = cy(Math.floor(rnd() * H)) + (rnd() - 0.5) * (2 / H);
      const e = (0.3 + rnd() * 2) / Math.min(W, H), z = Math.floor(rnd() * 4) + 1;
      for (let c = 0; c < 3; c++) v.push(x + (rnd() - 0.5) * 2 * e, y + (rnd() - 0.5) * 2 * e, z);
      f.push(3 * k, 3 * k + 1, 3 * k + 2);
    }
  }
  const verts = rnd() < 0.5 ? Float32Array.from(v) : Float64Array.from(v);
  const idx = kind === 3 ? (rnd() < 0.5 ? Int32Array.from(f) : Uint32Array.from(f, (x) => x >>> 0)) : (rnd() < 0.3 ? Uint16Array.from(f) : Int32Array.from(f));
  // sometimes a trailing partial face
  if (rnd() < 0.1) return { verts, faces: Int32Array.from([...idx, 0, 1]) };
  return { verts, faces: idx };
}

test('the WebAssembly rasteriser is bit-identical to the JavaScript oracle on random meshes (sizes, options, call sequences)', (t) => {
  let calls = 0, pixels = 0;
  for (const [W, H] of [[64, 64], [97, 40], [33, 128], [256, 256], [512, 384], [1, 1], [3, 200]]) {
    const ref = new ReferenceRasterizer(W, H), ras = new Rasterizer(W, H);
    const rnd = rng(W * 7919 + H);
    const n = W * H > 100000 ? 16 : 60;
    for (let k = 0; k < n; k++) {
      const kind = k % 4;
      const { verts, faces } = randomMesh(rnd, kind, W, H);
      const opts = { altZOffset: [0, -10, 10, 0.5][Math.floor(rnd() * 4)], resolve: rnd() < 0.7 };
      const what = `${W}×${H} call ${k} (kind ${kind}, ${faces.length / 3} faces, ${JSON.stringify(opts)})`;
      ref.rasterize(verts, faces, opts);
      ras.rasterize(verts, faces, opts);
      pixels += assertSame(ref, ras, what);
      calls++;
    }
  }
  t.diagnostic(`${calls} calls, ${pixels} covered pixels compared`);
  assert.ok(calls > 300 && pixels > 100000, `${calls} calls, ${pixels} covered pixels`);
});

test('the WebAssembly rasteriser is bit-identical to the JavaScript oracle on the head fixtures', (t) => {
  // the guidance renderer's rasteriser input: projected, placed, z = (z − min z) + 10 + 10
  const rasterInput = (verts: Float32Array, cam: Float32Array, tform: Float32Array | null, W: number, H: number) => {
    let tv = orthProject(verts, cam);
    if (tform) tv = placeInImage(tv, tform, W, H);
    const rv = new Float32Array(tv.length);
    for (let k = 0; k < tv.length; k += 3) {
      rv[k] = tv[k];
      rv[k + 1] = tv[k + 1];
    }
    depthAttribute(tv, undefined, rv);
    return rv;
  };
  const mesh = loadSyntheticMesh(), cases = loadSyntheticCases(), demo = loadDemoCases();
  const jobs: { name: string; verts: Float32Array; cam: Float32Array; tform: Float32Array | null; faces: IndexArray }[] = [];
  for (const cs of cases) jobs.push({ name: cs.name, verts: cs.verts, cam: cs.cam, tform: cs.tform, faces: mesh.faces });
  for (const cs of demo?.cases ?? []) jobs.push({ name: `demo ${cs.name}`, verts: cs.verts, cam: cs.cam, tform: cs.tform, faces: demo!.faces });
  const rnd = rng(4242);
  for (let k = 0; k < 12; k++) {
    const yaw = (rnd() * 2 - 1) * 1.6, pitch = (rnd() * 2 - 1) * 0.8, roll = (rnd() * 2 - 1) * 0.6;
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch), cr = Math.cos(roll), sr = Math.sin(roll);
    // Rz · Rx · Ry
    const R = Float64Array.from([
      cr * cy - sr * sp * -sy, -sr * cp, cr * sy + -sr * sp * cy,
      sr * cy + cr * sp * -sy, cr * cp, sr * sy + cr * sp * cy,
      cp * -sy, sp, cp * cy,
    ]);
    const cs = cases[k % cases.length];
    jobs.push({ name: `rotated ${k}`, verts: rotateAbout(mesh.verts, R), cam: cs.cam, tform: cs.tform, faces: mesh.faces });
  }
  let calls = 0, pixels = 0;
  for (const [W, H] of [[512, 512], [384, 512], [224, 160]]) {
    const ref = new ReferenceRasterizer(W, H), ras = new Rasterizer(W, H);
    for (const j of jobs) {
      const rv = rasterInput(j.verts, j.cam, j.tform, W, H);
      for (const opts of [{ altZOffset: -10, resolve: false }, {}, { altZOffset: -10 }]) {
        ref.rasterize(rv, j.faces, opts);
        ras.rasterize(rv, j.faces, opts);
        pixels += assertSame(ref, ras, `${j.name} ${W}×${H} ${JSON.stringify(opts)}`);
        calls++;
      }
    }
  }
  t.diagnostic(`${jobs.length} meshes, ${calls} calls, ${pixels} covered pixels compared`);
  assert.ok(jobs.length >= 20 && pixels > 1e6, `${jobs.length} meshes, ${calls} calls, ${pixels} covered pixels`);
});

test('the WebAssembly rasteriser treats odd input exactly as the JavaScript oracle (NaN, infinities, indices out of range)', (t) => {
  // One ordinary face in the middle rows and one odd face over the top rows, so that whatever the odd face does to
  // the row range and spans shows; every coordinate of the odd face in turn takes every odd value.
  const W = 40, H = 30;
  const ref = new ReferenceRasterizer(W, H), ras = new Rasterizer(W, H);
  const odd = [NaN, Infinity, -Infinity, 0, -0, 1e-8, 5e-9, Math.fround(1e-8), -1, 1e30, -1e30, 1e300, 2 ** -1074];
  const base = [-0.2, 0.1, 3, 0.2, 0.1, 3, 0, 0.4, 3];
  const oddFace = [[-0.8, -0.9, 2, 0.7, -0.85, 2, 0.1, -0.3, 2], [0.7, -0.85, 2, -0.8, -0.9, 2, 0.1, -0.3, 2]];
  let calls = 0;
  for (const shape of oddFace) {
    for (let c = 0; c < 9; c++) {
      for (const x of odd) {
        const v = [...base, ...shape];
        v[9 + c] = x;
        for (const opts of [{}, { altZOffset: -10 }, { altZOffset: NaN, resolve: false }]) {
          for (const faces of [[0, 1, 2, 3, 4, 5], [3, 4, 5, 0, 1, 2]]) {
            ref.rasterize(Float64Array.from(v), Int32Array.from(faces), opts);
            ras.rasterize(Float64Array.from(v), Int32Array.from(faces), opts);
            assertSame(ref, ras, `coordinate ${c} = ${x}, faces ${faces}, ${JSON.stringify(opts)}`);
            calls++;
          }
        }
      }
    }
  }
  // indices out of range (negative, past the end, ≥ 2^31 as uint32), and a vertex array whose last vertex lacks
  // its z (read as NaN the first time; after a call with more vertices, the stale values are read, as in the oracle)
  const ref2 = new ReferenceRasterizer(W, H), ras2 = new Rasterizer(W, H);
  const big = new Float32Array(300).map((_, k) => (k % 3 === 2 ? 4 : ((k * 0.37) % 1.6) - 0.8));
  const short = Float64Array.from([...base, ...oddFace[0], 0.5, 0.5]);
  for (const faces of [
    Int32Array.from([0, 1, 2, 3, 4, 5, 3, 4, 6]), Int32Array.from([0, 1, 2, 3, 4, 50, 6, 3, 4]), Int32Array.from([0, 1, 2, -1, 3, 4]),
    Uint32Array.from([0, 1, 2, 2 ** 31, 3, 4, 3, 4, 2 ** 32 - 1]), Int32Array.from([0, 1, 2, 3, 4, 99, 3, 4, 100]),
  ]) {
    for (const verts of [short, big, short]) {
      ref2.rasterize(verts, faces, { altZOffset: -10 });
      ras2.rasterize(verts, faces, { altZOffset: -10 });
      assertSame(ref2, ras2, `indices ${faces} over ${verts.length / 3} vertices`);
      calls++;
    }
  }
  t.diagnostic(`${calls} calls compared`);
  assert.ok(calls > 1000);
});
