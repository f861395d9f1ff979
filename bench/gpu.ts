/**
 * `npm run bench -- gpu`: full sampling on the GPU with synthetic full-size weights, float16 and float32, beside the
 * physical floor of the detected GPU. One short script (a few minutes on an H100: ~2 min to generate the weights,
 * then per precision a warm-up and one timed run); it runs only when named.
 *
 *   - weights: REFERENCE_ARCH (SD 1.5 + motion modules + VAE + guidance), seeded GeneratedWeights, stored float16,
 *     fused attention — the bundle the importer writes with --precision fp16 — built once into MP_GPU_DIR;
 *   - sampling: `sample()` itself, 20 DDIM steps, CFG 3.5 (both branches), 12-frame windows, MP_GPU_FRAMES frames
 *     (default 12: one window), then the VAE decode of every frame; float16 = the UNets computing in float16
 *     (onnx/derived.ts), float32 = the same graphs in float32;
 *   - floor: the run's multiply-accumulates (graph/cost.ts: every window's conditional and unconditional UNet call at
 *     every step, the bank, the decodes) × 2 / the GPU's dense tensor-core peak (float16 with float32 accumulation;
 *     TF32 for the float32 run, which is what ONNX Runtime's CUDA provider uses for float32 convolutions and GEMMs by
 *     default). The ratio measured / floor says how far from the hardware's limit the run is.
 * Without a GPU execution provider it fails with a message saying which providers exist here and what is missing.
 *
 *   MP_GPU_PROVIDER   provider to use (default: 'auto' — cuda, dml or coreml, whichever is ready; or webgpu)
 *   MP_GPU_FRAMES     frames to sample (default 12)
 *   MP_GPU_DIR        folder for the generated bundle (default <tmpdir>/mp-bench-gpu-bundle)
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MagicPortraitError } from '../src/kernel/errors';
import { generatedBundle } from '../src/kernel/diffusion/bundle';
import { contextWindows, REFERENCE_CONTEXT } from '../src/kernel/diffusion/context';
import { syntheticReference } from '../src/kernel/diffusion/fp16-check';
import { type DiffusionArch, REFERENCE_ARCH, latentSize } from '../src/kernel/diffusion/graph/config';
import { unetCallCost, vaeDecodeCost } from '../src/kernel/diffusion/graph/cost';
import { releaseBundleSessions, sample } from '../src/kernel/diffusion/sample';
import { type ExecutionProviderName, type ProviderSetting, formatProviderStatuses, isProviderSetting, providerStatuses, resolveProvider } from '../src/kernel/onnx/providers';
import { configure } from '../src/kernel/settings';
import { loadText } from './machine';
import { printRows, type BenchRow } from './types';

// ------------------------------------------------------------------------------------------------------------------
// The GPU and its peak

export interface GpuPeak {
  /** The name the table matched. */
  model: string;
  /** Dense float16 tensor-core TFLOP/s with float32 accumulation. */
  fp16: number;
  /** Dense TF32 tensor-core TFLOP/s (float32 convolutions and GEMMs under ONNX Runtime's CUDA defaults). */
  tf32: number;
  /** Plain float32 (CUDA cores) TFLOP/s. */
  fp32: number;
}

/** Vendor datasheet figures (dense, no sparsity), most specific names first. */
export const GPU_PEAKS: readonly GpuPeak[] = [
  { model: 'H200', fp16: 989.4, tf32: 494.7, fp32: 66.9 },
  { model: 'H100 NVL', fp16: 835.5, tf32: 417.5, fp32: 60.0 },
  { model: 'H100 PCIe', fp16: 756.5, tf32: 378.0, fp32: 51.2 },
  { model: 'H100', fp16: 989.4, tf32: 494.7, fp32: 66.9 },
  { model: 'A100', fp16: 312, tf32: 156, fp32: 19.5 },
  { model: 'L40S', fp16: 362.1, tf32: 183.2, fp32: 91.6 },
  { model: 'L4', fp16: 121, tf32: 60, fp32: 30.3 },
  { model: 'A10G', fp16: 125, tf32: 62.5, fp32: 31.2 },
  { model: 'A10', fp16: 125, tf32: 62.5, fp32: 31.2 },
  { model: 'RTX 4090', fp16: 165.2, tf32: 82.6, fp32: 82.6 },
  { model: 'RTX 3090', fp16: 71, tf32: 35.6, fp32: 35.6 },
  { model: 'T4', fp16: 65, tf32: 8.1, fp32: 8.1 },
  { model: 'V100', fp16: 125, tf32: 15.7, fp32: 15.7 },
];

/** The table entry for an `nvidia-smi` GPU name (e.g. 'NVIDIA H100 80GB HBM3'), or null when it is not listed. */
export function gpuPeakFor(name: string): GpuPeak | null {
  const n = name.toUpperCase();
  return GPU_PEAKS.find((p) => n.includes(p.model.toUpperCase())) ?? null;
}

/** `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` lines → GPUs. */
export function parseNvidiaSmi(csv: string): { name: string; memoryMiB: number }[] {
  return csv
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [name, mem] = l.split(',').map((x) => x.trim());
      return { name: name!, memoryMiB: Number(mem) };
    });
}

export function detectNvidiaGpus(): { name: string; memoryMiB: number }[] {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? parseNvidiaSmi(r.stdout) : [];
}

// ------------------------------------------------------------------------------------------------------------------
// The work of one sampling run

export interface SamplingWork {
  windows: number;
  /** Multiply-accumulates of the whole run: UNet calls (both CFG branches, every step), bank, decodes. */
  macs: number;
  unetCalls: number;
}

export function samplingWork(arch: DiffusionArch, frames: number, steps: number): SamplingWork {
  const windows = contextWindows(frames, REFERENCE_CONTEXT, arch.unet.motion.maxLen);
  let perStep = 0;
  for (const w of windows) perStep += unetCallCost(arch, w.length, { withBank: true }).macs + unetCallCost(arch, w.length).macs;
  const macs = steps * perStep + unetCallCost(arch, 1, { kind: 'reference' }).macs + frames * vaeDecodeCost(arch).macs;
  return { windows: windows.length, macs, unetCalls: 2 * steps * windows.length };
}

/** Seconds per frame at the peak (TFLOP/s): the physical floor. */
export const floorPerFrame = (work: SamplingWork, frames: number, tflops: number) => (2 * work.macs) / (tflops * 1e12) / frames;

/** The GPU provider to benchmark, or a MagicPortraitError saying why there is none. */
export function gpuProvider(setting: string | undefined): ExecutionProviderName {
  const s = (setting || 'auto') as ProviderSetting;
  if (!isProviderSetting(s) || s === 'cpu') throw new MagicPortraitError(`MP_GPU_PROVIDER must be a GPU provider (cuda, dml, coreml, webgpu or auto), not '${setting}'.`, 'bad-setting');
  const p = resolveProvider(s);
  if (p === 'cpu')
    throw new MagicPortraitError(
      `No GPU execution provider is ready on this machine, so there is nothing to measure:\n${formatProviderStatuses(providerStatuses())}\n` +
        `(On Linux x64 with an NVIDIA GPU: \`magicportrait runtime install-cuda\`; or set MP_GPU_PROVIDER=webgpu.)`,
      'provider-unavailable',
    );
  return p;
}

// ------------------------------------------------------------------------------------------------------------------

export async function benchGpu(): Promise<BenchRow[]> {
  const area = 'gpu';
  const provider = gpuProvider(process.env.MP_GPU_PROVIDER);
  const F = Number(process.env.MP_GPU_FRAMES ?? 12);
  const steps = 20;
  const gpus = detectNvidiaGpus();
  const peak = gpus.length ? gpuPeakFor(gpus[0]!.name) : null;
  const arch = REFERENCE_ARCH;
  const work = samplingWork(arch, F, steps);
  console.error(`  provider ${provider}; GPU ${gpus.map((g) => `${g.name} (${g.memoryMiB} MiB)`).join(', ') || 'not detected by nvidia-smi'}; ${F} frames, ${work.windows} window(s), ${work.unetCalls} UNet calls, ${(work.macs / 1e12).toFixed(1)} TMAC; load ${loadText()}`);
  let t = performance.now();
  const bundle = await generatedBundle(process.env.MP_GPU_DIR ?? join(tmpdir(), 'mp-bench-gpu-bundle'), { arch, seed: 0, weights: 'float16', stream: true, build: { attention: 'fused' }, verify: 'size' });
  const buildS = (performance.now() - t) / 1000;
  configure({ provider });
  const lat = latentSize(arch);
  const C0 = arch.unet.blockOutChannels[0]!;
  const features = Array.from({ length: F }, (_, f) => Float32Array.from({ length: C0 * lat * lat }, (_, i) => 0.05 * Math.sin(0.013 * i + 0.3 * f)));
  const input = { reference: syntheticReference(arch.imageSize), guidance: { features }, bundle, seed: 42 };
  const opts = { display: false, video: false, previewEvery: 0, outputSize: 'model' as const };
  const rows: BenchRow[] = [
    { area, name: `synthetic full-size bundle (float16 weights, fused attention)`, oursMs: buildS * 1000, note: `${gpus[0]?.name ?? provider}; peak ${peak ? `${peak.fp16} TFLOP/s fp16, ${peak.tf32} TF32 (${peak.model} datasheet, dense)` : 'unknown GPU: no floor'}` },
  ];
  for (const precision of ['float16', 'float32'] as const) {
    // warm-up: sessions (and the float16 graphs on first use), kernel selection
    t = performance.now();
    await sample({ ...input, steps: 1, precision }, opts).then((r) => r.frames.dispose());
    const warmS = (performance.now() - t) / 1000;
    t = performance.now();
    const r = await sample({ ...input, steps, precision }, opts);
    const totalS = (performance.now() - t) / 1000;
    r.frames.dispose();
    const perFrame = totalS / F;
    const tflops = peak ? (precision === 'float16' ? peak.fp16 : peak.tf32) : 0;
    const floor = peak ? floorPerFrame(work, F, tflops) : null;
    rows.push({
      area,
      name: `full sampling, ${precision} UNets: ${steps} steps, CFG, 12-frame windows, ${F} frames — seconds per frame`,
      oursMs: perFrame * 1000,
      refMs: floor !== null ? floor * 1000 : null,
      ref: floor !== null ? `physical floor: ${(work.macs / F / 1e12).toFixed(2)} TMAC/frame at ${tflops} TFLOP/s` : 'floor unknown (GPU not in the table)',
      note: `UNet ${(r.timings.unetMs / r.timings.unetCalls).toFixed(0)} ms/call (${r.timings.unetCalls} calls), decode ${(r.timings.decodeMs / F).toFixed(0)} ms/frame, bank ${r.timings.referenceMs.toFixed(0)} ms; total ${totalS.toFixed(1)} s; warm-up ${warmS.toFixed(0)} s; ${r.providers.toString().replace(/\n/g, '; ')}`,
    });
    await releaseBundleSessions(bundle);
  }
  return rows;
}

if (require.main === module) void benchGpu().then(printRows, (e) => {
  console.error((e as Error).message);
  process.exitCode = 1;
});
