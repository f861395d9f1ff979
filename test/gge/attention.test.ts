/**
 * Attention sanity with hand-constructed weights: the guidance image carries (cos, sin) codes of each grid cell's
 * column and row angle, the conv stack passes them through (centre taps, SiLU kept linear by a +20 offset), and
 * to_q = to_k read those codes, so score(q, k) ∝ cos(Δcol angle) + cos(Δrow angle): attention is local and every
 * query row must peak at the query itself, in every head, with the sharpness growing with the head's gain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeGGEBundle } from '../../src/kernel/gge/bundle';
import { runGGE, releaseGGE } from '../../src/kernel/gge/run';
import { codedImage, localAttentionWeights, maxAbsDiff } from './helpers';

test('with weights that make attention local, every query row peaks at the query, in every head', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gge-local-'));
  const sd = localAttentionWeights();
  const bundle = writeGGEBundle(
    { depth: { stateDict: sd, name: 'local:depth', source: { kind: 'generated', generator: 'test', seed: 0 } } },
    dir,
    { createdBy: 'test', log: () => {} },
  );
  const [H, W] = [96, 128];
  const res = await runGGE({ depth: [codedImage(H, W)] }, bundle, { threads: 1 });
  assert.deepEqual(res.grid, { width: 16, height: 12 });
  const cells = 16 * 12;
  const all = Array.from({ length: cells }, (_, i) => ({ x: i % 16, y: Math.floor(i / 16) }));
  const rows = await res.attentionRows('depth', 0, all);
  assert.equal(rows.rows.length, 8 * cells * cells);
  const peak = new Float64Array(8);
  for (let h = 0; h < 8; h++)
    for (let q = 0; q < cells; q++) {
      const row = rows.rows.subarray((h * cells + q) * cells, (h * cells + q + 1) * cells);
      let best = 0;
      let sum = 0;
      for (let k = 0; k < cells; k++) {
        sum += row[k]!;
        if (row[k]! > row[best]!) best = k;
      }
      assert.equal(best, q, `head ${h}, query (${all[q]!.x}, ${all[q]!.y}) peaks at token ${best}`);
      assert.ok(Math.abs(sum - 1) < 1e-5, 'rows sum to 1');
      // decays with distance: the 4-neighbours get less than the query, farther cells less still
      peak[h] += row[q]! / cells;
    }
  for (let h = 1; h < 8; h++) assert.ok(peak[h]! > peak[h - 1]!, 'larger gain, sharper attention');
  // and it decays with distance: from the centre cell (8, 6) along its row
  const centre = 6 * 16 + 8;
  for (let h = 0; h < 8; h++) {
    const at = (dx: number) => rows.rows[(h * cells + centre) * cells + centre + dx]!;
    assert.ok(at(0) > at(1) && at(1) > at(3) && at(3) > at(6), `head ${h} decays with distance`);
  }
  // The received map computed inside the encoder graph is the mean of all query rows.
  const mean = new Float32Array(8 * cells);
  for (let h = 0; h < 8; h++)
    for (let q = 0; q < cells; q++)
      for (let k = 0; k < cells; k++) mean[h * cells + k]! += rows.rows[(h * cells + q) * cells + k]! / cells;
  assert.ok(maxAbsDiff(mean, res.attention.maps.depth!.received[0]!) < 1e-6);
  // Query pixels in input coordinates map to their grid cell.
  const r2 = await res.attentionRows('depth', 0, [{ x: 127, y: 95 }, { x: 8, y: 0 }], 'input');
  assert.deepEqual(r2.queries, [
    { x: 15, y: 11, index: cells - 1 },
    { x: 1, y: 0, index: 1 },
  ]);
  await releaseGGE(bundle);
});
