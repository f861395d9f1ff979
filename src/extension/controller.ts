/**
 * The "MagicPortrait" notebook controller: one kernel process per open notebook, cells run in order, console output
 * and displays stream into the cell, progress displays update in place, interrupt escalates to kill+restart.
 */
import * as vscode from 'vscode';
import { kernelEnvironment } from './kernel-settings';
import { dirname } from 'node:path';
import { KernelClient } from '../kernel/host';
import type { MimeBundle } from '../shared/outputs';
import { bundleToItems } from './outputs';
import { recordKeptArtifacts } from './commands';
import type { NotebookLocations } from './notebook-location';

export const NOTEBOOK_TYPE = 'magicportrait-notebook';

export class MagicPortraitController implements vscode.Disposable {
  private readonly controller: vscode.NotebookController;
  private readonly kernels = new Map<string, KernelClient>();
  private readonly order = new Map<string, number>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.OutputChannel,
    private readonly locations: NotebookLocations,
  ) {
    this.controller = vscode.notebooks.createNotebookController('magicportrait-kernel', NOTEBOOK_TYPE, 'MagicPortrait');
    this.controller.supportedLanguages = ['typescript', 'javascript'];
    this.controller.supportsExecutionOrder = true;
    this.controller.description = 'TypeScript kernel with the MagicPortrait pipeline (mp.*)';
    this.controller.executeHandler = (cells, notebook) => this.executeCells(cells, notebook);
    this.controller.interruptHandler = (notebook) => this.kernels.get(notebook.uri.toString())?.interrupt();
    context.subscriptions.push(vscode.workspace.onDidCloseNotebookDocument((nb) => this.disposeKernel(nb)));
  }

  kernelFor(notebook: vscode.NotebookDocument): KernelClient {
    const key = notebook.uri.toString();
    let k = this.kernels.get(key);
    if (!k) {
      const cfg = vscode.workspace.getConfiguration('magicportrait');
      const env = kernelEnvironment(cfg);
      k = new KernelClient({
        entry: this.context.asAbsolutePath('dist/kernel.js'),
        cwd: this.locations.of(notebook).baseDir,
        env,
        interruptGraceMs: cfg.get<number>('interruptGraceMs', 2000),
      });
      k.on('log', (text: string) => this.log.append(text));
      k.on('exit', (e: { expected: boolean; code: number | null; signal: string | null }) =>
        this.log.appendLine(`[kernel ${notebook.uri.fsPath}] exited (code ${e.code}, signal ${e.signal})${e.expected ? '' : ' unexpectedly'}`),
      );
      this.kernels.set(key, k);
    }
    return k;
  }

  /** The notebook's kernel if one was started (for renderer requests, which must not start a kernel). */
  existingKernel(notebook: vscode.NotebookDocument): KernelClient | undefined {
    return this.kernels.get(notebook.uri.toString());
  }

  async restartKernel(notebook: vscode.NotebookDocument): Promise<void> {
    this.order.set(notebook.uri.toString(), 0);
    await this.kernelFor(notebook).restart();
    this.log.appendLine(`[kernel ${notebook.uri.fsPath}] restarted`);
  }

  private disposeKernel(notebook: vscode.NotebookDocument): void {
    const key = notebook.uri.toString();
    void this.kernels.get(key)?.shutdown();
    this.kernels.delete(key);
  }

  private async executeCells(cells: vscode.NotebookCell[], notebook: vscode.NotebookDocument): Promise<void> {
    let stop = false;
    for (const cell of cells) {
      if (stop) {
        // Cells queued behind a failure or an interrupt do not run; end them without a success state.
        const skipped = this.controller.createNotebookCellExecution(cell);
        skipped.start();
        skipped.end(undefined);
        continue;
      }
      stop = !(await this.executeCell(cell, notebook));
    }
  }

  /** Returns true when the cell succeeded. */
  private async executeCell(cell: vscode.NotebookCell, notebook: vscode.NotebookDocument): Promise<boolean> {
    const exec = this.controller.createNotebookCellExecution(cell);
    const key = notebook.uri.toString();
    const n = (this.order.get(key) ?? 0) + 1;
    this.order.set(key, n);
    exec.executionOrder = n;
    exec.start(Date.now());
    await exec.clearOutput();
    if (!vscode.workspace.isTrusted) {
      await exec.appendOutput(errorOutput('WorkspaceNotTrusted', 'Notebook cells are code. Trust this workspace (Manage Workspace Trust) to run the MagicPortrait kernel.'));
      exec.end(false, Date.now());
      return false;
    }
    const kernel = this.kernelFor(notebook);
    const displays = new Map<string, vscode.NotebookCellOutput>();
    let lastStream: { name: string; output: vscode.NotebookCellOutput; text: string } | null = null;
    // Output calls are queued so they apply in order even though the API is async.
    let chain: Thenable<void> = Promise.resolve();
    const enqueue = (f: () => Thenable<void>) => (chain = chain.then(f, f));
    try {
      const outcome = await kernel.execute(
        { code: cell.document.getText(), cellLabel: `Cell ${cell.index + 1}`, ...this.locations.of(notebook) },
        {
          onStream: (name, text) =>
            enqueue(async () => {
              const item = (t: string) => (name === 'stderr' ? vscode.NotebookCellOutputItem.stderr(t) : vscode.NotebookCellOutputItem.stdout(t));
              if (lastStream?.name === name) {
                lastStream.text += text;
                await exec.replaceOutputItems(item(lastStream.text), lastStream.output);
              } else {
                const output = new vscode.NotebookCellOutput([item(text)]);
                lastStream = { name, output, text };
                await exec.appendOutput(output);
              }
            }),
          onDisplay: (bundle: MimeBundle, displayId?: string) =>
            enqueue(async () => {
              lastStream = null;
              const output = new vscode.NotebookCellOutput(bundleToItems(bundle));
              if (displayId) displays.set(displayId, output);
              await exec.appendOutput(output);
            }),
          onUpdate: (bundle: MimeBundle, displayId: string) =>
            enqueue(async () => {
              const output = displays.get(displayId);
              if (output) await exec.replaceOutputItems(bundleToItems(bundle), output);
            }),
        },
      );
      await chain;
      if (outcome.status === 'ok') {
        if (outcome.result) await exec.appendOutput(new vscode.NotebookCellOutput(bundleToItems(outcome.result), { executionResult: true }));
        exec.end(true, Date.now());
        await recordKeptArtifacts(cell, outcome.artifacts);
        return true;
      }
      await exec.appendOutput(errorOutput(outcome.error.name, outcome.error.message, outcome.error.stack));
      exec.end(false, Date.now());
      await recordKeptArtifacts(cell, outcome.artifacts);
      return false;
    } catch (e) {
      await chain;
      await exec.appendOutput(errorOutput('KernelError', (e as Error).message));
      exec.end(false, Date.now());
      return false;
    }
  }

  dispose(): void {
    for (const k of this.kernels.values()) void k.shutdown();
    this.kernels.clear();
    this.controller.dispose();
  }
}

function errorOutput(name: string, message: string, stack = ''): vscode.NotebookCellOutput {
  const err = Object.assign(new Error(message), { name, stack: stack || `${name}: ${message}` });
  return new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.error(err)]);
}
