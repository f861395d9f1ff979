// Levenberg–Marquardt over dense normal equations (the problems here have ≤ a few hundred parameters).
//
// Each iteration builds H = JᵀWJ + P and g = JᵀWr + P·x (the problem supplies both, with its robust weights and
// priors folded in), then solves (H + λ·diag(H) + ε·I) δ = −g by Cholesky and accepts the step when the true cost
// drops (Marquardt's scaling: λ is relative to the curvature of each parameter, so units do not matter). Rejected or
// non-finite trial points only raise λ; the returned x is always the best finite point seen.

export interface LMProblem {
  /** Number of parameters. */
  readonly n: number;
  /** Cost at x (robust data term + priors); Infinity / NaN for an invalid x. */
  cost(x: Float64Array): number;
  /** Fills H (n × n, the full symmetric matrix) and g at x; returns the cost at x. */
  build(x: Float64Array, H: Float64Array, g: Float64Array): number;
}

export interface LMOptions {
  maxIterations?: number;
  /** Stop when the relative cost decrease of an accepted step is below this. */
  tolerance?: number;
  /** Initial damping (relative to diag(H)). */
  lambda?: number;
  /** Called between iterations (cancellation). */
  onIteration?: (iteration: number, cost: number) => void;
}

export interface LMResult {
  x: Float64Array;
  cost: number;
  initialCost: number;
  iterations: number;
  /** 'converged' (tolerance met), 'max-iterations', 'stalled' (no step lowers the cost), 'non-finite' (the start or the system was not finite). */
  status: 'converged' | 'max-iterations' | 'stalled' | 'non-finite';
  lambda: number;
}

/** In-place Cholesky of the n × n SPD matrix A (lower triangle used); false when not positive definite. */
export function cholesky(A: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = A[rj + j];
    for (let k = 0; k < j; k++) d -= A[rj + k] * A[rj + k];
    if (!(d > 0) || !Number.isFinite(d)) return false;
    const l = Math.sqrt(d);
    A[rj + j] = l;
    const inv = 1 / l;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = A[ri + j];
      for (let k = 0; k < j; k++) s -= A[ri + k] * A[rj + k];
      A[ri + j] = s * inv;
    }
  }
  return true;
}

/** Solves L Lᵀ x = b with the factor from `cholesky` (b overwritten by x). */
export function choleskySolve(Lf: Float64Array, n: number, b: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s = b[i];
    const ri = i * n;
    for (let k = 0; k < i; k++) s -= Lf[ri + k] * b[k];
    b[i] = s / Lf[ri + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= Lf[k * n + i] * b[k];
    b[i] = s / Lf[i * n + i];
  }
}

function allFinite(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

export function levenbergMarquardt(problem: LMProblem, x0: Float64Array, opts: LMOptions = {}): LMResult {
  const n = problem.n;
  const maxIt = opts.maxIterations ?? 30;
  const tol = opts.tolerance ?? 1e-6;
  let lambda = opts.lambda ?? 1e-3;
  const x = Float64Array.from(x0);
  const H = new Float64Array(n * n);
  const A = new Float64Array(n * n);
  const g = new Float64Array(n);
  const d = new Float64Array(n);
  const xt = new Float64Array(n);
  if (!allFinite(x)) return { x, cost: Infinity, initialCost: Infinity, iterations: 0, status: 'non-finite', lambda };
  let cost = problem.build(x, H, g);
  const initialCost = cost;
  if (!Number.isFinite(cost) || !allFinite(H) || !allFinite(g)) return { x, cost, initialCost, iterations: 0, status: 'non-finite', lambda };
  let it = 0;
  let status: LMResult['status'] = 'max-iterations';
  for (; it < maxIt; it++) {
    opts.onIteration?.(it, cost);
    let accepted = false;
    let relDrop = 0;
    let converged = false;
    for (let trial = 0; trial < 12 && lambda < 1e10; trial++) {
      A.set(H);
      for (let i = 0; i < n; i++) A[i * n + i] += lambda * Math.max(H[i * n + i], 1e-9) + 1e-12;
      for (let i = 0; i < n; i++) d[i] = -g[i];
      if (!cholesky(A, n)) {
        lambda *= 10;
        continue;
      }
      choleskySolve(A, n, d);
      // predicted decrease of the Gauss–Newton model: −(2gᵀδ + δᵀHδ); nothing left to gain → converged
      let gd = 0, dHd = 0;
      for (let i = 0; i < n; i++) {
        gd += g[i] * d[i];
        let s = 0;
        const r = i * n;
        for (let k = 0; k < n; k++) s += H[r + k] * d[k];
        dHd += d[i] * s;
      }
      const predicted = -(2 * gd + dHd);
      if (!(predicted > tol * 1e-3 * Math.max(cost, 1e-300))) {
        converged = true;
        break;
      }
      for (let i = 0; i < n; i++) xt[i] = x[i] + d[i];
      const c = allFinite(xt) ? problem.cost(xt) : NaN;
      if (Number.isFinite(c) && c < cost) {
        relDrop = (cost - c) / Math.max(cost, 1e-300);
        x.set(xt);
        lambda = Math.max(lambda / 3, 1e-9);
        accepted = true;
        break;
      }
      lambda *= 4;
    }
    if (converged) {
      status = 'converged';
      break;
    }
    if (!accepted) {
      status = 'stalled';
      break;
    }
    const next = problem.build(x, H, g);
    if (!Number.isFinite(next) || !allFinite(H) || !allFinite(g)) {
      status = 'non-finite';
      it++;
      break;
    }
    cost = next;
    if (relDrop < tol) {
      status = 'converged';
      it++;
      break;
    }
  }
  return { x, cost, initialCost, iterations: it, status, lambda };
}
