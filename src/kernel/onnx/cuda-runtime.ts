/**
 * What ONNX Runtime's CUDA provider needs on Linux x64, and whether this machine has it.
 *
 * onnxruntime-node's Linux x64 binary can load the CUDA provider, but its libraries are not in the npm package
 * (`libonnxruntime_providers_cuda.so` + `libonnxruntime_providers_shared.so`, fetched by `install-cuda.ts` from the
 * NuGet package ONNX Runtime publishes for exactly this version). That provider is built against CUDA 12.x and
 * cuDNN 9.x (ONNX Runtime's CUDA requirements table, 1.19 onwards; onnxruntime-node's installer names it `cuda12`),
 * so it dlopen()s the sonames below. They are looked up the way the dynamic loader does: LD_LIBRARY_PATH, the
 * ld.so cache, the default folders, and the provider's own folder ($ORIGIN). A library that exists only in a
 * CUDA folder the loader does not search (e.g. /usr/local/cuda/lib64 without an ld.so.conf entry) is reported with
 * that folder, so the message can say what to add to LD_LIBRARY_PATH.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const CUDA_MAJOR = 12;
export const CUDNN_MAJOR = 9;
export const CUDA_REQUIREMENT = `NVIDIA CUDA ${CUDA_MAJOR}.x and cuDNN ${CUDNN_MAJOR}.x (and an NVIDIA driver for CUDA ${CUDA_MAJOR}, ≥ 525)`;

/** The provider plug-ins onnxruntime-node loads from its own binary folder. */
export const CUDA_PROVIDER_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'] as const;

/** The NVIDIA libraries the CUDA provider dlopen()s (soname → what it is). */
export const CUDA_LIBRARIES: readonly { soname: string; what: string }[] = [
  { soname: 'libcuda.so.1', what: 'NVIDIA driver' },
  { soname: `libcudart.so.${CUDA_MAJOR}`, what: `CUDA ${CUDA_MAJOR} runtime` },
  { soname: `libcublas.so.${CUDA_MAJOR}`, what: `cuBLAS (CUDA ${CUDA_MAJOR})` },
  { soname: `libcublasLt.so.${CUDA_MAJOR}`, what: `cuBLASLt (CUDA ${CUDA_MAJOR})` },
  { soname: 'libcufft.so.11', what: `cuFFT (CUDA ${CUDA_MAJOR})` },
  { soname: 'libcurand.so.10', what: `cuRAND (CUDA ${CUDA_MAJOR})` },
  { soname: `libcudnn.so.${CUDNN_MAJOR}`, what: `cuDNN ${CUDNN_MAJOR}` },
];

/** The folder onnxruntime-node loads its native libraries (and provider plug-ins) from, for a platform. Resolved
 *  without loading the native binding (the VS Code extension host calls this). */
export function ortBinaryDir(platform: string = process.platform, arch: string = process.arch): string {
  return join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', platform, arch);
}

export function cudaProviderFiles(binDir: string): { name: string; path: string; present: boolean }[] {
  return CUDA_PROVIDER_LIBRARIES.map((name) => ({ name, path: join(binDir, name), present: existsSync(join(binDir, name)) }));
}

export interface CudaLibraryCheck {
  ok: boolean;
  found: { name: string; soname: string; path: string; version?: string }[];
  /** Sonames the loader would not find. */
  missing: string[];
  /** Missing sonames that do exist in a folder the loader does not search (add it to LD_LIBRARY_PATH). */
  offPath: { soname: string; dir: string }[];
  /** From /proc/driver/nvidia/version, when readable. */
  driver?: string;
}

export interface CudaCheckOptions {
  /** Folders searched before the loader's (tests, or a user's extra CUDA folder). */
  extraDirs?: string[];
  /** onnxruntime-node's binary folder ($ORIGIN of the provider). */
  binDir?: string;
  /** LD_LIBRARY_PATH to use (default: this process's). */
  ldLibraryPath?: string;
  /** `ldconfig -p` output to use (default: run it; tests pass their own). */
  ldconfig?: string;
  /** Folders where CUDA is often installed but not on the loader's path (default: /usr/local/cuda*). */
  hintDirs?: string[];
}

function ldconfigCache(): string {
  for (const exe of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    const r = spawnSync(exe, ['-p'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0 && r.stdout) return r.stdout;
  }
  return '';
}

/** soname → path from `ldconfig -p` lines ("\tlibcudart.so.12 (libc6,x86-64) => /usr/lib/…/libcudart.so.12"). */
export function parseLdconfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$/.exec(line);
    if (m && (process.arch !== 'x64' || /x86-64/.test(m[2]!)) && !out.has(m[1]!)) out.set(m[1]!, m[3]!);
  }
  return out;
}

/** "libcudart.so.12.4.127" → "12.4.127" (the file a soname link points to names the full version). */
function versionOf(path: string, soname: string): string | undefined {
  try {
    const real = basename(realpathSync(path));
    return real.startsWith(`${soname}.`) ? real.slice(soname.length + 1) : real.startsWith(soname) ? undefined : real;
  } catch {
    return undefined;
  }
}

function defaultHintDirs(): string[] {
  const dirs: string[] = [];
  try {
    for (const d of readdirSync('/usr/local')) if (/^cuda(-[\d.]+)?$/.test(d)) dirs.push(join('/usr/local', d, 'lib64'), join('/usr/local', d, 'targets', 'x86_64-linux', 'lib'));
  } catch {
    /* no /usr/local */
  }
  return dirs;
}

/** Whether the loader would find every library the CUDA provider needs (Linux). */
export function checkCudaLibraries(o: CudaCheckOptions = {}): CudaLibraryCheck {
  const ldDirs = (o.ldLibraryPath ?? process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  const dirs = [...(o.extraDirs ?? []), ...ldDirs, ...(o.binDir ? [o.binDir] : [])];
  const cache = parseLdconfig(o.ldconfig ?? ldconfigCache());
  const defaults = ['/lib', '/usr/lib', '/lib64', '/usr/lib64'];
  const found: CudaLibraryCheck['found'] = [];
  const missing: string[] = [];
  const offPath: CudaLibraryCheck['offPath'] = [];
  for (const { soname, what } of CUDA_LIBRARIES) {
    const hit = dirs.map((d) => join(d, soname)).find((p) => existsSync(p)) ?? cache.get(soname) ?? defaults.map((d) => join(d, soname)).find((p) => existsSync(p));
    if (hit) {
      found.push({ name: what, soname, path: hit, version: versionOf(hit, soname) });
      continue;
    }
    missing.push(soname);
    const hint = (o.hintDirs ?? defaultHintDirs()).find((d) => existsSync(join(d, soname)));
    if (hint) offPath.push({ soname, dir: hint });
  }
  let driver: string | undefined;
  try {
    driver = /Kernel Module\s+([\d.]+)/.exec(readFileSync('/proc/driver/nvidia/version', 'utf8'))?.[1];
  } catch {
    /* no NVIDIA driver loaded */
  }
  return { ok: missing.length === 0, found, missing, offPath, ...(driver ? { driver } : {}) };
}

/** The check as lines a user can act on. */
export function describeCudaCheck(c: CudaLibraryCheck): string {
  const lines = [`The CUDA provider needs ${CUDA_REQUIREMENT}.`];
  if (c.driver) lines.push(`NVIDIA driver ${c.driver}.`);
  for (const f of c.found) lines.push(`  found   ${f.soname.padEnd(18)} ${f.path}${f.version ? ` (${f.version})` : ''}`);
  for (const m of c.missing) {
    const off = c.offPath.find((o) => o.soname === m);
    const what = CUDA_LIBRARIES.find((l) => l.soname === m)!.what;
    lines.push(`  MISSING ${m.padEnd(18)} ${what}${off ? ` — present in ${off.dir}, which the loader does not search: add it to LD_LIBRARY_PATH` : ''}`);
  }
  if (!c.ok)
    lines.push(
      c.missing.includes('libcuda.so.1')
        ? 'No NVIDIA driver was found: the CUDA provider needs an NVIDIA GPU and its driver.'
        : `Install the CUDA ${CUDA_MAJOR} toolkit libraries and cuDNN ${CUDNN_MAJOR} (NVIDIA's packages, or the pip wheels nvidia-cuda-runtime-cu12, nvidia-cublas-cu12, nvidia-cufft-cu12, nvidia-curand-cu12, nvidia-cudnn-cu12 with their lib folders on LD_LIBRARY_PATH).`,
    );
  return lines.join('\n');
}
