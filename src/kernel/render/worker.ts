// Worker-thread entry for sequence.ts: renders the batches of frames it is sent and transfers the maps back.
// Bundled builds emit this file as `render-worker.js` next to the bundle (see sequence.ts).
import { parentPort } from 'node:worker_threads';
import { GuidanceRenderer, type GuidanceMaps } from './guidance-maps';
import { mapBuffers, type FromWorker, type ToWorker } from './sequence';

const port = parentPort;
if (port) {
  let renderer: GuidanceRenderer | null = null;
  let job = -1;
  // map sets the main thread handed back (keep: false): drawn over instead of allocating new ones
  let spare: GuidanceMaps[] = [];
  const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  port.on('message', (m: ToWorker) => {
    try {
      if (m.type === 'init') {
        job = m.job;
        renderer = new GuidanceRenderer(m.assets, m.options);
        spare = [];
        return;
      }
      if (m.type === 'recycle') {
        if (m.job === job) spare.push(m.maps);
        return;
      }
      if (m.job !== job || !renderer) throw new Error(`batch for job ${m.job} before its init`);
      const vlen = m.verts.length / m.count;
      const llen = m.lmk ? m.lmk.length / m.count : 0;
      for (let k = 0; k < m.count; k++) {
        const index = m.start + k;
        const maps = renderer.render(
          {
            verts: m.verts.subarray(k * vlen, (k + 1) * vlen),
            transVerts: m.trans ? m.trans.subarray(k * vlen, (k + 1) * vlen) : undefined,
            landmarks: m.lmk ? m.lmk.subarray(k * llen, (k + 1) * llen) : undefined,
          },
          spare.pop(),
          `frame ${index}`,
        );
        post({ type: 'frame', job, index, maps }, mapBuffers(maps));
      }
      post({ type: 'batchDone', job });
    } catch (e) {
      const err = e as { message?: string; code?: string };
      post({ type: 'error', job, message: err?.message ?? String(e), code: typeof err?.code === 'string' ? err.code : 'error' });
    }
  });
  post({ type: 'ready' });
}
