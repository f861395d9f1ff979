// Golden comparison against the independent numpy reference (test/render/golden/raster_reference.py).
//
// Criterion, per case and map, over all W×H pixels:
//   * ≥ 99.5 % of pixels are equal in every channel after 8-bit quantisation (background included);
//   * among pixels covered in BOTH renders, no channel differs by more than 2/255;
//   * edge pixels: a pixel whose coverage differs between the two (a silhouette or crack pixel where the strict
//     `w > 0` test flips because the reference computes edge functions in float32 and we do in float64) cannot
//     meet a value tolerance (it is background on one side), so it is counted separately: it counts as unequal
//     in the 99.5 % figure, and there may be at most 0.05 % of them. (On the committed cases there are none.)
//   * the landmark map (pure float64 drawing, same formulas) must match exactly.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GuidanceRenderer, type GuidanceAssets, type GuidanceMaps } from '../../src/kernel/render/guidance-maps';
import { orthProject, placeInImage } from '../../src/kernel/render/vertex-placement';
import { compareMap } from './compare';
import { albedoPattern, FIXTURES, loadDemoCases, loadSyntheticCases, loadSyntheticMesh, readPng, type SyntheticCase } from './fixtures';

const W = 512, H = 512;

const mesh = loadSyntheticMesh();
const albedo = albedoPattern();
const cases = loadSyntheticCases();

test('the procedural albedo matches the reference script', () => {
  let sum = 0;
  for (let k = 0; k < albedo.length; k++) sum += albedo[k];
  const meta = JSON.parse(readFileSync(join(FIXTURES, 'synthetic_cases.json'), 'utf8')) as { albedo_sum: number };
  assert.ok(Math.abs(sum - meta.albedo_sum) < 1e-6 * meta.albedo_sum, `${sum} vs ${meta.albedo_sum}`);
});

test('camera helpers reproduce the reference float32 placement bit for bit', () => {
  const cs = cases.find((c) => c.trans)!;
  const tv = orthProject(cs.verts, cs.cam);
  const placed = placeInImage(tv, cs.tform!, W, H);
  let diffT = 0, diffP = 0;
  for (let k = 0; k < cs.trans!.length; k++) {
    if (tv[k] !== cs.trans![k]) diffT++;
    if (placed[k] !== cs.placed![k]) diffP++;
  }
  assert.ok(cs.trans!.length >= 1800);
  assert.equal(diffT, 0, `${diffT} of ${cs.trans!.length} projected coordinates differ`);
  assert.equal(diffP, 0, `${diffP} of ${cs.placed!.length} placed coordinates differ`);
});

function goldenCase(cs: SyntheticCase, assets: GuidanceAssets, t: TestContext): void {
  const r = new GuidanceRenderer({ ...assets, light: cs.light }, { tform: cs.tform, cam: cs.cam, maps: ['depth', 'normal', 'render', 'mask', 'landmarks'] });
  const m: GuidanceMaps = r.render({ verts: cs.verts, landmarks: cs.lmk });
  const refMask = readPng(join(FIXTURES, `${cs.name}_mask.png`), true).data;
  const lines: string[] = [];
  for (const key of ['depth', 'normal', 'render', 'mask'] as const) {
    const grey = key === 'depth' || key === 'mask';
    const ref = readPng(join(FIXTURES, `${cs.name}_${key}.png`), grey).data;
    const s = compareMap(m[key]!, key === 'mask' ? 1 : 3, ref, grey ? 1 : 3, m.mask!, refMask);
    lines.push(`${key}: ${s.equalPct.toFixed(4)}% equal, max |Δ| ${s.maxDiffCovered}/255 on covered, ${s.offByOne} px off by 1, ${s.coverageMismatch} coverage mismatches`);
    assert.ok(s.equalPct >= 99.5, `${cs.name} ${key}: only ${s.equalPct}% equal`);
    assert.ok(s.maxDiffCovered <= 2, `${cs.name} ${key}: a covered pixel is off by ${s.maxDiffCovered}/255`);
    assert.ok(s.coverageMismatch <= 0.0005 * W * H, `${cs.name} ${key}: ${s.coverageMismatch} coverage mismatches`);
  }
  const lref = readPng(join(FIXTURES, `${cs.name}_landmarks.png`)).data;
  const ls = compareMap(m.landmarks!, 3, lref, 3, m.mask!, refMask);
  lines.push(`landmarks: ${ls.equalPct.toFixed(4)}% equal`);
  assert.equal(ls.equalPct, 100, `${cs.name} landmarks differ`);
  t.diagnostic(`${cs.name}: covered ${m.covered} px; ${lines.join('; ')}`);
}

for (const cs of cases) {
  test(`golden maps, synthetic FLAME-sized mesh: ${cs.name} (${cs.tform ? 'placed with tform' : 'crop frame'})`, (t) =>
    goldenCase(cs, { faces: mesh.faces, uvCoords: mesh.uvCoords, uvFaces: mesh.uvFaces, albedo }, t));
}

const demo = loadDemoCases();
for (const cs of demo?.cases ?? []) {
  test(`golden maps, built-in demo head: ${cs.name} (${cs.tform ? 'placed with tform' : 'crop frame'})`, (t) =>
    goldenCase(cs, { faces: demo!.faces, uvCoords: demo!.uvCoords, uvFaces: demo!.uvFaces, albedo: demo!.albedo }, t));
}
