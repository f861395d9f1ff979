/**
 * The whole stack in a micro configuration against the independent PyTorch reference (golden/blocks_reference.py):
 * a bundle is built from the reference's weights (the importer path), then each graph and finally `sample()` (3 DDIM
 * steps, 14 frames in two wrapped 12-frame windows, CFG 3.5, VAE decode, 8-bit truncation) are compared.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ort } from '../../src/kernel/onnx/session';
import { type DiffusionBundle, type ModelRole, writeBundle } from '../../src/kernel/diffusion/bundle';
import { WeightLookup } from '../../src/kernel/diffusion/graph/ops';
import { type DiffusionArch, bankSites } from '../../src/kernel/diffusion/graph/config';
import { bundleSessions, releaseBundleSessions, sample } from '../../src/kernel/diffusion/sample';
import type { NpzFile } from '../../src/kernel/io/npy';
import { arr, f32, f64, npz } from './helpers';
import { halfBitsToFloat, maxErr, stateDictFrom } from './graph-helpers';

let z: NpzFile;
let dir: string;
let bundle: DiffusionBundle;
let arch: DiffusionArch;

before(async () => {
  z = await npz('micro.npz');
  arch = JSON.parse(Buffer.from((await arr(z, 'arch')).data as Uint8Array).toString('utf8'));
  dir = mkdtempSync(join(tmpdir(), 'mp-micro-'));
  const src = (name: string) => [{ kind: 'generated' as const, generator: 'blocks_reference.py (golden)', seed: 7 }].map((s) => ({ ...s, generator: `${s.generator}:${name}` }));
  const lk = async (prefix: string, name: string) => new WeightLookup(await stateDictFrom(z, prefix), `micro ${name}`);
  const weights: Record<ModelRole, { lookup: WeightLookup; sources: ReturnType<typeof src> }> = {
    referenceUnet: { lookup: await lk('ref/', 'reference_unet'), sources: src('ref') },
    denoisingUnet: { lookup: await lk('den/', 'denoising_unet'), sources: src('den') },
    vaeEncoder: { lookup: await lk('vae/', 'vae'), sources: src('vae') },
    vaeDecoder: { lookup: await lk('vae/', 'vae'), sources: src('vae') },
    guidanceEncoder: { lookup: await lk('gge/', 'guidance encoders'), sources: src('gge') },
  };
  bundle = await writeBundle(dir, arch, weights, { textEmbeds: await f32(z, 'text'), label: 'golden micro weights' });
});

after(async () => {
  await releaseBundleSessions(bundle);
  await z.close();
  rmSync(dir, { recursive: true, force: true });
});

test('every weight of the reference checkpoints is used (or known-unused after the last bank tap)', (t) => {
  const m = bundle.manifest.models;
  for (const role of ['referenceUnet', 'denoisingUnet', 'guidanceEncoder'] as const) assert.deepEqual(m[role].keys!.unexpected, [], role);
  // the VAE file feeds two graphs: the encoder and decoder each use their half
  assert.ok(m.vaeEncoder.keys!.used + m.vaeDecoder.keys!.used === m.vaeEncoder.keys!.total);
  assert.ok(m.referenceUnet.keys!.ignored > 0, 'layers after the last tap are reported as ignored');
});

test('VAE encoder (mean × 0.18215), reference-UNet bank (fp16) and guidance encoders match the reference', async (t) => {
  const s = await bundleSessions(bundle);
  const S = arch.imageSize;
  const lat = S / 8;
  const enc = await s.vaeEncoder.run({ image: new ort.Tensor('float32', await f32(z, 'ref_image'), [1, 3, S, S]) });
  const eLat = maxErr(enc.latent!.data as Float32Array, await f64(z, 'ref_latent'));
  t.diagnostic(`vae encoder: ${eLat}`);
  assert.ok(eLat <= 1e-4, `vae encoder: ${eLat}`);
  const refOut = await s.referenceUnet.run({
    ref_latents: new ort.Tensor('float32', Float32Array.from(await f64(z, 'ref_latent')), [1, 4, lat, lat]),
    timestep: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    encoder_hidden_states: new ort.Tensor('float32', await f32(z, 'text'), [1, arch.text.tokens, arch.text.dim]),
  });
  const nb = Object.keys(refOut).length;
  assert.deepEqual(bankSites(arch).map((b) => b.path), ['down_blocks.0.attentions.0', 'mid_block.attentions.0', 'up_blocks.1.attentions.0', 'up_blocks.1.attentions.1']);
  assert.equal(nb, 4);
  for (let i = 0; i < nb; i++) {
    const name = `bank_${String(i).padStart(2, '0')}`;
    const got = halfBitsToFloat(refOut[name]!.data as Uint16Array);
    const exact = await f64(z, `bank64_${String(i).padStart(2, '0')}`);
    for (let k = 0; k < got.length; k++)
      assert.ok(Math.abs(got[k]! - exact[k]!) <= 2 ** -10 * Math.max(Math.abs(exact[k]!), 2 ** -14) + 1e-6, `${name}[${k}]: ${got[k]} vs ${exact[k]}`);
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of ['depth', 'normal', 'render']) feeds[t] = new ort.Tensor('float32', await f32(z, `gmap_${t}`), [2, 3, S, S]);
  const g = await s.guidanceEncoder.run(feeds);
  const eG = maxErr(g.guidance!.data as Float32Array, await f64(z, 'gfeat'));
  t.diagnostic(`guidance encoders (summed): ${eG}`);
  assert.ok(eG <= 1e-4, `guidance encoders (summed): ${eG}`);
});

test('denoising UNet: conditional (bank K/V) and unconditional (empty bank) branches match the reference', async (t) => {
  const s = await bundleSessions(bundle);
  const lat = arch.imageSize / 8;
  const C0 = arch.unet.blockOutChannels[0]!;
  const feeds: Record<string, ort.Tensor> = {
    sample: new ort.Tensor('float32', await f32(z, 'call_x'), [3, 4, lat, lat]),
    timestep: new ort.Tensor('int64', BigInt64Array.of(949n), [1]),
    encoder_hidden_states: new ort.Tensor('float32', await f32(z, 'text'), [1, arch.text.tokens, arch.text.dim]),
    guidance: new ort.Tensor('float32', await f32(z, 'call_g'), [3, C0, lat, lat]),
  };
  const cond = { ...feeds };
  const uncond = { ...feeds };
  for (const [i, site] of bankSites(arch).map((b) => b.channels).entries()) {
    const name = `bank_${String(i).padStart(2, '0')}`;
    const a = await arr(z, name);
    cond[name] = new ort.Tensor('float16', a.data as Uint16Array, a.shape);
    uncond[name] = new ort.Tensor('float16', new Uint16Array(0), [1, 0, site]);
  }
  const vc = (await s.denoisingUnet.run(cond)).model_output!.data as Float32Array;
  const vu = (await s.denoisingUnet.run(uncond)).model_output!.data as Float32Array;
  const ec = maxErr(vc, await f64(z, 'call_vc'));
  const eu = maxErr(vu, await f64(z, 'call_vu'));
  t.diagnostic(`cond ${ec}, uncond ${eu}`);
  assert.ok(ec <= 1e-4 && eu <= 1e-4, `cond ${ec}, uncond ${eu}`);
});

test('sample(): 14 frames, 2 wrapped windows, 3 steps, CFG 3.5, decode — latents and 8-bit frames match the reference', async (t) => {
  const S = arch.imageSize;
  const lat = S / 8;
  const C0 = arch.unet.blockOutChannels[0]!;
  const g = await f32(z, 'sample_g');
  const F = 14;
  const features = Array.from({ length: F }, (_, i) => g.slice(i * C0 * lat * lat, (i + 1) * C0 * lat * lat));
  const refU8 = (await arr(z, 'ref_u8')).data as Uint8Array;
  const out = await sample(
    { reference: { width: S, height: S, channels: 3, data: refU8 }, guidance: { features }, bundle, steps: 3, guidanceScale: 3.5, noise: await f32(z, 'sample_noise') },
    { previewEvery: 0 },
  );
  assert.deepEqual(out.timesteps, [...(await f64(z, 'sample_t'))]);
  assert.equal(out.windows.length, 2);
  assert.equal(out.timings.unetCalls, 3 * 2 * 2);
  const eLat = maxErr(out.latents, await f64(z, 'sample_latents'));
  t.diagnostic(`final latents: ${eLat}`);
  assert.ok(eLat <= 1e-4, `final latents: ${eLat}`);
  const want = (await arr(z, 'sample_u8')).data as Uint8Array;
  let off = 0;
  let maxd = 0;
  for (let i = 0; i < F; i++) {
    const fr = out.frames.get(i).data;
    for (let k = 0; k < fr.length; k++) {
      const d = Math.abs(fr[k]! - want[i * fr.length + k]!);
      maxd = Math.max(maxd, d);
      if (d) off++;
    }
  }
  // trunc(255·x) of float32 vs float64 values: a value within ~1e-5 of an integer boundary may land one level lower
  assert.ok(maxd <= 1 && off <= 0.001 * want.length, `8-bit frames: ${off} values differ (max ${maxd})`);
  out.frames.dispose();
});
