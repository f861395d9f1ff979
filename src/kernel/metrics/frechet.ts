/**
 * The Fréchet distance between two Gaussians fitted to feature sets (FID on Inception pool features, FVD on I3D
 * logits):
 *
 *   d² = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2·Tr((Σ₁Σ₂)^½)
 *
 * with Σ the unbiased covariance (numpy `np.cov(rowvar=False)`, N − 1), as pytorch-fid and the FVD reference do.
 *
 * Tr((Σ₁Σ₂)^½) is computed exactly from a *symmetric* positive semi-definite matrix similar to Σ₁Σ₂, whose
 * eigenvalues λ ≥ 0 give Tr = Σ √λ — no general (non-symmetric) matrix square root, no complex round-off to discard,
 * no ε·I retry (pytorch-fid needs both around scipy's `sqrtm`):
 *   - 'eigen':    Σ₁^½ = V·Λ^½·Vᵀ from the eigen-decomposition of Σ₁; M = Σ₁^½·Σ₂·Σ₁^½.
 *   - 'cholesky': Σ₁ = L·Lᵀ (when positive definite); M = Lᵀ·Σ₂·L (eigenvalues only: ~3× faster than 'eigen').
 *   - 'samples':  from the centred features X₁ (N₁×d), X₂ (N₂×d): Σ₁Σ₂ = X₁ᵀX₁X₂ᵀX₂ / ((N₁−1)(N₂−1)) has the same
 *                 non-zero eigenvalues as the N₁×N₁ matrix (X₁X₂ᵀ)(X₁X₂ᵀ)ᵀ/(…): cheap when N < d (small sets).
 * Negative eigenvalues (round-off of a singular product) are clamped to 0.
 */
import { MagicPortraitError } from '../errors';
import { cholesky, gram, matmul, symmetricEigen } from './linalg';

export interface GaussianStats {
  /** Feature dimension. */
  dim: number;
  /** Number of feature vectors the statistics come from. */
  count: number;
  mu: Float64Array;
  /** d×d unbiased covariance, row-major. */
  sigma: Float64Array;
}

export type TraceSqrtMethod = 'eigen' | 'cholesky' | 'samples';

/** Row-major features (count × dim) → mean and centred rows. */
function centre(features: ArrayLike<number>, count: number, dim: number): { mu: Float64Array; X: Float64Array } {
  if (features.length !== count * dim)
    throw new MagicPortraitError(`Feature array has ${features.length} values, expected ${count}×${dim}.`, 'bad-argument');
  const mu = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mu[j]! += features[i * dim + j]!;
  for (let j = 0; j < dim; j++) mu[j]! /= count;
  const X = new Float64Array(count * dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) X[i * dim + j] = features[i * dim + j]! - mu[j]!;
  return { mu, X };
}

/** Mean and unbiased covariance of row-major features (count × dim); count ≥ 2. */
export function gaussianStats(features: ArrayLike<number>, count: number, dim: number): GaussianStats {
  if (count < 2) throw new MagicPortraitError(`A covariance needs at least 2 feature vectors, got ${count}.`, 'bad-argument');
  const { mu, X } = centre(features, count, dim);
  const sigma = gram(X, count, dim);
  for (let i = 0; i < sigma.length; i++) sigma[i]! /= count - 1;
  return { dim, count, mu, sigma };
}

/**
 * Σ √λ over the `rank` largest eigenvalues (ascending input), negatives clamped to 0. The product's rank is at most
 * min(d, N₁ − 1, N₂ − 1); the remaining eigenvalues are exact zeros whose round-off (≈ ε·λmax) would otherwise add
 * √(ε·λmax) each.
 */
function sumSqrtTop(values: Float64Array, rank = values.length): number {
  let s = 0;
  for (let i = Math.max(0, values.length - rank); i < values.length; i++) if (values[i]! > 0) s += Math.sqrt(values[i]!);
  return s;
}

/** Tr((Σ₁Σ₂)^½) for symmetric PSD Σ₁, Σ₂ (d×d). 'cholesky' falls back to 'eigen' when Σ₁ is singular. */
export function traceSqrtProduct(
  sigma1: Float64Array,
  sigma2: Float64Array,
  d: number,
  method: Exclude<TraceSqrtMethod, 'samples'> = 'cholesky',
  rank = d,
): number {
  if (method === 'cholesky') {
    const L = cholesky(sigma1, d);
    if (L) {
      // M = Lᵀ Σ₂ L
      const S2L = matmul(sigma2, L, d, d, d);
      const Lt = new Float64Array(d * d);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) Lt[j * d + i] = L[i * d + j]!;
      return sumSqrtTop(symmetricEigen(matmul(Lt, S2L, d, d, d), d, false).values, rank);
    }
  }
  const { values, V } = symmetricEigen(sigma1, d, true);
  // Σ₁^½ = V diag(√λ) Vᵀ
  const VS = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) VS[i * d + j] = V![i * d + j]! * Math.sqrt(Math.max(values[j]!, 0));
  const Vt = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) Vt[j * d + i] = V![i * d + j]!;
  const root = matmul(VS, Vt, d, d, d);
  const M = matmul(root, matmul(sigma2, root, d, d, d), d, d, d);
  return sumSqrtTop(symmetricEigen(M, d, false).values, rank);
}

/** Fréchet distance between two Gaussians. */
export function frechetDistance(a: GaussianStats, b: GaussianStats, method: Exclude<TraceSqrtMethod, 'samples'> = 'cholesky'): number {
  if (a.dim !== b.dim) throw new MagicPortraitError(`Feature dimensions differ (${a.dim} vs ${b.dim}).`, 'bad-argument');
  const d = a.dim;
  let dm = 0, tr = 0;
  for (let i = 0; i < d; i++) {
    dm += (a.mu[i]! - b.mu[i]!) ** 2;
    tr += a.sigma[i * d + i]! + b.sigma[i * d + i]!;
  }
  return dm + tr - 2 * traceSqrtProduct(a.sigma, b.sigma, d, method, Math.min(d, a.count - 1, b.count - 1));
}

/**
 * Fréchet distance straight from two feature sets (row-major, count × dim). Picks the exact route with the smallest
 * matrix: 'samples' when either set has fewer vectors than dimensions, otherwise the covariance route.
 */
export function frechetDistanceFromFeatures(
  f1: ArrayLike<number>,
  n1: number,
  f2: ArrayLike<number>,
  n2: number,
  dim: number,
  method?: TraceSqrtMethod,
): number {
  if (n1 < 2 || n2 < 2) throw new MagicPortraitError(`The Fréchet distance needs at least 2 feature vectors per set (got ${n1} and ${n2}).`, 'bad-argument');
  const m = method ?? (Math.min(n1, n2) < dim ? 'samples' : 'cholesky');
  if (m !== 'samples') return frechetDistance(gaussianStats(f1, n1, dim), gaussianStats(f2, n2, dim), m);
  // Put the smaller set first: the eigenproblem is min(n1, n2) square.
  if (n2 < n1) return frechetDistanceFromFeatures(f2, n2, f1, n1, dim, 'samples');
  const A = centre(f1, n1, dim);
  const B = centre(f2, n2, dim);
  let dm = 0;
  for (let j = 0; j < dim; j++) dm += (A.mu[j]! - B.mu[j]!) ** 2;
  let tr1 = 0, tr2 = 0;
  for (const v of A.X) tr1 += v * v;
  for (const v of B.X) tr2 += v * v;
  tr1 /= n1 - 1;
  tr2 /= n2 - 1;
  // P = X₁X₂ᵀ (n1×n2); Q = P·Pᵀ (n1×n1), symmetric PSD with the eigenvalues of X₁ᵀX₁X₂ᵀX₂.
  const P = new Float64Array(n1 * n2);
  for (let i = 0; i < n1; i++)
    for (let j = 0; j < n2; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += A.X[i * dim + k]! * B.X[j * dim + k]!;
      P[i * n2 + j] = s;
    }
  const Q = new Float64Array(n1 * n1);
  for (let i = 0; i < n1; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n2; k++) s += P[i * n2 + k]! * P[j * n2 + k]!;
      Q[i * n1 + j] = s;
      Q[j * n1 + i] = s;
    }
  const trSqrt = sumSqrtTop(symmetricEigen(Q, n1, false).values, Math.min(dim, n1 - 1, n2 - 1)) / Math.sqrt((n1 - 1) * (n2 - 1));
  return dm + tr1 + tr2 - 2 * trSqrt;
}
