/**
 * What a long computation in a domain folder takes from its caller instead of reaching for the running cell: a
 * cancellation signal and a progress callback. The stage layer (src/kernel/pipeline/) connects them to the cell's
 * interrupt and progress bar; scripts and tests pass their own or none.
 */
import { CancelledError } from './errors';

export interface TaskOptions {
  /** Aborting it stops the work at its next unit (a frame, a network call) with a CancelledError. */
  signal?: AbortSignal;
  /**
   * Units done so far, of `total` (the total may be an estimate while a stream's length is unknown); `detail` names
   * the current phase where the work has several (e.g. 'step 3/20, window 1/2').
   */
  onProgress?: (done: number, total: number, detail?: string) => void;
}

/** Throws CancelledError (naming `what`) when the signal was aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(what);
}
