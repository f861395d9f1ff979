/**
 * Entry point of a kernel process: receives cells over IPC, runs them one at a time, streams console output and
 * displays back. Started by the VS Code extension (one per notebook) and by the CLI.
 */
import { format } from 'node:util';
import { currentRun } from './runtime/context';
import { toMimeBundle } from './runtime/display';
import { Executor } from './runtime/executor';
import type { AttentionRowsRequest, ExecuteRequest, HostToKernel, KernelToHost } from '../shared/kernel-ipc';
import { mp, VERSION } from './mp';
import { serveAttentionRows } from './pipeline/gge-attention';
import { MagicPortraitError } from './errors';

function send(msg: KernelToHost): void {
  if (process.send) process.send(msg);
}

const executor = new Executor(send);

// Console output of cells (and of timers they leave behind) streams into the cell that owns it.
function stream(name: 'stdout' | 'stderr') {
  return (...args: unknown[]) => {
    const id = executor.streamTarget;
    const text = format(...args) + '\n';
    if (id) send({ type: 'stream', id, name, text });
    else (name === 'stdout' ? process.stdout : process.stderr).write(text);
  };
}
console.log = console.info = console.debug = stream('stdout');
console.error = console.warn = console.trace = stream('stderr');

const g = globalThis as Record<string, unknown>;
g.mp = mp;
g.display = async (value: unknown, displayId?: string) => {
  const run = currentRun();
  run.emitDisplay(await toMimeBundle(value, run), displayId);
};

// A cell's stray promise rejection or thrown timer callback must not take the kernel down.
process.on('unhandledRejection', (reason) => stream('stderr')('Unhandled promise rejection:', reason));
process.on('uncaughtException', (err) => stream('stderr')('Uncaught exception:', err));

const queue: ExecuteRequest[] = [];
let running = false;
async function pump(): Promise<void> {
  if (running) return;
  running = true;
  while (queue.length) await executor.execute(queue.shift()!);
  running = false;
}

let rowsChain: Promise<void> = Promise.resolve();

/** Answers an attention explorer's row request (runs beside cells: it only reads a finished result). */
async function answerRows(msg: AttentionRowsRequest): Promise<void> {
  try {
    const r = await serveAttentionRows(msg.rowsId, msg.guidance, msg.frame, msg.queries, msg.space ?? 'input');
    send({
      type: 'attention-rows',
      requestId: msg.requestId,
      ok: true,
      ...(r.label ? { label: r.label } : {}),
      heads: r.heads,
      grid: r.grid,
      queries: r.queries,
      rows: r.rows,
    });
  } catch (e) {
    const err = e as Error;
    send({
      type: 'attention-rows',
      requestId: msg.requestId,
      ok: false,
      ...(e instanceof MagicPortraitError && e.code === 'stale-output' ? { stale: true } : {}),
      error: { name: err.name ?? 'Error', message: err.message ?? String(e), stack: '' },
    });
  }
}

process.on('message', (msg: HostToKernel) => {
  switch (msg.type) {
    case 'attention-rows':
      // one at a time: a request may build (and then drop) an explorer session of ~1.3 GB at 512²
      rowsChain = rowsChain.then(() => answerRows(msg));
      break;
    case 'execute':
      queue.push(msg);
      void pump();
      break;
    case 'interrupt': {
      // Drop a queued cell outright; ask a running one to stop.
      const i = queue.findIndex((q) => q.id === msg.id);
      if (i >= 0) {
        queue.splice(i, 1);
        send({ type: 'done', id: msg.id, ok: false, cancelled: true, error: { name: 'CancelledError', message: 'Interrupted before it started.', stack: '' } });
      } else executor.interrupt(msg.id);
      break;
    }
    case 'shutdown':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal reaches the whole process group, the kernel included: the host decides (the CLI asks the cell
// to stop, saves what ran, then stops the kernel), so the kernel does not die mid-write on its own.
process.on('SIGINT', () => {});

send({ type: 'ready', pid: process.pid, version: VERSION });
