import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, strToU8, zipSync } from 'fflate';
import type { StateTensor } from '../../src/kernel/metrics/nets/blocks';
import { I3dFeatures, buildI3dGraph, i3dResize } from '../../src/kernel/metrics/nets/i3d';
import { fixtures } from './helpers';
import { goldenClip, i3dGolden, i3dStateDict } from './i3dWeights';

/** max |Δ| over the feature vector, relative to the reference's feature scale (max |ref|). */
function deviation(got: Float32Array, ref: number[]): number {
  assert.equal(got.length, ref.length);
  let d = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return d / scale;
}

test('I3D (pytorch-i3d layout, full size) matches the plain-PyTorch reference on hash-generated weights: both variants, 16- and 10-frame clips', async () => {
  const golden = i3dGolden();
  const sd = new Map<string, StateTensor>(i3dStateDict());
  // num_batches_tracked of a real checkpoint is ignored, not an error
  sd.set('Conv3d_1a_7x7.bn.num_batches_tracked', { dtype: 'int64', shape: [], float32: () => new Float32Array(1) });
  const runs: [string, 'videogpt' | 'pytorch-i3d'][] = [
    ['driving_16x64x48', 'videogpt'],
    ['d3_10x40x48', 'videogpt'],
    ['d3_10x40x48', 'pytorch-i3d'],
  ];
  const worst: number[] = [];
  for (const [clip, variant] of runs) {
    const frames = goldenClip(clip);
    const net = await I3dFeatures.fromStateDict(sd, 'hash weights', { clipLength: frames.length, variant });
    assert.equal(net.dim, 400);
    assert.equal(net.coverage.used.length, golden.keys.length);
    assert.equal(net.coverage.ignored.length, 1);
    const f = await net.features(frames);
    await net.dispose();
    const d = deviation(f, golden.features[`${clip}/${variant}`]!);
    worst.push(d);
    assert.ok(d <= 1e-4, `${clip} ${variant}: max |Δ| / max |ref| = ${d}`);
  }
  // the variants differ (BN eps 1e-5 vs 1e-3) by far more than the tolerance
  assert.ok(deviation(Float32Array.from(golden.features['d3_10x40x48/videogpt']!), golden.features['d3_10x40x48/pytorch-i3d']!) > 1e-3);
  if (process.env.MP_TEST_VERBOSE) console.log(`i3d worst relative deviations ${worst.map((d) => d.toExponential(2)).join(', ')}`);
});

test('I3D resize: shorter side to 224, longer side ceil(·224/shorter), centre crop', () => {
  assert.deepEqual(i3dResize(64, 48), { height: 224, width: 299, top: 0, left: 37 });
  assert.deepEqual(i3dResize(40, 48), { height: 269, width: 224, top: 22, left: 0 });
  assert.deepEqual(i3dResize(512, 512), { height: 224, width: 224, top: 0, left: 0 });
});

test('I3D import is strict: missing, misshaped and unknown keys are errors naming the key; short clips and TorchScript archives are refused', async () => {
  const sd = i3dStateDict();
  const without = (key: string) => new Map([...sd].filter(([k]) => k !== key));
  assert.throws(() => buildI3dGraph(without('Mixed_4d.b2b.conv3d.weight'), 'i3d.pt'), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'missing-key');
    assert.match(e.message, /i3d\.pt: key 'Mixed_4d\.b2b\.conv3d\.weight' is missing \(expected shape \[64, 24, 3, 3, 3\]\)/);
    return true;
  });
  const bad = new Map(sd);
  bad.set('logits.conv3d.weight', { dtype: 'float32', shape: [157, 1024, 1, 1, 1], float32: () => new Float32Array(157 * 1024) });
  assert.throws(() => buildI3dGraph(bad, 'rgb_charades.pt'), /rgb_charades\.pt: key 'logits\.conv3d\.weight' has shape \[157, 1024, 1, 1, 1\], expected \[400, 1024, 1, 1, 1\]/);
  const extra = new Map(sd);
  extra.set('Mixed_5c.b0.conv3d.bias', { dtype: 'float32', shape: [384], float32: () => new Float32Array(384) });
  assert.throws(() => buildI3dGraph(extra, 'x.pt'), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'unexpected-key');
    assert.match(e.message, /1 key\(s\) are not part of pytorch-i3d's InceptionI3d\(400\): 'Mixed_5c\.b0\.conv3d\.bias'/);
    return true;
  });
  // a DataParallel checkpoint: the error names the prefixed key it found
  const prefixed = new Map([...sd].map(([k, v]) => [`module.${k}`, v]));
  assert.throws(() => buildI3dGraph(prefixed, 'dp.pt'), /key 'Conv3d_1a_7x7\.conv3d\.weight' is missing.*'module\.Conv3d_1a_7x7\.conv3d\.weight'.*different module prefix/);
  assert.throws(() => buildI3dGraph(sd, 'i3d.pt', { clipLength: 8 }), /at least 9 frames \(got 8\)/);
  // a TorchScript archive (code + constants.pkl) is refused before anything in it is read
  const ts = zipSync({ 'i3d/data.pkl': strToU8('not read'), 'i3d/constants.pkl': strToU8(''), 'i3d/code/__torch__/i3d.py': strToU8('def forward(self, x): ...'), 'i3d/version': strToU8('3') }, { level: 0 });
  await assert.rejects(I3dFeatures.load(ts), /TorchScript archive.*never run here.*i3d_pretrained_400\.pt/);
  // a genuine TorchScript archive (torch.jit.save)
  await assert.rejects(I3dFeatures.load(join(fixtures, 'torchscript_tiny.pt')), /torchscript_tiny\.pt is a TorchScript archive/);
  // a real torch.save checkpoint (float16) of the stem only: read through the safe reader, then the first missing key
  const stem = gunzipSync(readFileSync(join(fixtures, 'i3d_stem_only.pt.gz')));
  await assert.rejects(I3dFeatures.load(stem), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'missing-key');
    assert.match(e.message, /key 'Conv3d_2b_1x1\.conv3d\.weight' is missing \(expected shape \[64, 64, 1, 1, 1\]\)/);
    return true;
  });
  // not a checkpoint at all
  await assert.rejects(I3dFeatures.load(strToU8('hello, not weights')), /not a PyTorch checkpoint/);
});
