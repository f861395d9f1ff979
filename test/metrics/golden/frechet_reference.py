#!/usr/bin/python3
"""Fréchet distance and symmetric eigen-decomposition goldens from numpy / scipy on random data.

Regenerate (from the repository root, Debian's python3-numpy 1.24 + python3-scipy 1.10):

    /usr/bin/python3 test/metrics/golden/frechet_reference.py

writes test/metrics/fixtures/frechet.npz:
  case<k>_f1, case<k>_f2      float32 feature sets (N1×d, N2×d), low-entropy (multiples of 1/8) so they compress
  case<k>_sqrtm               FID as pytorch-fid computes it: np.cov(rowvar=False), scipy.linalg.sqrtm(Σ1·Σ2)
                              (ε·I retry when not finite, real part of the trace)
  case<k>_exact               the same distance in float64 from scipy.linalg.eigvalsh(Σ1^½ Σ2 Σ1^½), summing √λ over
                              the top min(d, N1−1, N2−1) eigenvalues (the product's rank; the rest are zeros up to
                              round-off, whose square roots would add ~1e-7 on the rank-deficient cases)
  eig<k>_a, eig<k>_values     random symmetric matrices and numpy.linalg.eigvalsh values (ascending)
"""
import os

import numpy as np
from scipy import linalg

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "frechet.npz")


def fid_sqrtm(mu1, s1, mu2, s2, eps=1e-6):
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_exact(mu1, s1, mu2, s2, rank):
    w, v = linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = linalg.eigvalsh(root @ s2 @ root)[-rank:]
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(lam, 0, None)).sum())


def main():
    rng = np.random.default_rng(20250504)
    out = {}
    cases = [(64, 200, 300, 0.0), (64, 40, 50, 0.3), (32, 20, 500, 0.5), (48, 400, 400, 0.0)]
    for k, (d, n1, n2, shift) in enumerate(cases):
        mix = rng.standard_normal((d, d)) / np.sqrt(d)
        f1 = np.round(rng.standard_normal((n1, d)) @ mix * 8) / 8
        f2 = np.round((rng.standard_normal((n2, d)) * 1.2 + shift) @ mix * 8) / 8
        f1 = f1.astype(np.float32)
        f2 = f2.astype(np.float32)
        a = f1.astype(np.float64)
        b = f2.astype(np.float64)
        mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
        mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
        out[f"case{k}_f1"] = f1
        out[f"case{k}_f2"] = f2
        out[f"case{k}_sqrtm"] = np.float64(fid_sqrtm(mu1, s1, mu2, s2))
        out[f"case{k}_exact"] = np.float64(fid_exact(mu1, s1, mu2, s2, min(d, n1 - 1, n2 - 1)))
        print(f"case{k} d={d} n=({n1},{n2}): sqrtm {out[f'case{k}_sqrtm']:.10f} exact {out[f'case{k}_exact']:.10f}")
    for k, n in enumerate([1, 2, 7, 33]):
        m = np.round(rng.standard_normal((n, n)) * 16) / 16
        a = (m + m.T) / 2
        if n == 33:
            a[5, :] = 0
            a[:, 5] = 0  # a zero row/column and a repeated structure
        out[f"eig{k}_a"] = a
        out[f"eig{k}_values"] = np.linalg.eigvalsh(a)
    np.savez_compressed(OUT, **out)


if __name__ == "__main__":
    main()
