/** One line of the benchmark report. Ratios compare ours with a reference measured in the same run. */
export interface BenchRow {
  area: string;
  name: string;
  /** Our time in milliseconds (median of the runs). */
  oursMs: number;
  /** The reference's time in milliseconds, measured in the same run; null when it could not run (say why in note). */
  refMs?: number | null;
  /** What the reference is, e.g. 'numpy 1.24', 'PyTorch 1.13 CPU', 'TF.js wasm'. */
  ref?: string;
  /** Target from the issue, in words, e.g. 'ratio ≤ 1.0' or '≤ 8 ms'. */
  target?: string;
  note?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `fn` `warmup` times unmeasured, then `runs` times; returns the median in ms. */
export async function timeIt(fn: () => unknown | Promise<unknown>, runs = 5, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

export function printRows(rows: BenchRow[]): void {
  const fmt = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));
  const lines = rows.map((r) => {
    const ratio = r.refMs ? (r.oursMs / r.refMs).toFixed(2) : '—';
    return `| ${r.area} | ${r.name} | ${fmt(r.oursMs)} | ${fmt(r.refMs)} | ${r.ref ?? ''} | ${ratio} | ${r.target ?? ''} | ${r.note ?? ''} |`;
  });
  console.log(['| area | benchmark | ours ms | ref ms | reference | ratio | target | note |', '|---|---|---|---|---|---|---|---|', ...lines].join('\n'));
}
