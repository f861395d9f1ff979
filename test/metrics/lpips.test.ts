import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'fflate';
import { openNpz, toFloat64, type NdArray } from '../../src/kernel/io';
import type { Image } from '../../src/kernel/io/image';
import { Lpips } from '../../src/kernel/metrics/nets/lpips';
import { fixtures } from './helpers';

const gz = (name: string) => gunzipSync(readFileSync(join(fixtures, name)));
const asImage = (a: NdArray): Image => ({ height: a.shape[0]!, width: a.shape[1]!, channels: 3, data: a.data as Uint8Array });
const CASES = ['drv0_drv10', 'd0_d3_crop', 'same'];

async function checkParity(net: 'alex' | 'vgg', model: Lpips): Promise<number> {
  const npz = await openNpz(join(fixtures, 'lpips_cases.npz'));
  let worst = 0;
  for (const c of CASES) {
    const a = asImage(await npz.get(`${c}_a`));
    const b = asImage(await npz.get(`${c}_b`));
    const expected = toFloat64(await npz.get(`${net}_${c}_dist`))[0]!;
    const expectedLayers = toFloat64(await npz.get(`${net}_${c}_layers`));
    const { distance, layers } = await model.run([a], [b]);
    assert.ok(Math.abs(distance[0]! - expected) <= 1e-4, `${net} ${c}: ${distance[0]} vs ${expected}`);
    for (let k = 0; k < 5; k++) assert.ok(Math.abs(layers[k]! - expectedLayers[k]!) <= 1e-5, `${net} ${c} layer ${k}`);
    worst = Math.max(worst, Math.abs(distance[0]! - expected));
  }
  await npz.close();
  return worst;
}

test('LPIPS AlexNet from a torchvision backbone + lpips linear file matches the plain-PyTorch reference (≤ 1e-4)', async () => {
  const model = await Lpips.load({ linear: gz('lpips_alex_lin.pth.gz'), backbone: gz('lpips_alex_backbone.pth.gz') });
  assert.equal(model.net, 'alex');
  assert.deepEqual(model.channels, [64, 192, 384, 256, 256]);
  assert.equal(model.coverage.unexpected.length, 0);
  assert.equal(model.coverage.used.length, 15); // 5 convs × (weight, bias) + 5 linear layers
  assert.ok(model.coverage.ignored.every((k) => k.key.startsWith('classifier.')));
  const worst = await checkParity('alex', model);
  assert.ok(worst < 2e-6, `float32 agreement ${worst}`);
  await model.dispose();
});

test('LPIPS VGG16 from a whole LPIPS state dict (net.slice*, lins.* duplicates, scaling_layer) matches the reference', async () => {
  const model = await Lpips.load({ linear: gz('lpips_vgg_full.pth.gz') });
  assert.equal(model.net, 'vgg');
  assert.deepEqual(model.channels, [64, 128, 256, 512, 512]);
  assert.equal(model.coverage.unexpected.length, 0);
  assert.equal(model.coverage.ignored.length, 5); // lins.<k> duplicates
  assert.equal(model.coverage.used.length, 13 * 2 + 5 + 2);
  await checkParity('vgg', model);
  // batching gives the same numbers as one pair at a time
  const npz = await openNpz(join(fixtures, 'lpips_cases.npz'));
  const a = asImage(await npz.get('drv0_drv10_a')), b = asImage(await npz.get('drv0_drv10_b'));
  const batch = await model.run([a, b, a], [b, a, a]);
  const single = await model.distance(a, b);
  assert.ok(Math.abs(batch.distance[0]! - single) < 1e-7 && Math.abs(batch.distance[1]! - single) < 1e-7);
  assert.equal(batch.distance[2], 0);
  await npz.close();
  await model.dispose();
});

test('LPIPS weight errors name the file and the key', async () => {
  await assert.rejects(Lpips.load({ linear: gz('lpips_alex_lin.pth.gz') }), /no LPIPS backbone weights/);
  await assert.rejects(Lpips.load({ linear: gz('lpips_alex_backbone.pth.gz'), backbone: gz('lpips_alex_backbone.pth.gz') }), /is in both/);
  await assert.rejects(Lpips.load({ linear: gz('lpips_alex_backbone.pth.gz') }), /lins\.0\.model\.1\.weight' is missing/);
});
