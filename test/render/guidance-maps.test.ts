import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuidanceRenderer, quantize, SH_FACTORS, vertexNormals, depthAttribute } from '../../src/kernel/render/guidance-maps';
import { orthProject, placeInImage, tformFromCrop, decaCropSimilarity } from '../../src/kernel/render/vertex-placement';
import { MagicPortraitError } from '../../src/kernel/errors';
import { albedoPattern, loadSyntheticCases, loadSyntheticMesh } from './fixtures';

const mesh = loadSyntheticMesh();
const cases = loadSyntheticCases();
const frontal = cases.find((c) => c.name === 'frontal_crop')!;

test('SH constant factors match §5.1', () => {
  const want = [0.2820948, 1.0233267, 1.0233267, 1.0233267, 0.8580855, 0.8580855, 0.8580855, 0.4290428, 0.247708];
  want.forEach((w, k) => assert.ok(Math.abs(SH_FACTORS[k] - w) < 5e-7, `c${k} = ${SH_FACTORS[k]}`));
});

test('quantize is torchvision save_image: floor(clamp(x·255 + 0.5, 0, 255)) in float32', () => {
  assert.equal(quantize(0), 0);
  assert.equal(quantize(1), 255);
  assert.equal(quantize(0.5), 128);
  assert.equal(quantize(-0.3), 0);
  assert.equal(quantize(-0.0019), 0);
  assert.equal(quantize(1.7), 255);
  assert.equal(quantize(Number.NaN), 0);
  assert.equal(quantize(100.4 / 255), 100);
  assert.equal(quantize(100.6 / 255), 101);
});

test('depth attribute: (max z − z)/(max z − min z) in float32, 1 nearest; raster z = (z − min) + 10 + 10', () => {
  const tv = new Float32Array([0, 0, -2, 0, 0, 1, 0, 0, 0.5]);
  const rz = new Float32Array(9);
  const a = depthAttribute(tv, undefined, rz);
  assert.deepEqual(Array.from(a), [1, 0, Math.fround(0.5 / 3)].map(Math.fround));
  assert.deepEqual([rz[2], rz[5], rz[8]], [20, 23, 22.5]);
});

test('depth is 1 at the nearest vertex: a pyramid whose apex sits 0.01 px from a pixel centre', () => {
  const N = 64, c = (2 * 32 + 1) / N - 1, px = 2 / N;
  const ax = c + 0.01 * px, ay = c + 0.013 * px;
  // world space: +y up, +z toward the camera; with cam s = 1 the crop NDC is (x, −y, −z)
  const verts = new Float32Array([ax, -ay, 1, -0.8, 0.8, 0, 0.8, 0.8, 0, 0.8, -0.8, 0, -0.8, -0.8, 0]);
  const faces = new Int32Array([0, 1, 2, 0, 2, 3, 0, 3, 4, 0, 4, 1]);
  const r = new GuidanceRenderer({ faces }, { width: N, height: N, cam: [1, 0, 0], maps: ['depth', 'mask'], floats: true });
  const m = r.render({ verts });
  const p = 32 * N + 32;
  assert.ok(m.floats!.depth![p] > 0.999, `depth at the apex pixel ${m.floats!.depth![p]}`);
  assert.equal(m.depth![3 * p], 255);
  assert.equal(Math.max(...m.depth!), 255);
  // grey: three equal channels
  assert.equal(m.depth![3 * p + 1], 255);
  assert.equal(m.depth![3 * p + 2], 255);
});

test('depth on the FLAME-sized head: ≥ 254 where the nearest vertex projects, never above 1', () => {
  const r = new GuidanceRenderer({ faces: mesh.faces }, { cam: frontal.cam, maps: ['depth'], floats: true });
  const m = r.render({ verts: frontal.verts });
  const tv = orthProject(frontal.verts, frontal.cam);
  let k = 0;
  for (let i = 0; i < tv.length / 3; i++) if (tv[3 * i + 2] < tv[3 * k + 2]) k = i;
  const j = Math.round(((tv[3 * k] + 1) * 512 - 1) / 2), i = Math.round(((tv[3 * k + 1] + 1) * 512 - 1) / 2);
  const d = m.depth![3 * (i * 512 + j)];
  assert.ok(d >= 254, `depth ${d} at the nearest vertex's pixel`);
  let best = 0;
  for (let p = 0; p < 512 * 512; p++) best = Math.max(best, m.floats!.depth![p]);
  assert.ok(best <= 1 + 1e-6 && best > 0.995, `max depth ${best}`);
});

test('a frontal flat patch has normal (0, 0, 1) everywhere', () => {
  const n = 10, verts: number[] = [], faces: number[] = [];
  for (let i = 0; i <= n; i++) for (let j = 0; j <= n; j++) verts.push(-0.05 + (0.1 * j) / n, -0.05 + (0.1 * i) / n, 0.02);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const a = i * (n + 1) + j, b = a + 1, c = a + n + 1, d = c + 1;
      faces.push(a, b, d, a, d, c); // counter-clockwise seen from +z
    }
  }
  const r = new GuidanceRenderer({ faces: new Int32Array(faces) }, { width: 128, height: 128, cam: [8, 0, 0], maps: ['normal', 'mask', 'depth'], floats: true });
  const m = r.render({ verts: new Float32Array(verts) });
  assert.ok(m.covered > 2000, `covered ${m.covered}`);
  const nrm = vertexNormals(new Float32Array(verts), new Int32Array(faces));
  for (let v = 0; v < nrm.length; v += 3) assert.deepEqual([nrm[v], nrm[v + 1], nrm[v + 2]], [0, 0, 1]);
  for (let p = 0; p < 128 * 128; p++) {
    if (!m.mask![p]) {
      assert.deepEqual([m.normal![3 * p], m.normal![3 * p + 1], m.normal![3 * p + 2]], [0, 0, 0]);
      continue;
    }
    assert.deepEqual([m.normal![3 * p], m.normal![3 * p + 1], m.normal![3 * p + 2]], [0, 0, 255]);
    assert.ok(Math.abs(m.floats!.normal![3 * p + 2] - 1) < 1e-5);
    assert.equal(m.depth![3 * p], 255, 'a mesh without depth extent is all nearest');
  }
});

test('SH render of a white albedo lit only by the DC term is uniform', () => {
  const S = 256;
  const albedo = new Float32Array(3 * S * S).fill(1);
  const light = new Float32Array(27);
  light.set([2.0, 3.0, 1.5]);
  const r = new GuidanceRenderer(
    { faces: mesh.faces, uvCoords: mesh.uvCoords, uvFaces: mesh.uvFaces, albedo, light },
    { cam: frontal.cam, maps: ['render', 'mask'], floats: true },
  );
  const m = r.render({ verts: frontal.verts });
  const want = [0, 1, 2].map((c) => quantize(light[c] * SH_FACTORS[0]));
  for (let p = 0; p < 512 * 512; p++) {
    const px = [m.render![3 * p], m.render![3 * p + 1], m.render![3 * p + 2]];
    assert.deepEqual(px, m.mask![p] ? want : [0, 0, 0]);
    if (m.mask![p]) for (let c = 0; c < 3; c++) assert.ok(Math.abs(m.floats!.render![3 * p + c] - light[c] * SH_FACTORS[0]) < 1e-6);
  }
});

test('normal map keeps only the non-negative parts of the components (no (n+1)/2 encoding)', () => {
  const r = new GuidanceRenderer({ faces: mesh.faces }, { cam: frontal.cam, maps: ['normal'], floats: true });
  const m = r.render({ verts: frontal.verts });
  let neg = 0, pos = 0;
  for (let k = 0; k < 512 * 512 * 3; k++) {
    const f = m.floats!.normal![k];
    if (f < 0) {
      neg++;
      assert.equal(m.normal![k], 0);
    } else {
      pos++;
      assert.equal(m.normal![k], quantize(f));
    }
  }
  assert.ok(neg > 10000 && pos > 10000);
});

test('placing with tform equals drawing the pre-placed vertices in the crop frame', () => {
  const cs = cases.find((c) => c.tform)!;
  const albedo = albedoPattern();
  const assets = { faces: mesh.faces, uvCoords: mesh.uvCoords, uvFaces: mesh.uvFaces, albedo, light: cs.light };
  const a = new GuidanceRenderer(assets, { tform: cs.tform, cam: cs.cam }).render({ verts: cs.verts });
  const placed = placeInImage(orthProject(cs.verts, cs.cam), cs.tform!, 512, 512);
  const b = new GuidanceRenderer(assets, {}).render({ verts: cs.verts, transVerts: placed });
  for (const k of ['depth', 'normal', 'render', 'mask'] as const) assert.ok(Buffer.from(a[k]!).equals(Buffer.from(b[k]!)), k);
});

test('tformFromCrop is (T⁻¹)ᵀ of the §1.2 similarity', () => {
  const T = decaCropSimilarity(250, 262, 310);
  const t = tformFromCrop(T);
  const cs = cases.find((c) => c.name === 'yaw30_tform')!;
  for (let k = 0; k < 9; k++) assert.ok(Math.abs(t[k] - cs.tform![k]) <= 1e-6 * Math.max(1, Math.abs(t[k])), `entry ${k}`);
  // a crop pixel maps back onto the original: [u v 1]·tform = T⁻¹ (u, v, 1)
  const u = 100, v = 50;
  const x = u * t[0] + v * t[3] + t[6], y = u * t[1] + v * t[4] + t[7];
  assert.ok(Math.abs(T[0] * x + T[2] - u) < 1e-3 && Math.abs(T[4] * y + T[5] - v) < 1e-3);
});

test('user errors are MagicPortraitErrors that name what is missing', () => {
  assert.throws(() => new GuidanceRenderer({ faces: mesh.faces }, { maps: ['render'] }), (e: unknown) =>
    e instanceof MagicPortraitError && /uvCoords, uvFaces, albedo, light/.test(e.message));
  const r = new GuidanceRenderer({ faces: mesh.faces }, { maps: ['depth'] });
  assert.throws(() => r.render({ verts: new Float32Array(30) }, undefined, 'frame_0007.jpg'), (e: unknown) =>
    e instanceof MagicPortraitError && e.message.startsWith('frame_0007.jpg'));
  assert.throws(() => r.render({ verts: frontal.verts }, undefined, 3), (e: unknown) => e instanceof MagicPortraitError && /cam/.test(e.message));
});

test('float64 inputs are used as the float32 the reference holds', () => {
  const albedo = albedoPattern();
  const cs = cases.find((c) => c.tform)!;
  const assets = { faces: mesh.faces, uvCoords: mesh.uvCoords, uvFaces: mesh.uvFaces, albedo, light: cs.light };
  const r = new GuidanceRenderer(assets, { tform: cs.tform, cam: cs.cam, maps: ['depth', 'normal', 'render', 'mask', 'landmarks'] });
  const a = r.render({ verts: cs.verts, landmarks: cs.lmk });
  const b = r.render({ verts: Float64Array.from(cs.verts), landmarks: Float64Array.from(cs.lmk) });
  const tv = Float64Array.from(orthProject(cs.verts, cs.cam));
  const c = r.render({ verts: Float64Array.from(cs.verts), transVerts: tv, landmarks: cs.lmk });
  for (const k of ['depth', 'normal', 'render', 'mask', 'landmarks'] as const) {
    assert.ok(Buffer.from(a[k]!).equals(Buffer.from(b[k]!)), k);
    assert.ok(Buffer.from(a[k]!).equals(Buffer.from(c[k]!)), k);
  }
});
