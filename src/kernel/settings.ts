/**
 * The kernel's settings, resolved in one place: the cache root (converted models, the stage cache, demo bundles),
 * the stage cache's size limit, and ONNX Runtime's execution provider and thread count.
 *
 * Hosts pass them as environment variables — the extension from its VS Code settings (`kernelEnvironment`), the CLI
 * from its flags — and a program that imports the kernel may `configure` them instead. Values are read when asked
 * for, so a test or a cell that changes the environment is seen at once.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ProviderSetting } from './onnx/providers';

export const ENV = {
  /** Folder of every cache (default ~/.cache/magicportrait). */
  cache: 'MAGICPORTRAIT_CACHE',
  /** Size limit of the stage cache in bytes (0 = none). */
  cacheMaxBytes: 'MAGICPORTRAIT_CACHE_MAX_BYTES',
  /** ONNX Runtime execution provider: cpu, cuda, dml, coreml, webgpu or auto. */
  provider: 'MAGICPORTRAIT_EP',
  /** ONNX Runtime intra-op threads (0 = one per core). */
  threads: 'MAGICPORTRAIT_THREADS',
  /** An ffmpeg binary (io/ffmpeg.ts). */
  ffmpeg: 'MAGICPORTRAIT_FFMPEG',
  /** The Python that runs the trainer (train/python.ts, `mp.train`). */
  python: 'MAGICPORTRAIT_PYTHON',
} as const;

export interface KernelSettings {
  cacheRoot: string;
  /** 0 = no limit. */
  cacheMaxBytes: number;
  provider: ProviderSetting;
  /** 0 = ONNX Runtime's default, one per core. */
  threads: number;
}

/** Default size limit of the stage cache: 10 GiB (a 5-minute 512² guidance sequence takes about 2 GiB). */
export const DEFAULT_CACHE_MAX_BYTES = 10 * 1024 ** 3;

const overrides: Partial<KernelSettings> = {};

/** Sets values for this process (over the environment); `undefined` returns a value to the environment's. */
export function configure(update: Partial<KernelSettings>): void {
  for (const [k, v] of Object.entries(update) as [keyof KernelSettings, never][]) {
    if (v === undefined) delete overrides[k];
    else overrides[k] = v;
  }
}

/** The settings now: `configure`d values, else the environment's, else the defaults. */
export function settings(env: NodeJS.ProcessEnv = process.env): Readonly<KernelSettings> {
  const fromEnv = environmentSettings(env);
  return { ...fromEnv, ...overrides };
}

/** The settings the environment alone gives (what a kernel process started with `env` uses). */
export function environmentSettings(env: NodeJS.ProcessEnv): KernelSettings {
  const max = Number(env[ENV.cacheMaxBytes]);
  const threads = Number(env[ENV.threads]);
  const provider = env[ENV.provider];
  return {
    // an empty value counts as unset (a cleared VS Code setting)
    cacheRoot: env[ENV.cache] || join(homedir(), '.cache', 'magicportrait'),
    cacheMaxBytes: env[ENV.cacheMaxBytes] !== undefined && Number.isFinite(max) && max >= 0 ? max : DEFAULT_CACHE_MAX_BYTES,
    // an unknown name is kept: onnx/providers.ts rejects it with the list of what is available
    provider: provider ? (provider as ProviderSetting) : 'cpu',
    threads: Number.isFinite(threads) && threads > 0 ? Math.floor(threads) : 0,
  };
}

/** A folder under the cache root: `cacheDir('stages')`, `cacheDir('bundles', 'tiny')`. */
export function cacheDir(...parts: string[]): string {
  return join(settings().cacheRoot, ...parts);
}
