import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Mt19937, loadNoiseNpy, seededLatentNoise, torchCpuRandn } from '../../src/kernel/diffusion/noise';
import { writeNpy } from '../../src/kernel/io/npy';
import { NdArray } from '../../src/kernel/io/ndarray';
import { f32, maxAbsDiff, npz } from './helpers';

test('MT19937 gives the standard reference sequence', () => {
  // first output of init_genrand(5489), the generator's documented default
  assert.equal(new Mt19937(5489).nextUint32(), 3499211612);
});

test('seeded noise equals torch.randn on a CPU generator to 2e-6', async () => {
  const z = await npz('noise.npz');
  try {
    for (const [key, n, seed] of [['tail_s7', 40, 7], ['min_s0', 16, 0], ['big_s123', 4000, 123]] as const) {
      const d = maxAbsDiff(torchCpuRandn(n, seed), await f32(z, key));
      assert.ok(d < 2e-6, `${key}: ${d}`);
    }
    // the latent, reordered to frame-major (F, C, H, W)
    const ref = await f32(z, 'latent_s42'); // (1, 4, 3, 4, 4)
    const ours = seededLatentNoise(42, 3, 4, 4, 4);
    for (let fr = 0; fr < 3; fr++)
      for (let c = 0; c < 4; c++)
        for (let p = 0; p < 16; p++) assert.ok(Math.abs(ours[(fr * 4 + c) * 16 + p]! - ref[(c * 3 + fr) * 16 + p]!) < 2e-6);
  } finally {
    await z.close();
  }
  assert.throws(() => torchCpuRandn(15, 1), /16/);
});

test('an injected .npy latent in the reference layout is reordered and checked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-noise-'));
  const data = Float32Array.from({ length: 4 * 2 * 3 }, (_, i) => i);
  writeFileSync(join(dir, 'n.npy'), writeNpy(new NdArray('float32', [1, 4, 2, 1, 3], data)));
  const fm = loadNoiseNpy(join(dir, 'n.npy'), { frames: 2, channels: 4, height: 1, width: 3 });
  // frame 1, channel 2 = reference [0, 2, 1, 0, :] = (2·2 + 1)·3
  assert.deepEqual([...fm.subarray((1 * 4 + 2) * 3, (1 * 4 + 2) * 3 + 3)], [15, 16, 17]);
  assert.throws(() => loadNoiseNpy(join(dir, 'n.npy'), { frames: 3, channels: 4, height: 1, width: 3 }), /shape/);
});
