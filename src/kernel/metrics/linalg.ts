/**
 * Dense symmetric linear algebra in float64 for the Fréchet distance: the symmetric eigen-decomposition
 * (Householder tridiagonalisation followed by the implicit-shift QL iteration), Cholesky, and the products it needs.
 * Matrices are row-major `Float64Array`s of n·n values.
 */

/**
 * Eigen-decomposition of a symmetric matrix: `values` ascending; with `vectors`, `V` holds the unit eigenvectors
 * as columns (A = V·diag(values)·Vᵀ). Only the lower triangle of `a` is read. O(n³); `a` is not modified.
 */
export function symmetricEigen(a: Float64Array, n: number, vectors = true): { values: Float64Array; V: Float64Array | null } {
  if (a.length !== n * n) throw new Error(`symmetricEigen: ${a.length} values for a ${n}×${n} matrix`);
  const V = new Float64Array(n * n);
  // Symmetrise from the lower triangle.
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      V[i * n + j] = a[i * n + j]!;
      V[j * n + i] = a[i * n + j]!;
    }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, V: vectors ? V : null };
  householder(V, n, d, e, vectors);
  implicitQL(d, e, n, vectors ? V : null);
  // Sort ascending (and the vectors with them).
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x]! - d[y]!);
  const values = Float64Array.from(order, (i) => d[i]!);
  if (!vectors) return { values, V: null };
  const out = new Float64Array(n * n);
  // V holds the eigenvectors as rows (see householder).
  for (let c = 0; c < n; c++) {
    const row = order[c]! * n;
    for (let r = 0; r < n; r++) out[r * n + c] = V[row + r]!;
  }
  return { values, V: out };
}

/**
 * Householder reduction of the symmetric matrix in V (row-major) to tridiagonal form: diagonal in d, sub-diagonal
 * in e[1..n−1]. With `accumulate`, V becomes the orthogonal transform Q (A = Q·T·Qᵀ).
 */
function householder(V: Float64Array, n: number, d: Float64Array, e: Float64Array, accumulate: boolean): void {
  // V is addressed transposed (element (r, c) at c·n + r): the classic column sweeps over the lower triangle then
  // run along contiguous memory, and the accumulated Q ends up stored as Qᵀ (eigenvectors as rows, which is also
  // what the QL rotations update contiguously).
  const at = (r: number, c: number) => c * n + r;
  for (let j = 0; j < n; j++) d[j] = V[at(n - 1, j)]!;
  for (let i = n - 1; i > 0; i--) {
    // Reduce row i: its first i entries are in d[0..i−1].
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = V[at(i - 1, j)]!;
        V[at(i, j)] = 0;
        V[at(j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k]! /= scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = f > 0 ? -Math.sqrt(h) : Math.sqrt(h);
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // p = A·u / h into e, using the lower triangle.
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        V[at(j, i)] = f;
        g = e[j]! + V[at(j, j)]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const vkj = V[at(k, j)]!;
          g += vkj * d[k]!;
          e[k]! += vkj * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j]! /= h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j]! -= hh * d[j]!;
      // A ← A − u·qᵀ − q·uᵀ on the lower triangle.
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) V[at(k, j)]! -= f * e[k]! + g * d[k]!;
        d[j] = V[at(i - 1, j)]!;
        V[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  if (accumulate) {
    for (let i = 0; i < n - 1; i++) {
      V[at(n - 1, i)] = V[at(i, i)]!;
      V[at(i, i)] = 1;
      const h = d[i + 1]!;
      if (h !== 0) {
        for (let k = 0; k <= i; k++) d[k] = V[at(k, i + 1)]! / h;
        for (let j = 0; j <= i; j++) {
          let g = 0;
          for (let k = 0; k <= i; k++) g += V[at(k, i + 1)]! * V[at(k, j)]!;
          for (let k = 0; k <= i; k++) V[at(k, j)]! -= g * d[k]!;
        }
      }
      for (let k = 0; k <= i; k++) V[at(k, i + 1)] = 0;
    }
    for (let j = 0; j < n; j++) {
      d[j] = V[at(n - 1, j)]!;
      V[at(n - 1, j)] = 0;
    }
    V[at(n - 1, n - 1)] = 1;
  } else {
    // The diagonal of the tridiagonal matrix is left on V's diagonal by the reduction.
    for (let j = 0; j < n; j++) d[j] = V[at(j, j)]!;
  }
  e[0] = 0;
}

/** Implicit-shift QL on the tridiagonal (d, e); eigenvalues into d, rotations applied to the rows of Vᵀ (stored). */
function implicitQL(d: Float64Array, e: Float64Array, n: number, V: Float64Array | null): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) throw new Error('symmetricEigen: QL iteration did not converge');
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i]! -= h;
        f += h;
        p = d[m]!;
        let c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const el1 = e[l + 1]!;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          if (V) {
            const oi = i * n, oi1 = oi + n;
            for (let k = 0; k < n; k++) {
              const vi = V[oi + k]!, vi1 = V[oi1 + k]!;
              V[oi1 + k] = s * vi + c * vi1;
              V[oi + k] = c * vi - s * vi1;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l]! += f;
    e[l] = 0;
  }
}

/** Lower-triangular L with A = L·Lᵀ, or null when A is not (numerically) positive definite. */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = a[j * n + j]!;
    for (let k = 0; k < j; k++) s -= L[j * n + k]! * L[j * n + k]!;
    if (!(s > 0)) return null;
    const ljj = Math.sqrt(s);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = a[i * n + j]!;
      for (let k = 0; k < j; k++) t -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = t / ljj;
    }
  }
  return L;
}

/** C = A·B for row-major A (r×k) and B (k×c). Four rows of B per pass over a row of C (a quarter of the C traffic). */
export function matmul(A: Float64Array, B: Float64Array, r: number, k: number, c: number): Float64Array {
  const C = new Float64Array(r * c);
  const k4 = k - (k % 4);
  for (let i = 0; i < r; i++) {
    const ci = i * c, ai = i * k;
    let t = 0;
    for (; t < k4; t += 4) {
      const a0 = A[ai + t]!, a1 = A[ai + t + 1]!, a2 = A[ai + t + 2]!, a3 = A[ai + t + 3]!;
      const b0 = t * c, b1 = b0 + c, b2 = b1 + c, b3 = b2 + c;
      for (let j = 0; j < c; j++) C[ci + j]! += a0 * B[b0 + j]! + a1 * B[b1 + j]! + a2 * B[b2 + j]! + a3 * B[b3 + j]!;
    }
    for (; t < k; t++) {
      const av = A[ai + t]!, bt = t * c;
      for (let j = 0; j < c; j++) C[ci + j]! += av * B[bt + j]!;
    }
  }
  return C;
}

/** Aᵀ·A for row-major A (r×c): a c×c symmetric matrix (lower triangle computed, four rows of A per pass). */
export function gram(A: Float64Array, r: number, c: number): Float64Array {
  const G = new Float64Array(c * c);
  const r4 = r - (r % 4);
  let t = 0;
  for (; t < r4; t += 4) {
    const o0 = t * c, o1 = o0 + c, o2 = o1 + c, o3 = o2 + c;
    for (let i = 0; i < c; i++) {
      const x0 = A[o0 + i]!, x1 = A[o1 + i]!, x2 = A[o2 + i]!, x3 = A[o3 + i]!;
      const gi = i * c;
      for (let j = 0; j <= i; j++) G[gi + j]! += x0 * A[o0 + j]! + x1 * A[o1 + j]! + x2 * A[o2 + j]! + x3 * A[o3 + j]!;
    }
  }
  for (; t < r; t++) {
    const row = t * c;
    for (let i = 0; i < c; i++) {
      const ai = A[row + i]!;
      const gi = i * c;
      for (let j = 0; j <= i; j++) G[gi + j]! += ai * A[row + j]!;
    }
  }
  for (let i = 0; i < c; i++) for (let j = 0; j < i; j++) G[j * c + i] = G[i * c + j]!;
  return G;
}
