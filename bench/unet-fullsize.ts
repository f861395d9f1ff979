/**
 * The full-size UNets on the CPU (`npm run bench -- unet-fullsize`; heavy: ~15–30 min, ~15 GB of disk, ≤ 8 GiB of RAM
 * per step; not part of `npm run bench` without the area name). Run it under `flock /work/coord/heavy.lock` on a
 * shared machine. Weights are generated (seeded, streamed while each graph is saved: `GeneratedWeights`), float32,
 * memory-bounded (fused) attention — what a CPU user's bundle holds — and the session settings sample() uses (intra-op
 * threads that do not spin between ops). Each step runs in its own process, so each peak RSS is that step's own.
 *
 *   machine   the FP32 peak assumed (cores × FMA lanes × 2 × clock from /proc/cpuinfo), the load, and a calibration:
 *             ONNX Runtime's float32 GEMM (2048³) right now, on the same threads.
 *   speed     the WHOLE full-width denoising UNet (REFERENCE_ARCH: all levels, 320/640/1280/1280, attention with the
 *             bank, text cross-attention, 21 motion modules) at a reduced resolution, 256² (32×32 latents), one
 *             conditional call on a 12-frame window; against the plain-PyTorch reference blocks
 *             (test/diffusion/golden/blocks_reference.py bench-unet: same architecture, same call) in the same run.
 *             Targets: ratio ≤ 0.5, ≥ 60 % of the FP32 peak (graph/cost.ts MACs × 2 / wall time).
 *   parity    the same 256² call through the unchunked graph (every score materialised: the fused attention nodes
 *             decomposed into MatMul → Softmax → MatMul by onnx/float16.ts, float32) against the fused graph:
 *             ≤ 1e-5 of the output's scale.
 *   memory    full size, 512² (64×64 latents): the reference UNet writes the bank and is released, then ONE
 *             conditional 12-frame call of the denoising UNet. Target: peak RSS ≤ 8 GiB.
 *
 *   MP_FULLSIZE_DIR       cache folder for the generated graphs (default <tmpdir>/mp-bench-fullsize-v2)
 *   MP_FULLSIZE_FRAMES    frames per call (default 12)
 *   MP_FULLSIZE_STEPS     which steps (default speed,parity,memory)
 *   MP_FULLSIZE_THREADS   ONNX Runtime / PyTorch threads (default: every core)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { availableParallelism, freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeneratedWeights, generatedBundle, modelPath, readTextEmbeds } from '../src/kernel/diffusion/bundle';
import { type DiffusionArch, REFERENCE_ARCH, bankName, bankSites, latentSize } from '../src/kernel/diffusion/graph/config';
import { unetCallCost } from '../src/kernel/diffusion/graph/cost';
import { UNET_IO, buildDenoisingUNet } from '../src/kernel/diffusion/graph/unet';
import { GraphBuilder } from '../src/kernel/onnx/graph';
import { convertToFloat16 } from '../src/kernel/onnx/float16';
import { createSession, ort } from '../src/kernel/onnx/session';
import { gemmCalibration, loadText, machinePeak } from './machine';
import { printRows, type BenchRow } from './types';

const GiB = 1024 ** 3;
const PY = '/usr/bin/python3';
const SCRIPT = join(__dirname, '..', 'test', 'diffusion', 'golden', 'blocks_reference.py');
const GENERATOR = 'bench unet-fullsize v2 (GeneratedWeights seed 0, fused attention, float32)';
const dir = () => process.env.MP_FULLSIZE_DIR ?? join(tmpdir(), 'mp-bench-fullsize-v2');
const frames = () => Number(process.env.MP_FULLSIZE_FRAMES ?? 12);
const threads = () => Number(process.env.MP_FULLSIZE_THREADS ?? availableParallelism());
const SPEED_SIZE = 256;

/** This process's resident memory now and at its peak (Linux /proc; maxRSS elsewhere). */
function rss(): { now: number; peak: number } {
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]) * 1024;
    return { now: kb('VmRSS') / GiB, peak: kb('VmHWM') / GiB };
  } catch {
    const p = (process.resourceUsage().maxRSS * 1024) / GiB;
    return { now: p, peak: p };
  }
}

const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

// ------------------------------------------------------------------------------------------------------------------
// Inputs sample() would feed

function denoiserFeeds(arch: DiffusionArch, F: number, text: Float32Array, banks: Record<string, ort.Tensor> | 'random'): Record<string, ort.Tensor> {
  const lat = latentSize(arch);
  const C0 = arch.unet.blockOutChannels[0]!;
  const feeds: Record<string, ort.Tensor> = {
    [UNET_IO.sample]: new ort.Tensor('float32', Float32Array.from({ length: F * 4 * lat * lat }, (_, i) => Math.sin(i * 0.61)), [F, 4, lat, lat]),
    [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(999n), [1]),
    [UNET_IO.text]: new ort.Tensor('float32', text, [1, arch.text.tokens, arch.text.dim]),
    [UNET_IO.guidance]: new ort.Tensor('float32', Float32Array.from({ length: F * C0 * lat * lat }, (_, i) => 0.05 * Math.cos(i * 0.13)), [F, C0, lat, lat]),
  };
  if (banks === 'random')
    bankSites(arch).forEach((s, i) => {
      // float16 bits of values in ±(0.5 … 2): the scale of LayerNorm outputs
      const bits = Uint16Array.from({ length: s.side * s.side * s.channels }, (_, j) => (j % 3 ? 0x3800 : 0xb800) + ((j * 7919) % 1024));
      feeds[bankName(i)] = new ort.Tensor('float16', bits, [1, s.side * s.side, s.channels]);
    });
  else Object.assign(feeds, banks);
  return feeds;
}

const benchText = (arch: DiffusionArch) => Float32Array.from({ length: arch.text.tokens * arch.text.dim }, (_, i) => Math.cos(i * 0.3));

/** The full-width denoising UNet at `size`² as one float32 graph with fused attention, built once into the cache. */
function denoiserGraph(size: number): string {
  const arch = { ...REFERENCE_ARCH, imageSize: size };
  const folder = join(dir(), `denoising-${size}`);
  const path = join(folder, 'model.onnx');
  const stamp = join(folder, 'generator.txt');
  if (existsSync(path) && existsSync(stamp) && readFileSync(stamp, 'utf8') === GENERATOR) return path;
  const tmp = `${folder}.${process.pid}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const g = new GraphBuilder('denoisingUnet');
  buildDenoisingUNet(arch, { g, w: new GeneratedWeights('denoisingUnet', 0, true) }, { attention: 'fused' });
  g.save(join(tmp, 'model.onnx'));
  writeFileSync(join(tmp, 'generator.txt'), GENERATOR);
  rmSync(folder, { recursive: true, force: true });
  renameSync(tmp, folder);
  return path;
}

// ------------------------------------------------------------------------------------------------------------------
// Steps (each in its own process; each returns JSON)

async function stepSpeed(): Promise<Record<string, unknown>> {
  const arch = { ...REFERENCE_ARCH, imageSize: SPEED_SIZE };
  const F = frames();
  let t = performance.now();
  const path = denoiserGraph(SPEED_SIZE);
  const buildMs = performance.now() - t;
  t = performance.now();
  const s = await createSession(path, { label: `full-width denoising UNet ${SPEED_SIZE}²`, threads: threads(), memoryPattern: false, allowSpinning: false, logSeverityLevel: 3, provider: 'cpu' });
  const createMs = performance.now() - t;
  const feeds = denoiserFeeds(arch, F, benchText(arch), 'random');
  await s.run(feeds); // warm-up: first-run allocations
  const wall: number[] = [];
  const cpu: number[] = [];
  let out: Float32Array | undefined;
  for (let i = 0; i < 2; i++) {
    const c0 = process.cpuUsage();
    t = performance.now();
    out = (await s.run(feeds))[UNET_IO.out]!.data as Float32Array;
    wall.push(performance.now() - t);
    cpu.push(cpuSeconds(process.cpuUsage(c0)) * 1000);
  }
  writeFileSync(join(dir(), `speed-out-${F}.bin`), Buffer.from(out!.buffer, out!.byteOffset, out!.byteLength));
  await s.release();
  return { buildMs, createMs, wall, cpu, finite: out!.every(Number.isFinite), rss: rss() };
}

async function stepParity(): Promise<Record<string, unknown>> {
  const arch = { ...REFERENCE_ARCH, imageSize: SPEED_SIZE };
  const F = frames();
  const fused = denoiserGraph(SPEED_SIZE);
  const explicitPath = join(dir(), `denoising-${SPEED_SIZE}-unchunked`, 'model.onnx');
  if (!existsSync(explicitPath)) {
    const tmp = `${join(dir(), `denoising-${SPEED_SIZE}-unchunked`)}.${process.pid}.partial`;
    mkdirSync(tmp, { recursive: true });
    convertToFloat16(fused, join(tmp, 'model.onnx'), { float16: false, decomposeAttention: Number.MAX_SAFE_INTEGER });
    renameSync(tmp, join(dir(), `denoising-${SPEED_SIZE}-unchunked`));
  }
  const s = await createSession(explicitPath, { label: 'unchunked denoising UNet', threads: threads(), memoryPattern: false, logSeverityLevel: 3, provider: 'cpu' });
  const t = performance.now();
  const y = (await s.run(denoiserFeeds(arch, F, benchText(arch), 'random')))[UNET_IO.out]!.data as Float32Array;
  const ms = performance.now() - t;
  await s.release();
  const saved = readFileSync(join(dir(), `speed-out-${F}.bin`));
  const x = new Float32Array(saved.buffer, saved.byteOffset, saved.byteLength / 4);
  let d = 0;
  let m = 0;
  for (let i = 0; i < y.length; i++) {
    d = Math.max(d, Math.abs(x[i]! - y[i]!));
    m = Math.max(m, Math.abs(y[i]!));
  }
  return { relErr: d / m, maxAbs: d, scale: m, ms, rss: rss() };
}

async function stepMemory(): Promise<Record<string, unknown>> {
  const arch = REFERENCE_ARCH;
  const F = frames();
  const lat = latentSize(arch);
  let t = performance.now();
  const bundle = await generatedBundle(join(dir(), 'bundle-512'), { arch, seed: 0, weights: 'float32', stream: true, build: { attention: 'fused' }, verify: 'size' });
  const buildMs = performance.now() - t;
  const text = readTextEmbeds(bundle);
  const opts = { threads: threads(), memoryPattern: false, allowSpinning: false, logSeverityLevel: 3 as const, provider: 'cpu' as const };
  t = performance.now();
  const ref = await createSession(modelPath(bundle, 'referenceUnet'), { ...opts, label: 'full-size reference UNet' });
  const refCreateMs = performance.now() - t;
  t = performance.now();
  const out = await ref.run({
    [UNET_IO.refLatents]: new ort.Tensor('float32', Float32Array.from({ length: 4 * lat * lat }, (_, i) => Math.sin(i * 0.37)), [1, 4, lat, lat]),
    [UNET_IO.timestep]: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    [UNET_IO.text]: new ort.Tensor('float32', text, [1, arch.text.tokens, arch.text.dim]),
  });
  const refCallMs = performance.now() - t;
  const banks: Record<string, ort.Tensor> = {};
  bankSites(arch).forEach((_, i) => (banks[bankName(i)] = out[bankName(i)]!));
  const beforeRelease = rss();
  await ref.release(); // what sample() does at full size on the CPU
  const afterRelease = rss();
  t = performance.now();
  const den = await createSession(modelPath(bundle, 'denoisingUnet'), { ...opts, label: 'full-size denoising UNet' });
  const denCreateMs = performance.now() - t;
  const c0 = process.cpuUsage();
  t = performance.now();
  const y = (await den.run(denoiserFeeds(arch, F, text, banks)))[UNET_IO.out]!.data as Float32Array;
  const callMs = performance.now() - t;
  const callCpuMs = cpuSeconds(process.cpuUsage(c0)) * 1000;
  await den.release();
  return { buildMs, refCreateMs, refCallMs, beforeRelease, afterRelease, denCreateMs, callMs, callCpuMs, finite: y.every(Number.isFinite), rss: rss() };
}

const STEPS: Record<string, () => Promise<Record<string, unknown>>> = { speed: stepSpeed, parity: stepParity, memory: stepMemory };

function runStep(name: string): Record<string, unknown> {
  const out = join(mkdtempSync(join(tmpdir(), 'mp-bench-step-')), 'out.json');
  const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--step', name, '--json', out], { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
  if (r.status !== 0) throw new Error(`step ${name} failed (exit ${r.status})`);
  const res = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  rmSync(join(out, '..'), { recursive: true, force: true });
  return res;
}

function pytorchUnet(arch: DiffusionArch, F: number, n: number): { ok: true; out: { torch: string; ms: number[]; cpu_ms: number[]; peak_rss_gib: number } } | { ok: false; why: string } {
  if (!existsSync(PY)) return { ok: false, why: `${PY} not found` };
  const tmp = mkdtempSync(join(tmpdir(), 'mp-bench-py-'));
  try {
    writeFileSync(join(tmp, 'arch.json'), JSON.stringify(arch));
    const r = spawnSync(PY, [SCRIPT, 'bench-unet', '--arch', join(tmp, 'arch.json'), '--frames', String(F), '--calls', '2', '--threads', String(n), '--out', join(tmp, 'out.json')], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: String(n) },
      timeout: 60 * 60_000,
    });
    if (r.status !== 0) return { ok: false, why: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-1)[0]! };
    return { ok: true, out: JSON.parse(readFileSync(join(tmp, 'out.json'), 'utf8')) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------------------------------

export async function benchUnetFullsize(): Promise<BenchRow[]> {
  const area = 'unet-fullsize';
  const F = frames();
  const n = threads();
  const steps = (process.env.MP_FULLSIZE_STEPS ?? 'speed,parity,memory').split(',');
  mkdirSync(dir(), { recursive: true });
  const fs = statfsSync(dir());
  const freeDisk = (fs.bavail * fs.bsize) / GiB;
  if (freemem() / GiB < 8.5) throw new Error(`needs ~8.5 GiB of free memory (has ${(freemem() / GiB).toFixed(1)} GiB)`);
  const peak = machinePeak();
  const calib = await gemmCalibration(n);
  const machine = `${peak.model}, ${peak.cores} cores × ${peak.fmaPerCycle} FMA/cycle × 2 × ${(peak.mhz / 1000).toFixed(3)} GHz = ${peak.gflops.toFixed(0)} GFLOP/s FP32 peak (${peak.basis})`;
  const corePeak = peak.gflops / peak.cores;
  console.error(`  ${machine}; ORT GEMM now ${calib.wall.toFixed(0)} GFLOP/s (${calib.perCpuSecond.toFixed(0)} per CPU-second); load ${loadText()}; free disk ${freeDisk.toFixed(0)} GiB`);
  const rows: BenchRow[] = [
    {
      area,
      name: 'machine: FP32 peak assumed (cpuinfo) and ONNX Runtime float32 GEMM 2048³ now (calibration)',
      oursMs: NaN,
      note: `${machine}; calibration ${calib.wall.toFixed(0)} GFLOP/s = ${((100 * calib.wall) / peak.gflops).toFixed(0)} % of peak (load-bound), ${calib.perCpuSecond.toFixed(0)} GFLOP per CPU-second = ${((100 * calib.perCpuSecond) / corePeak).toFixed(0)} % of one core's ${corePeak.toFixed(0)}; load ${loadText()}`,
    },
  ];

  if (steps.includes('speed')) {
    const arch = { ...REFERENCE_ARCH, imageSize: SPEED_SIZE };
    const cost = unetCallCost(arch, F, { withBank: true });
    console.error(`  PyTorch reference: whole full-width UNet ${SPEED_SIZE}², ${F} frames (load ${loadText()}) …`);
    const py = pytorchUnet(arch, F, n);
    const loadPy = loadText();
    console.error(`  ours (load ${loadText()}) …`);
    const s = runStep('speed') as { buildMs: number; createMs: number; wall: number[]; cpu: number[]; finite: boolean; rss: { peak: number } };
    const best = Math.min(...s.wall);
    const bestCpu = Math.min(...s.cpu);
    const flop = 2 * cost.macs;
    const gflops = flop / 1e9 / (best / 1000);
    const pyMs = py.ok ? Math.min(...py.out.ms) : null;
    rows.push(
      {
        area,
        name: `PyTorch reference blocks: whole full-width denoising UNet ${SPEED_SIZE}², ${F} frames, one conditional call [${(cost.macs / 1e12).toFixed(2)} TMAC], ${n} threads`,
        oursMs: pyMs ?? NaN,
        note: py.ok ? `PyTorch ${py.out.torch}; calls ${py.out.ms.map((x) => (x / 1000).toFixed(1)).join(', ')} s (CPU ${py.out.cpu_ms.map((x) => (x / 1000).toFixed(1)).join(', ')} s); peak RSS ${py.out.peak_rss_gib.toFixed(2)} GiB; load ${loadPy}` : `did not run: ${py.why}`,
      },
      {
        area,
        name: `ours (ORT CPU, fused attention, float32): the same call`,
        oursMs: best,
        refMs: pyMs,
        ref: py.ok ? `PyTorch ${py.out.torch} CPU, ${n} threads` : 'PyTorch (unavailable)',
        target: 'ratio ≤ 0.5; ≥ 60 % of peak',
        note:
          `${gflops.toFixed(0)} GFLOP/s = ${((100 * gflops) / peak.gflops).toFixed(0)} % of the ${peak.gflops.toFixed(0)} GFLOP/s peak (${((100 * gflops) / calib.wall).toFixed(0)} % of the GEMM calibration); ` +
          `per CPU-second ${(flop / 1e9 / (bestCpu / 1000)).toFixed(0)} GFLOP = ${((100 * flop) / 1e9 / (bestCpu / 1000) / corePeak).toFixed(0)} % of one core's peak, ${((100 * flop) / 1e9 / (bestCpu / 1000) / calib.perCpuSecond).toFixed(0)} % of the GEMM's; calls ${s.wall.map((x) => (x / 1000).toFixed(1)).join(', ')} s; ` +
          `session ${(s.createMs / 1000).toFixed(1)} s; peak RSS ${s.rss.peak.toFixed(2)} GiB; output finite ${s.finite}; load ${loadText()}`,
      },
    );
  }
  if (steps.includes('parity')) {
    const p = runStep('parity') as { relErr: number; maxAbs: number; scale: number; ms: number; rss: { peak: number } };
    rows.push({
      area,
      name: `parity: fused vs unchunked attention (every score materialised), whole full-width UNet ${SPEED_SIZE}², ${F} frames`,
      oursMs: p.ms,
      target: '≤ 1e-5 relative',
      note: `max |Δ| / max |y| = ${p.relErr.toExponential(2)} (max |Δ| ${p.maxAbs.toExponential(2)}, scale ${p.scale.toFixed(3)}); unchunked peak RSS ${p.rss.peak.toFixed(2)} GiB`,
    });
  }
  if (steps.includes('memory')) {
    const cost = unetCallCost(REFERENCE_ARCH, F, { withBank: true });
    const refCost = unetCallCost(REFERENCE_ARCH, 1, { kind: 'reference' });
    const m = runStep('memory') as {
      buildMs: number;
      refCreateMs: number;
      refCallMs: number;
      beforeRelease: { now: number };
      afterRelease: { now: number };
      denCreateMs: number;
      callMs: number;
      callCpuMs: number;
      finite: boolean;
      rss: { peak: number };
    };
    const gf = (macs: number, ms: number) => ((2 * macs) / 1e9 / (ms / 1000)).toFixed(0);
    rows.push(
      { area, name: `full size 512²: reference UNet (bank) session + call [${(refCost.macs / 1e12).toFixed(2)} TMAC], then released`, oursMs: m.refCallMs, note: `session ${(m.refCreateMs / 1000).toFixed(1)} s; ${gf(refCost.macs, m.refCallMs)} GFLOP/s; RSS ${m.beforeRelease.now.toFixed(2)} → ${m.afterRelease.now.toFixed(2)} GiB after release${m.buildMs > 5000 ? `; graphs built in ${(m.buildMs / 1000).toFixed(0)} s` : ''}` },
      {
        area,
        name: `full size 512²: ONE conditional ${F}-frame call of the denoising UNet [${(cost.macs / 1e12).toFixed(2)} TMAC], float32, fused attention`,
        oursMs: m.callMs,
        target: 'peak RSS ≤ 8 GiB',
        note: `PEAK RSS ${m.rss.peak.toFixed(2)} GiB (whole process: both UNets one after the other); session ${(m.denCreateMs / 1000).toFixed(1)} s; ${gf(cost.macs, m.callMs)} GFLOP/s wall, ${gf(cost.macs, m.callCpuMs)} per CPU-second; output finite ${m.finite}; load ${loadText()}`,
      },
    );
  }
  return rows;
}

// ------------------------------------------------------------------------------------------------------------------

if (require.main === module) {
  const i = process.argv.indexOf('--step');
  if (i >= 0) {
    const name = process.argv[i + 1]!;
    const out = process.argv[process.argv.indexOf('--json') + 1]!;
    void STEPS[name]!().then((r) => writeFileSync(out, JSON.stringify(r)));
  } else void benchUnetFullsize().then(printRows);
}

