/**
 * Metrics benchmark, ours vs the references measured in the same run:
 *   node --import tsx bench/metrics.ts
 * Rows (median ms): PSNR and SSIM per 512² RGB frame pair (real frames of ../shared/data) vs scikit-image;
 * LPIPS AlexNet on a 512² pair (ONNX Runtime, 1 thread) vs the plain-PyTorch reference (1 thread); the Fréchet
 * distance on 1000 × 512 features (Cholesky route) vs pytorch-fid's scipy.linalg.sqrtm formula; the FVD I3D on one
 * 16-frame clip (ONNX Runtime, 1 thread) vs the plain-PyTorch reference (1 thread), both on the hash-generated weights
 * of the parity test.
 * References run in /usr/bin/python3 (Debian numpy / scipy / skimage / torch), timed inside Python.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'fflate';
import { NdArray, writeNpy, parseNpy, toFloat64 } from '../src/kernel/io';
import type { Image } from '../src/kernel/io/image';
import { readFrames } from '../src/kernel/io/video';
import { configure } from '../src/kernel/settings';
import { frechetDistanceFromFeatures } from '../src/kernel/metrics/frechet';
import { psnr, ssim } from '../src/kernel/metrics/image';
import { Lpips } from '../src/kernel/metrics/nets/lpips';
import { I3dFeatures } from '../src/kernel/metrics/nets/i3d';
import { i3dStateDict } from '../test/metrics/i3dWeights';
import { median, printRows, timeIt, type BenchRow } from './types';

const root = join(__dirname, '..');
const data = join(root, '..', 'shared', 'data');
const PY = '/usr/bin/python3';
const SCRIPT = join(root, 'test', 'metrics', 'golden', 'bench_reference.py');
const RUNS = 9;

async function pairs(): Promise<[Image, Image][]> {
  const out: [Image, Image][] = [];
  for (const v of ['magicportrait/driving.mp4', 'liveportrait/d0.mp4', 'liveportrait/d3.mp4']) {
    const f: Image[] = [];
    for await (const fr of readFrames(join(data, v), { step: 12, maxFrames: 2 })) f.push(fr.image);
    out.push([f[0]!, f[1]!]);
  }
  return out;
}

export async function benchMetrics(): Promise<BenchRow[]> {
  const ps = await pairs();
  // One pair at a time (timeIt awaits between calls: concurrent loops would time each other's work).
  const times = async (fn: (a: Image, b: Image) => unknown) => {
    const t: number[] = [];
    for (const [a, b] of ps) t.push(await timeIt(() => fn(a, b), RUNS, 2));
    return median(t);
  };
  const ours = { psnr: await times(psnr), ssim: await times(ssim) };
  configure({ threads: 1 });
  const fx = join(root, 'test', 'metrics', 'fixtures');
  const model = await Lpips.load({ linear: gunzipSync(readFileSync(join(fx, 'lpips_alex_lin.pth.gz'))), backbone: gunzipSync(readFileSync(join(fx, 'lpips_alex_backbone.pth.gz'))) });
  const lp = await timeIt(() => model.distance(ps[0]![0], ps[0]![1]), RUNS, 2);
  await model.dispose();
  // FVD: one 16-frame clip of the driving video (256² frames → resize + crop to 224²)
  const clip: Image[] = [];
  for await (const fr of readFrames(join(data, 'magicportrait/driving.mp4'), { maxFrames: 16, width: 256, height: 256 })) clip.push(fr.image);
  const i3d = await I3dFeatures.fromStateDict(i3dStateDict(), 'hash weights');
  let i3dOut: Float32Array = new Float32Array(0);
  const i3dMs = await timeIt(async () => (i3dOut = await i3d.features(clip)), Math.max(1, Math.floor(RUNS / 3)), 1);
  await i3d.dispose();

  const dir = mkdtempSync(join(tmpdir(), 'mp-bench-metrics-'));
  const rows: BenchRow[] = [];
  try {
    const W = 512, H = 512;
    const stack = new Uint8Array(ps.length * 2 * W * H * 3);
    ps.flat().forEach((im, i) => stack.set(im.data, i * W * H * 3));
    writeFileSync(join(dir, 'frames.npy'), writeNpy(new NdArray('uint8', [ps.length * 2, H, W, 3], stack)));
    const clipStack = new Uint8Array(16 * 256 * 256 * 3);
    clip.forEach((im, i) => clipStack.set(im.data, i * 256 * 256 * 3));
    writeFileSync(join(dir, 'clip.npy'), writeNpy(new NdArray('uint8', [16, 256, 256, 3], clipStack)));
    const outJson = join(dir, 'ref.json');
    let ref: { psnr: number; ssim: number; ssim_values: number[]; lpips?: number; fid?: number; fid_value?: number; i3d?: number; i3d_features?: number[] } | null = null;
    let why = '';
    if (!existsSync(PY)) why = `${PY} not found`;
    else {
      const r = spawnSync(PY, [SCRIPT, '--frames', join(dir, 'frames.npy'), '--runs', String(RUNS), '--lpips', '--fid-dim', '512', '--fid-n', '1000', '--i3d-clip', join(dir, 'clip.npy'), '--out', outJson], {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
        timeout: 15 * 60_000,
      });
      if (r.status === 0) ref = JSON.parse(readFileSync(outJson, 'utf8'));
      else why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-1)[0]!;
    }
    const agree = ref ? Math.max(...ps.map(([a, b], i) => Math.abs(ssim(a, b) - ref!.ssim_values[i]!))) : NaN;
    const base = { area: 'metrics', ref: 'scikit-image 0.19 (numpy/scipy)' };
    rows.push({ ...base, name: 'PSNR, 512² RGB pair', oursMs: ours.psnr, refMs: ref?.psnr ?? null, note: ref ? '' : why });
    rows.push({ ...base, name: 'SSIM (Gaussian σ 1.5), 512² RGB pair', oursMs: ours.ssim, refMs: ref?.ssim ?? null, note: ref ? `max |Δ| vs skimage ${agree.toExponential(1)}` : why });
    rows.push({ area: 'metrics', name: 'LPIPS AlexNet, 512² pair, 1 thread', oursMs: lp, refMs: ref?.lpips ?? null, ref: 'plain PyTorch 1.13 CPU, 1 thread', note: ref ? 'random weights in the real shapes' : why });
    const i3dRef = ref?.i3d_features;
    const i3dDev = i3dRef ? Math.max(...i3dRef.map((v, i) => Math.abs(v - i3dOut[i]!))) / Math.max(...i3dRef.map(Math.abs)) : NaN;
    rows.push({ area: 'metrics', name: 'FVD I3D, one 16-frame clip (256² → 224²), 1 thread', oursMs: i3dMs, refMs: ref?.i3d ?? null, ref: 'plain PyTorch 1.13 CPU, 1 thread', note: ref ? `hash weights; max |Δ| / max |ref| ${i3dDev.toExponential(1)}` : why });
    // Fréchet distance on the same features as the reference.
    if (ref?.fid !== undefined) {
      const feats = toFloat64(parseNpy(readFileSync(outJson + '.fid.npy')));
      const n = 1000, d = 512;
      const f1 = feats.subarray(0, n * d), f2 = feats.subarray(n * d);
      let v = 0;
      const t = await timeIt(() => (v = frechetDistanceFromFeatures(f1, n, f2, n, d)), 3, 1);
      rows.push({ area: 'metrics', name: 'Fréchet distance, 1000×512 features', oursMs: t, refMs: ref.fid, ref: 'pytorch-fid formula (scipy sqrtm, OpenBLAS 1 thread)', note: `|Δ| ${Math.abs(v - ref.fid_value!).toExponential(1)}` });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) void benchMetrics().then(printRows);
