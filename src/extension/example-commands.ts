/**
 * *MagicPortrait: New Notebook* (also in File → New File…), *Open Example Notebook…* (the examples the extension
 * ships, copied into the workspace) and *Choose Photo and Video…* (the walkthrough's "point at your photo and video").
 */
import * as vscode from 'vscode';
import { dirname, isAbsolute, relative } from 'node:path';
import { serializeNotebook, type NotebookData } from '../kernel/host';
import { NOTEBOOK_TYPE } from './controller';
import { copyExample, inputParameters, listExamples, setParameters, starterNotebook, type Example } from './examples';
import { MpnbSerializer } from './serializer';

const IMAGES = { Images: ['jpg', 'jpeg', 'png'] };
const VIDEOS = { Videos: ['mp4', 'mov', 'mkv', 'webm', 'avi', 'm4v'] };

function toVscode(nb: NotebookData): vscode.NotebookData {
  return new MpnbSerializer().deserializeNotebook(new TextEncoder().encode(serializeNotebook(nb)));
}

export function registerExampleCommands(context: vscode.ExtensionContext, log: vscode.OutputChannel): void {
  const examplesDir = context.asAbsolutePath('notebooks');
  // The walkthrough is an editor too: while it is active there is no active notebook, so remember the last one.
  let lastNotebook: vscode.NotebookDocument | undefined;
  context.subscriptions.push(
    vscode.window.onDidChangeActiveNotebookEditor((e) => {
      if (e?.notebook.notebookType === NOTEBOOK_TYPE) lastNotebook = e.notebook;
    }),
  );
  const targetNotebook = async (): Promise<vscode.NotebookEditor | undefined> => {
    const active = vscode.window.activeNotebookEditor;
    if (active?.notebook.notebookType === NOTEBOOK_TYPE) return active;
    if (lastNotebook && !lastNotebook.isClosed) return vscode.window.showNotebookDocument(lastNotebook);
    return openExample(examplesDir, 'quickstart', log);
  };
  context.subscriptions.push(
    vscode.commands.registerCommand('magicportrait.newNotebook', async () => {
      const doc = await vscode.workspace.openNotebookDocument(NOTEBOOK_TYPE, toVscode(starterNotebook()));
      await vscode.window.showNotebookDocument(doc);
    }),
    vscode.commands.registerCommand('magicportrait.openExample', (id?: unknown) => openExample(examplesDir, typeof id === 'string' ? id : undefined, log)),
    vscode.commands.registerCommand('magicportrait.chooseInputs', async () => {
      const editor = await targetNotebook();
      if (editor) await chooseInputs(editor);
    }),
  );
}

/** Picks an example (or takes `id`), copies it with its inputs into a workspace folder and opens the copy. */
async function openExample(examplesDir: string, id: string | undefined, log: vscode.OutputChannel): Promise<vscode.NotebookEditor | undefined> {
  const examples = listExamples(examplesDir);
  let example: Example | undefined = id ? examples.find((e) => e.id === id) : undefined;
  if (id && !example) {
    void vscode.window.showErrorMessage(`There is no example notebook '${id}' (examples: ${examples.map((e) => e.id).join(', ')}).`);
    return;
  }
  if (!example) {
    const pick = await vscode.window.showQuickPick(
      examples.map((e) => ({
        label: e.title,
        description: `${e.id}.mpnb`,
        detail: `${e.description} Inputs: ${e.inputs.filter((i) => !/\.md$/i.test(i)).join(', ') || 'none (built-in demo)'}.`,
        example: e,
      })),
      { title: 'Open Example Notebook', placeHolder: 'An example to copy into your workspace and open', matchOnDetail: true },
    );
    if (!pick) return;
    example = pick.example;
  }
  const folder = await destinationFolder();
  if (!folder) return;
  const copy = copyExample(example, folder);
  log.appendLine(`example ${example.id} → ${copy.notebook}${copy.copied.length ? `; copied inputs/${copy.copied.join(', inputs/')}` : ''}`);
  if (copy.kept.length)
    void vscode.window.showWarningMessage(`Kept your own inputs/${copy.kept.join(', inputs/')} (not the example's): the example runs on them.`);
  const doc = await vscode.workspace.openNotebookDocument(vscode.Uri.file(copy.notebook));
  return vscode.window.showNotebookDocument(doc);
}

/** The workspace folder to copy into: the only one, a choice among several, or (no folder open) a folder to pick. */
async function destinationFolder(): Promise<string | undefined> {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
  if (folders.length === 1) return folders[0]!.uri.fsPath;
  if (folders.length > 1) return (await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Copy the example into which folder?' }))?.uri.fsPath;
  const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Copy the example here' });
  return picked?.[0]?.fsPath;
}

/**
 * Sets the photo and driving-video parameters of a MagicPortrait notebook (the active one, else the last one, else the
 * quickstart's copy) from two file dialogs; cancelling the video keeps the current one.
 */
async function chooseInputs(editor: vscode.NotebookEditor): Promise<void> {
  const nb = editor.notebook;
  const data: NotebookData = {
    metadata: {},
    cells: nb.getCells().map((c) => ({ kind: c.kind === vscode.NotebookCellKind.Code ? 'code' : 'markdown', source: c.document.getText(), language: c.document.languageId, id: '', outputs: [], executionCount: null, metadata: { ...c.metadata } })),
  };
  const params = inputParameters(data);
  if (!params || (!params.photo && !params.video)) {
    void vscode.window.showErrorMessage('This notebook has no parameters cell with a photo (reference / portrait) or video (driving) parameter.');
    return;
  }
  const base = nb.uri.scheme === 'file' ? dirname(nb.uri.fsPath) : undefined;
  const asParameter = (uri: vscode.Uri) => {
    const rel = base ? relative(base, uri.fsPath) : uri.fsPath;
    return base && !rel.startsWith('..') && !isAbsolute(rel) ? rel : uri.fsPath;
  };
  const values: Record<string, string> = {};
  if (params.photo) {
    const photo = await vscode.window.showOpenDialog({ title: 'Choose a portrait photo', filters: IMAGES, canSelectMany: false, openLabel: 'Use this photo' });
    if (!photo?.[0]) return;
    values[params.photo] = asParameter(photo[0]);
  }
  if (params.video) {
    const video = await vscode.window.showOpenDialog({ title: 'Choose a driving video (Cancel: keep the current one)', filters: VIDEOS, canSelectMany: false, openLabel: 'Use this video' });
    if (video?.[0]) values[params.video] = asParameter(video[0]);
  }
  const cell = nb.cellAt(params.index);
  const { source, set } = setParameters(cell.document.getText(), values);
  const edit = new vscode.WorkspaceEdit();
  edit.replace(cell.document.uri, new vscode.Range(0, 0, cell.document.lineCount, 0), source);
  await vscode.workspace.applyEdit(edit);
  editor.revealRange(new vscode.NotebookRange(params.index, params.index + 1), vscode.NotebookEditorRevealType.InCenterIfOutsideViewport);
  void vscode.window.showInformationMessage(`Set ${set.map((n) => `${n} = ${JSON.stringify(values[n])}`).join(' and ')}. Run All to follow them.`);
}
