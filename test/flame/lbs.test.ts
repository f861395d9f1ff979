import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadFlame } from '../../src/kernel/flame/model-files';
import { prepareFlame, flameForward, allocFlameOutput, decaFullPose } from '../../src/kernel/flame/lbs';
import type { FlameModelData } from '../../src/kernel/flame/types';
import { loadExpected, maxAbsDiff, modelScale, syntheticFlameDir, type Expected } from './helpers';

let model: FlameModelData;
let ex: Expected;
let scale: number;
before(async () => {
  model = await loadFlame(syntheticFlameDir());
  ex = await loadExpected();
  scale = modelScale(model.vTemplate);
});

/** Relative-to-scale max error of our forward against the reference for parameter set `s`. */
function compareSet(s: number, dtype: 'float32' | 'float64', backend: 'wasm' | 'js') {
  const p = `s${s}_`;
  const shape = ex.get(p + 'shape'), expr = ex.get(p + 'expr');
  const B = shape.shape[0];
  const prep = prepareFlame(model, { numShape: shape.shape[1], numExpression: expr.shape[1], dtype, backend });
  const out = flameForward(prep, { batchSize: B, shape: ex.f64(p + 'shape'), expression: ex.f64(p + 'expr'), pose: ex.f64(p + 'pose') });
  const sub = ex.f64('vertex_subset');
  const ev = ex.f64(p + 'vertices_sub');
  const V = model.numVertices;
  let ve = 0;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < sub.length; i++) {
      for (let c = 0; c < 3; c++) ve = Math.max(ve, Math.abs(out.vertices[(b * V + sub[i]) * 3 + c] - ev[(b * sub.length + i) * 3 + c]));
    }
  }
  // all vertices of two sets are stored as float32: compare those at float32 resolution
  const full = ex.has(p + 'vertices_full') ? maxAbsDiff(out.vertices, ex.f64(p + 'vertices_full')) / scale : 0;
  return {
    name: ex.str(p + 'name'),
    vertices: ve / scale,
    verticesAll: full,
    joints: maxAbsDiff(out.joints, ex.f64(p + 'joints')) / scale,
    landmarks2d: maxAbsDiff(out.landmarks2d!, ex.f64(p + 'landmarks2d')) / scale,
    landmarks3d: maxAbsDiff(out.landmarks3d!, ex.f64(p + 'landmarks3d')) / scale,
    contour: Array.from(out.contourIndex),
    contourExpected: Array.from(ex.f64(p + 'contour_index')),
  };
}

for (const backend of ['wasm', 'js'] as const) {
  for (const dtype of ['float64', 'float32'] as const) {
    test(`forward matches the numpy reference (${backend}, ${dtype}) within 1e-5 of model scale`, () => {
      const n = Number(ex.f64('num_sets')[0]);
      // float64 agrees to rounding; float32 storage/accumulation stays well under the 1e-5 budget
      const tol = dtype === 'float64' ? 1e-12 : 1e-5;
      for (let s = 0; s < n; s++) {
        const r = compareSet(s, dtype, backend);
        for (const k of ['vertices', 'joints', 'landmarks2d', 'landmarks3d'] as const) {
          assert.ok(r[k] <= tol, `${r.name} ${k}: ${r[k].toExponential(2)} > ${tol}`);
        }
        assert.ok(r.verticesAll <= Math.max(tol, 2e-7), `${r.name} all vertices: ${r.verticesAll.toExponential(2)}`);
        assert.deepEqual(r.contour, r.contourExpected, `${r.name}: contour rows`);
      }
    });
  }
}

test('the yaw sweep exercises the contour table (positive, negative, clamped, beyond −39)', () => {
  const rows = Array.from(ex.f64('s3_contour_index'));
  assert.ok(rows.includes(78) && rows.includes(39) && rows.some((r) => r > 40 && r < 78) && rows.some((r) => r > 0 && r < 39));
});

test('zero parameters reproduce the template exactly (float64)', () => {
  const prep = prepareFlame(model, { dtype: 'float64' });
  const out = flameForward(prep, { batchSize: 1 });
  assert.ok(maxAbsDiff(out.vertices, model.vTemplate) < 1e-15);
  const prep32 = prepareFlame(model, { dtype: 'float32', numShape: 100, numExpression: 50 });
  const out32 = flameForward(prep32, { batchSize: 2 });
  for (let b = 0; b < 2; b++) {
    assert.ok(maxAbsDiff(out32.vertices.subarray(b * model.numVertices * 3, (b + 1) * model.numVertices * 3), model.vTemplate) < 1e-7);
  }
});

test('a jaw rotation moves exactly the vertices with jaw weight', () => {
  const prep = prepareFlame(model, { dtype: 'float64', numShape: 10, numExpression: 10 });
  const pose = decaFullPose([0, 0, 0, 0.3, 0, 0]);
  const out = flameForward(prep, { batchSize: 1, pose });
  const V = model.numVertices, J = model.numJoints;
  let moved = 0, withJaw = 0;
  for (let v = 0; v < V; v++) {
    const w = model.lbsWeights[v * J + 2];
    const d = Math.hypot(out.vertices[3 * v] - model.vTemplate[3 * v], out.vertices[3 * v + 1] - model.vTemplate[3 * v + 1], out.vertices[3 * v + 2] - model.vTemplate[3 * v + 2]);
    // pose correctives of the jaw feature may also move vertices; the synthetic model's are sparse random,
    // so compare against a forward without correctives
    if (w > 0) withJaw++;
    if (d > 0) moved++;
  }
  assert.ok(withJaw > 0 && moved >= withJaw);
  // without pose correctives: exactly the jaw-weighted vertices move
  const noCorrectives: FlameModelData = { ...model, posedirs: null };
  const out2 = flameForward(prepareFlame(noCorrectives, { dtype: 'float64', numShape: 0, numExpression: 0 }), { batchSize: 1, pose });
  for (let v = 0; v < V; v++) {
    const w = model.lbsWeights[v * J + 2];
    const d = Math.hypot(out2.vertices[3 * v] - model.vTemplate[3 * v], out2.vertices[3 * v + 1] - model.vTemplate[3 * v + 1], out2.vertices[3 * v + 2] - model.vTemplate[3 * v + 2]);
    if (w === 0) assert.equal(d, 0, `vertex ${v} has no jaw weight but moved by ${d}`);
    else assert.ok(d > 0, `vertex ${v} has jaw weight ${w} but did not move`);
  }
});

test('batch items are independent and outputs can be reused', () => {
  const prep = prepareFlame(model, { numShape: 100, numExpression: 50 });
  const B = 5;
  const shape = Float64Array.from({ length: B * 100 }, (_, i) => Math.sin(i * 1.7));
  const expr = Float64Array.from({ length: B * 50 }, (_, i) => Math.cos(i * 0.3));
  const pose = Float64Array.from({ length: B * 15 }, (_, i) => 0.2 * Math.sin(i));
  const out = allocFlameOutput(prep, B);
  flameForward(prep, { batchSize: B, shape, expression: expr, pose }, out);
  const V3 = model.numVertices * 3;
  for (const b of [0, 3]) {
    const one = flameForward(prep, { batchSize: 1, shape: shape.subarray(b * 100, b * 100 + 100), expression: expr.subarray(b * 50, b * 50 + 50), pose: pose.subarray(b * 15, b * 15 + 15) });
    assert.ok(maxAbsDiff(one.vertices, out.vertices.subarray(b * V3, (b + 1) * V3)) < 1e-7);
  }
});

test('bad arguments give clear errors', () => {
  assert.throws(() => prepareFlame(model, { numShape: 301 }), /numShape 301 .*300 shape components/);
  const prep = prepareFlame(model, { numShape: 100, numExpression: 50 });
  assert.throws(() => flameForward(prep, { batchSize: 2, shape: new Float64Array(100) }), /shape has 100 values, expected 200/);
  assert.throws(() => flameForward(prep, { batchSize: 1, pose: new Float64Array(6) }), /pose has 6 values, expected 15/);
});
