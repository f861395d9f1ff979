/** Reads and writes .mpnb (nbformat 4 JSON) for VS Code, keeping cells, outputs and metadata. */
import * as vscode from 'vscode';
import { parseNotebook, serializeNotebook, type CellData, type NotebookData, type OutputData } from '../kernel/host';
import { bundleToItems, itemsToOutputs } from './outputs';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class MpnbSerializer implements vscode.NotebookSerializer {
  deserializeNotebook(content: Uint8Array): vscode.NotebookData {
    const nb = parseNotebook(decoder.decode(content));
    const data = new vscode.NotebookData(
      nb.cells.map((c) => {
        const cell = new vscode.NotebookCellData(c.kind === 'code' ? vscode.NotebookCellKind.Code : vscode.NotebookCellKind.Markup, c.source, c.language);
        cell.metadata = { ...c.metadata, id: c.id };
        if (c.kind === 'code') {
          cell.outputs = c.outputs.map(outputToVscode);
          if (c.executionCount !== null) cell.executionSummary = { executionOrder: c.executionCount };
        }
        return cell;
      }),
    );
    data.metadata = nb.metadata;
    return data;
  }

  serializeNotebook(data: vscode.NotebookData): Uint8Array {
    const nb: NotebookData = {
      metadata: (data.metadata as Record<string, unknown>) ?? {},
      cells: data.cells.map((c): CellData => {
        const { id, ...metadata } = (c.metadata ?? {}) as Record<string, unknown>;
        return {
          kind: c.kind === vscode.NotebookCellKind.Code ? 'code' : 'markdown',
          source: c.value,
          language: c.kind === vscode.NotebookCellKind.Code ? c.languageId : 'markdown',
          id: typeof id === 'string' ? id : Math.random().toString(16).slice(2, 10),
          outputs: c.kind === vscode.NotebookCellKind.Code ? (c.outputs ?? []).flatMap((o) => itemsToOutputs(o.items, c.executionSummary?.executionOrder ?? null, o.metadata)) : [],
          executionCount: c.executionSummary?.executionOrder ?? null,
          metadata,
        };
      }),
    };
    return encoder.encode(serializeNotebook(nb));
  }
}

export function outputToVscode(o: OutputData): vscode.NotebookCellOutput {
  switch (o.kind) {
    case 'stream':
      return new vscode.NotebookCellOutput([o.name === 'stderr' ? vscode.NotebookCellOutputItem.stderr(o.text) : vscode.NotebookCellOutputItem.stdout(o.text)]);
    case 'error':
      return new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.error(Object.assign(new Error(o.error.message), { name: o.error.name, stack: o.error.stack }))]);
    case 'display':
      return new vscode.NotebookCellOutput(bundleToItems(o.data), o.metadata);
    case 'result':
      return new vscode.NotebookCellOutput(bundleToItems(o.data), { ...o.metadata, executionResult: true });
  }
}
