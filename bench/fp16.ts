/**
 * `npm run bench -- fp16`: decoded frames of the UNets computing in float16 against float32, PSNR per frame, for any
 * bundle (src/kernel/diffusion/fp16-check.ts). Target ≥ 40 dB on the trained model.
 *
 *   MP_FP16_BUNDLE    a bundle folder, or 'tiny' (the untrained tiny bundle); default: the trained demo model
 *   MP_FP16_PROVIDER  execution provider (default 'auto'; on the CPU float16 is emulated: float16 values between
 *                     float32 operations)
 *   MP_FP16_FRAMES / MP_FP16_STEPS   default 12 frames, 20 steps
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadBundle, tinyBundle } from '../src/kernel/diffusion/bundle';
import { fp16Check } from '../src/kernel/diffusion/fp16-check';
import { configure } from '../src/kernel/settings';
import { demoModel } from '../src/kernel/diffusion/demo-model';
import { isProviderSetting } from '../src/kernel/onnx/providers';
import { loadText } from './machine';
import { printRows, type BenchRow } from './types';

export async function benchFp16(): Promise<BenchRow[]> {
  const dir = process.env.MP_FP16_BUNDLE;
  const bundle = dir === 'tiny' ? await tinyBundle(join(tmpdir(), 'mp-bench-tiny-bundle')) : dir ? await loadBundle(dir) : await demoModel();
  const provider = process.env.MP_FP16_PROVIDER ?? 'auto';
  if (!isProviderSetting(provider)) throw new Error(`MP_FP16_PROVIDER: unknown provider '${provider}'`);
  configure({ provider });
  const frames = Number(process.env.MP_FP16_FRAMES ?? 12);
  const steps = Number(process.env.MP_FP16_STEPS ?? 20);
  const r = await fp16Check(bundle, { frames, steps });
  const where = r.providers.float16.toString().replace(/\n/g, '; ');
  return [
    {
      area: 'fp16',
      name: `decoded frames, float16 vs float32 UNets: ${dir === 'tiny' ? 'tiny bundle (untrained demo weights)' : dir ?? `demo model (${bundle.manifest.label})`}, ${frames} frames, ${steps} steps, CFG`,
      oursMs: r.ms.float16,
      refMs: r.ms.float32,
      ref: 'the float32 run',
      target: 'PSNR ≥ 40 dB (trained model)',
      note: `PSNR mean ${r.meanPsnr.toFixed(1)} dB, min ${r.minPsnr.toFixed(1)} dB (per frame ${r.psnr.map((x) => x.toFixed(1)).join(' ')}); final latents max |Δ| ${r.latentRelErr.toExponential(1)} of their scale; ${where}; load ${loadText()}`,
    },
  ];
}

if (require.main === module) void benchFp16().then(printRows);
