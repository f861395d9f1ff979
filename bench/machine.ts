/**
 * The machine a benchmark ran on: its FP32 peak as cores × FMA lanes per cycle × 2 × clock, read from /proc/cpuinfo
 * (model, family, flags, MHz), the load, and a calibration: what ONNX Runtime's own GEMM reaches right now on a large
 * float32 MatMul (the same MLAS kernels the UNet's convolutions and linears use), beside the nominal peak.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { GraphBuilder } from '../src/kernel/onnx/graph';
import { createSession, ort } from '../src/kernel/onnx/session';

export interface CpuPeak {
  model: string;
  cores: number;
  mhz: number;
  /** float32 FMAs per cycle per core (vector lanes × FMA pipes). */
  fmaPerCycle: number;
  /** How fmaPerCycle was chosen. */
  basis: string;
  /** GFLOP/s = cores × 2 × fmaPerCycle × GHz. */
  gflops: number;
}

/** Parses /proc/cpuinfo-style text (first processor block) into the peak this benchmark assumes. */
export function cpuPeak(cpuinfo: string, cores: number): CpuPeak {
  const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim() ?? '';
  const model = field('model name') || 'unknown CPU';
  const vendor = field('vendor_id');
  const family = Number(field('cpu family'));
  const flags = new Set(field('flags').split(/\s+/));
  const mhz = Number(field('cpu MHz')) || (cpus()[0]?.speed ?? 0);
  let fmaPerCycle: number;
  let basis: string;
  if (vendor === 'AuthenticAMD' && family === 25 && flags.has('avx512f')) {
    fmaPerCycle = 16;
    basis = 'AMD Zen 4 (family 25, AVX-512 on two 256-bit FMA pipes): 16 float32 FMA/cycle';
  } else if (vendor === 'AuthenticAMD' && family >= 26 && flags.has('avx512f')) {
    fmaPerCycle = 32;
    basis = 'AMD Zen 5 (two 512-bit FMA pipes): 32 float32 FMA/cycle';
  } else if (flags.has('avx512f')) {
    fmaPerCycle = 32;
    basis = 'AVX-512 with two FMA units: 32 float32 FMA/cycle';
  } else if (flags.has('avx2') && flags.has('fma')) {
    fmaPerCycle = 16;
    basis = 'AVX2 with two FMA units: 16 float32 FMA/cycle';
  } else if (flags.has('asimd') || process.arch === 'arm64') {
    fmaPerCycle = 8;
    basis = 'NEON, two 128-bit FMA pipes: 8 float32 FMA/cycle';
  } else {
    fmaPerCycle = 4;
    basis = 'SSE: 4 float32 FMA-equivalents/cycle';
  }
  return { model, cores, mhz, fmaPerCycle, basis, gflops: (cores * 2 * fmaPerCycle * mhz) / 1000 };
}

export function machinePeak(): CpuPeak {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    /* not Linux: fall back to os.cpus() for the clock */
  }
  return cpuPeak(text, availableParallelism());
}

export const loadText = () => loadavg().map((x) => x.toFixed(2)).join(' ');

export interface Calibration {
  /** GFLOP/s of wall time (what the machine gives now, load included). */
  wall: number;
  /** GFLOP per CPU-second of this process's threads (what a core delivers while it runs; load-independent). */
  perCpuSecond: number;
}

/** ONNX Runtime's float32 MatMul (M×K · K×N), best of `runs`, on `threads` threads. */
export async function gemmCalibration(threads: number, m = 2048, k = 2048, n = 2048, runs = 3): Promise<Calibration> {
  const g = new GraphBuilder('calibration');
  const a = g.input('a', 'float32', [m, k]);
  const w = g.constF32('w', Float32Array.from({ length: k * n }, (_, i) => Math.sin(i) * 0.01), [k, n]);
  g.op('MatMul', [a, w], {}, 'y');
  g.output('y', 'float32', [m, n]);
  const s = await createSession(g.toBytes(), { label: 'GEMM calibration', threads, provider: 'cpu' });
  const feeds = { a: new ort.Tensor('float32', Float32Array.from({ length: m * k }, (_, i) => Math.cos(i) * 0.01), [m, k]) };
  await s.run(feeds);
  let best = Infinity;
  let bestCpu = Infinity;
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    await s.run(feeds);
    best = Math.min(best, performance.now() - t);
    const u = process.cpuUsage(c);
    bestCpu = Math.min(bestCpu, (u.user + u.system) / 1e6);
  }
  await s.release();
  const gflop = (2 * m * k * n) / 1e9;
  return { wall: gflop / (best / 1000), perCpuSecond: gflop / bestCpu };
}
