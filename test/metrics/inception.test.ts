import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Image } from '../../src/kernel/io/image';
import { stateDictFromArrays } from '../../src/kernel/metrics/nets/blocks';
import { InceptionFeatures } from '../../src/kernel/metrics/nets/inception';
import { frechetDistanceFromFeatures } from '../../src/kernel/metrics/frechet';
import { fixtures } from './helpers';

interface Golden {
  keys: [string, number[]][];
  images: Record<string, { width: number; height: number; rgb: string }>;
  features: Record<string, number[]>;
}
const golden = JSON.parse(readFileSync(join(fixtures, 'inception_golden.json'), 'utf8')) as Golden;

/** The weights of inception_reference.py: FNV-1a seed per key, murmur3 fmix32 per element (see its header). */
function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(key, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}
function tensorFor(key: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  let scale = 0.1, offset = 0;
  if (key.endsWith('.conv.weight')) scale = Math.sqrt(6 / (shape[1]! * shape[2]! * shape[3]!));
  else if (key.endsWith('.bn.weight')) offset = 1;
  else if (key.endsWith('.bn.running_var')) [scale, offset] = [0.2, 1];
  const seed = fnv1a(key);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    out[i] = (((x >>> 0) / 4294967296) * 2 - 1) * scale + offset;
  }
  return out;
}

test('FID Inception-v3 (pytorch-fid layout, full size) matches the plain-PyTorch reference on hash-generated weights', async () => {
  const sd = stateDictFromArrays(golden.keys.map(([k, s]) => [k, { shape: s, data: tensorFor(k, s) }] as const));
  // fc.* and num_batches_tracked of a real checkpoint are ignored, not errors
  const withExtras = new Map(sd);
  withExtras.set('fc.weight', { dtype: 'float32', shape: [1008, 2048], float32: () => new Float32Array(0) });
  withExtras.set('Conv2d_1a_3x3.bn.num_batches_tracked', { dtype: 'int64', shape: [], float32: () => new Float32Array(1) });
  const net = await InceptionFeatures.fromStateDict(withExtras, 'hash weights');
  assert.equal(net.dim, 2048);
  assert.equal(net.coverage.unexpected.length, 0);
  assert.equal(net.coverage.used.length, golden.keys.length);
  assert.equal(net.coverage.ignored.length, 2);
  const frames: Image[] = [];
  let worst = 0;
  for (const [name, im] of Object.entries(golden.images)) {
    const image: Image = { width: im.width, height: im.height, channels: 3, data: new Uint8Array(Buffer.from(im.rgb, 'base64')) };
    frames.push(image);
    const f = await net.features([image]);
    const ref = golden.features[name]!;
    assert.equal(f.length, 2048);
    for (let i = 0; i < 2048; i++) worst = Math.max(worst, Math.abs(f[i]! - ref[i]!) / Math.max(1, Math.abs(ref[i]!)));
  }
  assert.ok(worst <= 1e-4, `worst relative deviation ${worst}`);
  if (process.env.MP_TEST_VERBOSE) console.log(`inception worst relative deviation ${worst}`);
  // FID between the two single-image "sets" is defined through the Fréchet math (2 vectors each)
  const a = await net.features([frames[0]!, frames[0]!]);
  assert.equal(frechetDistanceFromFeatures(a, 2, a, 2, 2048), 0);
  await net.dispose();
});
