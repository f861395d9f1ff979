/**
 * CPU time of the calling thread, for the per-stage figures of the preparation runs. On a shared machine wall time
 * per stage says more about the other processes than about ours; Linux reports each thread's CPU time in
 * nanoseconds in /proc/thread-self/schedstat. Elsewhere this falls back to wall time (and says so).
 */
import { openSync, readSync, closeSync } from 'node:fs';

let fd: number | null | undefined;
const buf = Buffer.alloc(96);

/** Milliseconds of CPU time this thread has used (monotonic), or wall time where that is not available. */
export function threadCpuMs(): number {
  if (fd === undefined) {
    try {
      fd = openSync('/proc/thread-self/schedstat', 'r');
    } catch {
      fd = null;
    }
  }
  if (fd !== null) {
    try {
      const n = readSync(fd, buf, 0, buf.length, 0);
      const ns = Number(buf.toString('latin1', 0, n).split(' ')[0]);
      if (Number.isFinite(ns)) return ns / 1e6;
    } catch {
      closeSync(fd);
      fd = null;
    }
  }
  return performance.now();
}

/** Whether threadCpuMs measures CPU time (true) or falls back to wall time. */
export function measuresCpu(): boolean {
  threadCpuMs();
  return fd !== null;
}
