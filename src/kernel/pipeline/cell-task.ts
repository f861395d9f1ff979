/**
 * The running cell as a domain computation sees it: the cell's interrupt as `signal`, and `onProgress` drawing the
 * cell's progress bar (created at the first report, when the total is known; a report's detail names the phase).
 * `finish` closes the bar, with the error's message when the work failed.
 */
import { currentRun, newProgress } from '../runtime/context';
import type { Progress } from '../runtime/progress';
import type { TaskOptions } from '../task';

export interface CellTask extends Required<TaskOptions> {
  /** Names the current phase without advancing (e.g. 'encoding video'); only once the bar is shown. */
  setDetail(detail: string): void;
  finish(error?: unknown): void;
}

export function cellTask(label: string, unit: string, options: { show?: boolean } = {}): CellTask {
  let bar: Progress | null = null;
  const show = options.show ?? true;
  return {
    signal: currentRun().signal,
    onProgress: (done, total, detail) => {
      if (!show) return;
      bar ??= newProgress(label, Math.max(1, total), unit);
      if (detail !== undefined) bar.setDetail(detail);
      bar.update(done);
    },
    setDetail: (detail) => bar?.setDetail(detail),
    finish: (error?: unknown) => {
      if (error === undefined) bar?.finish();
      else bar?.finish((error as Error).name === 'CancelledError' ? 'cancelled' : (error as Error).message);
    },
  };
}

/** Runs `work` as a cell task: the bar is closed whether it succeeds or fails. */
export async function runCellTask<T>(label: string, unit: string, show: boolean | undefined, work: (task: CellTask) => Promise<T>): Promise<T> {
  const task = cellTask(label, unit, { show: show ?? true });
  try {
    const out = await work(task);
    task.finish();
    return out;
  } catch (e) {
    task.finish(e);
    throw e;
  }
}
