/**
 * Small helpers a cell uses directly through `mp`: the running cell's signal, an interruptible sleep, the stage cache
 * for a cell's own computations, frame-sequence displays, the execution-provider table, and paths relative to the
 * notebook's folder.
 */
import { CancelledError } from '../errors';
import { formatProviderStatuses, providerStatuses } from '../onnx/providers';
import { currentRun } from '../runtime/context';
import { FrameSequenceDisplay, type FrameTrack } from '../runtime/frames';
import { stageCache, type StageSpec } from './cache';
import { DISPLAY } from '../runtime/display';
import { settings } from '../settings';
import { resolvePath } from './face';

/** The ONNX Runtime execution providers here: which are ready, what the others miss (a table in the cell). */
export function providerTable() {
  const list = providerStatuses();
  const setting = settings().provider;
  const head = `magicportrait.executionProvider = '${setting}'`;
  return {
    providers: list,
    setting,
    [DISPLAY]: () => ({ 'text/markdown': `${head}\n\n${formatProviderStatuses(list, true)}`, 'text/plain': `${head}\n${formatProviderStatuses(list)}` }),
  };
}

/** Resolves after `ms`, or rejects at once with CancelledError when the cell is interrupted. */
export function sleep(ms: number): Promise<void> {
  const signal = currentRun().signal;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new CancelledError('cell'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new CancelledError('cell'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Relative file paths in cells resolve against the notebook's folder (anything else passes through). */
export function cellPath<T>(p: T): T {
  return (typeof p === 'string' ? resolvePath(p) : p) as T;
}

/** The running cell's AbortSignal. */
export function cellSignal(): AbortSignal {
  return currentRun().signal;
}

/** Runs `compute` once per distinct (stage, inputs, options) and caches the result on disk (the stages' cache). */
export function cached<T>(stage: StageSpec, inputs: unknown, options: unknown, compute: () => Promise<T> | T): Promise<T> {
  return stageCache().run(stage, inputs, options, compute);
}

/** A frame-sequence output for the scrubber. */
export function framesDisplay(tracks: FrameTrack[], options: { title?: string; fps?: number; label?: string } = {}): FrameSequenceDisplay {
  return new FrameSequenceDisplay(tracks, options);
}
