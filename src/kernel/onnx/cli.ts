/**
 * `magicportrait runtime …`: the ONNX Runtime execution providers of this installation.
 *   magicportrait runtime providers              which providers exist here, which are ready, and what is missing
 *   magicportrait runtime install-cuda [--index URL] [--keep-package]
 *                                                the CUDA provider libraries for the bundled ONNX Runtime (Linux x64)
 */
import { MagicPortraitError } from '../errors';
import { bundledOrtVersion, CUDA_PACKAGE, installCudaProvider } from './install-cuda';
import { formatProviderStatuses, providerStatuses } from './providers';
import type { DownloadProgress } from '../io/download';

export const RUNTIME_USAGE = `  magicportrait runtime providers                            ONNX Runtime execution providers here: ready / missing
  magicportrait runtime install-cuda [--index URL] [--keep-package]
                                                              fetch ONNX Runtime's CUDA provider libraries for the
                                                              bundled version from NuGet (SHA-512 checked, resumable),
                                                              then check for CUDA 12 / cuDNN 9 (Linux x64)`;

export async function runtimeCommand(args: string[], out: (line: string) => void = (l) => console.log(l)): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'providers') {
    out(`onnxruntime-node ${bundledOrtVersion()} on ${process.platform}-${process.arch}:`);
    out(formatProviderStatuses(providerStatuses()));
    return 0;
  }
  if (sub === 'install-cuda') {
    let index: string | undefined;
    let keepPackage = false;
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      if (a === '--index') index = rest[++i];
      else if (a === '--keep-package') keepPackage = true;
      else throw new MagicPortraitError(`Unexpected argument '${a}'\nusage:\n${RUNTIME_USAGE}`, 'bad-argument');
    }
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    let last = 0;
    const progress = (p: DownloadProgress) => {
      const now = Date.now();
      if (now - last < 1000 && p.received !== p.total) return;
      last = now;
      const pct = p.total ? ` ${((100 * p.received) / p.total).toFixed(1)} %` : '';
      process.stderr.write(`\r  ${CUDA_PACKAGE}: ${(p.received / 1024 ** 2).toFixed(1)} MiB${pct}${p.resumedFrom ? ` (resumed at ${(p.resumedFrom / 1024 ** 2).toFixed(1)} MiB)` : ''}   `);
      if (p.received === p.total) process.stderr.write('\n');
    };
    try {
      const r = await installCudaProvider({ index, keepPackage, signal: abort.signal, onProgress: progress, log: out });
      if (!r.cuda.ok) {
        out(`\nThe provider libraries are in place, but the CUDA provider cannot start until the libraries above are found.`);
        return 1;
      }
      out(`\nReady: set magicportrait.executionProvider to 'cuda' (or 'auto').`);
      return 0;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }
  throw new MagicPortraitError(`usage:\n${RUNTIME_USAGE}`, 'bad-argument');
}
