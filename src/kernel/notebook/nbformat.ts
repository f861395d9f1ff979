/**
 * .mpnb files are nbformat 4 JSON, readable by Jupyter tooling. This module converts between that JSON and a
 * neutral notebook model shared by the VS Code serializer and the CLI.
 */
import { randomUUID } from 'node:crypto';
import { MagicPortraitError } from '../errors';
import type { ErrorInfo } from '../../shared/kernel-ipc';
import type { MimeBundle } from '../../shared/outputs';

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

/** nbformat stores text as a list of lines, each keeping its newline. */
const toLines = (s: string): string[] => (s === '' ? [] : s.split(/(?<=\n)/));

function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || mime.endsWith('+json');
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/**
 * Text as nbformat stores it: a string or a list of strings. Anything else is an error naming where it is — a cell
 * whose source is silently read as empty would be erased from the notebook on the next save.
 */
function text(v: unknown, where: () => string, absent = ''): string {
  if (v === undefined) return absent;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((l) => typeof l === 'string')) return v.join('');
  const bad = Array.isArray(v) ? ` (item ${v.findIndex((l) => typeof l !== 'string')} is ${kindOf(v.find((l) => typeof l !== 'string'))})` : '';
  throw new MagicPortraitError(`${where()} must be text (a string or a list of strings), but it is ${kindOf(v)}${bad}.`, 'bad-notebook');
}

export function parseNotebook(source: string, fileName = 'notebook'): NotebookData {
  // A UTF-8 byte order mark (some Windows editors write one) is not part of the JSON.
  const content = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  let raw: unknown;
  try {
    raw = content.trim() === '' ? { nbformat: 4, nbformat_minor: 5, cells: [], metadata: {} } : JSON.parse(content);
  } catch (e) {
    throw new MagicPortraitError(`${fileName} is not valid notebook JSON: ${(e as Error).message}`, 'bad-notebook');
  }
  if (!isObject(raw)) throw new MagicPortraitError(`${fileName} is not an nbformat 4 notebook: its JSON is ${kindOf(raw)}, not an object with "cells".`, 'bad-notebook');
  if (raw.nbformat !== 4 || !Array.isArray(raw.cells))
    throw new MagicPortraitError(`${fileName} is not an nbformat 4 notebook (nbformat=${String(raw.nbformat)}${Array.isArray(raw.cells) ? '' : ', no "cells" list'}).`, 'bad-notebook');
  if (raw.metadata !== undefined && !isObject(raw.metadata))
    throw new MagicPortraitError(`${fileName}: the notebook "metadata" must be an object, but it is ${kindOf(raw.metadata)}.`, 'bad-notebook');
  const metadata = (raw.metadata as Record<string, unknown>) ?? {};
  const language = ((metadata.kernelspec as { language?: string })?.language ?? 'typescript') as string;
  const cells = raw.cells.map((c: unknown, i: number): CellData => {
    const where = `${fileName}: cell ${i + 1}`;
    if (!isObject(c)) throw new MagicPortraitError(`${where} is ${kindOf(c)}, not a cell object.`, 'bad-notebook');
    const named = typeof c.id === 'string' ? `${where} (id ${c.id})` : where;
    if (c.metadata !== undefined && !isObject(c.metadata)) throw new MagicPortraitError(`${named}: "metadata" must be an object, but it is ${kindOf(c.metadata)}.`, 'bad-notebook');
    const kind = c.cell_type === 'markdown' || c.cell_type === 'raw' ? 'markdown' : 'code';
    const md = { ...((c.metadata as Record<string, unknown>) ?? {}) };
    const lang = typeof md.language === 'string' ? md.language : kind === 'markdown' ? 'markdown' : language;
    delete md.language;
    const outputs = kind === 'code' && c.outputs !== undefined ? c.outputs : [];
    if (!Array.isArray(outputs)) throw new MagicPortraitError(`${named}: "outputs" must be a list, but it is ${kindOf(outputs)}.`, 'bad-notebook');
    return {
      kind,
      source: text(c.source, () => `${named}: "source"`),
      language: lang,
      id: typeof c.id === 'string' ? c.id : randomUUID().slice(0, 8),
      outputs: outputs.map((o: unknown, k: number) => parseOutput(o, `${named}, output ${k + 1}`)),
      executionCount: typeof c.execution_count === 'number' ? c.execution_count : null,
      metadata: md,
    };
  });
  return { cells, metadata };
}

function parseOutput(o: unknown, where: string): OutputData {
  if (!isObject(o)) throw new MagicPortraitError(`${where} is ${kindOf(o)}, not an output object.`, 'bad-notebook');
  switch (o.output_type) {
    case 'stream':
      return { kind: 'stream', name: o.name === 'stderr' ? 'stderr' : 'stdout', text: text(o.text, () => `${where}: "text"`) };
    case 'error':
      return {
        kind: 'error',
        error: { name: String(o.ename ?? 'Error'), message: String(o.evalue ?? ''), stack: Array.isArray(o.traceback) ? o.traceback.map(String).join('\n') : '' },
      };
    case 'execute_result':
    case 'display_data': {
      const data: MimeBundle = {};
      if (o.data !== undefined && !isObject(o.data)) throw new MagicPortraitError(`${where}: "data" must be an object of MIME types, but it is ${kindOf(o.data)}.`, 'bad-notebook');
      for (const [mime, v] of Object.entries((o.data as Record<string, unknown>) ?? {})) data[mime] = isJsonMime(mime) ? v : text(v, () => `${where}: "${mime}"`);
      const metadata = isObject(o.metadata) ? o.metadata : {};
      return o.output_type === 'execute_result'
        ? { kind: 'result', data, executionCount: typeof o.execution_count === 'number' ? o.execution_count : null, metadata }
        : { kind: 'display', data, metadata };
    }
    default:
      throw new MagicPortraitError(`${where}: unknown output type '${String(o.output_type)}'.`, 'bad-notebook');
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
