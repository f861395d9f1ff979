/** Messages between a kernel process and its host (the VS Code extension or the CLI), sent over Node IPC. */

/** A Jupyter-style MIME bundle: MIME type → data (string for text types, JSON-able value for +json types). */
export type MimeBundle = Record<string, unknown>;

export interface ExecuteRequest {
  type: 'execute';
  id: string;
  code: string;
  /** Shown in stack traces, e.g. "Cell 3". */
  cellLabel: string;
  /** Absolute path of the notebook: relative paths in cells and the artifact store resolve beside it. */
  notebookPath?: string;
  /** Where artifacts go (default: `<notebook>.artifacts/`). */
  artifactDir?: string;
  /** Folder relative paths in cells resolve against (default: the notebook's folder). The CLI writes the executed
   * notebook elsewhere but resolves paths as the source notebook would. */
  baseDir?: string;
}

export type HostToKernel =
  | ExecuteRequest
  | { type: 'interrupt'; id: string }
  | { type: 'shutdown' };

export interface ErrorInfo {
  name: string;
  message: string;
  /** Stack with cell line numbers, kernel-internal frames removed. */
  stack: string;
}

export type KernelToHost =
  | { type: 'ready'; pid: number; version: string }
  | { type: 'stream'; id: string; name: 'stdout' | 'stderr'; text: string }
  | { type: 'display'; id: string; bundle: MimeBundle; displayId?: string }
  | { type: 'update'; id: string; bundle: MimeBundle; displayId: string }
  | { type: 'done'; id: string; ok: true; result?: MimeBundle }
  | { type: 'done'; id: string; ok: false; error: ErrorInfo; cancelled?: boolean };

export const MIME = {
  frames: 'application/vnd.magicportrait.frames+json',
  progress: 'application/vnd.magicportrait.progress+json',
  mesh: 'application/vnd.magicportrait.mesh+json',
  plot: 'application/vnd.magicportrait.plot+json',
  attention: 'application/vnd.magicportrait.attention+json',
  video: 'application/vnd.magicportrait.video+json',
  error: 'application/vnd.code.notebook.error',
} as const;
