/**
 * Fetches artifact bytes from the extension over renderer messaging (renderers cannot read the disk), caching
 * object URLs by hash so scrubbing back and forth does not ask twice.
 */
import type { RendererContext } from 'vscode-notebook-renderer';
import type { ArtifactReply, ArtifactRequest } from '../../src/shared/artifacts';
import type { ArtifactRef } from '../../src/shared/outputs';


export class ArtifactLoader {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(b: Uint8Array): void; reject(e: Error): void }>();
  private readonly urls = new Map<string, Promise<string>>();

  constructor(private readonly ctx: RendererContext<unknown>) {
    if (!ctx.postMessage || !ctx.onDidReceiveMessage) throw new Error('This renderer needs renderer messaging (open the notebook in VS Code with the MagicPortrait extension).');
    ctx.onDidReceiveMessage((msg: unknown) => {
      const m = msg as ArtifactReply;
      if (m?.type !== 'artifact') return;
      const w = this.waiting.get(m.requestId);
      if (!w) return;
      this.waiting.delete(m.requestId);
      if (m.error || !m.base64) w.reject(new Error(m.error ?? 'no data'));
      else w.resolve(Uint8Array.from(atob(m.base64), (c) => c.charCodeAt(0)));
    });
  }

  bytes(ref: ArtifactRef): Promise<Uint8Array> {
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(requestId, { resolve, reject });
      this.ctx.postMessage!({ type: 'artifact', requestId, hash: ref.hash, ext: ref.ext } satisfies ArtifactRequest);
    });
  }

  url(ref: ArtifactRef): Promise<string> {
    let u = this.urls.get(ref.hash);
    if (!u) {
      u = this.bytes(ref).then((b) => URL.createObjectURL(new Blob([b as BlobPart], { type: ref.mime })));
      this.urls.set(ref.hash, u);
      u.catch(() => this.urls.delete(ref.hash));
    }
    return u;
  }
}
