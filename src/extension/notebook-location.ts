/**
 * Where a notebook's relative paths resolve and its artifacts live. A notebook on disk: beside it. An untitled one
 * (*New Notebook* before its first save): paths resolve in the workspace folder and artifacts go to the extension's
 * storage, and when it is saved the artifacts its outputs reference are copied beside the saved file.
 */
import * as vscode from 'vscode';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CELL_METADATA_KEY, referencedHashes } from '../kernel/host';

export interface NotebookLocation {
  /** The notebook's path, or where an untitled one would be saved (for labels and relative paths). */
  notebookPath: string;
  /** Folder relative paths in cells resolve against. */
  baseDir: string;
  /** The artifact store. */
  artifactDir: string;
}

export class NotebookLocations {
  constructor(private readonly untitledRoot: string) {}

  of(nb: vscode.NotebookDocument): NotebookLocation {
    if (nb.uri.scheme === 'file') return { notebookPath: nb.uri.fsPath, baseDir: dirname(nb.uri.fsPath), artifactDir: `${nb.uri.fsPath}.artifacts` };
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath ?? homedir();
    const name = (basename(nb.uri.path) || 'Untitled').replace(/[^\w.-]+/g, '_');
    const file = name.endsWith('.mpnb') ? name : `${name}.mpnb`;
    return { notebookPath: join(folder, file), baseDir: folder, artifactDir: join(this.untitledRoot, `${file}.artifacts`) };
  }

  /**
   * Copies artifacts a notebook on disk references but does not have from the untitled stores (the notebook was
   * untitled until it was saved). Returns how many were copied.
   */
  adoptUntitledArtifacts(nb: vscode.NotebookDocument): number {
    if (nb.uri.scheme !== 'file' || !existsSync(this.untitledRoot)) return 0;
    const refs = new Set<string>();
    const decoder = new TextDecoder();
    for (const cell of nb.getCells()) {
      for (const out of cell.outputs) for (const item of out.items) if (item.mime.endsWith('+json')) referencedHashes(decoder.decode(item.data), refs);
      const ours = (cell.metadata as Record<string, unknown>)[CELL_METADATA_KEY];
      if (ours) referencedHashes(ours, refs);
    }
    if (!refs.size) return 0;
    const store = `${nb.uri.fsPath}.artifacts`;
    const have = new Set(existsSync(store) ? readdirSync(store).map((f) => f.split('.')[0]) : []);
    const missing = [...refs].filter((h) => !have.has(h));
    let copied = 0;
    for (const dir of readdirSync(this.untitledRoot)) {
      const files = readdirSync(join(this.untitledRoot, dir));
      for (const f of files) {
        const hash = f.split('.')[0]!;
        if (!missing.includes(hash) || have.has(hash)) continue;
        mkdirSync(store, { recursive: true });
        copyFileSync(join(this.untitledRoot, dir, f), join(store, f));
        have.add(hash);
        copied++;
      }
    }
    return copied;
  }
}
