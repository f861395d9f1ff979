/**
 * Diffusion benchmark (run alone: `node --import tsx bench/diffusion.ts`).
 *
 * Same run, same machine, same thread count (2):
 *   - tiny bundle: denoising UNet call on one 12-frame window (conditional = with the reference bank, and
 *     unconditional), reference-UNet call, VAE decode of one frame — ours (ONNX Runtime CPU) vs the independent
 *     PyTorch reference of the same blocks (test/diffusion/golden/blocks_reference.py, float32, same architecture,
 *     random weights);
 *   - tiny bundle: one 12-frame window × 20 steps through `sample()` (2 UNet calls per step) — ours only;
 *   - one FULL-WIDTH level-0 layer (ResNet 320 + spatial transformer over 64×64 tokens with a 4096-token bank and
 *     77 text tokens, one frame), ours vs PyTorch: the throughput at real sizes that the full-size estimates use.
 * Then full-size estimates from the analytic MAC counts (graph/cost.ts) and that measured throughput; see
 * src/kernel/diffusion/README.md for the written-down numbers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyBundle } from '../src/kernel/diffusion/bundle';
import { GeneratedWeights } from '../src/kernel/diffusion/bundle';
import { REFERENCE_ARCH, bankSites, latentSize } from '../src/kernel/diffusion/graph/config';
import { unetCallCost, vaeDecodeCost } from '../src/kernel/diffusion/graph/cost';
import { silu } from '../src/kernel/diffusion/graph/ops';
import { resnetBlock, spatialTransformer } from '../src/kernel/diffusion/graph/unet';
import { bundleSessions, releaseBundleSessions, sample } from '../src/kernel/diffusion/sample';
import { GraphBuilder } from '../src/kernel/onnx/graph';
import { createSession, ort } from '../src/kernel/onnx/session';
import { configure } from '../src/kernel/settings';
import { median, printRows, timeIt, type BenchRow } from './types';

const THREADS = 2;
const PY = '/usr/bin/python3';
const SCRIPT = join(__dirname, '..', 'test', 'diffusion', 'golden', 'blocks_reference.py');

function python(args: string[]): { ok: true; out: any } | { ok: false; why: string } {
  if (!existsSync(PY)) return { ok: false, why: `${PY} not found` };
  const out = join(mkdtempSync(join(tmpdir(), 'mp-bench-py-')), 'out.json');
  const r = spawnSync(PY, [SCRIPT, ...args, '--out', out], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(THREADS) }, timeout: 20 * 60_000 });
  if (r.status !== 0) return { ok: false, why: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-1)[0]! };
  const res = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(join(out, '..'), { recursive: true, force: true });
  return { ok: true, out: res };
}

const gmac = (m: number) => `${(m / 1e9).toFixed(m < 1e10 ? 3 : 0)} GMAC`;

export async function benchDiffusion(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const dir = join(tmpdir(), 'mp-bench-tiny-bundle');
  const bundle = await tinyBundle(dir);
  const arch = bundle.manifest.architecture;
  const lat = latentSize(arch);
  const C0 = arch.unet.blockOutChannels[0]!;
  const F = 12;
  const archFile = join(mkdtempSync(join(tmpdir(), 'mp-bench-arch-')), 'arch.json');
  writeFileSync(archFile, JSON.stringify(arch));
  const cc = unetCallCost(arch, F, { withBank: true });
  const cu = unetCallCost(arch, F);
  // 2 threads as the issue asks; 1 thread too, because on a loaded 2-core machine OpenMP barriers (PyTorch) and
  // spinning pools (ORT) suffer from the other processes and the 1-thread figures show the per-call cost itself
  for (const threads of [THREADS, 1]) {
    configure({ threads });
    await releaseBundleSessions(bundle);
    const s = await bundleSessions(bundle);
    const text = new ort.Tensor('float32', new Float32Array(arch.text.tokens * arch.text.dim).fill(0.1), [1, arch.text.tokens, arch.text.dim]);
    const refFeeds = {
      ref_latents: new ort.Tensor('float32', new Float32Array(4 * lat * lat).fill(0.2), [1, 4, lat, lat]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
      encoder_hidden_states: text,
    };
    const refOut = await s.referenceUnet.run(refFeeds);
    const base = {
      sample: new ort.Tensor('float32', Float32Array.from({ length: F * 4 * lat * lat }, (_, i) => Math.sin(i)), [F, 4, lat, lat]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(499n), [1]),
      encoder_hidden_states: text,
      guidance: new ort.Tensor('float32', new Float32Array(F * C0 * lat * lat).fill(0.05), [F, C0, lat, lat]),
    };
    const cond: Record<string, ort.Tensor> = { ...base };
    const uncond: Record<string, ort.Tensor> = { ...base };
    bankSites(arch).forEach((site, i) => {
      const n = `bank_${String(i).padStart(2, '0')}`;
      cond[n] = refOut[n]!;
      uncond[n] = new ort.Tensor('float16', new Uint16Array(0), [1, 0, site.channels]);
    });
    const condMs = await timeIt(() => s.denoisingUnet.run(cond), 7, 2);
    const uncondMs = await timeIt(() => s.denoisingUnet.run(uncond), 7, 2);
    const refMs = await timeIt(() => s.referenceUnet.run(refFeeds), 7, 2);
    const decMs = await timeIt(() => s.vaeDecoder.run({ latent: new ort.Tensor('float32', new Float32Array(4 * lat * lat).fill(0.3), [1, 4, lat, lat]) }), 7, 2);
    const py = python(['bench', '--arch', archFile, '--frames', String(F), '--calls', '7', '--threads', String(threads)]);
    const torchRef = py.ok ? `PyTorch ${py.out.torch} CPU, ${threads} thread${threads > 1 ? 's' : ''}` : 'PyTorch (unavailable)';
    const note = py.ok ? '' : `reference did not run: ${py.why}`;
    const th = `${threads} thread${threads > 1 ? 's' : ''}`;
    rows.push(
      { area: 'diffusion', name: `tiny denoising UNet, 12-frame window, conditional (bank K/V) [${gmac(cc.macs)}], ${th}`, oursMs: condMs, refMs: py.ok ? median(py.out.cond) : null, ref: torchRef, target: 'ratio ≤ 1', note },
      { area: 'diffusion', name: `tiny denoising UNet, 12-frame window, unconditional [${gmac(cu.macs)}], ${th}`, oursMs: uncondMs, refMs: py.ok ? median(py.out.uncond) : null, ref: torchRef, target: 'ratio ≤ 1', note },
      { area: 'diffusion', name: `tiny reference UNet (bank writer, t = 0), ${th}`, oursMs: refMs, refMs: py.ok ? median(py.out.ref_ms) : null, ref: torchRef, note: 'ours stops at the last bank tap; the reference runs the whole UNet' },
      { area: 'diffusion', name: `tiny VAE decode, 1 frame 64×64 [${gmac(vaeDecodeCost(arch).macs)}], ${th}`, oursMs: decMs },
    );
  }
  rmSync(join(archFile, '..'), { recursive: true, force: true });
  configure({ threads: THREADS });
  await releaseBundleSessions(bundle);
  await bundleSessions(bundle);
  const cond2 = rows[0]!;
  const uncond2 = rows[1]!;

  // one 12-frame window × 20 steps through sample()
  const feats = Array.from({ length: F }, () => new Float32Array(C0 * lat * lat).fill(0.05));
  const img = { width: arch.imageSize, height: arch.imageSize, channels: 3 as const, data: new Uint8Array(arch.imageSize ** 2 * 3).fill(128) };
  const t0 = performance.now();
  const res = await sample({ reference: img, guidance: { features: feats }, bundle, steps: 20, seed: 42 }, { previewEvery: 0 });
  const loopMs = performance.now() - t0;
  rows.push({
    area: 'diffusion',
    name: 'tiny sample(): one 12-frame window × 20 steps (40 UNet calls + bank + 12 decodes)',
    oursMs: loopMs,
    refMs: cond2.refMs && uncond2.refMs ? 20 * (cond2.refMs + uncond2.refMs) : null,
    ref: cond2.refMs ? 'PyTorch: 20 × (cond + uncond) UNet calls only' : undefined,
    note: `UNet ${(res.timings.unetMs / res.timings.unetCalls).toFixed(1)} ms/call (${res.timings.unetCalls} calls), decode ${res.timings.decodeMs.toFixed(0)} ms`,
  });
  res.frames.dispose();
  await releaseBundleSessions(bundle);

  // full-width level-0 layer, one frame
  const g = new GraphBuilder('level0');
  const ctx = { g, w: new GeneratedWeights('bench-level0', 3) };
  const x = g.input('x', 'float32', [1, 320, 64, 64]);
  const temb = g.input('temb', 'float32', [1, 1280]);
  const txt = g.input('text', 'float32', [1, 77, 768]);
  const bank = g.input('bank', 'float16', [1, 4096, 320]);
  const h = resnetBlock(ctx, x, silu(g, temb), 'r', { inCh: 320, outCh: 320, groups: 32, eps: 1e-5, tembDim: 1280 });
  g.op('Identity', [spatialTransformer(ctx, h, 't', { channels: 320, heads: 8, groups: 32, eps: 1e-6, text: txt, textDim: 768, tokens: 4096, queryChunk: 1024, bank: { mode: 'read', input: bank } })], {}, 'y');
  g.output('y', 'float32');
  const layer = await createSession(g.toBytes(), { label: 'level-0 layer', threads: THREADS });
  const bankBits = new Uint16Array(4096 * 320).fill(0x3c00);
  const feeds = {
    x: new ort.Tensor('float32', Float32Array.from({ length: 320 * 4096 }, (_, i) => Math.sin(i * 0.01)), [1, 320, 64, 64]),
    temb: new ort.Tensor('float32', new Float32Array(1280).fill(0.1), [1, 1280]),
    text: new ort.Tensor('float32', new Float32Array(77 * 768).fill(0.01), [1, 77, 768]),
    bank: new ort.Tensor('float16', bankBits, [1, 4096, 320]),
  };
  const layerMs = await timeIt(() => layer.run(feeds), 3, 1);
  await layer.release();
  const layerMacs = 2 * 4096 * 320 * 320 * 9 + 1280 * 320 + 2 * 4096 * 320 * 320 + 4 * 4096 * 320 * 320 + 2 * 4096 * 320 * 320 + 2 * 4096 * 8192 * 320 + 2 * 4096 * 320 * 320 + 2 * 77 * 768 * 320 + 2 * 4096 * 77 * 320 + 12 * 4096 * 320 * 320;
  const pyl = python(['bench-layer', '--threads', String(THREADS), '--runs', '3']);
  const rate = layerMacs / (layerMs / 1e3); // MAC/s at real sizes
  rows.push({
    area: 'diffusion',
    name: `full-width level-0 layer, 1 frame: ResNet 320 + transformer (4096 q × 8192 k, text 77) [${gmac(layerMacs)}]`,
    oursMs: layerMs,
    refMs: pyl.ok ? median(pyl.out.ms) : null,
    ref: pyl.ok ? `PyTorch ${pyl.out.torch} CPU, ${THREADS} threads` : 'PyTorch (unavailable)',
    target: 'ratio ≤ 1',
    note: `${((2 * rate) / 1e9).toFixed(0)} GFLOP/s achieved${pyl.ok ? '' : `; reference did not run: ${pyl.why}`}`,
  });

  // full-size estimates (computed, not measured)
  const full = REFERENCE_ARCH;
  const fc = unetCallCost(full, 12, { withBank: true });
  const fu = unetCallCost(full, 12);
  const fr = unetCallCost(full, 1, { kind: 'reference' });
  const fd = vaeDecodeCost(full);
  const est = (m: number) => (m / rate) * 1e3;
  rows.push(
    { area: 'diffusion', name: `ESTIMATE full-size denoising UNet call, 12 frames, cond [${gmac(fc.macs)}, attention ${gmac(fc.attentionMacs)}]`, oursMs: est(fc.macs), note: `ORT CPU ${THREADS} threads at the measured level-0 rate; peak scores ${(fc.peakScoresBytes / 2 ** 30).toFixed(1)} GiB unchunked` },
    { area: 'diffusion', name: `ESTIMATE full-size denoising UNet call, 12 frames, uncond [${gmac(fu.macs)}]`, oursMs: est(fu.macs), note: 'ORT CPU, same rate' },
    { area: 'diffusion', name: `ESTIMATE full-size reference UNet (bank) [${gmac(fr.macs)}]`, oursMs: est(fr.macs), note: 'ORT CPU, once per video' },
    { area: 'diffusion', name: `ESTIMATE full-size VAE decode, 1 frame 512² [${gmac(fd.macs)}]`, oursMs: est(fd.macs), note: 'ORT CPU, once per frame' },
  );
  return rows;
}

if (require.main === module) void benchDiffusion().then(printRows);
