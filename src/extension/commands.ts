/** Command implementations that need the open notebook. */
import * as vscode from 'vscode';
import { ArtifactStore, referencedHashes } from '../kernel/runtime/artifacts';

const decoder = new TextDecoder();

/** Removes artifacts that no output of the (saved or unsaved) notebook references. */
export async function cleanArtifacts(nb: vscode.NotebookDocument): Promise<string> {
  if (nb.uri.scheme !== 'file') return 'Artifacts can only be cleaned for notebooks on disk.';
  const refs = new Set<string>();
  for (const cell of nb.getCells())
    for (const out of cell.outputs)
      for (const item of out.items) if (item.mime.endsWith('+json')) referencedHashes(decoder.decode(item.data), refs);
  const { removed, bytes } = ArtifactStore.besideNotebook(nb.uri.fsPath).collectGarbage(refs);
  return `Removed ${removed} unreferenced artifact(s) (${(bytes / 1e6).toFixed(2)} MB); ${refs.size} in use.`;
}
