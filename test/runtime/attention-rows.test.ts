/**
 * The attention explorer's row requests through a real kernel process: a cell runs mp.gge with hand-constructed
 * local-attention weights (test/gge/helpers.ts) and displays the attention; the host then asks for rows over IPC
 * the way the extension relays a renderer's click. Rows must sum to 1 and peak at the clicked pixel's grid cell.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelClient } from '../../src/kernel/runtime/client';
import { type AttentionRowsReply } from '../../src/shared/kernel-ipc';
import { MIME } from '../../src/shared/outputs';
import { writeGGEBundle } from '../../src/kernel/gge/bundle';
import type { AttentionOutput } from '../../src/shared/attention';
import { relayRowsRequest } from '../../src/extension/attention-rows';
import { codedImage, localAttentionWeights } from '../gge/helpers';
import { run, testKernel } from './kernel-harness';

const [H, W] = [96, 128]; // grid 16×12
const GW = 16, GH = 12, CELLS = GW * GH;

/** Per head and query: [argmax, sum]. */
function peaks(r: Extract<AttentionRowsReply, { ok: true }>): [number, number][][] {
  const Q = r.queries.length;
  return Array.from({ length: r.heads }, (_, h) =>
    Array.from({ length: Q }, (_, q) => {
      const row = r.rows.subarray((h * Q + q) * CELLS, (h * Q + q + 1) * CELLS);
      let best = 0, sum = 0;
      for (let k = 0; k < CELLS; k++) {
        sum += row[k]!;
        if (row[k]! > row[best]!) best = k;
      }
      return [best, sum] as [number, number];
    }),
  );
}

describe('attention rows over kernel IPC', () => {
  let kernel: KernelClient;
  const tmp = mkdtempSync(join(tmpdir(), 'mp-attn-ipc-'));
  const nb = join(tmp, 'attn.mpnb');
  const bundleDir = join(tmp, 'gge-local');
  const imgFile = join(tmp, 'coded.f32');
  const cell = (v: string) => `
import { readFileSync } from 'node:fs';
const buf = readFileSync(${JSON.stringify(imgFile)});
const img = { width: ${W}, height: ${H}, data: new Float32Array(Uint8Array.from(buf).buffer) };
const ${v} = await mp.gge({ depth: [img, img] }, { bundle: ${JSON.stringify(bundleDir)} });
await display(${v}.attention);`;

  before(async () => {
    writeGGEBundle(
      { depth: { stateDict: localAttentionWeights(), name: 'local:depth', source: { kind: 'generated', generator: 'test', seed: 0 } } },
      bundleDir,
      { createdBy: 'test', log: () => {} },
    );
    writeFileSync(imgFile, codedImage(H, W).data);
    kernel = testKernel({ env: { MAGICPORTRAIT_CACHE: join(tmp, 'cache'), MAGICPORTRAIT_THREADS: '1' } });
    await kernel.start();
  });
  after(() => kernel.shutdown());

  let rowsId = '';
  test('a clicked pixel gets rows that sum to 1 and peak at its own cell, in every head; the peak moves with the click', async () => {
    const r = await run(kernel, cell('enc'), 'Cell 1', nb);
    assert.equal(r.outcome.status, 'ok', JSON.stringify(r.outcome));
    assert.ok(r.updates.some((u) => String(u.bundle['text/plain']).includes('Guidance encoder')), 'progress bar shown');
    const out = r.displays.find((d) => d.bundle[MIME.attention])!.bundle[MIME.attention] as AttentionOutput;
    assert.equal(out.frames, 2);
    assert.deepEqual(out.grid, { width: GW, height: GH });
    assert.equal(out.tracks[0]!.received.length, 2);
    rowsId = out.rows.id;
    const clicks = [{ x: 5, y: 3 }, { x: 100, y: 70 }, { x: 127, y: 95 }];
    for (const [i, click] of clicks.entries()) {
      const reply = await kernel.attentionRows({ rowsId, guidance: 'depth', frame: i % 2, queries: [click], space: 'input' });
      assert.ok(reply.ok, JSON.stringify(reply));
      const cellIndex = Math.floor(click.y / 8) * GW + Math.floor(click.x / 8);
      assert.deepEqual(reply.queries, [{ x: Math.floor(click.x / 8), y: Math.floor(click.y / 8), index: cellIndex }]);
      for (const [h, [[best, sum]]] of peaks(reply).entries() as Iterable<[number, [number, number][]]>) {
        assert.equal(best, cellIndex, `head ${h}: click (${click.x}, ${click.y}) peaks at token ${best}`);
        assert.ok(Math.abs(sum - 1) < 1e-5, `head ${h} row sums to ${sum}`);
      }
    }
  });

  test('the extension relay returns the same rows as base64 float32', async () => {
    const reply = await relayRowsRequest(kernel, { type: 'attention-rows', requestId: 7, rowsId, guidance: 'depth', frame: 0, queries: [{ x: 3, y: 2 }], space: 'grid' });
    assert.ok(reply.ok, JSON.stringify(reply));
    assert.equal(reply.requestId, 7);
    const b = Buffer.from(reply.base64, 'base64');
    const rows = new Float32Array(Uint8Array.from(b).buffer);
    assert.equal(rows.length, 8 * CELLS);
    for (let h = 0; h < 8; h++) {
      const row = rows.subarray(h * CELLS, (h + 1) * CELLS);
      assert.equal(row.indexOf(Math.max(...row)), 2 * GW + 3);
    }
    const bad = await relayRowsRequest(kernel, { type: 'attention-rows', requestId: 8, rowsId, guidance: 'depth', frame: 0, queries: [{ x: 99, y: 0 }], space: 'grid' });
    assert.ok(!bad.ok && !bad.stale && /outside/.test(bad.error), JSON.stringify(bad));
  });

  test('a cached re-run (cache hit) still serves rows, recomputing the asked frame', async () => {
    const r = await run(kernel, cell('enc2'), 'Cell 2', nb);
    assert.equal(r.outcome.status, 'ok', JSON.stringify(r.outcome));
    const out = r.displays.find((d) => d.bundle[MIME.attention])!.bundle[MIME.attention] as AttentionOutput;
    assert.notEqual(out.rows.id, rowsId);
    const stats = await run(kernel, 'console.log(JSON.stringify(mp.cache.stats))', 'Cell 3', nb);
    assert.equal(JSON.parse(stats.stdout).hits, 1, 'the second mp.gge was a stage-cache hit');
    const reply = await kernel.attentionRows({ rowsId: out.rows.id, guidance: 'depth', frame: 1, queries: [{ x: 60, y: 20 }, { x: 10, y: 90 }], space: 'input' });
    assert.ok(reply.ok, JSON.stringify(reply));
    const p = peaks(reply);
    for (let h = 0; h < 8; h++) assert.deepEqual(p[h]!.map(([b]) => b), [2 * GW + 7, 11 * GW + 1]);
  });

  test('after a kernel restart the old output is stale, with a clear message', async () => {
    await kernel.restart();
    const reply = await kernel.attentionRows({ rowsId, guidance: 'depth', frame: 0, queries: [{ x: 1, y: 1 }] });
    assert.ok(!reply.ok && reply.stale, JSON.stringify(reply));
    assert.match(reply.error.message, /re-run the cell/);
    await kernel.shutdown();
    const none = await relayRowsRequest(kernel, { type: 'attention-rows', requestId: 9, rowsId, guidance: 'depth', frame: 0, queries: [{ x: 1, y: 1 }] });
    assert.ok(!none.ok && none.stale, JSON.stringify(none));
  });
});
