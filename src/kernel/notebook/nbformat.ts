/**
 * .mpnb files are nbformat 4 JSON, readable by Jupyter tooling. This module converts between that JSON and a
 * neutral notebook model shared by the VS Code serializer and the CLI.
 */
import { randomUUID } from 'node:crypto';
import { MagicPortraitError } from '../errors';
import type { ErrorInfo, MimeBundle } from '../runtime/protocol';

export type OutputData =
  | { kind: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { kind: 'display'; data: MimeBundle; metadata?: Record<string, unknown> }
  | { kind: 'result'; data: MimeBundle; executionCount: number | null; metadata?: Record<string, unknown> }
  | { kind: 'error'; error: ErrorInfo };

export interface CellData {
  kind: 'code' | 'markdown';
  source: string;
  language: string;
  id: string;
  outputs: OutputData[];
  executionCount: number | null;
  metadata: Record<string, unknown>;
}

export interface NotebookData {
  cells: CellData[];
  metadata: Record<string, unknown>;
}

export const KERNELSPEC = { name: 'magicportrait', display_name: 'MagicPortrait', language: 'typescript' } as const;

const asText = (v: unknown): string => (Array.isArray(v) ? v.join('') : typeof v === 'string' ? v : '');
/** nbformat stores text as a list of lines, each keeping its newline. */
const toLines = (s: string): string[] => (s === '' ? [] : s.split(/(?<=\n)/));

function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || mime.endsWith('+json');
}

export function parseNotebook(text: string, fileName = 'notebook'): NotebookData {
  let raw: Record<string, unknown>;
  try {
    raw = text.trim() === '' ? { nbformat: 4, nbformat_minor: 5, cells: [], metadata: {} } : JSON.parse(text);
  } catch (e) {
    throw new MagicPortraitError(`${fileName} is not valid notebook JSON: ${(e as Error).message}`, 'bad-notebook');
  }
  if (raw.nbformat !== 4 || !Array.isArray(raw.cells))
    throw new MagicPortraitError(`${fileName} is not an nbformat 4 notebook (nbformat=${String(raw.nbformat)}).`, 'bad-notebook');
  const metadata = (raw.metadata as Record<string, unknown>) ?? {};
  const language = ((metadata.kernelspec as { language?: string })?.language ?? 'typescript') as string;
  const cells = (raw.cells as Record<string, unknown>[]).map((c): CellData => {
    const kind = c.cell_type === 'markdown' || c.cell_type === 'raw' ? 'markdown' : 'code';
    const md = { ...((c.metadata as Record<string, unknown>) ?? {}) };
    const lang = typeof md.language === 'string' ? md.language : kind === 'markdown' ? 'markdown' : language;
    delete md.language;
    return {
      kind,
      source: asText(c.source),
      language: lang,
      id: typeof c.id === 'string' ? c.id : randomUUID().slice(0, 8),
      outputs: kind === 'code' ? ((c.outputs as Record<string, unknown>[]) ?? []).map(parseOutput) : [],
      executionCount: typeof c.execution_count === 'number' ? c.execution_count : null,
      metadata: md,
    };
  });
  return { cells, metadata };
}

function parseOutput(o: Record<string, unknown>): OutputData {
  switch (o.output_type) {
    case 'stream':
      return { kind: 'stream', name: o.name === 'stderr' ? 'stderr' : 'stdout', text: asText(o.text) };
    case 'error':
      return {
        kind: 'error',
        error: { name: String(o.ename ?? 'Error'), message: String(o.evalue ?? ''), stack: ((o.traceback as string[]) ?? []).join('\n') },
      };
    case 'execute_result':
    case 'display_data': {
      const data: MimeBundle = {};
      for (const [mime, v] of Object.entries((o.data as Record<string, unknown>) ?? {})) data[mime] = isJsonMime(mime) ? v : asText(v);
      const metadata = (o.metadata as Record<string, unknown>) ?? {};
      return o.output_type === 'execute_result'
        ? { kind: 'result', data, executionCount: (o.execution_count as number) ?? null, metadata }
        : { kind: 'display', data, metadata };
    }
    default:
      throw new MagicPortraitError(`Unknown output type '${String(o.output_type)}' in notebook.`, 'bad-notebook');
  }
}

export function serializeNotebook(nb: NotebookData): string {
  const metadata = {
    ...nb.metadata,
    kernelspec: { ...KERNELSPEC, ...((nb.metadata.kernelspec as object) ?? {}) },
    language_info: { name: 'typescript', file_extension: '.ts', mimetype: 'text/typescript' },
  };
  const cells = nb.cells.map((c) => {
    const base: Record<string, unknown> = {
      cell_type: c.kind,
      id: c.id,
      metadata: c.kind === 'code' && c.language !== 'typescript' ? { ...c.metadata, language: c.language } : c.metadata,
      source: toLines(c.source),
    };
    if (c.kind === 'code') {
      base.execution_count = c.executionCount;
      base.outputs = c.outputs.map(serializeOutput);
    }
    return base;
  });
  return JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata, cells }, null, 1) + '\n';
}

function serializeOutput(o: OutputData): Record<string, unknown> {
  switch (o.kind) {
    case 'stream':
      return { output_type: 'stream', name: o.name, text: toLines(o.text) };
    case 'error':
      return { output_type: 'error', ename: o.error.name, evalue: o.error.message, traceback: o.error.stack.split('\n') };
    case 'display':
    case 'result': {
      const data: Record<string, unknown> = {};
      for (const [mime, v] of Object.entries(o.data)) data[mime] = isJsonMime(mime) ? v : toLines(String(v));
      return o.kind === 'result'
        ? { output_type: 'execute_result', execution_count: o.executionCount, data, metadata: o.metadata ?? {} }
        : { output_type: 'display_data', data, metadata: o.metadata ?? {} };
    }
  }
}

export function newCodeCell(source: string, metadata: Record<string, unknown> = {}): CellData {
  return { kind: 'code', source, language: 'typescript', id: randomUUID().slice(0, 8), outputs: [], executionCount: null, metadata };
}

/** The cell tagged `parameters` (papermill convention), if any. */
export function parametersCellIndex(nb: NotebookData): number {
  return nb.cells.findIndex((c) => c.kind === 'code' && Array.isArray(c.metadata.tags) && (c.metadata.tags as unknown[]).includes('parameters'));
}
