// The renderer on the live built-in demo head (src/kernel/flame), and our float32 camera helpers against the
// FLAME area's float64 ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDemoHead, cropNdcToImageNdc, decaTform, flameForward, flameTexAlbedo, orthographicProject, prepareFlame } from '../../src/kernel/flame';
import { decaCropSimilarity, tformFromCrop } from '../../src/kernel/render/vertex-placement';
import { GuidanceRenderer } from '../../src/kernel/render/guidance-maps';
import { compareMap } from './compare';

test('demo head: our float32 placement and the FLAME area float64 placement give the same maps', () => {
  const model = createDemoHead();
  const out = flameForward(prepareFlame(model), { batchSize: 1, pose: [0.05, 0.3, 0, 0, 0, 0, 0.15, 0, 0, 0, 0, 0, 0, 0, 0] });
  const verts = Float32Array.from(out.vertices);
  const albedo = Float32Array.from(flameTexAlbedo(model.texture!, new Float64Array(model.texture!.numComponents), 1));
  const light = Float32Array.from({ length: 27 }, (_, k) => (k < 3 ? 3 : 0.2 * Math.sin(k)));
  const T = decaCropSimilarity(256, 262, 320);
  const tform = tformFromCrop(T);
  const tf64 = decaTform(T);
  tform.forEach((t, k) => assert.ok(Math.abs(t - tf64[k]) <= 1e-6 * Math.max(1, Math.abs(t))));
  const cam = [8.6, 0, 0.01];
  const assets = { faces: model.faces, uvCoords: model.uv!.uvs, uvFaces: model.uv!.uvFaces, albedo, light };
  const a = new GuidanceRenderer(assets, { cam, tform }).render({ verts });
  const placed = cropNdcToImageNdc(orthographicProject(verts, cam, 1), tf64);
  const b = new GuidanceRenderer(assets, {}).render({ verts, transVerts: Float64Array.from(placed) });
  assert.ok(a.covered > 40000, `covered ${a.covered}`);
  for (const k of ['depth', 'normal', 'render'] as const) {
    const s = compareMap(a[k]!, 3, b[k]!, 3, a.mask!, b.mask!);
    assert.ok(s.equalPct > 99.9 && s.maxDiffCovered <= 2 && s.coverageMismatch < 20, `${k}: ${JSON.stringify(s)}`);
  }
});
