/**
 * Headless notebook execution (papermill-style): parameters injected after the `parameters` cell, every code cell
 * run in a kernel process, outputs recorded as VS Code would, the executed notebook written after each cell so a
 * crash still leaves what ran.
 */
import type { KernelClient } from '../runtime/client';
import { writeFileAtomic } from '../io/temp-files';
import { referencedHashes, unreferencedWrites, withKeptArtifacts } from '../runtime/artifacts';
import type { MimeBundle } from '../../shared/outputs';
import { newCodeCell, parametersCellIndex, serializeNotebook, type NotebookData, type OutputData } from './nbformat';

export interface RunNotebookOptions {
  kernel: KernelClient;
  /** Where the executed notebook is written; artifacts go to `<outPath>.artifacts/`. */
  outPath: string;
  parameters?: Record<string, unknown>;
  /** Folder relative paths in cells resolve against (the source notebook's). */
  baseDir?: string;
  log?: (line: string) => void;
  /** Aborting stops the run: the running cell is interrupted (the kernel killed if it does not stop), no more run. */
  signal?: AbortSignal;
}

export interface RunNotebookResult {
  notebook: NotebookData;
  /** 0-based index (in the executed notebook) and label of the first failing cell, if any. */
  failed: { index: number; label: string; message: string } | null;
  /** The run was stopped through `signal` (in the cell named by `failed`, or between cells). */
  interrupted: boolean;
}

export const INJECTED_TAG = 'injected-parameters';

/** TypeScript source that declares the given parameters, for the injected cell. */
export function parameterSource(params: Record<string, unknown>): string {
  return Object.entries(params)
    .map(([k, v]) => {
      if (!/^[A-Za-z_$][\w$]*$/.test(k)) throw new Error(`Parameter name '${k}' is not a valid identifier`);
      return `const ${k} = ${JSON.stringify(v)};`;
    })
    .join('\n');
}

export async function runNotebook(nb: NotebookData, opts: RunNotebookOptions): Promise<RunNotebookResult> {
  const log = opts.log ?? (() => {});
  let cells = nb.cells.map((c) => ({ ...c, outputs: [] as OutputData[], executionCount: null as number | null }));
  if (opts.parameters && Object.keys(opts.parameters).length) {
    // A notebook executed before carries the values injected then: new values replace them (papermill does the same),
    // else the old cell, running after the new one, would win.
    cells = cells.filter((c) => !isInjected(c));
    const at = parametersCellIndex({ ...nb, cells }) + 1; // 0 when there is no parameters cell: inject first
    cells.splice(at, 0, newCodeCell(parameterSource(opts.parameters), { tags: [INJECTED_TAG] }));
  }
  const out: NotebookData = { ...nb, cells };
  // a temp name of this process: two runs writing the same --out never trip over each other's temp file
  const save = () => writeFileAtomic(opts.outPath, serializeNotebook(out));
  const signal = opts.signal;
  const onAbort = () => opts.kernel.interrupt();
  signal?.addEventListener('abort', onAbort);
  try {
    return await runCells(cells, out, save, opts, log);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function isInjected(c: { metadata: Record<string, unknown> }): boolean {
  return Array.isArray(c.metadata.tags) && (c.metadata.tags as unknown[]).includes(INJECTED_TAG);
}

async function runCells(cells: NotebookData['cells'], out: NotebookData, save: () => void, opts: RunNotebookOptions, log: (line: string) => void): Promise<RunNotebookResult> {
  let count = 0;
  let codeIndex = 0;
  // started here, so an abort while it starts is seen before the first cell (between the check and the send
  // below nothing else can run)
  if (cells.some((c) => c.kind === 'code' && c.source.trim())) await opts.kernel.start();
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i]!;
    if (cell.kind !== 'code' || !cell.source.trim()) continue;
    const label = `Cell ${++codeIndex}`;
    if (opts.signal?.aborted) {
      save();
      return { notebook: out, failed: { index: i, label, message: 'Interrupted before it started.' }, interrupted: true };
    }
    const outputs = cell.outputs;
    const displayAt = new Map<string, number>();
    const t0 = Date.now();
    log(`▶ ${label}`);
    const outcome = await opts.kernel.execute(
      { code: cell.source, cellLabel: label, notebookPath: opts.outPath, ...(opts.baseDir ? { baseDir: opts.baseDir } : {}) },
      {
        onStream: (name, text) => {
          const last = outputs.at(-1);
          if (last?.kind === 'stream' && last.name === name) last.text += text;
          else outputs.push({ kind: 'stream', name, text });
        },
        onDisplay: (bundle: MimeBundle, displayId?: string) => {
          if (displayId) displayAt.set(displayId, outputs.length);
          outputs.push({ kind: 'display', data: bundle });
        },
        onUpdate: (bundle: MimeBundle, displayId: string) => {
          const at = displayAt.get(displayId);
          if (at !== undefined) outputs[at] = { kind: 'display', data: bundle };
        },
      },
    );
    cell.executionCount = ++count;
    cell.metadata = withKeptArtifacts(cell.metadata, unreferencedWrites(outcome.artifacts, referencedHashes([outputs, outcome.status === 'ok' ? outcome.result : null])));
    if (outcome.status === 'ok') {
      if (outcome.result) outputs.push({ kind: 'result', data: outcome.result, executionCount: count });
      log(`  ✓ ${label} (${Date.now() - t0} ms)`);
      save();
      continue;
    }
    outputs.push({ kind: 'error', error: outcome.error });
    save();
    log(`  ✗ ${label}: ${outcome.error.name}: ${outcome.error.message}`);
    return { notebook: out, failed: { index: i, label, message: `${outcome.error.name}: ${outcome.error.message}` }, interrupted: !!opts.signal?.aborted };
  }
  save();
  return { notebook: out, failed: null, interrupted: false };
}
