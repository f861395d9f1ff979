/**
 * Geometric Guidance Encoder benchmark: the three encoders on one 512×512 frame, ours (ONNX Runtime CPU) against the
 * PyTorch reference (test/gge/golden/gge_reference.py, Debian torch) with the same weights and the same thread count,
 * measured in the same run and interleaved; plus import time and peak memory for three real-sized .pth files made by
 * the same script. Runnable alone:  node --import tsx bench/gge.ts   (GGE_BENCH_THREADS, default 2)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { importGGE } from '../src/kernel/gge/import';
import { loadGGEBundle } from '../src/kernel/gge/bundle';
import { runGGE, releaseGGE } from '../src/kernel/gge/run';
import { median, printRows, type BenchRow } from './types';

const root = join(__dirname, '..');
const PY = '/usr/bin/python3';
const SCRIPT = join(root, 'test/gge/golden/gge_reference.py');
const TYPES = ['depth', 'normal', 'render'] as const;

function python(args: string[]): string {
  const r = spawnSync(PY, [SCRIPT, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${PY} ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
  return r.stdout.trim().split('\n').at(-1)!;
}

/** The import, measured in a fresh process so its peak RSS is the import's own. */
function importInChild(ckptDir: string, outDir: string): { ms: number; peakMB: number; baseMB: number } {
  const r = spawnSync(
    process.execPath,
    ['--import', pathToFileURL(require.resolve('tsx')).href, __filename, '--import-child', ckptDir, outDir],
    { cwd: root, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`import child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

async function importChild(ckptDir: string, outDir: string): Promise<void> {
  const baseMB = process.memoryUsage().rss / 2 ** 20;
  const t0 = performance.now();
  await importGGE(ckptDir, outDir, { log: () => {} });
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ ms, peakMB: process.resourceUsage().maxRSS / 1024, baseMB }));
}

/** synth_frame of the reference script as planar [0,1] float32 (the same integer formula as the tests). */
function synthPlanar(h: number, w: number, seed: number): Float32Array {
  const out = new Float32Array(3 * h * w);
  const cy = Math.floor((h * (40 + 7 * seed)) / 100), cx = Math.floor((w * (55 - 5 * seed)) / 100);
  const ry = Math.max(Math.floor((h * 35) / 100), 1), rx = Math.max(Math.floor((w * 30) / 100), 1);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const inside = ((y - cy) * rx) ** 2 + ((x - cx) * ry) ** 2 <= (rx * ry) ** 2;
      for (let c = 0; c < 3; c++) {
        const v = (x * (3 + c + seed) + y * (5 + 2 * c) + ((x * y) >> (4 + c)) + 37 * seed + 71 * c) % 256;
        out[c * h * w + y * w + x] = Math.fround((inside ? v : v >> 2) / 255);
      }
    }
  return out;
}

export async function benchGGE(): Promise<BenchRow[]> {
  const threads = Number(process.env.GGE_BENCH_THREADS ?? 2);
  const dir = mkdtempSync(join(tmpdir(), 'bench-gge-'));
  try {
    const ckpt = join(dir, 'ckpts');
    python(['make-pth', '--out', ckpt, '--seed', '100']);
    const pthMB = TYPES.reduce((s, t) => s + statSync(join(ckpt, `guidance_encoder_${t}.pth`)).size, 0) / 2 ** 20;
    const imp = importInChild(ckpt, join(dir, 'bundle'));

    const bundle = loadGGEBundle(join(dir, 'bundle'));
    const [H, W] = [512, 512];
    const data = synthPlanar(H, W, 3);
    const inputFile = join(dir, 'input.f32');
    writeFileSync(inputFile, data);
    const img = { width: W, height: H, data };
    const maps = { depth: [img], normal: [img], render: [img] };

    const ours: number[] = [];
    const oursFast: number[] = [];
    const torch: number[] = [];
    let torchLoadS = NaN;
    let sum: Float32Array | undefined;
    let result: Awaited<ReturnType<typeof runGGE>> | undefined;
    await runGGE(maps, bundle, { threads, keepTypeFeatures: false, keepSessions: true }); // warm-up: sessions
    await runGGE(maps, bundle, { threads, keepTypeFeatures: false, attention: false });
    // Interleave ours and torch so both see the same machine load.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        result = await runGGE(maps, bundle, { threads, keepTypeFeatures: false, keepSessions: true });
        ours.push(performance.now() - t0);
        const t1 = performance.now();
        await runGGE(maps, bundle, { threads, keepTypeFeatures: false, attention: false });
        oursFast.push(performance.now() - t1);
      }
      const dump = join(dir, 'torch_sum.f32');
      const out = JSON.parse(
        python(['bench', '--weights', ckpt, '--input', inputFile, '--height', String(H), '--width', String(W), '--threads', String(threads), '--repeats', '2', '--dump', dump]),
      ) as { times_s: number[]; load_s: number; torch: string };
      torch.push(...out.times_s.map((s) => s * 1000));
      torchLoadS = out.load_s;
      sum = new Float32Array(readFileSync(dump).buffer.slice(0));
    }
    let maxDiff = 0;
    let maxAbs = 0;
    const s = result!.sum[0]!;
    for (let i = 0; i < s.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(s[i]! - sum![i]!));
      maxAbs = Math.max(maxAbs, Math.abs(sum![i]!));
    }
    const q = [0, 1, 2, 3].map((i) => ({ x: 8 + 16 * i, y: 32 }));
    const rowsMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await result!.attentionRows('normal', 0, q);
      rowsMs.push(performance.now() - t0);
    }
    await releaseGGE(bundle);
    const ref = `PyTorch ${process.env.TORCH_VERSION ?? '1.13'} CPU, same weights, ${threads} threads`;
    return [
      {
        area: 'gge',
        name: '3 encoders, one 512² frame (features + sum + attention maps)',
        oursMs: median(ours),
        refMs: median(torch),
        ref,
        target: 'ratio ≤ 0.8',
        note: `sum max |Δ| vs torch fp32 ${maxDiff.toExponential(1)} (|x| ≤ ${maxAbs.toFixed(1)}); runs ours ${ours.map((x) => x.toFixed(0)).join('/')}, torch ${torch.map((x) => x.toFixed(0)).join('/')}`,
      },
      {
        area: 'gge',
        name: `import 3 × guidance_encoder.pth (${pthMB.toFixed(0)} MB) → bundle`,
        oursMs: imp.ms,
        refMs: torchLoadS * 1000,
        ref: 'torch.load + load_state_dict (3 files)',
        note: `peak RSS ${imp.peakMB.toFixed(0)} MB (process baseline ${imp.baseMB.toFixed(0)} MB)`,
      },
      {
        area: 'gge',
        name: '3 encoders, one 512² frame, features only (fused attention; sampling path)',
        oursMs: median(oursFast),
        refMs: median(torch),
        ref,
        target: 'ratio ≤ 0.8',
        note: `runs ${oursFast.map((x) => x.toFixed(0)).join('/')}`,
      },
      { area: 'gge', name: 'attention rows, 4 query pixels (tokens cached)', oursMs: median(rowsMs), refMs: null, note: '8 heads × 4 × 4096' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--import-child') void importChild(args[1]!, args[2]!);
  else void benchGGE().then(printRows);
}
