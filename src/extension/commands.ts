/** Command implementations that need the open notebook. */
import * as vscode from 'vscode';
import { ArtifactStore, CELL_METADATA_KEY, referencedHashes, unreferencedWrites, withKeptArtifacts } from '../kernel/host';

const decoder = new TextDecoder();

/** Artifact hashes the cell's current outputs reference. */
export function outputReferences(cell: vscode.NotebookCell, into = new Set<string>()): Set<string> {
  for (const out of cell.outputs) for (const item of out.items) if (item.mime.endsWith('+json')) referencedHashes(decoder.decode(item.data), into);
  return into;
}

/**
 * Lists in the cell's metadata what the cell wrote to the artifact store that its outputs do not show, so that
 * *Remove Unreferenced Artifacts* keeps it (run-notebook.ts does the same for the CLI).
 */
export async function recordKeptArtifacts(cell: vscode.NotebookCell, written: { hash: string; ext: string }[] | undefined): Promise<void> {
  const kept = unreferencedWrites(written, outputReferences(cell));
  const before = cell.metadata as Record<string, unknown>;
  if (!kept.length && !(before[CELL_METADATA_KEY] as { artifacts?: unknown } | undefined)?.artifacts) return;
  const edit = new vscode.WorkspaceEdit();
  edit.set(cell.notebook.uri, [vscode.NotebookEdit.updateCellMetadata(cell.index, withKeptArtifacts(before, kept))]);
  await vscode.workspace.applyEdit(edit);
}

/** Removes artifacts that no output of the (saved or unsaved) notebook references, nor any cell keeps. */
export async function cleanArtifacts(nb: vscode.NotebookDocument): Promise<string> {
  if (nb.uri.scheme !== 'file') return 'Artifacts can only be cleaned for notebooks on disk.';
  const refs = new Set<string>();
  for (const cell of nb.getCells()) {
    outputReferences(cell, refs);
    const ours = (cell.metadata as Record<string, unknown>)[CELL_METADATA_KEY];
    if (ours) referencedHashes(ours, refs);
  }
  const { removed, bytes } = ArtifactStore.besideNotebook(nb.uri.fsPath).collectGarbage(refs);
  return `Removed ${removed} unreferenced artifact(s) (${(bytes / 1e6).toFixed(2)} MB); ${refs.size} in use.`;
}
