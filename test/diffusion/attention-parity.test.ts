/**
 * Memory-bounded attention gives the results of the plain graph: the whole denoising UNet (reference-style
 * architecture at reduced width and size: 16×16 latents, 12 frames, bank K/V, text cross-attention, motion modules) and
 * the reference UNet's bank, built three ways from the same generated weights — explicit unchunked attention (every
 * score materialised), explicit query-chunked attention, and ONNX Runtime's fused MultiHeadAttention (MLAS flash
 * attention on the CPU) — agree within 1e-5 of the output's scale, for both CFG branches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/kernel/onnx/graph';
import { createSession, ort } from '../../src/kernel/onnx/session';
import { GeneratedWeights } from '../../src/kernel/diffusion/bundle';
import { TINY_ARCH, bankName, bankSites, latentSize, type DiffusionArch } from '../../src/kernel/diffusion/graph/config';
import { type AttentionBuildOptions, UNET_IO, buildDenoisingUNet, buildReferenceUNet } from '../../src/kernel/diffusion/graph/unet';
import { halfBitsToFloat } from './graph-helpers';

const ARCH: DiffusionArch = { ...TINY_ARCH, imageSize: 128, unet: { ...TINY_ARCH.unet, heads: 8 } };
const F = 12;

async function build(kind: 'den' | 'ref', opts: AttentionBuildOptions) {
  const g = new GraphBuilder(kind);
  (kind === 'den' ? buildDenoisingUNet : buildReferenceUNet)(ARCH, { g, w: new GeneratedWeights(kind === 'den' ? 'denoisingUnet' : 'referenceUnet', 7) }, opts);
  return createSession(g.toBytes(), { label: `${kind} ${JSON.stringify(opts)}`, threads: 1 });
}

/** max |a − b| / max |b|: the deviation relative to the output's scale. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
}

test('fused and query-chunked attention match the unchunked graph within 1e-5 (whole UNets, 12 frames, both CFG branches)', async (t) => {
  const lat = latentSize(ARCH);
  const C0 = ARCH.unet.blockOutChannels[0]!;
  const variants: [string, AttentionBuildOptions][] = [
    ['explicit', { attention: 'explicit' }],
    ['chunked', { attention: 'explicit', queryChunk: 100 }],
    ['fused', { attention: 'fused' }],
  ];
  const text = new ort.Tensor('float32', Float32Array.from({ length: ARCH.text.tokens * ARCH.text.dim }, (_, i) => Math.sin(i * 0.37)), [1, ARCH.text.tokens, ARCH.text.dim]);
  const refFeeds = {
    [UNET_IO.refLatents]: new ort.Tensor('float32', Float32Array.from({ length: 4 * lat * lat }, (_, i) => Math.cos(i * 0.11)), [1, 4, lat, lat]),
    [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    [UNET_IO.text]: text,
  };
  const banks: Record<string, Record<string, ort.Tensor>> = {};
  for (const [name, o] of variants) {
    const s = await build('ref', o);
    banks[name] = (await s.run(refFeeds)) as Record<string, ort.Tensor>;
    await s.release();
  }
  const sites = bankSites(ARCH);
  // float16 taps: the float32 values agree within noise, so the rounded taps differ by at most one half-precision
  // rounding step (≤ 2^-10 of the largest value) where that noise crosses a rounding boundary
  for (const [name] of variants.slice(1))
    for (let i = 0; i < sites.length; i++) {
      const e = relErr(halfBitsToFloat(banks[name]![bankName(i)]!.data as Uint16Array), halfBitsToFloat(banks.explicit![bankName(i)]!.data as Uint16Array));
      assert.ok(e <= 2 ** -10, `${name} ${bankName(i)}: ${e}`);
    }
  const base = {
    [UNET_IO.sample]: new ort.Tensor('float32', Float32Array.from({ length: F * 4 * lat * lat }, (_, i) => Math.sin(i * 0.61)), [F, 4, lat, lat]),
    [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(501n), [1]),
    [UNET_IO.text]: text,
    [UNET_IO.guidance]: new ort.Tensor('float32', Float32Array.from({ length: F * C0 * lat * lat }, (_, i) => 0.05 * Math.cos(i * 0.13)), [F, C0, lat, lat]),
  };
  const empty = Object.fromEntries(sites.map((s, i) => [bankName(i), new ort.Tensor('float16', new Uint16Array(0), [1, 0, s.channels])]));
  const out: Record<string, { cond: Float32Array; uncond: Float32Array }> = {};
  for (const [name, o] of variants) {
    const s = await build('den', o);
    const cond = (await s.run({ ...base, ...banks.explicit! }))[UNET_IO.out]!.data as Float32Array;
    const uncond = (await s.run({ ...base, ...empty }))[UNET_IO.out]!.data as Float32Array;
    out[name] = { cond, uncond };
    await s.release();
  }
  for (const name of ['chunked', 'fused']) {
    const ec = relErr(out[name]!.cond, out.explicit!.cond);
    const eu = relErr(out[name]!.uncond, out.explicit!.uncond);
    t.diagnostic(`${name} vs unchunked: cond ${ec.toExponential(2)}, uncond ${eu.toExponential(2)}`);
    assert.ok(ec <= 1e-5 && eu <= 1e-5, `${name}: cond ${ec}, uncond ${eu}`);
  }
  // the branches differ (the bank is seen), so the comparison above is not vacuous
  assert.ok(relErr(out.explicit!.cond, out.explicit!.uncond) > 1e-3);
});
