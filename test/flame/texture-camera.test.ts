import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFlame } from '../../src/kernel/flame/model-files';
import { flameTexAlbedo, nearestSourceIndex } from '../../src/kernel/flame/texture';
import { orthographicProject, decaTform, cropNdcToImageNdc, invert3 } from '../../src/kernel/flame/orthographic';
import { loadExpected, maxAbsDiff, syntheticFlameDir } from './helpers';

test('FLAMETex albedo (nearest 512→256, BGR→RGB, /255, unclamped) matches the reference', async () => {
  const ex = await loadExpected();
  const m = await loadFlame(syntheticFlameDir());
  for (const [code, want] of [['tex_code', 'tex_albedo'], ['tex_code3', 'tex_albedo3']] as const) {
    const c = ex.f64(code);
    const alb = flameTexAlbedo(m.texture!, c, 2, { dtype: 'float64' });
    assert.equal(alb.length, 2 * 3 * 256 * 256);
    const idx = ex.f64('tex_index');
    const expect = ex.f64(want);
    let err = 0, outside = 0;
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < idx.length; i++) {
        const v = alb[b * 3 * 256 * 256 + idx[i]];
        err = Math.max(err, Math.abs(v - expect[b * idx.length + i]));
        if (v < 0 || v > 1) outside++;
      }
    }
    assert.ok(err < 1e-12, `albedo error ${err}`);
    assert.ok(outside > 0, 'the synthetic basis pushes some texels outside [0, 1]: they must stay unclamped');
  }
  assert.deepEqual([0, 1, 2, 255].map((i) => nearestSourceIndex(i, 512, 256)), [0, 2, 4, 510]);
  assert.throws(() => flameTexAlbedo(m.texture!, new Float64Array(7), 1), /7 values .* 6 components/);
});

test('orthographic camera: s·(x + t), y and z negated as DECA', async () => {
  const ex = await loadExpected();
  const out = orthographicProject(ex.f64('cam_points'), ex.f64('cam'), 2);
  assert.ok(maxAbsDiff(out, ex.f64('cam_proj')) < 1e-15);
});

test('crop NDC → image NDC through DECA\'s (T⁻¹)ᵀ tform, with the 224 quirk', () => {
  // a similarity taking original 512 pixels to crop pixels: scale 0.5, shift (−20, −30)
  const T = [0.5, 0, -20, 0, 0.5, -30, 0, 0, 1];
  const tform = decaTform(T);
  // crop pixel (u, v) = ((x·0.5 + 0.5)·224, …) maps back through T⁻¹: u_o = (u + 20)/0.5
  const pts = Float64Array.from([0, 0, 0.7, -1, 1, -0.2]);
  const out = cropNdcToImageNdc(pts, tform);
  for (let i = 0; i < 2; i++) {
    const u = (pts[3 * i] * 0.5 + 0.5) * 224, v = (pts[3 * i + 1] * 0.5 + 0.5) * 224;
    assert.ok(Math.abs(out[3 * i] - (((u + 20) / 0.5) / 512 * 2 - 1)) < 1e-12);
    assert.ok(Math.abs(out[3 * i + 1] - (((v + 30) / 0.5) / 512 * 2 - 1)) < 1e-12);
    assert.equal(out[3 * i + 2], pts[3 * i + 2]);
  }
  const I = invert3([2, 1, 0, 0, 1, 0, 0, 0, 1]);
  assert.ok(maxAbsDiff(I, [0.5, -0.5, 0, 0, 1, 0, 0, 0, 1]) < 1e-15);
});
