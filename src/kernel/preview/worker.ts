// Worker-thread entry for parallel.ts: holds one warper (reference texture + warp tables, sent once) and renders the
// batches of posed vertices it is sent, transferring each frame back. Bundled builds emit it as `preview-worker.js`.
import { parentPort } from 'node:worker_threads';
import { ReferenceTexture } from './reference';
import { PreviewWarper } from './warp';
import type { FromPreviewWorker, ToPreviewWorker } from './parallel';

const port = parentPort;
if (port) {
  let warper: PreviewWarper | null = null;
  let keepMask = true;
  const post = (m: FromPreviewWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  port.on('message', (m: ToPreviewWorker) => {
    try {
      if (m.type === 'init') {
        warper = new PreviewWarper(m.tables, ReferenceTexture.fromData(m.reference));
        keepMask = m.mask;
        return;
      }
      if (!warper) throw new Error('a batch before the init message');
      const ref = warper.ref, V3 = m.ndc.length / m.count;
      for (let k = 0; k < m.count; k++) {
        const rgb = new Uint8Array(ref.width * ref.height * 3);
        const mask = keepMask ? new Uint8Array(ref.width * ref.height) : null;
        warper.render(m.ndc.subarray(k * V3, (k + 1) * V3), rgb, mask ?? undefined);
        post({ type: 'frame', index: m.start + k, rgb, mask }, mask ? [rgb.buffer, mask.buffer] : [rgb.buffer]);
      }
    } catch (e) {
      post({ type: 'error', message: (e as Error)?.message ?? String(e) });
    }
  });
  post({ type: 'ready' });
}
