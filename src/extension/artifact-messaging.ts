/**
 * Renderers ask the extension for artifact bytes by hash (they cannot read the disk). The store is
 * `<notebook>.artifacts/`; the hash is verified before anything is sent back.
 */
import * as vscode from 'vscode';
import { createHash } from 'node:crypto';
import type { KernelClient } from '../kernel/host';
import { relayRowsRequest } from './attention-rows';
import type { RendererRowsRequest } from '../shared/attention';
import type { ArtifactReply, ArtifactRequest } from '../shared/artifacts';

export const RENDERER_IDS = ['magicportrait-frames', 'magicportrait-video', 'magicportrait-mesh', 'magicportrait-attention'] as const;

export interface MessagingHooks {
  /** The running kernel of a notebook, if any (never starts one): the attention explorer's row requests go there. */
  kernelOf?(notebook: vscode.NotebookDocument): KernelClient | undefined;
  /** The notebook's artifact store on disk (default `<notebook>.artifacts/`; untitled notebooks keep theirs elsewhere). */
  artifactDirOf?(notebook: vscode.NotebookDocument): string | undefined;
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
          const dir = hooks.artifactDirOf?.(editor.notebook);
          const file = dir ? vscode.Uri.file(`${dir}/${m.hash}.${m.ext}`) : nb.with({ path: `${nb.path}.artifacts/${m.hash}.${m.ext}` });
          const bytes = await vscode.workspace.fs.readFile(file);
          if (createHash('sha256').update(bytes).digest('hex') !== m.hash) throw new Error(`artifact ${m.hash.slice(0, 12)} is damaged`);
          void messaging.postMessage({ type: 'artifact', requestId: m.requestId, base64: Buffer.from(bytes).toString('base64') } satisfies ArtifactReply, editor);
        } catch (e) {
          void messaging.postMessage({ type: 'artifact', requestId: m.requestId, error: (e as Error).message } satisfies ArtifactReply, editor);
        }
      }),
    );
  }
}
