// Parallel rendering of a frame sequence on worker threads.
//
// Frames are handed to `RenderPool` workers in small batches (dynamic balancing: a worker that finishes asks for
// the next batch); each batch's vertices are packed into one Float32Array that is transferred, not copied, and
// every finished map comes back as transferred buffers. Results are delivered in frame order. With `keep: false`
// the buffers of a delivered frame go back to the worker that drew it (transferred again) and are drawn over for a
// later frame, so a long sequence allocates no new map memory.
//
// The threads are a WorkerPool (src/kernel/workers.ts, shared with the preview), which also finds the worker code:
// bundled as `render-worker.js` next to the bundle (the build emits `src/kernel/render/worker.ts` as that entry),
// `worker.js` beside `guidance.js`, `worker.ts` under tsx, or `MAGICPORTRAIT_RENDER_WORKER=/path/to/worker.js`.
// If no worker file is found, or a worker fails to start, rendering falls back to the calling thread (same
// results, one core) and the result says so in `mode` and `reason`.

import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { CancelledError, MagicPortraitError } from '../errors';
import { findWorkerEntry as locate, WorkerPool, type WorkerSpec } from '../workers';
import { GuidanceRenderer, type GuidanceAssets, type GuidanceFrame, type GuidanceMaps, type GuidanceOptions } from './guidance-maps';

export interface SequenceOptions extends GuidanceOptions {
  assets: GuidanceAssets;
  /** Number of workers (default: `os.availableParallelism()`, at most one per frame). 0 renders on this thread. */
  workers?: number;
  /** A pool to reuse (kept open); by default a pool is created for this call and closed at the end. */
  pool?: RenderPool;
  /**
   * Called once per frame, in frame order. With `keep: false` the maps are valid only during the call (their
   * buffers are reused for later frames): copy or encode what you need before returning.
   */
  onFrame?: (index: number, maps: GuidanceMaps) => void;
  /** Called after each frame with the number of frames done. */
  onProgress?: (done: number, total: number) => void;
  /** Keep every frame's maps in the result (default true; set false when `onFrame` consumes them, see there). */
  keep?: boolean;
  signal?: AbortSignal;
}

export interface SequenceResult {
  /** Maps per frame, in frame order (empty when `keep` is false). */
  frames: GuidanceMaps[];
  /** Workers used (0 when rendered on the calling thread). */
  workers: number;
  mode: 'workers' | 'inline';
  /** Why rendering fell back to the calling thread, if it did. */
  reason?: string;
}

// ------------------------------------------------------------------------------------------------ messages
/** @internal main → worker */
export type ToWorker =
  | { type: 'init'; job: number; assets: GuidanceAssets; options: GuidanceOptions }
  | { type: 'batch'; job: number; start: number; count: number; verts: Float32Array; trans: Float32Array | null; lmk: Float32Array | null }
  /** maps of a delivered frame, handed back to be drawn over (keep: false) */
  | { type: 'recycle'; job: number; maps: GuidanceMaps };
/** @internal worker → main */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'frame'; job: number; index: number; maps: GuidanceMaps }
  | { type: 'batchDone'; job: number }
  | { type: 'error'; job: number; message: string; code: string };

/** Buffers of a map set, for a transfer list. */
export function mapBuffers(m: GuidanceMaps): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const a of [m.depth, m.normal, m.render, m.mask, m.landmarks, m.floats?.depth, m.floats?.normal, m.floats?.render]) {
    if (a && a.buffer instanceof ArrayBuffer && !out.includes(a.buffer)) out.push(a.buffer);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ worker entry
let cachedSpec: WorkerSpec | null | undefined;

/** Locate the render worker code (see the file header); null when there is none. */
export function findWorkerEntry(): WorkerSpec | null {
  if (cachedSpec === undefined)
    cachedSpec = locate({ dir: typeof __dirname === 'string' ? __dirname : null, bundled: 'render-worker.js', sibling: 'guidance-maps', envVar: 'MAGICPORTRAIT_RENDER_WORKER' });
  return cachedSpec;
}

// ------------------------------------------------------------------------------------------------ pool
class WorkerStartupError extends Error {}

/** Hands frame `i` to the ordered delivery; `release` (if any) is called once the consumer is done with it. */
type Deliver = (i: number, m: GuidanceMaps, release?: () => void) => void;

/** A set of render workers that can serve several `renderSequence` calls (one at a time). */
export class RenderPool {
  private threads: WorkerPool | null = null;
  private closed = false;
  private running = false;
  private static jobs = 0;

  /** @param size number of workers (default `os.availableParallelism()`) */
  constructor(readonly size = availableParallelism()) {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`pool size must be a positive integer, got ${size}`);
  }

  private pool(): WorkerPool | null {
    const spec = findWorkerEntry();
    if (!spec) return null;
    return (this.threads ??= new WorkerPool(spec));
  }

  /** Start the workers now (otherwise they start on first use). Resolves when they are ready. */
  async warm(): Promise<void> {
    const pool = this.pool();
    if (!pool) throw new MagicPortraitError('the render worker code was not found next to the kernel', 'no-worker');
    await pool.take(this.size);
  }

  /** Terminate every worker. */
  async close(): Promise<void> {
    this.closed = true;
    await this.threads?.close();
  }

  /** @internal run one sequence on up to `want` workers; a worker that cannot start throws WorkerStartupError. */
  async run(frames: readonly GuidanceFrame[], opts: SequenceOptions, want: number, deliver: Deliver): Promise<number> {
    if (this.closed) throw new MagicPortraitError('the render pool is closed', 'closed');
    if (this.running) throw new MagicPortraitError('the render pool is already rendering a sequence', 'busy');
    const pool = this.pool();
    if (!pool) throw new WorkerStartupError('no worker code found next to the kernel');
    this.running = true;
    try {
      let workers: Worker[];
      try {
        workers = await pool.take(Math.min(this.size, want));
      } catch (e) {
        throw new WorkerStartupError(e instanceof Error ? e.message : String(e));
      }
      return await this.dispatch(pool, workers, frames, opts, deliver);
    } finally {
      this.running = false;
    }
  }

  private dispatch(pool: WorkerPool, slots: Worker[], frames: readonly GuidanceFrame[], opts: SequenceOptions, deliver: Deliver): Promise<number> {
    const job = ++RenderPool.jobs;
    const n = frames.length;
    const batch = Math.max(1, Math.min(16, Math.ceil(n / (slots.length * 4))));
    const { assets } = opts;
    const options: GuidanceOptions = {
      width: opts.width, height: opts.height, tform: opts.tform ? Array.from(opts.tform) : null, cropSize: opts.cropSize,
      cam: opts.cam ? Array.from(opts.cam) : undefined, maps: opts.maps, floats: opts.floats, landmarkStyle: opts.landmarkStyle,
    };
    const hasTrans = !!frames[0].transVerts, hasLmk = !!frames[0].landmarks;
    const vlen = frames[0].verts.length, llen = frames[0].landmarks?.length ?? 0;
    const recycle = opts.keep === false;
    return new Promise<number>((resolve, reject) => {
      let next = 0, received = 0, failed = false;
      const cleanup: (() => void)[] = [];
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        for (const c of cleanup) c();
        // workers may be mid-batch: replace them
        void pool.discard(slots);
        reject(e);
      };
      const send = (w: Worker) => {
        if (next >= n) return;
        const start = next, count = Math.min(batch, n - start);
        next += count;
        const verts = new Float32Array(count * vlen);
        const trans = hasTrans ? new Float32Array(count * vlen) : null;
        const lmk = hasLmk ? new Float32Array(count * llen) : null;
        for (let k = 0; k < count; k++) {
          const fr = frames[start + k];
          if (fr.verts.length !== vlen) return fail(new MagicPortraitError(`frame ${start + k}: ${fr.verts.length / 3} vertices, frame 0 has ${vlen / 3}`, 'bad-input'));
          verts.set(fr.verts, k * vlen);
          if (trans) {
            if (!fr.transVerts || fr.transVerts.length !== vlen) return fail(new MagicPortraitError(`frame ${start + k}: transVerts missing or of the wrong length`, 'bad-input'));
            trans.set(fr.transVerts, k * vlen);
          }
          if (lmk) {
            if (!fr.landmarks || fr.landmarks.length !== llen) return fail(new MagicPortraitError(`frame ${start + k}: landmarks missing or of the wrong length`, 'bad-input'));
            lmk.set(fr.landmarks, k * llen);
          }
        }
        const msg: ToWorker = { type: 'batch', job, start, count, verts, trans, lmk };
        const transfer: ArrayBuffer[] = [verts.buffer];
        if (trans) transfer.push(trans.buffer);
        if (lmk) transfer.push(lmk.buffer);
        w.postMessage(msg, transfer);
      };
      for (const w of slots) {
        w.ref();
        const onMessage = (m: FromWorker) => {
          if (failed || m.type === 'ready' || m.job !== job) return;
          if (m.type === 'frame') {
            received++;
            const release = recycle && !failed
              ? () => w.postMessage({ type: 'recycle', job, maps: m.maps } satisfies ToWorker, mapBuffers(m.maps))
              : undefined;
            deliver(m.index, m.maps, release);
            if (received === n) {
              for (const c of cleanup) c();
              resolve(slots.length);
            }
          } else if (m.type === 'batchDone') send(w);
          else if (m.type === 'error') fail(new MagicPortraitError(m.message, m.code));
        };
        const onError = (e: Error) => fail(new MagicPortraitError(`a render worker failed: ${e.message}`, 'worker'));
        const onExit = (code: number) => fail(new MagicPortraitError(`a render worker exited (code ${code})`, 'worker'));
        w.on('message', onMessage);
        w.on('error', onError);
        w.on('exit', onExit);
        cleanup.push(() => {
          w.off('message', onMessage);
          w.off('error', onError);
          w.off('exit', onExit);
          w.unref();
        });
      }
      if (opts.signal) {
        const onAbort = () => fail(new CancelledError('guidance rendering'));
        if (opts.signal.aborted) return onAbort();
        opts.signal.addEventListener('abort', onAbort, { once: true });
        cleanup.push(() => opts.signal!.removeEventListener('abort', onAbort));
      }
      for (const w of slots) {
        const init: ToWorker = { type: 'init', job, assets, options };
        w.postMessage(init);
        send(w);
      }
    });
  }
}

// ------------------------------------------------------------------------------------------------ entry point
/**
 * Render the guidance maps of every frame, in parallel on worker threads when possible.
 * The caller's frame arrays are copied (never detached). Frames must all carry the same fields.
 */
export async function renderSequence(frames: readonly GuidanceFrame[], opts: SequenceOptions): Promise<SequenceResult> {
  const n = frames.length;
  const keep = opts.keep ?? true;
  const out: GuidanceMaps[] = keep ? new Array(n) : [];
  if (n === 0) return { frames: out, workers: 0, mode: 'inline' };
  if (opts.signal?.aborted) throw new CancelledError('guidance rendering');
  // validate the assets and options on this thread first (a 1×1 renderer is cheap), so bad input fails before
  // any worker starts
  new GuidanceRenderer(opts.assets, { ...opts, width: 1, height: 1 });
  // ordered delivery
  const pending = new Map<number, { maps: GuidanceMaps; release?: () => void }>();
  let emitted = 0;
  const deliver: Deliver = (i, maps, release) => {
    pending.set(i, { maps, release });
    while (pending.has(emitted)) {
      const mm = pending.get(emitted)!;
      pending.delete(emitted);
      if (keep) out[emitted] = mm.maps;
      opts.onFrame?.(emitted, mm.maps);
      if (!keep) mm.release?.();
      emitted++;
      opts.onProgress?.(emitted, n);
    }
  };
  const want = Math.min(opts.workers ?? opts.pool?.size ?? availableParallelism(), n);
  let reason: string | undefined;
  if (want >= 1) {
    const pool = opts.pool ?? new RenderPool(want);
    try {
      const used = await pool.run(frames, opts, want, deliver);
      return { frames: out, workers: used, mode: 'workers' };
    } catch (e) {
      if (e instanceof WorkerStartupError) reason = `render workers unavailable (${e.message}); rendered on the calling thread`;
      else throw e;
    } finally {
      if (!opts.pool) await pool.close();
    }
  } else reason = 'workers: 0';
  // inline fallback (also used for workers: 0): same renderer, yielding between frames
  const renderer = new GuidanceRenderer(opts.assets, opts);
  let spare: GuidanceMaps | undefined; // keep: false draws every frame over the previous one's buffers
  for (let i = emitted; i < n; i++) {
    if (opts.signal?.aborted) throw new CancelledError('guidance rendering');
    const maps = renderer.render(frames[i], spare, `frame ${i}`);
    deliver(i, maps, () => (spare = maps));
    if (i + 1 < n) await new Promise<void>((r) => setImmediate(r));
  }
  return { frames: out, workers: 0, mode: 'inline', reason };
}
