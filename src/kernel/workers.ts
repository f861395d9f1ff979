/**
 * Worker threads, shared by the render pool (render/sequence.ts), the preview (preview/parallel.ts) and the data
 * pool (data/pool.ts): finding a module's worker code, starting threads (unref'd by default, so threads kept between
 * runs never hold the process open), the `{ type: 'ready' }` handshake, and dropping a thread that dies.
 *
 * Where a module's worker code lives (resolved relative to that module's own folder):
 *   * bundled (esbuild, one CJS file per entry): `<bundled>` next to the bundle (scripts/build.mjs);
 *   * compiled per file: `worker.js` beside `<sibling>.js`;
 *   * source under tsx: `worker.ts` beside `<sibling>.ts`, started through a tiny eval stub that registers tsx's CJS
 *     hook first (Node 20 workers do not run `--import tsx` before resolving a .ts entry);
 *   * the environment variable `<envVar>=/path/to/worker.js` overrides the search.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface WorkerSpec {
  entry: string;
  eval: boolean;
}

export interface WorkerLocation {
  /** The folder of the module that owns the workers (its `__dirname`), or null when unknown. */
  dir: string | null;
  /** File name of the bundled worker, e.g. 'render-worker.js'. */
  bundled: string;
  /** A module beside `worker.ts` whose presence says the folder is that module's own, e.g. 'guidance-maps'. */
  sibling: string;
  /** Environment variable that names a worker file directly. */
  envVar: string;
}

/** Locates the worker code (see the header); null when there is none. */
export function findWorkerEntry(where: WorkerLocation): WorkerSpec | null {
  const override = process.env[where.envVar];
  if (override && existsSync(override)) return { entry: override, eval: false };
  const dir = where.dir;
  if (!dir) return null;
  if (existsSync(join(dir, where.bundled))) return { entry: join(dir, where.bundled), eval: false };
  if (existsSync(join(dir, 'worker.js')) && existsSync(join(dir, `${where.sibling}.js`))) return { entry: join(dir, 'worker.js'), eval: false };
  const ts = join(dir, 'worker.ts');
  if (existsSync(ts) && existsSync(join(dir, `${where.sibling}.ts`))) {
    try {
      const tsx = createRequire(join(dir, `${where.sibling}.ts`)).resolve('tsx/cjs');
      return { entry: `require(${JSON.stringify(tsx)}); require(${JSON.stringify(ts)});`, eval: true };
    } catch {
      return null;
    }
  }
  return null;
}

interface Started {
  worker: Worker;
  ready: Promise<void>;
}

export interface WorkerPoolOptions {
  /** Unref the threads (default true: kept threads never hold the process open). A pool that one run owns and
   * closes (the data pool) keeps them referenced, so a program waiting only on its workers does not exit early. */
  unref?: boolean;
}

/** Threads of one worker entry, started on demand and kept (unref'd) for the next run. */
export class WorkerPool {
  private started: Started[] = [];

  constructor(readonly spec: WorkerSpec, private readonly options: WorkerPoolOptions = {}) {}

  /** Threads started (ready or starting). */
  get size(): number {
    return this.started.length;
  }

  private start(): Started {
    const worker = new Worker(this.spec.entry, { eval: this.spec.eval, execArgv: [] });
    if (this.options.unref ?? true) worker.unref();
    const ready = new Promise<void>((resolve, reject) => {
      // a thread that exits before it is ready (without an error event) fails the start instead of leaving it waiting
      const onExit = (code: number) => reject(new Error(`exited (code ${code}) before it was ready`));
      const onMsg = (m: { type?: string }) => {
        if (m?.type !== 'ready') return;
        worker.off('message', onMsg);
        worker.off('error', reject);
        worker.off('exit', onExit);
        resolve();
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
      worker.once('exit', onExit);
    });
    ready.catch(() => undefined);
    const s = { worker, ready };
    // a thread that dies leaves the pool (a run in progress has its own listeners and fails)
    const drop = () => { this.started = this.started.filter((x) => x !== s); };
    worker.once('error', drop);
    worker.once('exit', drop);
    return s;
  }

  /**
   * The first `n` threads, started if needed, once they have said they are ready. When one cannot start, every
   * thread is ended and the error is thrown.
   */
  async take(n: number): Promise<Worker[]> {
    while (this.started.length < n) this.started.push(this.start());
    const picked = this.started.slice(0, n);
    try {
      await Promise.all(picked.map((s) => s.ready));
    } catch (e) {
      await this.close();
      throw e;
    }
    return picked.map((s) => s.worker);
  }

  /** Ends these threads (e.g. mid-batch after a failure); later runs start fresh ones. */
  async discard(workers: readonly Worker[]): Promise<void> {
    this.started = this.started.filter((s) => !workers.includes(s.worker));
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** Ends every thread. */
  async close(): Promise<void> {
    const s = this.started;
    this.started = [];
    await Promise.all(s.map((x) => x.worker.terminate()));
  }
}
