/** Conversions between kernel MIME bundles / nbformat outputs and VS Code output items. */
import * as vscode from 'vscode';
import type { OutputData } from '../kernel/host';
import type { MimeBundle } from '../shared/outputs';

const STDOUT = 'application/vnd.code.notebook.stdout';
const STDERR = 'application/vnd.code.notebook.stderr';
const ERROR = 'application/vnd.code.notebook.error';
const decoder = new TextDecoder();

const isJson = (mime: string) => mime === 'application/json' || mime.endsWith('+json');

/** Our own MIME types first, so VS Code picks the rich renderer; text/plain last as the fallback. */
export function bundleToItems(bundle: MimeBundle): vscode.NotebookCellOutputItem[] {
  const mimes = Object.keys(bundle).sort((a, b) => rank(a) - rank(b));
  return mimes.map((mime) => {
    const v = bundle[mime];
    if (isJson(mime)) return vscode.NotebookCellOutputItem.json(v, mime);
    if (mime.startsWith('image/') && mime !== 'image/svg+xml') return new vscode.NotebookCellOutputItem(Buffer.from(String(v), 'base64'), mime);
    return vscode.NotebookCellOutputItem.text(String(v), mime);
  });
}

function rank(mime: string): number {
  if (mime.startsWith('application/vnd.magicportrait.')) return 0;
  if (mime === 'text/plain') return 3;
  return 1;
}

export function itemsToOutputs(items: readonly vscode.NotebookCellOutputItem[], executionCount: number | null, metadata?: Record<string, unknown>): OutputData[] {
  const streams = items.filter((i) => i.mime === STDOUT || i.mime === STDERR);
  if (streams.length) return streams.map((i) => ({ kind: 'stream', name: i.mime === STDERR ? 'stderr' : 'stdout', text: decoder.decode(i.data) }));
  const err = items.find((i) => i.mime === ERROR);
  if (err) {
    const e = JSON.parse(decoder.decode(err.data)) as { name?: string; message?: string; stack?: string };
    return [{ kind: 'error', error: { name: e.name ?? 'Error', message: e.message ?? '', stack: e.stack ?? '' } }];
  }
  const data: MimeBundle = {};
  for (const i of items) {
    if (isJson(i.mime)) data[i.mime] = JSON.parse(decoder.decode(i.data));
    else if (i.mime.startsWith('image/') && i.mime !== 'image/svg+xml') data[i.mime] = Buffer.from(i.data).toString('base64');
    else data[i.mime] = decoder.decode(i.data);
  }
  const { executionResult, ...rest } = metadata ?? {};
  return [executionResult ? { kind: 'result', data, executionCount, metadata: rest } : { kind: 'display', data, metadata: rest }];
}
