// Worker-thread entry of the data pool (pool.ts): renders / writes the batches it is sent (frame-writer.ts).
// Bundled builds emit this file as `data-worker.js` next to the bundle (scripts/build.mjs).
import { parentPort } from 'node:worker_threads';
import { handleDataTask, resultTransfer, type DataTask, type DataReply } from './pool';

const port = parentPort;
if (port) {
  port.on('message', (task: DataTask) => {
    handleDataTask(task).then(
      (result) => port.postMessage({ id: task.id, ok: true, result } satisfies DataReply, resultTransfer(result)),
      (e: unknown) => {
        const err = e as { message?: string; code?: string };
        port.postMessage({ id: task.id, ok: false, message: err?.message ?? String(e), code: typeof err?.code === 'string' ? err.code : 'error' } satisfies DataReply);
      },
    );
  });
  port.postMessage({ type: 'ready' }); // the handshake of src/kernel/workers.ts
}
