/**
 * float16 vs float32: the same sampling run (one reference, fixed guidance features, seed, steps, CFG) with the UNets
 * computing in float32 and in float16 on the configured execution provider, compared on the decoded 8-bit frames
 * (PSNR, scikit-image's definition, metrics/image.ts). For any bundle: `npm run bench -- fp16` (MP_FP16_BUNDLE=<dir>)
 * and `test/diffusion/fp16-check.test.ts` on the tiny bundle. On the CPU the float16 graph runs with float32 kernels
 * between float16 values (ONNX Runtime inserts the casts): the rounding of every activation, not the GPU's float16
 * arithmetic.
 */
import { psnr } from '../metrics/image';
import type { Image, AnyImage } from '../io/image';
import type { DiffusionBundle } from './bundle';
import { latentSize } from './graph/config';
import { type GuidanceInput, type ProviderReport, sample } from './sample';

export interface Fp16CheckOptions {
  frames?: number;
  steps?: number;
  seed?: number;
  guidanceScale?: number;
  /** A real reference and guidance (e.g. a held-out clip of a trained model); default synthetic ones. */
  reference?: AnyImage;
  guidance?: GuidanceInput;
}

export interface Fp16CheckResult {
  /** PSNR of each decoded frame, float16 run against float32 run (dB; Infinity when identical). */
  psnr: number[];
  meanPsnr: number;
  minPsnr: number;
  /** Largest |Δ| of the final latents relative to their largest magnitude. */
  latentRelErr: number;
  ms: { float32: number; float16: number };
  providers: { float32: ProviderReport; float16: ProviderReport };
}

/** A deterministic test portrait: smooth gradients and a few discs (content at every frequency the VAE sees). */
export function syntheticReference(size: number): AnyImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const u = x / size, v = y / size;
      const disc = (cx: number, cy: number, r: number) => ((u - cx) ** 2 + (v - cy) ** 2 < r * r ? 1 : 0);
      const i = 3 * (y * size + x);
      data[i] = Math.round(255 * (0.25 + 0.5 * u + 0.2 * disc(0.35, 0.4, 0.08)));
      data[i + 1] = Math.round(255 * (0.3 + 0.4 * v * (1 - u) + 0.25 * disc(0.65, 0.4, 0.08)));
      data[i + 2] = Math.round(255 * (0.5 + 0.35 * Math.sin(6 * u) * Math.cos(4 * v) * (1 - disc(0.5, 0.7, 0.15))));
    }
  return { width: size, height: size, channels: 3, data };
}

export async function fp16Check(bundle: DiffusionBundle, o: Fp16CheckOptions = {}): Promise<Fp16CheckResult> {
  const arch = bundle.manifest.architecture;
  const lat = latentSize(arch);
  const C0 = arch.unet.blockOutChannels[0]!;
  const F = o.frames ?? 12;
  const features = () => Array.from({ length: F }, (_, f) => Float32Array.from({ length: C0 * lat * lat }, (_, i) => 0.05 * Math.sin(0.013 * i + 0.3 * f)));
  const common = { reference: o.reference ?? syntheticReference(arch.imageSize), guidance: o.guidance ?? { features: features() }, frames: F, bundle, steps: o.steps ?? 20, seed: o.seed ?? 42, ...(o.guidanceScale !== undefined ? { guidanceScale: o.guidanceScale } : {}) };
  const opts = { previewEvery: 0, outputSize: 'model' as const };
  let t = performance.now();
  const a = await sample({ ...common, precision: 'float32' }, opts);
  const msA = performance.now() - t;
  t = performance.now();
  const b = await sample({ ...common, precision: 'float16' }, opts);
  const msB = performance.now() - t;
  try {
    const p = Array.from({ length: F }, (_, i) => psnr(a.frames.get(i) as Image, b.frames.get(i) as Image));
    let d = 0;
    let m = 0;
    for (let i = 0; i < a.latents.length; i++) {
      d = Math.max(d, Math.abs(a.latents[i]! - b.latents[i]!));
      m = Math.max(m, Math.abs(a.latents[i]!));
    }
    const finite = p.filter(Number.isFinite);
    // mean over frames of the MSE, as one PSNR (identical frames contribute 0)
    const meanMse = p.reduce((s, x) => s + (Number.isFinite(x) ? 255 ** 2 / 10 ** (x / 10) : 0), 0) / F;
    return {
      psnr: p,
      meanPsnr: meanMse === 0 ? Infinity : 10 * Math.log10(255 ** 2 / meanMse),
      minPsnr: finite.length ? Math.min(...finite) : Infinity,
      latentRelErr: d / m,
      ms: { float32: msA, float16: msB },
      providers: { float32: a.providers, float16: b.providers },
    };
  } finally {
    a.frames.dispose();
    b.frames.dispose();
  }
}
