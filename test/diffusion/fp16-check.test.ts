/**
 * The float16 path of sampling on the tiny bundle (CPU provider: float16 values between float32 operations, see
 * fp16-check.ts): the UNets run their float16 graphs (the provider report says so; the VAE stays float32), the run
 * differs from the float32 one (the check is not vacuous) and its decoded frames stay above the 40 dB PSNR the
 * issue sets for the trained model. The same check, pointed at any bundle, is `npm run bench -- fp16`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyBundle } from '../../src/kernel/diffusion/bundle';
import { fp16Check } from '../../src/kernel/diffusion/fp16-check';
import { releaseBundleSessions } from '../../src/kernel/diffusion/sample';
import { configure } from '../../src/kernel/settings';

test('tiny bundle: float16 UNets vs float32, decoded-frame PSNR ≥ 40 dB, and the cell report names each network\'s precision', async (t) => {
  configure({ provider: 'cpu' });
  process.env.MAGICPORTRAIT_CACHE ??= mkdtempSync(join(tmpdir(), 'mp-fp16-cache-'));
  const bundle = await tinyBundle(join(tmpdir(), 'mp-test-tiny-bundle'));
  try {
    const r = await fp16Check(bundle, { frames: 12, steps: 6 });
    t.diagnostic(`PSNR per frame ${r.psnr.map((x) => x.toFixed(1)).join(' ')}; mean ${r.meanPsnr.toFixed(1)} dB; latents ${r.latentRelErr.toExponential(2)}`);
    assert.ok(r.latentRelErr > 0 && r.psnr.some((p) => Number.isFinite(p)), 'float16 changes the result');
    assert.ok(r.minPsnr >= 40, `min PSNR ${r.minPsnr}`);
    const rows = Object.fromEntries(r.providers.float16.rows().map((x) => [x.network, x]));
    assert.equal(rows['denoising UNet']!.compute, 'float16');
    assert.equal(rows['reference UNet (bank)']!.compute, 'float16');
    assert.equal(rows['VAE decoder']!.compute, 'float32');
    assert.ok(r.providers.float32.rows().every((x) => x.compute === 'float32' && x.provider === 'cpu'));
    assert.match(r.providers.float16.toMarkdown(), /\| denoising UNet \| `cpu` \| float16 \|/);
  } finally {
    await releaseBundleSessions(bundle);
    configure({ provider: undefined });
  }
});
