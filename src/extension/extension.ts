/** Extension entry: the .mpnb serializer, the MagicPortrait controller, renderer messaging, commands, the model manager. */
import * as vscode from 'vscode';
import { MpnbSerializer } from './serializer';
import { MagicPortraitController, NOTEBOOK_TYPE } from './controller';
import { registerArtifactMessaging } from './artifact-messaging';
import { cleanArtifacts } from './commands';
import { ModelManagerPanel } from './model-manager';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('MagicPortrait');
  context.subscriptions.push(log);
  log.appendLine(`activated; vscode.version=${vscode.version}`);
  context.subscriptions.push(
    vscode.workspace.registerNotebookSerializer(NOTEBOOK_TYPE, new MpnbSerializer(), { transientOutputs: false }),
  );
  const controller = new MagicPortraitController(context, log);
  context.subscriptions.push(controller);
  registerArtifactMessaging(context, { kernelOf: (nb) => controller.existingKernel(nb) });
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
    vscode.commands.registerCommand('magicportrait.openModelManager', () => ModelManagerPanel.show(context, log)),
  );
}

export function deactivate(): void {}
