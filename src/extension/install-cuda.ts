/** "MagicPortrait: Install CUDA Runtime": the kernel's installer (src/kernel/onnx/install-cuda.ts) with a progress
 *  notification, Cancel, and the CUDA / cuDNN check in the log; running kernels must restart to load the provider. */
import * as vscode from 'vscode';
import { CancelledError, CUDA_PACKAGE, describeCudaCheck, installCudaProvider, MagicPortraitError } from '../kernel/host';

export async function installCudaRuntime(log: vscode.OutputChannel): Promise<void> {
  log.show(true);
  try {
    const r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'MagicPortrait: installing the ONNX Runtime CUDA provider', cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        let shown = 0;
        return installCudaProvider({
          signal: abort.signal,
          log: (line) => log.appendLine(line),
          onProgress: (p) => {
            if (!p.total) return;
            const pct = (100 * p.received) / p.total;
            progress.report({ message: `${CUDA_PACKAGE}: ${(p.received / 1024 ** 2).toFixed(0)} / ${(p.total / 1024 ** 2).toFixed(0)} MiB`, increment: pct - shown });
            shown = pct;
          },
        });
      },
    );
    if (r.cuda.ok)
      void vscode.window.showInformationMessage(
        `CUDA provider for ONNX Runtime ${r.version} ${r.installed ? 'installed' : 'already installed'}. Set "magicportrait.executionProvider" to "cuda" or "auto" and restart the kernel.`,
      );
    else
      void vscode.window.showWarningMessage(
        `The CUDA provider files are installed, but NVIDIA libraries are missing: ${r.cuda.missing.join(', ')}. See the MagicPortrait log.`,
      );
    log.appendLine(describeCudaCheck(r.cuda));
  } catch (e) {
    if (e instanceof CancelledError) {
      void vscode.window.showInformationMessage('CUDA provider download cancelled; running the command again resumes it.');
      return;
    }
    const msg = e instanceof MagicPortraitError ? e.message : String(e);
    log.appendLine(`Install CUDA Runtime failed: ${msg}`);
    void vscode.window.showErrorMessage(`MagicPortrait: ${msg}`);
  }
}
