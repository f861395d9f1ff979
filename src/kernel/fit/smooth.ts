// Temporal smoothing of per-frame parameters, gap filling, and the jitter measure.
//
// Default: zero-phase low-pass, a 2nd-order Butterworth run forward then backward (scipy.signal.filtfilt with its
// defaults: odd extension of 3·max(len(a), len(b)) samples at both ends, initial states from lfilter_zi scaled by the
// first sample of each pass). The forward–backward pass cancels the phase lag, so the smoothed curves do not trail the
// motion; the price is that it needs the whole series (fine: tracks are small). The causal alternative for live use is
// the One-Euro filter (Casiez et al. 2012): an adaptive low-pass whose cutoff rises with the speed, lagging a little.

export type SmoothingOptions =
  | { method: 'filtfilt'; /** Cutoffs in Hz (head pose / jaw+expression / camera+crop). */ poseHz?: number; expressionHz?: number; cameraHz?: number }
  | { method: 'one-euro'; minCutoffHz?: number; beta?: number; derivativeCutoffHz?: number }
  | { method: 'none' };

/** 2nd-order Butterworth low-pass (scipy.signal.butter(2, Wn), Wn = cutoff / Nyquist ∈ (0, 1)): b, a. */
export function butter2(wn: number): { b: Float64Array; a: Float64Array } {
  const w = Math.min(Math.max(wn, 1e-6), 0.999999);
  // bilinear transform with pre-warping: analogue prototype s² + √2 s + 1 at Ωc = 2·tan(π·Wn/2) (fs = 2)
  const K = Math.tan((Math.PI * w) / 2);
  const K2 = K * K, s2 = Math.SQRT2 * K;
  const norm = 1 / (1 + s2 + K2);
  const b0 = K2 * norm;
  return { b: Float64Array.of(b0, 2 * b0, b0), a: Float64Array.of(1, 2 * (K2 - 1) * norm, (1 - s2 + K2) * norm) };
}

/** Direct-form II transposed IIR filter (scipy.signal.lfilter) with initial state zi (length max(len)−1). */
export function lfilter(b: Float64Array, a: Float64Array, x: ArrayLike<number>, zi?: ArrayLike<number>): Float64Array {
  const n = Math.max(a.length, b.length);
  const bb = new Float64Array(n), aa = new Float64Array(n);
  for (let i = 0; i < b.length; i++) bb[i] = b[i] / a[0];
  for (let i = 0; i < a.length; i++) aa[i] = a[i] / a[0];
  const z = new Float64Array(n);
  if (zi) for (let i = 0; i < n - 1; i++) z[i] = zi[i];
  const y = new Float64Array(x.length);
  for (let t = 0; t < x.length; t++) {
    const xt = x[t];
    const yt = bb[0] * xt + z[0];
    for (let i = 1; i < n; i++) z[i - 1] = bb[i] * xt + z[i] - aa[i] * yt;
    y[t] = yt;
  }
  return y;
}

/** scipy.signal.lfilter_zi: the steady state of the filter for a unit step input. */
export function lfilterZi(b: Float64Array, a: Float64Array): Float64Array {
  const n = Math.max(a.length, b.length);
  const bb = new Float64Array(n), aa = new Float64Array(n);
  for (let i = 0; i < b.length; i++) bb[i] = b[i] / a[0];
  for (let i = 0; i < a.length; i++) aa[i] = a[i] / a[0];
  const m = n - 1;
  if (m === 0) return new Float64Array(0);
  // (I − companion(a)ᵀ) zi = b[1:] − a[1:]·b[0]
  const A = new Float64Array(m * m), rhs = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      // companion(a).T: first column −a[1:], superdiagonal ones (scipy's layout transposed)
      let c = 0;
      if (j === 0) c = -aa[i + 1];
      else if (j === i + 1) c = 1;
      A[i * m + j] = (i === j ? 1 : 0) - c;
    }
    rhs[i] = bb[i + 1] - aa[i + 1] * bb[0];
  }
  // Gaussian elimination (m ≤ a few)
  for (let k = 0; k < m; k++) {
    let p = k;
    for (let r = k + 1; r < m; r++) if (Math.abs(A[r * m + k]) > Math.abs(A[p * m + k])) p = r;
    for (let c = 0; c < m; c++) [A[k * m + c], A[p * m + c]] = [A[p * m + c], A[k * m + c]];
    [rhs[k], rhs[p]] = [rhs[p], rhs[k]];
    for (let r = k + 1; r < m; r++) {
      const f = A[r * m + k] / A[k * m + k];
      for (let c = k; c < m; c++) A[r * m + c] -= f * A[k * m + c];
      rhs[r] -= f * rhs[k];
    }
  }
  const zi = new Float64Array(m);
  for (let k = m - 1; k >= 0; k--) {
    let s = rhs[k];
    for (let c = k + 1; c < m; c++) s -= A[k * m + c] * zi[c];
    zi[k] = s / A[k * m + k];
  }
  return zi;
}

/** scipy.signal.filtfilt(b, a, x) with padtype 'odd' and padlen 3·max(len(a), len(b)) (shortened for short x). */
export function filtfilt(b: Float64Array, a: Float64Array, x: ArrayLike<number>): Float64Array {
  const N = x.length;
  if (N === 0) return new Float64Array(0);
  if (N === 1) return Float64Array.of(x[0]);
  const padlen = Math.min(3 * Math.max(a.length, b.length), N - 1);
  const ext = new Float64Array(N + 2 * padlen);
  for (let i = 0; i < padlen; i++) ext[i] = 2 * x[0] - x[padlen - i];
  for (let i = 0; i < N; i++) ext[padlen + i] = x[i];
  for (let i = 0; i < padlen; i++) ext[padlen + N + i] = 2 * x[N - 1] - x[N - 2 - i];
  const zi = lfilterZi(b, a);
  const y = lfilter(b, a, ext, zi.map((z) => z * ext[0]));
  y.reverse();
  const y2 = lfilter(b, a, y, zi.map((z) => z * y[0]));
  y2.reverse();
  return y2.slice(padlen, padlen + N);
}

/** One-Euro filter over a series sampled at `fps` (causal). */
export function oneEuro(x: ArrayLike<number>, fps: number, minCutoffHz = 1.5, beta = 0.3, dCutoffHz = 1): Float64Array {
  const y = new Float64Array(x.length);
  if (!x.length) return y;
  const alpha = (fc: number) => { const tau = 1 / (2 * Math.PI * fc), te = 1 / fps; return 1 / (1 + tau / te); };
  let prev = x[0], dPrev = 0;
  y[0] = x[0];
  for (let t = 1; t < x.length; t++) {
    const d = (x[t] - prev) * fps;
    const ad = alpha(dCutoffHz);
    dPrev = ad * d + (1 - ad) * dPrev;
    const fc = minCutoffHz + beta * Math.abs(dPrev);
    const a = alpha(fc);
    prev = a * x[t] + (1 - a) * prev;
    y[t] = prev;
  }
  return y;
}

/**
 * Fills the frames where `valid` is 0: linear interpolation between the nearest valid neighbours, held constant
 * before the first and after the last valid frame. series: F × d (row per frame), filled in place. Returns, per
 * frame, 'ok' | 'interpolated' | 'held' (all 'held' frames stay as given when nothing is valid).
 */
export function fillGaps(series: Float64Array, d: number, valid: ArrayLike<number | boolean>): ('ok' | 'interpolated' | 'held')[] {
  const F = valid.length;
  const status: ('ok' | 'interpolated' | 'held')[] = new Array(F).fill('ok');
  const idx: number[] = [];
  for (let t = 0; t < F; t++) if (valid[t]) idx.push(t);
  if (!idx.length) return status.fill('held');
  for (let t = 0; t < F; t++) {
    if (valid[t]) continue;
    // nearest valid before / after
    let lo = -1, hi = -1;
    for (let k = t - 1; k >= 0; k--) if (valid[k]) { lo = k; break; }
    for (let k = t + 1; k < F; k++) if (valid[k]) { hi = k; break; }
    if (lo >= 0 && hi >= 0) {
      const w = (t - lo) / (hi - lo);
      for (let c = 0; c < d; c++) series[t * d + c] = (1 - w) * series[lo * d + c] + w * series[hi * d + c];
      status[t] = 'interpolated';
    } else {
      const k = lo >= 0 ? lo : hi;
      for (let c = 0; c < d; c++) series[t * d + c] = series[k * d + c];
      status[t] = 'held';
    }
  }
  return status;
}

/** Smooths each column of an F × d series with the given method and cutoff (Hz). */
export function smoothSeries(series: Float64Array, d: number, fps: number, cutoffHz: number, method: SmoothingOptions): Float64Array {
  const F = series.length / d;
  const out = new Float64Array(series.length);
  const col = new Float64Array(F);
  const ba = method.method === 'filtfilt' ? butter2(cutoffHz / (fps / 2)) : null;
  for (let c = 0; c < d; c++) {
    for (let t = 0; t < F; t++) col[t] = series[t * d + c];
    let y: Float64Array;
    if (method.method === 'none' || F < 3) y = Float64Array.from(col);
    else if (ba) y = filtfilt(ba.b, ba.a, col);
    else if (method.method === 'one-euro') y = oneEuro(col, fps, method.minCutoffHz, method.beta, method.derivativeCutoffHz);
    else y = Float64Array.from(col);
    for (let t = 0; t < F; t++) out[t * d + c] = Number.isFinite(y[t]) ? y[t] : col[t];
  }
  return out;
}

/** Variance of the frame-to-frame differences of each column (over consecutive frames where both are `use`d). */
export function diffVariance(series: Float64Array, d: number, use?: ArrayLike<number | boolean>): Float64Array {
  const F = series.length / d;
  const out = new Float64Array(d);
  for (let c = 0; c < d; c++) {
    let n = 0, s = 0, s2 = 0;
    for (let t = 1; t < F; t++) {
      if (use && (!use[t] || !use[t - 1])) continue;
      const v = series[t * d + c] - series[(t - 1) * d + c];
      n++; s += v; s2 += v * v;
    }
    out[c] = n > 1 ? (s2 - (s * s) / n) / (n - 1) : 0;
  }
  return out;
}
