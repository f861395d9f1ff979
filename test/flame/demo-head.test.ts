import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDemoHead, createDemoHead, DEMO_EXPRESSION_NAMES, DEMO_SHAPE_NAMES, demoHeadFaceKinds } from '../../src/kernel/flame/demo-head';
import { prepareFlame, flameForward } from '../../src/kernel/flame/lbs';
import { validateFlameModel } from '../../src/kernel/flame/types';
import { flameTexAlbedo } from '../../src/kernel/flame/texture';
import { flameRigData } from '../../src/kernel/flame/viewer-rig';

const m = createDemoHead();
const V = m.numVertices, J = m.numJoints;
const prep = prepareFlame(m, { dtype: 'float64' });
const run = (expr: Record<string, number> = {}, pose15: number[] = new Array(15).fill(0), shape: Record<string, number> = {}) => {
  const e = new Float64Array(m.numExpression), s = new Float64Array(m.numShape);
  for (const [k, v] of Object.entries(expr)) e[m.expressionNames![k]] = v;
  for (const [k, v] of Object.entries(shape)) s[m.shapeNames![k]] = v;
  return flameForward(prep, { batchSize: 1, expression: e, shape: s, pose: pose15 });
};
const P = (a: ArrayLike<number>, i: number) => [a[3 * i], a[3 * i + 1], a[3 * i + 2]];
const lmk = (o: ReturnType<typeof run>, n: number) => P(o.landmarks2d!, n - 1); // iBUG numbering

test('the demo head is a valid FLAME-structured model and says what it is', () => {
  validateFlameModel(m);
  assert.equal(m.name, 'demo head');
  assert.equal(m.kind, 'demo-head');
  assert.ok(V > 3000 && V < 10000, `${V} vertices`);
  assert.ok(m.numShape >= 20 && m.numExpression >= 20);
  assert.deepEqual([...m.jointNames], ['global', 'neck', 'jaw', 'eye_left', 'eye_right']);
  for (const n of ['jaw_open', 'smile', 'brow_raise', 'frown', 'blink', 'pucker']) assert.ok(n in m.expressionNames!, n);
  for (const n of ['head_width', 'jaw_width', 'nose_length']) assert.ok(n in m.shapeNames!, n);
  assert.equal(DEMO_SHAPE_NAMES.length, m.numShape);
  assert.equal(DEMO_EXPRESSION_NAMES.length, m.numExpression);
  assert.equal(m.landmarks!.dynamicRows, 79);
  assert.equal(m.texture!.channelOrder, 'BGR');
  for (let v = 0; v < V; v++) {
    let s = 0;
    for (let j = 0; j < J; j++) { s += m.lbsWeights[v * J + j]; assert.ok(m.lbsWeights[v * J + j] >= 0); }
    assert.ok(Math.abs(s - 1) < 1e-6, `weights of vertex ${v} sum to ${s}`);
  }
});

test('the mesh is watertight except the neck opening, with consistent winding', () => {
  const seen = new Set<string>();
  for (let f = 0; f < m.numFaces; f++) {
    for (let k = 0; k < 3; k++) {
      const key = `${m.faces[3 * f + k]},${m.faces[3 * f + ((k + 1) % 3)]}`;
      assert.ok(!seen.has(key), `directed edge ${key} used twice (inconsistent winding)`);
      seen.add(key);
    }
  }
  let boundary = 0, lowest = -Infinity;
  for (const key of seen) {
    const [a, b] = key.split(',').map(Number);
    if (!seen.has(`${b},${a}`)) { boundary++; lowest = Math.max(lowest, m.vTemplate[3 * a + 1]); }
  }
  assert.equal(boundary, 88, 'one open loop: the neck');
  assert.ok(lowest < -0.15, 'the only open edges are at the bottom of the neck');
  // outward normals: the signed volume is positive
  let vol = 0;
  for (let f = 0; f < m.numFaces; f++) {
    const [a, b, c] = [0, 1, 2].map((k) => P(m.vTemplate, m.faces[3 * f + k]));
    vol += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0])) / 6;
  }
  assert.ok(vol > 0);
  assert.equal(demoHeadFaceKinds().length, m.numFaces);
});

test('it is deterministic: a rebuild is bit-identical', () => {
  const again = buildDemoHead();
  assert.notEqual(again, m);
  for (const k of ['vTemplate', 'faces', 'shapedirs', 'exprdirs', 'posedirs', 'jRegressor', 'lbsWeights'] as const) {
    assert.ok(Buffer.from(again[k]!.buffer).equals(Buffer.from(m[k]!.buffer)), k);
  }
  assert.ok(Buffer.from(again.texture!.mean.buffer).equals(Buffer.from(m.texture!.mean.buffer)));
  assert.ok(Buffer.from(again.landmarks!.dynamicFaces.buffer).equals(Buffer.from(m.landmarks!.dynamicFaces.buffer)));
  const kinds = demoHeadFaceKinds();
  assert.ok(kinds.some((k) => k === 1) && kinds.some((k) => k === 2) && kinds.some((k) => k === 3));
});

test('face anatomy: nose in front, eyes level and symmetric, mouth below the nose, chin lowest', () => {
  const o = run();
  const noseTip = lmk(o, 31), chin = lmk(o, 9), eyeR = lmk(o, 37), eyeL = lmk(o, 46), mouthTop = lmk(o, 52), mouthBottom = lmk(o, 58);
  // the nose tip is the most forward landmark
  for (let n = 1; n <= 68; n++) if (n !== 31) assert.ok(lmk(o, n)[2] < noseTip[2], `landmark ${n} in front of the nose tip`);
  // iBUG order: image left (−x) to right
  assert.ok(lmk(o, 1)[0] < lmk(o, 9)[0] && lmk(o, 9)[0] < lmk(o, 17)[0]);
  assert.ok(lmk(o, 37)[0] < lmk(o, 40)[0] && lmk(o, 40)[0] < lmk(o, 43)[0] && lmk(o, 43)[0] < lmk(o, 46)[0]);
  assert.ok(lmk(o, 49)[0] < lmk(o, 52)[0] && lmk(o, 52)[0] < lmk(o, 55)[0]);
  assert.ok(Math.abs(eyeR[1] - eyeL[1]) < 1e-3 && Math.abs(eyeR[0] + eyeL[0]) < 1e-3);
  assert.ok(noseTip[1] < eyeR[1] && mouthTop[1] < noseTip[1] && mouthBottom[1] < mouthTop[1] && chin[1] < mouthBottom[1]);
  for (let n = 1; n <= 17; n++) assert.ok(lmk(o, n)[1] >= chin[1] - 1e-6);
  // the brows are above the eyes
  for (let n = 18; n <= 27; n++) assert.ok(lmk(o, n)[1] > eyeR[1]);
});

test('jaw rotation opens the mouth: the lower lip goes down, the upper lip stays', () => {
  const closed = run();
  const open = run({}, [0, 0, 0, 0, 0, 0, 0.3, 0, 0, 0, 0, 0, 0, 0, 0]);
  const gapClosed = lmk(closed, 63)[1] - lmk(closed, 67)[1];
  const gapOpen = lmk(open, 63)[1] - lmk(open, 67)[1];
  assert.ok(gapClosed < 0.002, `closed gap ${gapClosed}`);
  assert.ok(gapOpen > 0.012, `open gap ${gapOpen}`);
  assert.ok(Math.abs(lmk(open, 52)[1] - lmk(closed, 52)[1]) < 1e-3, 'upper lip stays');
  assert.ok(lmk(open, 9)[1] < lmk(closed, 9)[1] - 0.01, 'the chin drops');
  // jaw weights are on the lower face: nothing above the jaw joint, nothing on the face above the mouth
  for (let v = 0; v < V; v++) {
    const [x, y, z] = P(m.vTemplate, v), w = m.lbsWeights[v * J + 2];
    if (y > 0) assert.ok(w < 0.02, `vertex ${v} at y = ${y} has jaw weight ${w}`);
    if (z > 0.06 && y > -0.05 && Math.abs(x) < 0.03 && w > 0) assert.ok(w < 0.05, `vertex ${v} above the mouth has jaw weight ${w}`);
  }
  // and the jaw_open expression opens it too
  const ex = run({ jaw_open: 1 });
  assert.ok(lmk(ex, 63)[1] - lmk(ex, 67)[1] > 0.008);
});

test('expressions do what their names say', () => {
  const n = run();
  const smile = run({ smile: 1 });
  assert.ok(lmk(smile, 49)[1] > lmk(n, 49)[1] + 0.003 && lmk(smile, 55)[1] > lmk(n, 55)[1] + 0.003, 'corners up');
  const brow = run({ brow_raise: 1 });
  assert.ok(lmk(brow, 20)[1] > lmk(n, 20)[1] + 0.004 && lmk(brow, 25)[1] > lmk(n, 25)[1] + 0.004);
  const frown = run({ frown: 1 });
  assert.ok(lmk(frown, 22)[1] < lmk(n, 22)[1] && lmk(frown, 22)[0] > lmk(n, 22)[0], 'inner brow down and inward');
  const pucker = run({ pucker: 1 });
  assert.ok(lmk(pucker, 55)[0] - lmk(pucker, 49)[0] < lmk(n, 55)[0] - lmk(n, 49)[0] - 0.008, 'narrower mouth');
  assert.ok(lmk(pucker, 52)[2] > lmk(n, 52)[2] + 0.004, 'lips forward');
  // blink: the eye opening closes (upper and lower lid landmarks meet) and skin covers the eyeball front
  const blink = run({ blink: 1 });
  const open = lmk(n, 38)[1] - lmk(n, 42)[1], shut = lmk(blink, 38)[1] - lmk(blink, 42)[1];
  assert.ok(open > 0.006 && shut < 0.002, `lid gap ${open} → ${shut}`);
  const left = run({ blink_left: 1 });
  assert.ok(lmk(left, 44)[1] - lmk(left, 48)[1] < 0.002 && lmk(left, 38)[1] - lmk(left, 42)[1] > 0.006, 'blink_left closes only the left (+x) eye');
});

test('eyes rotate with their joints; shapes move the right parts', () => {
  const n = run();
  const look = run({}, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.4, 0, 0, 0.4, 0]);
  let movedEye = 0, movedSkin = 0;
  for (let v = 0; v < V; v++) {
    const d = Math.hypot(look.vertices[3 * v] - n.vertices[3 * v], look.vertices[3 * v + 1] - n.vertices[3 * v + 1], look.vertices[3 * v + 2] - n.vertices[3 * v + 2]);
    const eye = m.lbsWeights[v * J + 3] + m.lbsWeights[v * J + 4] > 0.5;
    if (d > 1e-9) { if (eye) movedEye++; else movedSkin++; }
  }
  assert.ok(movedEye > 100 && movedSkin === 0);
  const wide = run({}, undefined, { head_width: 2 });
  assert.ok(wide.vertices.some((x, i) => i % 3 === 0 && Math.abs(x) > 0.08));
  const nose = run({}, undefined, { nose_length: 2 });
  assert.ok(lmk(nose, 31)[1] < lmk(n, 31)[1] - 0.004);
});

test('the contour follows the silhouette as the head turns', () => {
  const emb = m.landmarks!;
  let differs = 0;
  for (let i = 0; i < 17; i++) if (emb.dynamicFaces[i] !== emb.dynamicFaces[30 * 17 + i]) differs++;
  assert.ok(differs >= 4, `${differs} contour points change between yaw 0 and 30°`);
  // chin stays
  assert.equal(emb.dynamicFaces[8], emb.dynamicFaces[30 * 17 + 8]);
  // the full set uses the frontal contour
  assert.deepEqual(Array.from(emb.fullFaces.subarray(0, 17)), Array.from(emb.dynamicFaces.subarray(0, 17)));
  const yawed = run({}, [0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(yawed.contourIndex[0], Math.round((0.5 * 180) / Math.PI));
});

test('albedo space: plausible colours, components change them', () => {
  const alb = flameTexAlbedo(m.texture!, new Float64Array(m.texture!.numComponents), 1);
  const N = 256 * 256;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < alb.length; i++) { lo = Math.min(lo, alb[i]); hi = Math.max(hi, alb[i]); }
  assert.ok(lo >= 0 && hi <= 1, `${lo}..${hi}`);
  // more red than blue on average (skin), RGB after the BGR flip
  let r = 0, b = 0;
  for (let i = 0; i < N; i++) { r += alb[i]; b += alb[2 * N + i]; }
  assert.ok(r > b * 1.1);
  const c = new Float64Array(m.texture!.numComponents); c[0] = 1;
  const brighter = flameTexAlbedo(m.texture!, c, 1);
  let d = 0;
  for (let i = 0; i < alb.length; i++) d += brighter[i] - alb[i];
  assert.ok(d > 0);
  // every UV lies in [0, 1]
  for (const u of m.uv!.uvs) assert.ok(u >= 0 && u <= 1);
});

test('viewer rig data re-poses like the forward (without correctives, joints of the shaped template)', () => {
  const shape = new Float64Array(m.numShape); shape[0] = 1;
  const rig = flameRigData(m, shape);
  const out = flameForward(prep, { batchSize: 1, shape });
  let d = 0;
  for (let i = 0; i < rig.base.length; i++) d = Math.max(d, Math.abs(rig.base[i] - out.vertices[i]));
  assert.ok(d < 1e-6);
  assert.equal(rig.exprBasis.length, m.numExpression * V * 3);
  for (let j = 0; j < J; j++) for (let c = 0; c < 3; c++) assert.ok(Math.abs(rig.joints[3 * j + c] - out.joints[3 * j + c]) < 1e-6);
});
