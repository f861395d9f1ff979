// Preview frames on worker threads. The calling thread poses the mesh (FLAME forward + placement, ~1 ms a frame)
// and sends each batch's image-NDC vertices to a worker; the workers hold the reference texture and the warp tables
// (sent once, plain typed arrays, no model) and send back each frame's RGB and mask as transferred buffers.
//
// The threads are a WorkerPool (src/kernel/workers.ts, shared with the render pool), which also finds the worker
// code: bundled as `preview-worker.js` next to the bundle (scripts/build.mjs), `worker.js` beside `parallel.js`,
// `worker.ts` under tsx, or `MAGICPORTRAIT_PREVIEW_WORKER=/path/to/worker.js`.
// Without worker code, or when a worker fails to start, the frames are rendered on the calling thread. The workers
// are kept (unref'd) for the next preview, so only the first one pays their start-up.

import type { Worker } from 'node:worker_threads';
import { CancelledError, MagicPortraitError } from '../errors';
import type { Image, AnyImage } from '../io/image';
import type { ReferenceData } from './reference';
import type { WarpTables } from './warp';
import { prepareReference, renderPreviewFrames, type PreviewFrames, type PreviewRenderOptions } from './frames';
import type { ResolvedPreview } from './inputs';
import { findWorkerEntry, WorkerPool } from '../workers';

/** @internal main → worker */
export type ToPreviewWorker =
  | { type: 'init'; tables: WarpTables; reference: ReferenceData; mask: boolean }
  | { type: 'batch'; start: number; count: number; ndc: Float32Array };
/** @internal worker → main */
export type FromPreviewWorker =
  | { type: 'ready' }
  | { type: 'frame'; index: number; rgb: Uint8Array; mask: Uint8Array | null }
  | { type: 'error'; message: string };

let threads: WorkerPool | null | undefined;

/** The preview's threads (kept between previews); null when there is no worker code. */
function previewThreads(): WorkerPool | null {
  if (threads === undefined) {
    const spec = findWorkerEntry({ dir: typeof __dirname === 'string' ? __dirname : null, bundled: 'preview-worker.js', sibling: 'parallel', envVar: 'MAGICPORTRAIT_PREVIEW_WORKER' });
    threads = spec ? new WorkerPool(spec) : null;
  }
  return threads;
}

export interface ParallelPreviewOptions extends PreviewRenderOptions {
  /** Worker threads (default 2, the preview's budget; 0: the calling thread). */
  workers?: number;
}

/** Ends the kept preview workers (they are unref'd, so this is only needed to free their memory early). */
export async function closePreviewWorkers(): Promise<void> {
  await threads?.close();
}

let running = false;

/**
 * `renderPreviewFrames` on worker threads (same frames); `mode` says whether workers were used, `reason` why not.
 * The workers are kept for the next preview (the first one pays their start-up); a failed or cancelled run ends them.
 */
export async function renderPreviewFramesParallel(
  r: ResolvedPreview, image: Image, options: ParallelPreviewOptions = {},
): Promise<PreviewFrames & { mode: 'workers' | 'inline'; reason?: string }> {
  const n = r.frames.length;
  const want = Math.min(options.workers ?? 2, n);
  const pool = want > 0 ? previewThreads() : null;
  const inline = (reason?: string) => ({ ...renderPreviewFrames(r, image, options), mode: 'inline' as const, ...(reason ? { reason } : {}) });
  if (!pool) return inline(want > 0 ? 'no preview worker code found next to the kernel' : undefined);
  if (running) return inline('another preview holds the workers');
  running = true;
  try {
    return await runOnWorkers(r, image, options, pool, want);
  } finally {
    running = false;
  }
}

async function runOnWorkers(
  r: ResolvedPreview, image: Image, options: ParallelPreviewOptions, pool: WorkerPool, want: number,
): Promise<PreviewFrames & { mode: 'workers' | 'inline'; reason?: string }> {
  const n = r.frames.length;
  const t0 = performance.now();
  const { poser, texture, tables } = prepareReference(r, image, options.region ?? 'face');
  const keepMask = options.mask ?? true;
  const t1 = performance.now();
  const W = image.width, H = image.height, V3 = r.rig.model.numVertices * 3;
  const sink = options.sink;
  const frames: AnyImage[] = sink ? [] : new Array(n), masks: AnyImage[] = keepMask && !sink ? new Array(n) : [];
  const cleanups: (() => void)[] = [];
  let done = 0;
  try {
    const slots = await pool.take(want);
    const reference = texture.toData();
    await new Promise<void>((resolve, reject) => {
      const batch = Math.max(1, Math.min(8, Math.ceil(n / (want * 4))));
      let next = 0, failed = false;
      const inFlight = new Map<Worker, number>();
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        reject(e instanceof Error ? e : new MagicPortraitError(String(e), 'worker'));
      };
      const send = (w: Worker) => {
        // two batches in flight per worker keep it busy while the next one is posed here
        while (!failed && next < n && (inFlight.get(w) ?? 0) < 2 * batch) {
          const start = next, count = Math.min(batch, n - start);
          next += count;
          const ndc = new Float32Array(count * V3);
          try {
            for (let k = 0; k < count; k++) poser.posed(r.frames[start + k]!, ndc.subarray(k * V3, (k + 1) * V3));
          } catch (e) {
            return fail(e);
          }
          inFlight.set(w, (inFlight.get(w) ?? 0) + count);
          w.postMessage({ type: 'batch', start, count, ndc } satisfies ToPreviewWorker, [ndc.buffer]);
        }
      };
      for (const w of slots) {
        const onError = (e: Error) => fail(e);
        const onExit = (code: number) => fail(new MagicPortraitError(`a preview worker stopped (exit code ${code})`, 'worker'));
        const onMessage = (m: FromPreviewWorker) => {
          if (failed) return;
          if (m.type === 'error') return fail(new MagicPortraitError(`preview worker: ${m.message}`, 'worker'));
          if (m.type !== 'frame') return;
          try {
            if (sink) sink(m.index, m.rgb, keepMask ? m.mask : null);
            else {
              frames[m.index] = { width: W, height: H, channels: 3, data: m.rgb };
              if (keepMask && m.mask) masks[m.index] = { width: W, height: H, channels: 1, data: m.mask };
            }
          } catch (e) {
            return fail(e);
          }
          inFlight.set(w, inFlight.get(w)! - 1);
          done++;
          try {
            options.onFrame?.(done);
          } catch (e) {
            return fail(e);
          }
          if (done === n) resolve();
          else send(w);
        };
        w.on('error', onError);
        w.on('exit', onExit);
        w.on('message', onMessage);
        cleanups.push(() => { w.off('error', onError); w.off('exit', onExit); w.off('message', onMessage); });
        w.postMessage({ type: 'init', tables, reference, mask: keepMask } satisfies ToPreviewWorker);
        send(w);
      }
    });
  } catch (e) {
    // stop the batches still queued in the workers: end them (the next preview starts fresh ones)
    for (const c of cleanups.splice(0)) c();
    await closePreviewWorkers();
    // workers that cannot start (or die before the first frame) leave the work to this thread
    if (done > 0 || e instanceof CancelledError) throw e;
    return { ...renderPreviewFrames(r, image, options), mode: 'inline', reason: (e as Error).message };
  } finally {
    for (const c of cleanups) c();
  }
  return { frames, masks: keepMask ? masks : null, setupMs: t1 - t0, framesMs: performance.now() - t1, mode: 'workers' };
}
