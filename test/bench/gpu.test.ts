/**
 * The GPU benchmark's parts that need no GPU: reading nvidia-smi, the datasheet peaks, the work of a sampling run
 * (from graph/cost.ts and the context windows) and its physical floor, and that without a GPU execution provider
 * `npm run bench -- gpu` fails with a clear message (a FAILED row naming the providers) instead of crashing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { floorPerFrame, gpuPeakFor, gpuProvider, parseNvidiaSmi, samplingWork } from '../../bench/gpu';
import { REFERENCE_ARCH } from '../../src/kernel/diffusion/graph/config';
import { unetCallCost, vaeDecodeCost } from '../../src/kernel/diffusion/graph/cost';
import { contextWindows, REFERENCE_CONTEXT } from '../../src/kernel/diffusion/context';
import { resolveProvider } from '../../src/kernel/onnx/providers';
import { MagicPortraitError } from '../../src/kernel/errors';

test('nvidia-smi output and datasheet peaks: the most specific model name wins', () => {
  const gpus = parseNvidiaSmi('NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 PCIe, 81559\n\nNVIDIA H200, 143771\n');
  assert.deepEqual(gpus, [
    { name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81559 },
    { name: 'NVIDIA H100 PCIe', memoryMiB: 81559 },
    { name: 'NVIDIA H200', memoryMiB: 143771 },
  ]);
  assert.equal(gpuPeakFor(gpus[0]!.name)!.fp16, 989.4);
  assert.equal(gpuPeakFor(gpus[1]!.name)!.model, 'H100 PCIe');
  assert.equal(gpuPeakFor(gpus[2]!.name)!.model, 'H200');
  assert.equal(gpuPeakFor('NVIDIA A10G')!.model, 'A10G');
  assert.equal(gpuPeakFor('Some Future GPU'), null);
});

test('the work of a sampling run: every window × both CFG branches × every step, the bank once, one decode per frame', () => {
  const a = REFERENCE_ARCH;
  for (const F of [12, 24, 40]) {
    const windows = contextWindows(F, REFERENCE_CONTEXT, a.unet.motion.maxLen);
    const w20 = samplingWork(a, F, 20);
    const w10 = samplingWork(a, F, 10);
    assert.equal(w20.windows, windows.length);
    assert.equal(w20.unetCalls, 2 * 20 * windows.length);
    let perStep = 0;
    for (const w of windows) perStep += unetCallCost(a, w.length, { withBank: true }).macs + unetCallCost(a, w.length).macs;
    // linear in the steps; the rest is the bank and the decodes
    assert.ok(Math.abs(w20.macs - w10.macs - 10 * perStep) <= 1e-9 * w20.macs);
    assert.ok(Math.abs(w20.macs - 20 * perStep - unetCallCost(a, 1, { kind: 'reference' }).macs - F * vaeDecodeCost(a).macs) <= 1e-9 * w20.macs);
  }
  // one 12-frame window, 20 steps at 989.4 TFLOP/s: 2·MACs / peak / frames
  const w = samplingWork(a, 12, 20);
  assert.equal(floorPerFrame(w, 12, 989.4), (2 * w.macs) / 989.4e12 / 12);
  assert.ok(w.macs > 20 * 2 * 6e12, 'a 12-frame window is several TMAC per UNet call at 512²');
});

test('without a GPU provider the benchmark fails clearly: a FAILED row naming the providers, exit code 0', () => {
  assert.throws(() => gpuProvider('cpu'), (e: MagicPortraitError) => e.code === 'bad-setting');
  if (resolveProvider('auto') !== 'cpu') return; // a GPU is ready here: the benchmark would run, not fail
  assert.throws(() => gpuProvider(undefined), (e: MagicPortraitError) => e.code === 'provider-unavailable' && /No GPU execution provider is ready/.test(e.message) && /cuda/.test(e.message));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/index.ts', 'gpu'], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', env: { ...process.env, MP_GPU_PROVIDER: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| gpu \| FAILED \|/);
  assert.match(r.stdout, /No GPU execution provider is ready/);
});
