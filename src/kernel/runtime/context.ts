/**
 * What a running cell (and every stage it calls) can reach: its cancellation signal, the artifact store, and the
 * way to emit displays. One cell runs at a time per kernel, so this is a simple current-run slot.
 */
import { dirname } from 'node:path';
import { ArtifactStore } from './artifacts';
import { Progress } from './progress';
import type { MimeBundle } from '../../shared/outputs';
import { CancelledError } from '../errors';

export interface RunContext {
  id: string;
  signal: AbortSignal;
  artifacts: ArtifactStore;
  /** Folder relative paths in cells resolve against (the notebook's folder). */
  baseDir: string;
  emitDisplay(bundle: MimeBundle, displayId?: string): void;
  updateDisplay(bundle: MimeBundle, displayId: string): void;
  /** Asks the host to wait up to `ms` after an interrupt before restarting the kernel (a stage that saves first). */
  requestInterruptGrace?(ms: number): void;
}

let current: RunContext | null = null;
let displayCounter = 0;

/** A context for library use outside the kernel (scripts, tests, benchmarks): displays are dropped. */
export function detachedContext(baseDir = process.cwd(), artifactDir?: string): RunContext {
  return {
    id: 'detached',
    signal: new AbortController().signal,
    artifacts: new ArtifactStore(artifactDir ?? `${baseDir}/.magicportrait-artifacts`),
    baseDir,
    emitDisplay: () => {},
    updateDisplay: () => {},
  };
}

export function setCurrentRun(ctx: RunContext | null): void {
  current = ctx;
}

export function currentRun(): RunContext {
  if (!current) current = detachedContext();
  return current;
}

/** Throws CancelledError when the current run was interrupted. Stages call this between units of work. */
export function checkCancelled(what?: string): void {
  if (currentRun().signal.aborted) throw new CancelledError(what);
}

export function newProgress(label: string, total: number, unit = ''): Progress {
  const run = currentRun();
  const displayId = `progress-${++displayCounter}`;
  return new Progress(label, total, (bundle, first) => (first ? run.emitDisplay(bundle, displayId) : run.updateDisplay(bundle, displayId)), unit);
}

export function notebookDir(notebookPath?: string): string {
  return notebookPath ? dirname(notebookPath) : process.cwd();
}
