import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactStore } from '../../src/kernel/runtime/artifacts';
import { toMimeBundle } from '../../src/kernel/runtime/display';
import { MIME } from '../../src/shared/outputs';
import { DEMO_LABEL, createDemoGGE } from '../../src/kernel/gge/demo';
import { MAX_PROVIDERS, makeAttentionDisplayable, serveAttentionRows } from '../../src/kernel/pipeline/gge-attention';
import { type AttentionOutput } from '../../src/shared/attention';
import type { GGEAttention, GGEResult } from '../../src/kernel/gge/run';
import { runGGE, releaseGGE } from '../../src/kernel/gge/run';
import { synthImage } from '../gge/helpers';

test('display(result.attention) stores the maps as float32 artifacts with PNG underlays and serves rows for clicks', async () => {
  const bundle = createDemoGGE(mkdtempSync(join(tmpdir(), 'gge-disp-')));
  const maps = { depth: [0, 1].map((s) => synthImage(48, 64, s)), normal: [2, 3].map((s) => synthImage(48, 64, s)), render: [4, 5].map((s) => synthImage(48, 64, s)) };
  const r = await runGGE(maps, bundle, { threads: 1 });
  assert.deepEqual(Object.keys(r.attention).includes('maps'), true);
  assert.doesNotThrow(() => JSON.stringify(r.attention), 'plain data');
  // runGGE returns data; the GGE stage (mp.gge) makes its attention displayable, as here
  makeAttentionDisplayable(r.attention, maps, r.attentionRows);
  const artifacts = new ArtifactStore(mkdtempSync(join(tmpdir(), 'gge-art-')));
  const bundleOut = await toMimeBundle(r.attention, { artifacts });
  const out = bundleOut[MIME.attention] as AttentionOutput;
  assert.match(String(bundleOut['text/plain']), new RegExp(DEMO_LABEL));
  assert.equal(out.label, DEMO_LABEL);
  assert.deepEqual(out.grid, { width: 8, height: 6 });
  assert.equal(out.tracks.length, 3);
  const tr = out.tracks[1]!;
  assert.equal(tr.type, 'normal');
  assert.equal(tr.images.length, 2);
  assert.equal(tr.images[0]!.mime, 'image/png');
  const raw = artifacts.read(tr.received[1]!);
  const recv = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  assert.deepEqual(recv, r.attention.maps.normal!.received[1]);
  assert.equal(tr.ranges.received.length, 8);
  const [lo, hi] = tr.ranges.received[0]!;
  assert.ok(lo >= 0 && hi <= 1 && lo < hi, `range ${lo}..${hi}`);
  // a click at input pixel (63, 47) is grid cell (7, 5)
  const rows = await serveAttentionRows(out.rows.id, 'normal', 1, [{ x: 63, y: 47 }]);
  assert.deepEqual(rows.queries, [{ x: 7, y: 5, index: 47 }]);
  assert.equal(rows.rows.length, 8 * 48);
  assert.equal(rows.label, DEMO_LABEL);
  await assert.rejects(serveAttentionRows('nope', 'normal', 0, [{ x: 0, y: 0 }]), /earlier kernel session/);
  await releaseGGE(bundle);
});

test('the kernel keeps the rows of the last few attention outputs only; older ones answer as stale', async () => {
  const artifacts = new ArtifactStore(mkdtempSync(join(tmpdir(), 'gge-lru-')));
  const ids: string[] = [];
  for (let i = 0; i <= MAX_PROVIDERS; i++) {
    const attention: GGEAttention = { kind: 'magicportrait.gge-attention', version: 1, module: 'attentions.5', types: ['depth'], frames: 1, heads: 8, grid: { width: 1, height: 1 }, input: { width: 8, height: 8 }, stride: 8, maps: {} };
    const rows = (async () => ({ i })) as unknown as GGEResult['attentionRows'];
    makeAttentionDisplayable(attention, {}, rows);
    ids.push(((await toMimeBundle(attention, { artifacts }))[MIME.attention] as AttentionOutput).rows.id);
  }
  await assert.rejects(serveAttentionRows(ids[0]!, 'depth', 0, [{ x: 0, y: 0 }]), /earlier kernel session.*re-run the cell/);
  assert.deepEqual(await serveAttentionRows(ids[MAX_PROVIDERS]!, 'depth', 0, [{ x: 0, y: 0 }]), { i: MAX_PROVIDERS });
  assert.deepEqual(await serveAttentionRows(ids[1]!, 'depth', 0, [{ x: 0, y: 0 }]), { i: 1 });
});
