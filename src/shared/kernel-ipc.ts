/** Messages between a kernel process and its host (the VS Code extension or the CLI), sent over Node IPC. */
import type { AttentionRowsQuery, AttentionRowsShape } from './attention';
import type { MimeBundle } from './outputs';

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
export interface AttentionRowsRequest extends AttentionRowsQuery {
  type: 'attention-rows';
  requestId: string;
}

/** The answer: `rows[(head·Q + q)·cells + key]`, each row sums to 1. `stale`: the output is from an earlier kernel. */
export type AttentionRowsReply =
  | ({ type: 'attention-rows'; requestId: string; ok: true; rows: Float32Array } & AttentionRowsShape)
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
  /** The running cell needs up to `ms` to stop cleanly after an interrupt (instead of the host's default grace). */
  | { type: 'grace'; id: string; ms: number }
  | ({ type: 'done'; id: string; ok: true; result?: MimeBundle } & DoneArtifacts)
  | ({ type: 'done'; id: string; ok: false; error: ErrorInfo; cancelled?: boolean } & DoneArtifacts)
  | AttentionRowsReply;

/** Artifacts the cell put into the store (new or already there), so the host can keep those its outputs do not show. */
export interface DoneArtifacts {
  artifacts?: { hash: string; ext: string }[];
}
