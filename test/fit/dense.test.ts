import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoHead, demoHeadFaceKinds } from '../../src/kernel/flame';
import { NdArray, writeNpz } from '../../src/kernel/io';
import { defaultDenseCorrespondence, denseToJson, loadDenseCorrespondence, loadMediapipeEmbedding, meshFingerprint } from '../../src/kernel/fit/dense';
import { MagicPortraitError } from '../../src/kernel/errors';

const model = createDemoHead();
const dir = mkdtempSync(join(tmpdir(), 'mp-fit-dense-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('the demo head table matches the demo head: skin faces, valid barycentrics, unique MediaPipe indices, weights in [0, 1]', () => {
  const d = defaultDenseCorrespondence(model);
  assert.ok(d, 'table present and its fingerprint matches (regenerate with scripts/fit-dense-correspondence.ts otherwise)');
  assert.equal(d.fingerprint, meshFingerprint(model));
  const kinds = demoHeadFaceKinds();
  assert.equal(new Set(d.mpIndex).size, d.mpIndex.length);
  for (let p = 0; p < d.mpIndex.length; p++) {
    assert.ok(d.mpIndex[p]! >= 0 && d.mpIndex[p]! < 468);
    assert.ok(kinds[d.faces[p]!] === 0 || kinds[d.faces[p]!] === 3, 'skin or ear face');
    const b = [d.bary[3 * p]!, d.bary[3 * p + 1]!, d.bary[3 * p + 2]!];
    assert.ok(b.every((v) => v >= -1e-9 && v <= 1 + 1e-9) && Math.abs(b[0]! + b[1]! + b[2]! - 1) < 1e-5);
    assert.ok(d.weights[p]! >= 0 && d.weights[p]! <= 1);
  }
  const strong = Array.from(d.weights).filter((w) => w > 0.5).length;
  console.log(`# demo head ↔ MediaPipe: ${d.mpIndex.length} points, ${strong} with weight > 0.5 (${d.source})`);
  assert.ok(d.mpIndex.length > 400 && strong > 300);
});

test('tables round-trip through JSON and are refused for another mesh; FLAME\'s mediapipe_landmark_embedding.npz loads', async () => {
  const d = defaultDenseCorrespondence(model)!;
  const f = join(dir, 'table.json');
  writeFileSync(f, denseToJson(d));
  const back = loadDenseCorrespondence(f, model);
  assert.deepEqual(Array.from(back.faces), Array.from(d.faces));
  assert.throws(() => loadDenseCorrespondence(f, { ...model, vTemplate: model.vTemplate.map((v) => v * 1.01) }), /another mesh/);
  // FLAME's format (int64 indices as distributed)
  const npz = join(dir, 'mediapipe_landmark_embedding.npz');
  writeFileSync(npz, writeNpz({
    lmk_face_idx: new NdArray('int64', [3], BigInt64Array.of(5n, 17n, 2000n)),
    lmk_b_coords: new NdArray('float64', [3, 3], Float64Array.of(0.2, 0.3, 0.5, 1, 0, 0, 0.1, 0.1, 0.8)),
    landmark_indices: new NdArray('int64', [3], BigInt64Array.of(1n, 33n, 263n)),
  }));
  const e = await loadMediapipeEmbedding(npz, model);
  assert.deepEqual(Array.from(e.mpIndex), [1, 33, 263]);
  assert.deepEqual(Array.from(e.faces), [5, 17, 2000]);
  const bad = join(dir, 'bad.npz');
  writeFileSync(bad, writeNpz({ lmk_face_idx: new NdArray('int64', [1], BigInt64Array.of(1n)) }));
  await assert.rejects(loadMediapipeEmbedding(bad, model), (err: unknown) => err instanceof MagicPortraitError && /landmark_indices|lmk_b_coords/.test((err as Error).message));
});
