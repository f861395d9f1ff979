/**
 * The trainer (`python -m training COMMAND …`, training/) as a child process, followed through its run folder:
 *
 *   - the JSON-lines logs (`vae/log.jsonl`, `stage1/log.jsonl`, `stage2/log.jsonl`) are tailed while it runs and every
 *     record is passed on (`onRecord`), earlier sittings' records first, so a resumed run continues its curve;
 *   - validation images (`stage1/validation/step-N.png`, `stage2/validation/step-N.gif`) are passed on (`onValidation`)
 *     once their log record names them;
 *   - aborting the signal sends ONE SIGINT: the trainer saves a resumable state at the next step boundary and exits
 *     with 130 (`status: 'interrupted'`); running the same options again resumes it;
 *   - the child runs in its own process group (a terminal's Ctrl+C reaches only us, so it never gets a second signal,
 *     which would stop it without saving) and watches its stdin: if this process dies, the pipe closes and the trainer
 *     saves and stops on its own instead of training on as an orphan.
 *
 * A missing Python or PyTorch is a MagicPortraitError (python.ts) before anything starts.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CancelledError, MagicPortraitError } from '../errors';
import { findPython, trainerRoot } from './python';

export const TRAIN_PARTS = ['vae', 'stage1', 'stage2'] as const;
export type TrainPart = (typeof TRAIN_PARTS)[number];

export interface TrainOptions {
  /** Dataset folder (the trainer's layout: `synth-data` / `prepare-data`). */
  data: string;
  /** Run folder (created; a folder with a run continues it). */
  run: string;
  /** Preset (`tiny`, `small`, `real`) or a config JSON (default `small`). */
  config?: string;
  /** `all` (default): base → VAE → stage 1 → stage 2, each skipped when done; or one of them. */
  command?: 'all' | 'base' | 'vae' | 'stage1' | 'stage2';
  /** Config overrides, `{ 'stage1.steps': 40 }` → `--set stage1.steps=40`. */
  set?: Record<string, unknown>;
  /** The Python to run (default: MAGICPORTRAIT_PYTHON, else python3 / /usr/bin/python3 with torch). */
  python?: string;
  signal?: AbortSignal;
  /** Every log record (loss, learning rate, samples/s, validation events), per part, in order. */
  onRecord?: (part: TrainPart, record: Record<string, unknown>) => void;
  /** A validation image (absolute path) once its log record names it and it exists. */
  onValidation?: (part: TrainPart, step: number, file: string) => void;
  /** The trainer's own output lines. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Log polling period (default 500 ms). */
  pollMs?: number;
}

export interface TrainResult {
  status: 'finished' | 'interrupted';
  exitCode: number;
  run: string;
  /** The last logged training step of each part that has a log. */
  steps: Partial<Record<TrainPart, number>>;
  /** The newest official checkpoint folder (stage2/ckpts, else stage1/ckpts), when one exists. */
  ckpts?: string;
  /** Resumable states on disk (`<part>/state/step-N.pt`), newest last. */
  states: string[];
  wallMs: number;
  python: string;
}

/** The watchdog wrapper: stdin closed (the parent died) → SIGINT to itself (save a resumable state, stop). */
const WRAPPER = [
  'import os, signal, sys, threading',
  // writes to a pipe whose reader died must not kill the trainer before it saves
  'class _Quiet:',
  '    def __init__(self, s):',
  '        self.s = s',
  '    def write(self, x):',
  '        try:',
  '            return self.s.write(x)',
  '        except OSError:',
  '            return len(x)',
  '    def flush(self):',
  '        try:',
  '            self.s.flush()',
  '        except OSError:',
  '            pass',
  '    def __getattr__(self, n):',
  '        return getattr(self.s, n)',
  'sys.stdout, sys.stderr = _Quiet(sys.stdout), _Quiet(sys.stderr)',
  'def _watch():',
  '    try:',
  // the raw descriptor (not sys.stdin's buffered reader, whose lock a daemon thread would hold at shutdown)
  '        while os.read(0, 1):',
  '            pass',
  '    except Exception:',
  '        pass',
  '    null = os.open(os.devnull, os.O_WRONLY)',
  '    os.dup2(null, 1)',
  '    os.dup2(null, 2)',
  '    os.kill(os.getpid(), signal.SIGINT)',
  'threading.Thread(target=_watch, daemon=True).start()',
  'from training.cli import main',
  'sys.exit(main(sys.argv[1:]))',
].join('\n');

/** Reads the complete new lines of a growing JSON-lines file. */
class LogTail {
  private offset = 0;
  private rest = '';
  constructor(readonly path: string) {}

  read(): Record<string, unknown>[] {
    if (!existsSync(this.path)) return [];
    const size = statSync(this.path).size;
    if (size < this.offset) {
      // rewritten (a resumed run drops the interrupted sitting's later lines): read again from the start
      this.offset = 0;
      this.rest = '';
    }
    if (size === this.offset) return [];
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.rest + buf.toString('utf8');
      const lines = text.split('\n');
      this.rest = lines.pop() ?? '';
      const out: Record<string, unknown>[] = [];
      for (const l of lines) {
        if (!l.trim()) continue;
        try {
          out.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          /* a line being written: it comes complete next time */
        }
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }
}

const PART_DIR: Record<TrainPart, string> = { vae: 'vae', stage1: 'stage1', stage2: 'stage2' };

/** Resumable states of a run folder, oldest first. */
export function runStates(run: string): string[] {
  const out: string[] = [];
  for (const p of TRAIN_PARTS) {
    const d = join(run, PART_DIR[p], 'state');
    if (!existsSync(d)) continue;
    for (const n of readdirSync(d)) if (/^step-\d+\.pt$/.test(n)) out.push(join(d, n));
  }
  return out.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
}

/** The newest official checkpoint folder of a run: stage2/ckpts when complete, else stage1/ckpts. */
export function runCheckpoints(run: string): string | undefined {
  for (const s of ['stage2', 'stage1']) {
    const d = join(run, s, 'ckpts');
    if (existsSync(join(d, 'denoising_unet.pth'))) return d;
  }
  return undefined;
}

/** Runs the trainer to the end, or until the signal aborts it (a resumable state is saved); see the module comment. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  if (!o.data || !o.run) throw new MagicPortraitError('train needs { data, run }: the dataset folder and the run folder.', 'bad-argument');
  const data = resolve(o.data), run = resolve(o.run);
  if (!existsSync(join(data, 'dataset.json')) && !existsSync(data)) throw new MagicPortraitError(`Dataset ${data} does not exist (make one with mp.data.synth or mp.data.prepare).`, 'missing-file');
  if (o.signal?.aborted) throw new CancelledError('training');
  const py = findPython(o.python);
  const root = trainerRoot();
  const args = [o.command ?? 'all', '--config', o.config ?? 'small', '--data', data, '--run', run];
  for (const [k, v] of Object.entries(o.set ?? {})) args.push('--set', `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const t0 = performance.now();
  const tails = Object.fromEntries(TRAIN_PARTS.map((p) => [p, new LogTail(join(run, PART_DIR[p], 'log.jsonl'))])) as Record<TrainPart, LogTail>;
  const steps: Partial<Record<TrainPart, number>> = {};
  const pending: { part: TrainPart; step: number; file: string }[] = [];
  const poll = () => {
    for (const p of TRAIN_PARTS)
      for (const r of tails[p].read()) {
        if (typeof r.step === 'number' && 'loss' in r && !r.event) steps[p] = r.step;
        o.onRecord?.(p, r);
        if (r.event === 'validation' && typeof r.file === 'string') pending.push({ part: p, step: Number(r.step), file: join(run, PART_DIR[p], r.file) });
      }
    for (let i = 0; i < pending.length; ) {
      const v = pending[i]!;
      if (existsSync(v.file)) {
        o.onValidation?.(v.part, v.step, v.file);
        pending.splice(i, 1);
      } else i++;
    }
  };
  const child = spawn(py.path, ['-c', WRAPPER, ...args], {
    cwd: root,
    env: { ...process.env, PYTHONPATH: [root, process.env.PYTHONPATH].filter(Boolean).join(':'), PYTHONUNBUFFERED: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let tail = '';
  const lines = (stream: 'stdout' | 'stderr') => {
    let buf = '';
    return (d: Buffer) => {
      buf += d.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const l of parts) {
        if (stream === 'stderr') tail = (tail + l + '\n').slice(-4000);
        o.onOutput?.(l, stream);
      }
    };
  };
  child.stdout.on('data', lines('stdout'));
  child.stderr.on('data', lines('stderr'));
  let interrupted = false;
  const onAbort = () => {
    if (interrupted) return;
    interrupted = true;
    try {
      child.kill('SIGINT');
    } catch {
      /* already gone */
    }
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setInterval(poll, o.pollMs ?? 500);
  try {
    const code = await new Promise<number>((res, rej) => {
      child.on('error', (e) => rej(new MagicPortraitError(`Could not start ${py.path}: ${e.message}`, 'missing-python')));
      child.on('close', (c, sig) => res(c ?? (sig === 'SIGINT' ? 130 : 1)));
    });
    poll();
    const base = { exitCode: code, run, steps, states: runStates(run), wallMs: performance.now() - t0, python: `${py.path} (Python ${py.version}, torch ${py.torch})` };
    const ckpts = runCheckpoints(run);
    if (code === 0) return { status: 'finished', ...base, ...(ckpts ? { ckpts } : {}) };
    if (code === 130) return { status: 'interrupted', ...base, ...(ckpts ? { ckpts } : {}) };
    throw new MagicPortraitError(`The trainer (${py.path} -m training ${args.join(' ')}) exited with ${code}:\n${tail.trim().split('\n').slice(-12).join('\n')}`, 'trainer-failed');
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener('abort', onAbort);
    child.stdin?.end();
  }
}

/** The run's resolved config (`config.json`, written by the trainer when it starts). */
export function runConfig(run: string): Record<string, Record<string, unknown>> | null {
  const p = join(run, 'config.json');
  try {
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, Record<string, unknown>>) : null;
  } catch {
    return null;
  }
}
