/**
 * A pool of worker threads for the per-frame work of dataset writing: rendering + encoding + writing a batch of
 * frames (frame-writer.ts), cropping a video frame and writing it as PNG, or writing an image as PNG. Tasks are queued and handed to the next idle
 * worker; every task writes its own files, so the files do not depend on which worker ran it or in which order.
 *
 * Worker code and threads come from src/kernel/workers.ts, as for the render and preview workers: the bundled
 * `data-worker.js`, a compiled `worker.js`, or `worker.ts` under tsx (`MAGICPORTRAIT_DATA_WORKER` overrides), started by
 * a WorkerPool with its ready handshake. A preparation run owns its pool: the threads stay referenced while it works
 * and end at close(). Over them, this is a task queue over busy / idle slots. Without worker code, or with `size` 0,
 * tasks run on the calling thread (same results).
 */
import { Worker } from 'node:worker_threads';
import { findWorkerEntry, WorkerPool, type WorkerSpec } from '../workers';
import { CancelledError, MagicPortraitError } from '../errors';
import { cropAndWrite, renderFrames, writeImagePng, type ClipJob, type FrameJob, type RenderResult, type StageTimes } from './frame-writer';
import type { Image } from '../io/image';
import type { Affine } from '../perception/warp';

export type DataTask =
  | { id: number; type: 'render'; clip: ClipJob; frames: FrameJob[] }
  | { id: number; type: 'png'; path: string; width: number; height: number; data: Uint8Array }
  | { id: number; type: 'crop'; frame: Image; inverse: Affine; path: string };
export type CropResult = { image: Image; ms: StageTimes };
export type TaskResult = RenderResult | StageTimes | CropResult;
export type DataReply = { id: number; ok: true; result: TaskResult } | { id: number; ok: false; message: string; code: string };

/** Buffers of a result to transfer instead of copying (the crop's pixels). */
export function resultTransfer(r: TaskResult): ArrayBuffer[] {
  return 'image' in r && r.image.data.buffer instanceof ArrayBuffer ? [r.image.data.buffer] : [];
}

/** Marks a promise as handled (it may reject before anyone awaits it) and returns it unchanged. */
export function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Runs one task (in a worker, or inline). */
export async function handleDataTask(task: DataTask): Promise<TaskResult> {
  if (task.type === 'render') return renderFrames(task.clip, task.frames);
  if (task.type === 'crop') return cropAndWrite(task.frame, task.inverse, task.path);
  return writeImagePng(task.path, task.width, task.height, task.data);
}

let cachedSpec: WorkerSpec | null | undefined;

function findDataWorker(): WorkerSpec | null {
  if (cachedSpec === undefined)
    cachedSpec = findWorkerEntry({ dir: typeof __dirname === 'string' ? __dirname : null, bundled: 'data-worker.js', sibling: 'pool', envVar: 'MAGICPORTRAIT_DATA_WORKER' });
  return cachedSpec;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

type Pending = { task: DataTask; transfer: ArrayBuffer[]; resolve: (r: TaskResult) => void; reject: (e: unknown) => void };

export class DataPool {
  private slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly inflight = new Map<number, Pending & { slot: Slot }>();
  private nextId = 1;
  private failure: Error | null = null;
  private readonly threads: WorkerPool | null = null;
  private readonly starting: Promise<void> | null = null;
  /** 'workers' or 'inline' (no worker code found, or size 0), with the reason. */
  readonly mode: 'workers' | 'inline';
  readonly reason?: string;

  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size >= 0)) throw new MagicPortraitError(`--workers must be a non-negative integer, got ${size}`, 'bad-argument');
    const spec = size > 0 ? findDataWorker() : null;
    if (!spec) {
      this.mode = 'inline';
      this.reason = size > 0 ? 'data worker code not found beside the kernel; working on the calling thread' : 'workers: 0';
      return;
    }
    this.mode = 'workers';
    this.threads = new WorkerPool(spec, { unref: false });
    // tasks queue until the threads have said they are ready
    this.starting = this.threads.take(size).then(
      (workers) => {
        if (this.closed) return;
        for (const worker of workers) this.attach(worker);
        this.pump();
      },
      (e: Error) => this.fail(`failed: ${e.message}`),
    );
  }

  private closed = false;

  /** Every task of a failed pool fails with the first failure. */
  private fail(why: string, slot?: Slot): void {
    this.failure ??= new MagicPortraitError(`a data worker ${why}`, 'worker');
    for (const [id, p] of this.inflight) if (!slot || p.slot === slot) {
      this.inflight.delete(id);
      p.reject(this.failure);
    }
    for (const p of this.queue.splice(0)) p.reject(this.failure);
  }

  /** A ready thread becomes an idle slot. */
  private attach(worker: Worker): void {
    const slot: Slot = { worker, busy: false };
    worker.on('message', (m: DataReply) => {
      const p = this.inflight.get(m.id);
      if (!p) return;
      this.inflight.delete(m.id);
      slot.busy = false;
      if (m.ok) p.resolve(m.result);
      else p.reject(new MagicPortraitError(m.message, m.code));
      this.pump();
    });
    worker.on('error', (e) => this.fail(`failed: ${e.message}`, slot));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(`exited (code ${code})`, slot);
    });
    this.slots.push(slot);
  }

  /** Tasks waiting or running. */
  get pending(): number {
    return this.queue.length + this.inflight.size;
  }

  render(clip: ClipJob, frames: FrameJob[]): Promise<RenderResult> {
    return this.submit({ id: 0, type: 'render', clip, frames }, []) as Promise<RenderResult>;
  }

  /** Crops a video frame (its pixel buffer is transferred: do not reuse it), writes the crop as PNG, returns it. */
  crop(frame: Image, inverse: Affine, path: string): Promise<CropResult> {
    const d = frame.data;
    const transfer = this.mode === 'workers' && d.byteOffset === 0 && d.byteLength === d.buffer.byteLength ? [d.buffer as ArrayBuffer] : [];
    return this.submit({ id: 0, type: 'crop', frame, inverse, path }, transfer) as Promise<CropResult>;
  }

  /** Writes an RGB image as PNG; the pixel buffer is transferred to the worker (do not reuse it). */
  png(path: string, width: number, height: number, data: Uint8Array): Promise<StageTimes> {
    const transfer = this.mode === 'workers' && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? [data.buffer as ArrayBuffer] : [];
    return this.submit({ id: 0, type: 'png', path, width, height, data }, transfer) as Promise<StageTimes>;
  }

  private submit(task: DataTask, transfer: ArrayBuffer[]): Promise<TaskResult> {
    if (this.closed) return Promise.reject(new MagicPortraitError('the data pool is closed', 'closed'));
    if (this.failure) return Promise.reject(this.failure);
    task.id = this.nextId++;
    if (this.mode === 'inline') return handleDataTask(task);
    return new Promise((resolve, reject) => {
      this.queue.push({ task, transfer, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.busy || !this.queue.length) continue;
      const p = this.queue.shift()!;
      slot.busy = true;
      this.inflight.set(p.task.id, { ...p, slot });
      slot.worker.postMessage(p.task, p.transfer);
    }
  }

  /** Drops the tasks that have not started (they reject with CancelledError); running ones finish. For Interrupt. */
  abortQueued(): void {
    for (const p of this.queue.splice(0)) p.reject(new CancelledError('data preparation'));
  }

  /** Waits until fewer than `limit` tasks are waiting or running (back-pressure for producers). */
  async drainTo(limit: number, signal?: AbortSignal): Promise<void> {
    while (this.pending > limit) {
      if (signal?.aborted) throw new CancelledError('data preparation');
      await new Promise<void>((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.slots = [];
    await this.starting;
    await this.threads?.close();
  }
}
