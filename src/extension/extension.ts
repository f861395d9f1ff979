/** Extension entry: the .mpnb serializer, the MagicPortrait controller, renderer messaging, commands, the model manager. */
import * as vscode from 'vscode';
import { join } from 'node:path';
import { MpnbSerializer } from './serializer';
import { MagicPortraitController, NOTEBOOK_TYPE } from './controller';
import { registerArtifactMessaging } from './artifact-messaging';
import { cleanArtifacts } from './commands';
import { registerExampleCommands } from './example-commands';
import { ModelManagerPanel } from './model-manager';
import { NotebookLocations } from './notebook-location';
import { manageCache } from './cache-command';
import { installCudaRuntime } from './install-cuda';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('MagicPortrait');
  context.subscriptions.push(log);
  log.appendLine(`activated; vscode.version=${vscode.version}`);
  context.subscriptions.push(
    vscode.workspace.registerNotebookSerializer(NOTEBOOK_TYPE, new MpnbSerializer(), { transientOutputs: false }),
  );
  const locations = new NotebookLocations(join(context.globalStorageUri.fsPath, 'untitled'));
  const controller = new MagicPortraitController(context, log, locations);
  context.subscriptions.push(controller);
  registerArtifactMessaging(context, {
    kernelOf: (nb) => controller.existingKernel(nb),
    artifactDirOf: (nb) => (nb.uri.scheme === 'file' ? undefined : locations.of(nb).artifactDir),
  });
  // An untitled notebook saved to disk takes the artifacts its outputs show along.
  const adopt = (nb: vscode.NotebookDocument) => {
    if (nb.notebookType !== NOTEBOOK_TYPE) return;
    const n = locations.adoptUntitledArtifacts(nb);
    if (n) log.appendLine(`[${nb.uri.fsPath}] copied ${n} artifact(s) of the untitled notebook beside it`);
  };
  context.subscriptions.push(vscode.workspace.onDidOpenNotebookDocument(adopt), vscode.workspace.onDidSaveNotebookDocument(adopt));
  const activeNotebook = () => vscode.window.activeNotebookEditor?.notebook;
  context.subscriptions.push(
    vscode.commands.registerCommand('magicportrait.restartKernel', async () => {
      const nb = activeNotebook();
      if (nb) await controller.restartKernel(nb);
    }),
    vscode.commands.registerCommand('magicportrait.cleanArtifacts', async () => {
      const nb = activeNotebook();
      if (nb) void vscode.window.showInformationMessage(await cleanArtifacts(nb));
    }),
    vscode.commands.registerCommand('magicportrait.showLog', () => log.show()),
    vscode.commands.registerCommand('magicportrait.manageCache', () => manageCache(log)),
    vscode.commands.registerCommand('magicportrait.openModelManager', () => ModelManagerPanel.show(context, log)),
    vscode.commands.registerCommand('magicportrait.installCudaRuntime', () => installCudaRuntime(log)),
  );
  registerExampleCommands(context, log);
}

export function deactivate(): void {}
