/**
 * Stage B encoders: SMIRK import (real architecture, the synthetic real-layout checkpoint) and one 224² crop through
 * the three MobileNetV3 backbones on ONNX Runtime CPU. The reference (PyTorch + timm) cannot run here (no timm, and
 * Python is for fixtures only), so there is no ratio.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { importSmirk } from '../src/kernel/perception/smirk-encoder';
import { createSession, ort } from '../src/kernel/onnx/session';
import { timeIt, type BenchRow } from './types';

const CKPT = join(__dirname, '..', 'test', 'perception', 'fixtures', 'smirk_em1_synthetic.pt');

export async function benchEncoders(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mp-bench-enc-'));
  try {
    let path = '';
    const importMs = await timeIt(async () => { path = (await importSmirk(CKPT, dir)).path; }, 3, 1);
    const mb = statSync(path).size / 1e6;
    const s = await createSession(path);
    const crop = new Float32Array(3 * 224 * 224);
    for (let i = 0; i < crop.length; i++) crop[i] = ((i * 2654435761) >>> 24) / 255;
    const x = new ort.Tensor('float32', crop, [1, 3, 224, 224]);
    const runMs = await timeIt(() => s.run({ image: x }), 20, 3);
    await s.release();
    const load = loadavg()[0]!.toFixed(1);
    return [
      { area: 'encoders', name: 'import-smirk (synthetic SMIRK_em1.pt, 3.66 M params)', oursMs: importMs, refMs: null, note: `${mb.toFixed(1)} MB ONNX; load ${load}` },
      { area: 'encoders', name: 'SMIRK encoder, one 224² crop (3 backbones)', oursMs: runMs, refMs: null, ref: 'PyTorch + timm (not runnable here)', note: `ORT CPU; load ${load}` },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
