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

/**
 * A notebook renderer (the attention explorer) asks for the full attention rows of clicked pixels. The host relays
 * it to the kernel that made the output; `rowsId` is the output's `rows.id` (valid for that kernel session only).
 */
export interface AttentionRowsRequest {
  type: 'attention-rows';
  requestId: string;
  rowsId: string;
  guidance: 'depth' | 'normal' | 'render';
  frame: number;
  queries: { x: number; y: number }[];
  /** 'input': guidance-image pixels (default); 'grid': attention-grid cells. */
  space?: 'grid' | 'input';
}

/** The answer: `rows[(head·Q + q)·cells + key]`, each row sums to 1. `stale`: the output is from an earlier kernel. */
export type AttentionRowsReply =
  | {
      type: 'attention-rows';
      requestId: string;
      ok: true;
      label?: string;
      heads: number;
      grid: { width: number; height: number };
      queries: { x: number; y: number; index: number }[];
      rows: Float32Array;
    }
  | { type: 'attention-rows'; requestId: string; ok: false; stale?: boolean; error: ErrorInfo };

export type HostToKernel =
  | ExecuteRequest
  | AttentionRowsRequest
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
  | { type: 'done'; id: string; ok: false; error: ErrorInfo; cancelled?: boolean }
  | AttentionRowsReply;

export const MIME = {
  frames: 'application/vnd.magicportrait.frames+json',
  progress: 'application/vnd.magicportrait.progress+json',
  mesh: 'application/vnd.magicportrait.mesh+json',
  plot: 'application/vnd.magicportrait.plot+json',
  attention: 'application/vnd.magicportrait.attention+json',
  video: 'application/vnd.magicportrait.video+json',
  error: 'application/vnd.code.notebook.error',
} as const;
