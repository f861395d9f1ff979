"""numpy reference of one Levenberg-Marquardt step of the fit (src/kernel/fit/lm.ts), for bench/fit.ts.

Given the weighted data Jacobian J (m x n), residuals r (m), the prior contributions to the normal equations
(diagonal P and gradient q) and the damping lambda:
    H = J^T J + diag(P),  g = J^T r + q,  (H + lambda * diag(H) + 1e-12 I) delta = -g   (Cholesky)
Run by the benchmark (not by tests):
    /usr/bin/python3 test/fit/golden/lm_reference.py --bench step.npz --repeat 200
prints one JSON line: {"ms": median milliseconds, "delta": [...], "numpy": version}.
"""
import argparse
import json
import time

import numpy as np


def step(J, r, P, q, lam):
    H = J.T @ J + np.diag(P)
    g = J.T @ r + q
    A = H + lam * np.diag(np.maximum(np.diag(H), 1e-9)) + 1e-12 * np.eye(H.shape[0])
    L = np.linalg.cholesky(A)
    y = np.linalg.solve(L, -g)  # dense triangular solves through LAPACK's general solver (no scipy needed)
    return np.linalg.solve(L.T, y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--repeat", type=int, default=200)
    a = ap.parse_args()
    z = np.load(a.bench)
    J, r, P, q, lam = z["J"], z["r"], z["P"], z["q"], float(z["lam"])
    d = step(J, r, P, q, lam)
    t = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        step(J, r, P, q, lam)
        t.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"ms": float(np.median(t)), "delta": d.tolist(), "numpy": np.__version__}))


if __name__ == "__main__":
    main()
