/**
 * Renderers ask the extension for artifact bytes by hash (they cannot read the disk). The store is
 * `<notebook>.artifacts/`; the hash is verified before anything is sent back.
 */
import * as vscode from 'vscode';
import { createHash } from 'node:crypto';
import type { KernelClient } from '../kernel/runtime/client';
import { relayRowsRequest, type RendererRowsRequest } from './attention-rows';

export const RENDERER_IDS = ['magicportrait-frames', 'magicportrait-video', 'magicportrait-mesh', 'magicportrait-attention'] as const;

interface ArtifactRequest {
  type: 'artifact';
  requestId: number;
  hash: string;
  ext: string;
}

export interface MessagingHooks {
  /** The running kernel of a notebook, if any (never starts one): the attention explorer's row requests go there. */
  kernelOf?(notebook: vscode.NotebookDocument): KernelClient | undefined;
}

export function registerArtifactMessaging(context: vscode.ExtensionContext, hooks: MessagingHooks = {}): void {
  // Only renderers this build declares may open a messaging channel (VS Code refuses the others).
  const declared = new Set(((context.extension.packageJSON.contributes?.notebookRenderer ?? []) as { id: string }[]).map((r) => r.id));
  for (const id of RENDERER_IDS.filter((r) => declared.has(r))) {
    const messaging = vscode.notebooks.createRendererMessaging(id);
    context.subscriptions.push(
      messaging.onDidReceiveMessage(async ({ editor, message }) => {
        if ((message as RendererRowsRequest)?.type === 'attention-rows' && id === 'magicportrait-attention') {
          const m = message as RendererRowsRequest;
          const reply = await relayRowsRequest(hooks.kernelOf?.(editor.notebook), m).catch((e: Error) => ({
            type: 'attention-rows' as const,
            requestId: m.requestId,
            ok: false as const,
            error: e.message,
          }));
          void messaging.postMessage(reply, editor);
          return;
        }
        const m = message as ArtifactRequest;
        if (m?.type !== 'artifact') return;
        try {
          if (!/^[0-9a-f]{64}$/.test(m.hash) || !/^[a-z0-9]+$/.test(m.ext)) throw new Error('bad artifact reference');
          const nb = editor.notebook.uri;
          const file = nb.with({ path: `${nb.path}.artifacts/${m.hash}.${m.ext}` });
          const bytes = await vscode.workspace.fs.readFile(file);
          if (createHash('sha256').update(bytes).digest('hex') !== m.hash) throw new Error(`artifact ${m.hash.slice(0, 12)} is damaged`);
          void messaging.postMessage({ type: 'artifact', requestId: m.requestId, base64: Buffer.from(bytes).toString('base64') }, editor);
        } catch (e) {
          void messaging.postMessage({ type: 'artifact', requestId: m.requestId, error: (e as Error).message }, editor);
        }
      }),
    );
  }
}
