/**
 * Per-provider versions of a model file: what each execution provider runs, derived once and cached.
 *
 *   cpu      the model as written (float32; fused attention = MLAS flash attention)
 *   cuda     float16 compute (fused attention kept: ONNX Runtime's CUDA flash / memory-efficient kernels)
 *   dml      float16 compute (DirectML has its own MultiHeadAttention)
 *   coreml   float16 compute, attention decomposed (Core ML has no com.microsoft operators; they would fall back
 *            to the CPU node by node)
 *   webgpu   float16 compute, attention decomposed (onnxruntime-node 1.30's WebGPU MultiHeadAttention deviated by
 *            2–14 % from the CPU for sequences ≥ 64 on the Vulkan adapter we could test; see the README)
 * float16 applies only where the caller asks for it (`precision`): the diffusion UNets, which are nearly all of the
 * work; the VAE and guidance encoders stay float32.
 *
 * Cache: `<cache>/compiled/<key>/model.onnx` (+ `.data`), key = SHA-256 of the source's identity (its content hash
 * when the caller knows it — a bundle manifest does — else path, size and mtime), the options and the converter
 * version. Written to a temporary folder and renamed into place, so a half-written model is never used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertToFloat16, type Float16Report } from './float16';
import type { ExecutionProviderName } from './providers';
import { cacheDir } from '../settings';

/** Bump when float16.ts changes what it writes (cached derived models are rebuilt). */
export const DERIVE_VERSION = 'derive v1';

export interface ProviderGraphs {
  /** Computes in float16 where the caller's precision allows. */
  float16: boolean;
  /** Decompose fused attention, query chunks of this many (0: keep it). */
  decomposeAttention: number;
}

export const PROVIDER_GRAPHS: Readonly<Record<ExecutionProviderName, ProviderGraphs>> = {
  cpu: { float16: false, decomposeAttention: 0 },
  cuda: { float16: true, decomposeAttention: 0 },
  dml: { float16: true, decomposeAttention: 0 },
  coreml: { float16: true, decomposeAttention: 512 },
  webgpu: { float16: true, decomposeAttention: 512 },
};

/** 'auto': float16 where the provider computes in float16 (accelerators), else float32. */
export type Precision = 'auto' | 'float32' | 'float16';

export interface DeriveRequest {
  float16: boolean;
  decomposeAttention: number;
}

/** What to derive for a provider and a requested precision (null: use the model as written). */
export function deriveRequest(provider: ExecutionProviderName, precision: Precision): DeriveRequest | null {
  const p = PROVIDER_GRAPHS[provider];
  const float16 = precision === 'float16' || (precision === 'auto' && p.float16);
  if (!float16 && !p.decomposeAttention) return null;
  return { float16, decomposeAttention: p.decomposeAttention };
}

export function compiledCacheDir(): string {
  return cacheDir('compiled');
}

/**
 * The derived model for `src` (a path) and `req`, built on first use. `sourceId` names the source's content (e.g. the
 * SHA-256 in a bundle manifest); without it the file's path, size and mtime stand for it.
 */
export function derivedModel(src: string, req: DeriveRequest, o: { sourceId?: string; cacheDir?: string } = {}): { path: string; built: boolean; report: Float16Report } {
  const real = realpathSync(src);
  const st = statSync(real);
  const id = o.sourceId ?? `${real}:${st.size}:${st.mtimeMs}`;
  const key = createHash('sha256').update(JSON.stringify([DERIVE_VERSION, id, req])).digest('hex').slice(0, 24);
  const root = o.cacheDir ?? compiledCacheDir();
  const dir = join(root, key);
  const path = join(dir, 'model.onnx');
  const reportPath = join(dir, 'report.json');
  if (existsSync(path) && existsSync(`${path}.data`) && existsSync(reportPath)) return { path, built: false, report: JSON.parse(readFileSync(reportPath, 'utf8')) as Float16Report };
  mkdirSync(root, { recursive: true });
  const tmp = join(root, `.${key}.${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    const report = convertToFloat16(real, join(tmp, 'model.onnx'), { float16: req.float16, decomposeAttention: req.decomposeAttention });
    writeFileSync(join(tmp, 'report.json'), JSON.stringify(report));
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    return { path, built: true, report };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
