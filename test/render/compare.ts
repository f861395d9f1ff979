// Map comparison used by the golden tests (criterion in golden.test.ts).

export interface MapStats {
  equalPct: number;
  maxDiffCovered: number;
  coverageMismatch: number;
  offByOne: number;
}

/** Compare our 8-bit map with the reference PNG (criterion: see golden.test.ts). */
export function compareMap(ours: Uint8Array, oursCh: number, ref: Uint8Array, refCh: number, oursMask: Uint8Array, refMask: Uint8Array): MapStats {
  const n = ours.length / oursCh, ch = Math.min(oursCh, refCh);
  let equal = 0, maxd = 0, cov = 0, off1 = 0;
  for (let p = 0; p < n; p++) {
    let same = true, pm = 0;
    for (let c = 0; c < ch; c++) {
      const d = Math.abs(ours[p * oursCh + c] - ref[p * refCh + c]);
      if (d) same = false;
      if (d > pm) pm = d;
    }
    if (same) equal++;
    const co = oursMask[p] > 0, cr = refMask[p] > 0;
    if (co !== cr) cov++;
    else if (co && pm > maxd) maxd = pm;
    if (pm === 1) off1++;
  }
  return { equalPct: (100 * equal) / n, maxDiffCovered: maxd, coverageMismatch: cov, offByOne: off1 };
}
