/**
 * Headless notebook execution (papermill-style): parameters injected after the `parameters` cell, every code cell
 * run in a kernel process, outputs recorded as VS Code would, the executed notebook written after each cell so a
 * crash still leaves what ran.
 */
import { writeFileSync, renameSync } from 'node:fs';
import type { KernelClient } from '../runtime/client';
import type { MimeBundle } from '../runtime/protocol';
import { newCodeCell, parametersCellIndex, serializeNotebook, type NotebookData, type OutputData } from './nbformat';

export interface RunNotebookOptions {
  kernel: KernelClient;
  /** Where the executed notebook is written; artifacts go to `<outPath>.artifacts/`. */
  outPath: string;
  parameters?: Record<string, unknown>;
  /** Folder relative paths in cells resolve against (the source notebook's). */
  baseDir?: string;
  log?: (line: string) => void;
}

export interface RunNotebookResult {
  notebook: NotebookData;
  /** 0-based index (in the executed notebook) and label of the first failing cell, if any. */
  failed: { index: number; label: string; message: string } | null;
}

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
  const cells = nb.cells.map((c) => ({ ...c, outputs: [] as OutputData[], executionCount: null as number | null }));
  if (opts.parameters && Object.keys(opts.parameters).length) {
    const at = parametersCellIndex(nb) + 1; // 0 when there is no parameters cell: inject first
    cells.splice(at, 0, newCodeCell(parameterSource(opts.parameters), { tags: ['injected-parameters'] }));
  }
  const out: NotebookData = { ...nb, cells };
  const save = () => {
    const tmp = `${opts.outPath}.tmp`;
    writeFileSync(tmp, serializeNotebook(out));
    renameSync(tmp, opts.outPath);
  };
  let count = 0;
  let codeIndex = 0;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i]!;
    if (cell.kind !== 'code' || !cell.source.trim()) continue;
    const label = `Cell ${++codeIndex}`;
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
    if (outcome.status === 'ok') {
      if (outcome.result) outputs.push({ kind: 'result', data: outcome.result, executionCount: count });
      log(`  ✓ ${label} (${Date.now() - t0} ms)`);
      save();
      continue;
    }
    outputs.push({ kind: 'error', error: outcome.error });
    save();
    log(`  ✗ ${label}: ${outcome.error.name}: ${outcome.error.message}`);
    return { notebook: out, failed: { index: i, label, message: `${outcome.error.name}: ${outcome.error.message}` } };
  }
  save();
  return { notebook: out, failed: null };
}
