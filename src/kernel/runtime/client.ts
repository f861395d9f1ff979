/**
 * Host side of a kernel: spawns the kernel process, sends cells, routes its messages to the caller, and enforces
 * interrupt (cooperative first, then kill and restart after a grace period). Used by the VS Code extension and the
 * CLI; it never imports vscode.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AttentionRowsReply, AttentionRowsRequest, ErrorInfo, ExecuteRequest, KernelToHost } from '../../shared/kernel-ipc';
import type { MimeBundle } from '../../shared/outputs';

const STALE_ROWS = 'The kernel that made this attention output is no longer running: re-run the cell to explore attention rows (the maps still show).';

export interface KernelLaunch {
  /** Module the kernel process runs (dist/kernel.js, or the .ts entry under tsx in tests). */
  entry: string;
  execArgv?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How long an interrupted cell may take to stop before the kernel is killed and restarted. */
  interruptGraceMs?: number;
}

export interface CellCallbacks {
  onStream?(name: 'stdout' | 'stderr', text: string): void;
  onDisplay?(bundle: MimeBundle, displayId?: string): void;
  onUpdate?(bundle: MimeBundle, displayId: string): void;
}

export type CellOutcome = (
  | { status: 'ok'; result?: MimeBundle }
  | { status: 'error'; error: ErrorInfo }
  | { status: 'cancelled'; error: ErrorInfo }
  /** The kernel process died or was killed: variables are gone; the next cell starts a fresh kernel. */
  | { status: 'died'; error: ErrorInfo }
) & {
  /** Artifacts the cell put into the store (see DoneArtifacts). */
  artifacts?: { hash: string; ext: string }[];
};

interface Pending {
  callbacks: CellCallbacks;
  resolve(outcome: CellOutcome): void;
  killTimer?: NodeJS.Timeout;
  interrupted?: boolean;
  /** A longer grace the cell asked for (a stage that must save before it stops, e.g. the trainer). */
  graceMs?: number;
}

export class KernelClient extends EventEmitter {
  private child: ChildProcess | null = null;
  private ready: Promise<void> | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly rowRequests = new Map<string, (reply: AttentionRowsReply) => void>();
  private expectedExit = false;

  constructor(private readonly launch: KernelLaunch) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the kernel process if it is not running. */
  start(): Promise<void> {
    if (this.ready) return this.ready;
    const child = fork(this.launch.entry, [], {
      cwd: this.launch.cwd,
      execArgv: this.launch.execArgv ?? [],
      env: { ...process.env, ...this.launch.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.child = child;
    this.expectedExit = false;
    child.stdout?.on('data', (d: Buffer) => this.emit('log', d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.emit('log', d.toString()));
    this.ready = new Promise((resolve, reject) => {
      const onEarlyExit = (code: number | null, signal: string | null) =>
        reject(new Error(`The kernel process exited while starting (code ${code}, signal ${signal}).`));
      child.once('exit', onEarlyExit);
      child.on('message', (msg: KernelToHost) => {
        if (msg.type === 'ready') {
          child.off('exit', onEarlyExit);
          resolve();
        } else this.route(msg);
      });
    });
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    return this.ready;
  }

  /** Runs one cell and resolves when it finishes, fails, is interrupted, or the kernel dies. */
  async execute(req: Omit<ExecuteRequest, 'type' | 'id'>, callbacks: CellCallbacks = {}): Promise<CellOutcome & { id: string }> {
    await this.start();
    const id = randomUUID();
    const outcome = await new Promise<CellOutcome>((resolve) => {
      this.pending.set(id, { callbacks, resolve });
      this.child!.send({ type: 'execute', id, ...req } satisfies ExecuteRequest);
    });
    return { ...outcome, id };
  }

  /**
   * Relays an attention explorer's row request to the kernel. Never starts a kernel: with none running (or when it
   * dies before answering) the reply is `stale` — the output came from an earlier kernel session.
   */
  attentionRows(req: Omit<AttentionRowsRequest, 'type' | 'requestId'>): Promise<AttentionRowsReply> {
    const requestId = randomUUID();
    const child = this.child;
    if (!child || !child.connected)
      return Promise.resolve({ type: 'attention-rows', requestId, ok: false, stale: true, error: { name: 'KernelNotRunning', message: STALE_ROWS, stack: '' } });
    return new Promise((resolve) => {
      this.rowRequests.set(requestId, resolve);
      child.send({ type: 'attention-rows', requestId, ...req } satisfies AttentionRowsRequest);
    });
  }

  /** Asks every running/queued cell to stop; kills and restarts the kernel if they have not within the grace period. */
  interrupt(): void {
    const child = this.child;
    if (!child) return;
    for (const [id, p] of this.pending) {
      if (p.interrupted) continue;
      p.interrupted = true;
      child.send({ type: 'interrupt', id });
      this.armKillTimer(id, p, child);
    }
  }

  private armKillTimer(id: string, p: Pending, child: ChildProcess): void {
    clearTimeout(p.killTimer);
    p.killTimer = setTimeout(() => {
      if (this.pending.has(id) && this.child === child) this.kill('interrupt');
    }, Math.max(this.launch.interruptGraceMs ?? 2000, p.graceMs ?? 0));
  }

  /** Stops the kernel; running cells end as 'died' with the given reason. */
  kill(reason: 'interrupt' | 'restart' | 'shutdown' = 'shutdown'): void {
    const child = this.child;
    if (!child) return;
    this.expectedExit = true;
    this.killReason = reason;
    child.kill('SIGKILL');
  }

  private killReason: 'interrupt' | 'restart' | 'shutdown' = 'shutdown';

  async restart(): Promise<void> {
    if (this.child) {
      const child = this.child;
      const exited = new Promise((r) => child.once('exit', r));
      this.kill('restart');
      await exited;
    }
    await this.start();
  }

  async shutdown(): Promise<void> {
    if (!this.child) return;
    const child = this.child;
    const exited = new Promise((r) => child.once('exit', r));
    this.kill('shutdown');
    await exited;
  }

  private route(msg: KernelToHost): void {
    if (msg.type === 'ready') return;
    if (msg.type === 'attention-rows') {
      const r = this.rowRequests.get(msg.requestId);
      this.rowRequests.delete(msg.requestId);
      r?.(msg);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    switch (msg.type) {
      case 'stream':
        p.callbacks.onStream?.(msg.name, msg.text);
        break;
      case 'display':
        p.callbacks.onDisplay?.(msg.bundle, msg.displayId);
        break;
      case 'update':
        p.callbacks.onUpdate?.(msg.bundle, msg.displayId);
        break;
      case 'grace':
        // the cell needs longer to stop cleanly (capped at 2 minutes); an interrupt already under way gets it too
        p.graceMs = Math.min(Math.max(0, msg.ms), 120_000);
        if (p.interrupted && this.child) this.armKillTimer(msg.id, p, this.child);
        break;
      case 'done': {
        const artifacts = msg.artifacts ? { artifacts: msg.artifacts } : {};
        this.finish(
          msg.id,
          msg.ok
            ? { status: 'ok', ...(msg.result ? { result: msg.result } : {}), ...artifacts }
            : msg.cancelled
              ? { status: 'cancelled', error: msg.error, ...artifacts }
              : { status: 'error', error: msg.error, ...artifacts },
        );
        break;
      }
    }
  }

  private finish(id: string, outcome: CellOutcome): void {
    const p = this.pending.get(id);
    if (!p) return;
    clearTimeout(p.killTimer);
    this.pending.delete(id);
    p.resolve(outcome);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    this.ready = null;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    const message = this.expectedExit
      ? this.killReason === 'interrupt'
        ? 'The cell did not stop in time after the interrupt, so the kernel was restarted. Variables from earlier cells are gone; cached stages are kept on disk.'
        : 'The kernel was restarted; this cell did not finish.'
      : `The kernel process died (${how}${signal === 'SIGKILL' ? ', possibly out of memory' : ''}). Variables from earlier cells are gone; run the cells again (cached stages return at once).`;
    for (const id of [...this.pending.keys()])
      this.finish(id, { status: 'died', error: { name: 'KernelDied', message, stack: '' } });
    for (const [requestId, r] of [...this.rowRequests]) {
      this.rowRequests.delete(requestId);
      r({ type: 'attention-rows', requestId, ok: false, stale: true, error: { name: 'KernelDied', message: STALE_ROWS, stack: '' } });
    }
    this.emit('exit', { expected: this.expectedExit, code, signal });
  }
}
