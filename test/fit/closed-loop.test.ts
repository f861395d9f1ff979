import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDemoHead } from '../../src/kernel/flame';
import { flameForward } from '../../src/kernel/flame/lbs';
import { rodriguesInto } from '../../src/kernel/flame/rotations';
import { fitFlame } from '../../src/kernel/fit/fit';
import { preparedFor } from '../../src/kernel/fit/mesh';
import { randomParams, renderLandmarks } from './synthetic';

const model = createDemoHead();


/** Geodesic angle (degrees) between two axis-angle rotations. */
function rotationError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const A = new Float64Array(9), B = new Float64Array(9);
  rodriguesInto(a[0]!, a[1]!, a[2]!, A);
  rodriguesInto(b[0]!, b[1]!, b[2]!, B);
  let tr = 0;
  for (let i = 0; i < 3; i++) for (let k = 0; k < 3; k++) tr += A[3 * i + k]! * B[3 * i + k]!; // trace(A Bᵀ)
  return (Math.acos(Math.max(-1, Math.min(1, (tr - 1) / 2))) * 180) / Math.PI;
}

/** Face-region vertices of the neutral demo head: in front, between the chin and the brows. */
const faceVerts = (() => {
  const ids: number[] = [];
  const T = model.vTemplate;
  for (let v = 0; v < model.numVertices; v++) {
    const x = T[3 * v]!, y = T[3 * v + 1]!, z = T[3 * v + 2]!;
    if (z > 0.03 && Math.abs(x) < 0.065 && y > -0.11 && y < 0.05) ids.push(v);
  }
  return ids;
})();

/**
 * Expression reproduction: the displacement that expression + jaw cause on the face region, in the head's own frame
 * (global pose removed) and on each identity, D = V(β, ψ, jaw) − V(β, 0, 0); returns the mean ‖D_fit − D_true‖ (mm)
 * and that as a fraction of the mean ‖D_true‖.
 */
function expressionError(fit: { shape: Float64Array; expression: Float64Array; pose: Float64Array }, truth: { shape: Float64Array; expression: Float64Array; pose: Float64Array }) {
  const prep = preparedFor(model, model.numShape, model.numExpression);
  const disp = (p: typeof fit) => {
    const pose = new Float64Array(15);
    pose.set(p.pose.subarray(6, 9), 6);
    const a = flameForward(prep, { batchSize: 1, shape: p.shape, expression: p.expression, pose }).vertices.slice();
    const b = flameForward(prep, { batchSize: 1, shape: p.shape }).vertices;
    for (let i = 0; i < a.length; i++) a[i]! -= b[i]!;
    return a;
  };
  const df = disp(fit), dt = disp(truth);
  let err = 0, mag = 0;
  for (const v of faceVerts) {
    err += Math.hypot(df[3 * v]! - dt[3 * v]!, df[3 * v + 1]! - dt[3 * v + 1]!, df[3 * v + 2]! - dt[3 * v + 2]!);
    mag += Math.hypot(dt[3 * v]!, dt[3 * v + 1]!, dt[3 * v + 2]!);
  }
  return { mm: (1000 * err) / faceVerts.length, relative: mag > 0 ? err / mag : 0 };
}

test('closed loop: random demo-head parameters (yaw ±40°) → 68 + dense landmarks at 512² → fit recovers them', async () => {
  const rows: string[] = [];
  let worstPx = 0, worstRot = 0, worstExpr = 0, sumRel = 0;
  const N = 12;
  for (let seed = 1; seed <= N; seed++) {
    const truth = randomParams(model, seed, 40);
    const { lm68, mesh468 } = renderLandmarks(model, truth);
    const fit = await fitFlame({ width: 512, height: 512, landmarks68: lm68, mesh468 }, { photometric: false, overlay: false });
    let px = 0;
    for (let i = 0; i < 68; i++) px += fit.residuals[i]! / 68;
    const rot = rotationError(fit.pose, truth.pose);
    const ex = expressionError(fit, truth);
    const yaw = (truth.pose[1]! * 180) / Math.PI;
    rows.push(`#  seed ${String(seed).padStart(2)} yaw ${yaw.toFixed(1).padStart(6)}°: reprojection ${px.toFixed(3)} px (max ${Math.max(...fit.residuals).toFixed(3)}), rotation error ${rot.toFixed(3)}°, ` +
      `jaw ${(((fit.pose[6]! - truth.pose[6]!) * 180) / Math.PI).toFixed(2)}°, expression displacement error ${ex.mm.toFixed(3)} mm (${(100 * ex.relative).toFixed(1)}%), ${fit.solver.iterations} it`);
    assert.ok(Number.isFinite(px));
    worstPx = Math.max(worstPx, px);
    worstRot = Math.max(worstRot, rot);
    worstExpr = Math.max(worstExpr, ex.mm);
    sumRel += ex.relative / N;
  }
  console.log(rows.join('\n'));
  console.log(`# closed loop (${N} cases): worst mean reprojection ${worstPx.toFixed(3)} px at 512², worst head rotation error ${worstRot.toFixed(3)}°, worst expression displacement error ${worstExpr.toFixed(3)} mm, mean relative ${(100 * sumRel).toFixed(1)}%`);
  assert.ok(worstPx < 0.5, `reprojection ${worstPx} px`);
  assert.ok(worstRot < 2, `rotation ${worstRot}°`);
  assert.ok(worstExpr < 1, `expression displacement error ${worstExpr} mm`);
});
