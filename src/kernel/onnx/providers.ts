/**
 * Which ONNX Runtime execution providers this installation can use, and which one a setting picks.
 *
 * onnxruntime-node 1.30 ships, per platform (its README's table and the binaries in bin/napi-v6):
 *   linux-x64     cpu, webgpu; cuda once its provider libraries are installed (`magicportrait runtime install-cuda`)
 *   linux-arm64   cpu
 *   win32-x64     cpu, dml (DirectML.dll ships beside it), webgpu
 *   darwin-arm64  cpu, coreml, webgpu
 * The binding reports what it was built with (`listSupportedBackends`, `bundled: false` for CUDA, whose libraries are
 * not in the npm package); CUDA additionally needs NVIDIA's CUDA 12 and cuDNN 9 libraries on the loader path.
 */
import * as ort from 'onnxruntime-node';
import { MagicPortraitError } from '../errors';
import { checkCudaLibraries, cudaProviderFiles, CUDA_REQUIREMENT, ortBinaryDir } from './cuda-runtime';

export { ortBinaryDir };

export const PROVIDER_NAMES = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type ExecutionProviderName = (typeof PROVIDER_NAMES)[number];
/** The `magicportrait.executionProvider` setting: a provider, or 'auto' (the best ready accelerator, else the CPU). */
export type ProviderSetting = ExecutionProviderName | 'auto';
export const PROVIDER_SETTINGS: readonly ProviderSetting[] = [...PROVIDER_NAMES, 'auto'];

/** 'auto' tries these in order. WebGPU is left out: it is experimental in ONNX Runtime and may be a software adapter. */
export const AUTO_ORDER: readonly ExecutionProviderName[] = ['cuda', 'dml', 'coreml'];

/** GPU/NPU providers: graphs may compute in float16 there. */
export const ACCELERATORS: ReadonlySet<ExecutionProviderName> = new Set(['cuda', 'dml', 'coreml', 'webgpu']);

export interface ProviderStatus {
  name: ExecutionProviderName;
  /** The installed onnxruntime-node binary for this platform was built with it. */
  built: boolean;
  /** Everything it needs is in place (for CUDA: the provider libraries and NVIDIA's libraries). */
  ready: boolean;
  /** One line: what it is, or what is missing and how to get it. */
  detail: string;
}

export function isProviderSetting(v: unknown): v is ProviderSetting {
  return typeof v === 'string' && (PROVIDER_SETTINGS as readonly string[]).includes(v);
}

/** The backends the binding reports (name → bundled). */
function bindingBackends(): Map<string, boolean> {
  const list = (ort as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }).listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  return new Map(list.map((b) => [b.name, b.bundled]));
}

export interface StatusOptions {
  /** Extra folders searched for NVIDIA's libraries (tests). */
  libraryDirs?: string[];
  /** The onnxruntime-node binary folder (tests). */
  binDir?: string;
}

/** The state of every provider on this machine. */
export function providerStatuses(o: StatusOptions = {}): ProviderStatus[] {
  const backends = bindingBackends();
  const plat = `${process.platform}-${process.arch}`;
  return PROVIDER_NAMES.map((name): ProviderStatus => {
    const built = backends.has(name);
    if (name === 'cpu') return { name, built: true, ready: true, detail: 'ONNX Runtime CPU (MLAS), float32' };
    if (!built) return { name, built, ready: false, detail: `not in onnxruntime-node's ${plat} build (${notBuiltHint(name)})` };
    if (name === 'cuda') {
      const files = cudaProviderFiles(o.binDir ?? ortBinaryDir());
      const missingFiles = files.filter((f) => !f.present).map((f) => f.name);
      if (missingFiles.length)
        return { name, built, ready: false, detail: `its provider libraries are not installed (${missingFiles.join(', ')}): run "MagicPortrait: Install CUDA Runtime" or \`magicportrait runtime install-cuda\`` };
      const libs = checkCudaLibraries({ extraDirs: o.libraryDirs, binDir: o.binDir });
      if (!libs.ok) return { name, built, ready: false, detail: `needs ${CUDA_REQUIREMENT}; not found on the library path: ${libs.missing.join(', ')}` };
      return { name, built, ready: true, detail: `NVIDIA CUDA (${libs.found.map((l) => l.name).join(', ')})` };
    }
    if (name === 'dml') return { name, built, ready: true, detail: 'DirectML (DirectX 12 GPUs)' };
    if (name === 'coreml') return { name, built, ready: true, detail: 'Core ML (Apple GPU / Neural Engine; unsupported nodes run on the CPU)' };
    return { name, built, ready: true, detail: 'WebGPU (experimental in ONNX Runtime; needs a Vulkan, Metal or Direct3D 12 adapter)' };
  });
}

function notBuiltHint(name: ExecutionProviderName): string {
  switch (name) {
    case 'cuda':
      return 'CUDA is only in the Linux x64 binary';
    case 'dml':
      return 'DirectML is only in the Windows binaries';
    case 'coreml':
      return 'Core ML is only in the macOS binary';
    case 'webgpu':
      return 'WebGPU is not in the Linux arm64 binary';
    default:
      return '';
  }
}

/**
 * The provider a setting picks: 'auto' → the first ready of AUTO_ORDER, else 'cpu'. A named provider that is not ready
 * is a MagicPortraitError saying what is missing and what is available.
 */
export function resolveProvider(setting: ProviderSetting, o: StatusOptions = {}): ExecutionProviderName {
  if (!isProviderSetting(setting))
    throw new MagicPortraitError(`Unknown execution provider '${String(setting)}' (magicportrait.executionProvider): choose one of ${PROVIDER_SETTINGS.join(', ')}.`, 'bad-setting');
  if (setting === 'cpu') return 'cpu';
  const all = providerStatuses(o);
  if (setting === 'auto') return AUTO_ORDER.find((n) => all.find((s) => s.name === n)!.ready) ?? 'cpu';
  const s = all.find((x) => x.name === setting)!;
  if (s.ready) return setting;
  const ready = all.filter((x) => x.ready).map((x) => x.name);
  throw new MagicPortraitError(
    `Execution provider '${setting}' is not available: ${s.detail}. Available here: ${ready.join(', ')}. ` +
      `Change the magicportrait.executionProvider setting (or MAGICPORTRAIT_EP) to one of them, or to 'auto'.`,
    'provider-unavailable',
  );
}

/** A plain-text / Markdown table of the providers (what `mp.providers()` shows). */
export function formatProviderStatuses(list: ProviderStatus[], markdown = false): string {
  if (!markdown) return list.map((s) => `${s.name.padEnd(7)} ${s.ready ? 'ready  ' : s.built ? 'missing' : '—      '} ${s.detail}`).join('\n');
  return ['| provider | state | |', '|---|---|---|', ...list.map((s) => `| \`${s.name}\` | ${s.ready ? 'ready' : s.built ? 'not ready' : 'not in this build'} | ${s.detail.replace(/\|/g, '\\|')} |`)].join('\n');
}
