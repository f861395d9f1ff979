/**
 * Full-size structural check of the two UNets (`npm run bench -- unet-fullsize`; heavy: minutes, ~5 GB of disk,
 * ~10 GB of RAM; not part of `npm run bench` without the area name).
 *
 * Builds REFERENCE_ARCH (SD 1.5 widths 320/640/1280/1280, 8 heads, cross-attention 768, AnimateDiff motion modules)
 * through the same code path as the tiny bundle (`generatedBundle` → `writeBundle` → buildReferenceUNet /
 * buildDenoisingUNet) with seeded random weights generated tensor by tensor while each graph is saved, float16
 * weights, ONNX external data, query-chunked self-attention. The bundle is cached (reused when generator, seed,
 * architecture, precision, build options and file sizes match). Then, on the CPU execution provider:
 *   1. reference UNet session + one call (t = 0) → the float16 attention bank,
 *   2. denoising UNet session + ONE conditional call (bank K/V) on a window of MP_FULLSIZE_FRAMES frames (default
 *      12, the reference's context window) at 512² (latent 64×64), with the inputs `sample()` feeds the tiny graphs.
 * Checks input/output names against the manifest, output shapes and finiteness; prints build time, disk size, session
 * create time, call time, peak RSS and the effective GFLOP/s from graph/cost.ts next to the README's estimate.
 *
 *   MP_FULLSIZE_DIR     cache folder (default <tmpdir>/mp-bench-fullsize-bundle; delete it to reclaim the disk)
 *   MP_FULLSIZE_FRAMES  frames in the denoising call (default 12)
 */
import { statSync, statfsSync, existsSync } from 'node:fs';
import { freemem, tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { generatedBundle, modelPath, readTextEmbeds, type DiffusionBundle, type ModelRole } from '../src/kernel/diffusion/bundle';
import { REFERENCE_ARCH, bankName, bankSites, latentSize } from '../src/kernel/diffusion/graph/config';
import { unetCallCost } from '../src/kernel/diffusion/graph/cost';
import { UNET_IO } from '../src/kernel/diffusion/graph/unet';
import { createSession, ort } from '../src/kernel/onnx/session';
import { printRows, type BenchRow } from './types';

const THREADS = 2;
/** The README's full-size estimates assume this throughput (a full-width level-0 layer, this machine, bench/diffusion). */
const README_GFLOPS = 30;
const QUERY_CHUNK = 512;
const GiB = 1024 ** 3;

const peakRssGiB = () => (process.resourceUsage().maxRSS * 1024) / GiB;
const fileBytes = (b: DiffusionBundle, role: ModelRole) => {
  const p = modelPath(b, role);
  return statSync(p).size + (existsSync(`${p}.data`) ? statSync(`${p}.data`).size : 0);
};

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`full-size check failed: ${what}`);
}

function allFinite(t: ort.Tensor): boolean {
  const d = t.data as Float32Array | Uint16Array;
  if (d instanceof Uint16Array) return d.every((h) => (h & 0x7c00) !== 0x7c00);
  return d.every(Number.isFinite);
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export async function benchUnetFullsize(): Promise<BenchRow[]> {
  const arch = REFERENCE_ARCH;
  const F = Number(process.env.MP_FULLSIZE_FRAMES ?? 12);
  if (!Number.isInteger(F) || F < 1 || F > arch.unet.motion.maxLen) throw new Error(`MP_FULLSIZE_FRAMES must be 1 … ${arch.unet.motion.maxLen}`);
  const dir = process.env.MP_FULLSIZE_DIR ?? join(tmpdir(), 'mp-bench-fullsize-bundle');
  const fs = statfsSync(tmpdir());
  const freeDisk = fs.bavail * fs.bsize;
  console.error(`  free memory ${(freemem() / GiB).toFixed(1)} GiB, free disk ${(freeDisk / GiB).toFixed(1)} GiB, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (!existsSync(join(dir, 'manifest.json')) && freeDisk < 8 * GiB) throw new Error(`needs ~5 GiB free in ${tmpdir()} (has ${(freeDisk / GiB).toFixed(1)} GiB)`);
  if (freemem() < 10 * GiB) throw new Error(`needs ~10 GiB free memory (has ${(freemem() / GiB).toFixed(1)} GiB)`);

  // ---- build (or reuse) the bundle
  const manifestPath = join(dir, 'manifest.json');
  const before = existsSync(manifestPath) ? statSync(manifestPath).mtimeMs : null;
  const t0 = performance.now();
  const bundle = await generatedBundle(dir, { arch, seed: 0, weights: 'float16', stream: true, build: { queryChunk: QUERY_CHUNK }, verify: 'size' });
  const buildMs = performance.now() - t0;
  const reused = before !== null && statSync(manifestPath).mtimeMs === before;
  const buildRss = peakRssGiB();
  const refBytes = fileBytes(bundle, 'referenceUnet');
  const denBytes = fileBytes(bundle, 'denoisingUnet');
  console.error(`  bundle ${reused ? 'reused' : 'built'} in ${(buildMs / 1000).toFixed(1)} s: reference UNet ${(refBytes / GiB).toFixed(2)} GiB, denoising UNet ${(denBytes / GiB).toFixed(2)} GiB, peak RSS ${buildRss.toFixed(2)} GiB`);

  const lat = latentSize(arch);
  const C0 = arch.unet.blockOutChannels[0]!;
  const io = bundle.manifest.io;
  const sites = bankSites(arch);
  const text = new ort.Tensor('float32', readTextEmbeds(bundle), [1, arch.text.tokens, arch.text.dim]);
  const opts = { threads: THREADS, memoryPattern: false, logSeverityLevel: 3 as const };

  // ---- reference UNet: one call → the bank
  let t = performance.now();
  const refSession = await createSession(modelPath(bundle, 'referenceUnet'), { ...opts, label: 'full-size reference UNet' });
  const refCreateMs = performance.now() - t;
  // the names sample() feeds (the manifest's io, the same list the tiny bundle has)
  check(refSession.inputNames.length === io.referenceUnet.inputs.length && io.referenceUnet.inputs.every((n) => refSession.inputNames.includes(n)), 'reference UNet inputs');
  check(refSession.outputNames.length === io.referenceUnet.outputs.length && io.referenceUnet.outputs.every((n) => refSession.outputNames.includes(n)), 'reference UNet outputs');
  const refLatents = Float32Array.from({ length: 4 * lat * lat }, (_, i) => Math.sin(i * 0.37));
  t = performance.now();
  const refOut = await refSession.run({
    [UNET_IO.refLatents]: new ort.Tensor('float32', refLatents, [1, 4, lat, lat]),
    [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    [UNET_IO.text]: text,
  });
  const refCallMs = performance.now() - t;
  const banks: Record<string, ort.Tensor> = {};
  sites.forEach((s, i) => {
    const b = refOut[bankName(i)]!;
    check(b.type === 'float16' && sameShape(b.dims, [1, s.side * s.side, s.channels]), `${bankName(i)} is ${b.type} [${b.dims.join(', ')}]`);
    check(allFinite(b), `${bankName(i)} has non-finite values`);
    banks[bankName(i)] = b;
  });
  await refSession.release();
  const refRss = peakRssGiB();
  console.error(`  reference UNet: session ${(refCreateMs / 1000).toFixed(1)} s, call ${(refCallMs / 1000).toFixed(1)} s, peak RSS ${refRss.toFixed(2)} GiB`);

  // ---- denoising UNet: one conditional call on F frames
  t = performance.now();
  const den = await createSession(modelPath(bundle, 'denoisingUnet'), { ...opts, label: 'full-size denoising UNet' });
  const denCreateMs = performance.now() - t;
  const missing = [...io.denoisingUnet.inputs.filter((n) => !den.inputNames.includes(n)), ...io.denoisingUnet.outputs.filter((n) => !den.outputNames.includes(n))];
  check(!missing.length && den.inputNames.length === io.denoisingUnet.inputs.length, `denoising UNet I/O (missing ${missing.join(', ')})`);
  const feeds: Record<string, ort.Tensor> = {
    [UNET_IO.sample]: new ort.Tensor('float32', Float32Array.from({ length: F * 4 * lat * lat }, (_, i) => Math.sin(i * 0.61)), [F, 4, lat, lat]),
    [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(999n), [1]),
    [UNET_IO.text]: text,
    [UNET_IO.guidance]: new ort.Tensor('float32', Float32Array.from({ length: F * C0 * lat * lat }, (_, i) => 0.05 * Math.cos(i * 0.13)), [F, C0, lat, lat]),
    ...banks,
  };
  t = performance.now();
  const out = (await den.run(feeds))[UNET_IO.out]!;
  const callMs = performance.now() - t;
  check(sameShape(out.dims, [F, arch.unet.outChannels, lat, lat]), `model_output is [${out.dims.join(', ')}]`);
  check(allFinite(out), 'model_output has non-finite values');
  const o = out.data as Float32Array;
  const rms = Math.sqrt(o.reduce((s, x) => s + x * x, 0) / o.length);
  await den.release();
  const denRss = peakRssGiB();

  const cost = unetCallCost(arch, F, { withBank: true });
  const refCost = unetCallCost(arch, 1, { kind: 'reference' });
  const gflops = (macs: number, ms: number) => (2 * macs) / 1e9 / (ms / 1000);
  const estMs = ((2 * cost.macs) / 1e9 / README_GFLOPS) * 1000;
  const load = loadavg()[0]!.toFixed(2);
  console.error(`  denoising UNet: session ${(denCreateMs / 1000).toFixed(1)} s, call ${(callMs / 1000).toFixed(1)} s (${gflops(cost.macs, callMs).toFixed(1)} GFLOP/s), output rms ${rms.toFixed(3)}, peak RSS ${denRss.toFixed(2)} GiB`);

  const area = 'unet-fullsize';
  const gib = (b: number) => `${(b / GiB).toFixed(2)} GiB`;
  return [
    { area, name: `build both full-size UNets + VAE + guidance (fp16, external data, streamed random weights)${reused ? ' — reused cache' : ''}`, oursMs: buildMs, note: `reference UNet ${gib(refBytes)}, denoising UNet ${gib(denBytes)} on disk; peak RSS ${buildRss.toFixed(2)} GiB` },
    { area, name: 'reference UNet: ORT session create (CPU EP)', oursMs: refCreateMs },
    { area, name: `reference UNet: one call 1×4×${lat}×${lat}, t = 0 → 16 fp16 banks [${(refCost.macs / 1e12).toFixed(2)} TMAC], ${THREADS} threads`, oursMs: refCallMs, note: `${gflops(refCost.macs, refCallMs).toFixed(1)} GFLOP/s; peak RSS ${refRss.toFixed(2)} GiB` },
    { area, name: 'denoising UNet: ORT session create (CPU EP)', oursMs: denCreateMs },
    {
      area,
      name: `denoising UNet: ONE conditional call, ${F} frame${F > 1 ? 's' : ''} × 4×${lat}×${lat} + bank [${(cost.macs / 1e12).toFixed(2)} TMAC], ${THREADS} threads, queryChunk ${QUERY_CHUNK}`,
      oursMs: callMs,
      refMs: estMs,
      ref: `README estimate at ${README_GFLOPS} GFLOP/s`,
      note: `${gflops(cost.macs, callMs).toFixed(1)} GFLOP/s effective; output finite, rms ${rms.toFixed(3)}; peak RSS ${denRss.toFixed(2)} GiB; load ${load}`,
    },
  ];
}

if (require.main === module) {
  void benchUnetFullsize().then(printRows);
}
