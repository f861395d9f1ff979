#!/usr/bin/python3
"""Timings of the reference implementations for bench/metrics.ts (never used by the tests).

    /usr/bin/python3 test/metrics/golden/bench_reference.py --frames FRAMES.npy --runs R [--lpips] [--fid-dim D --fid-n N] --out JSON

FRAMES.npy: uint8 (2·K, H, W, 3), pairs (2k, 2k+1). Times, per pair (median over the runs, milliseconds):
  psnr   skimage.metrics.peak_signal_noise_ratio(a, b, data_range=255)
  ssim   skimage.metrics.structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=False, data_range=255)
  lpips  (--lpips) the plain-PyTorch AlexNet LPIPS of lpips_reference.py on the pair, float32, torch threads = 1
  fid    (--fid-dim) pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm) on random N×D features
  i3d    (--i3d-clip CLIP.npy, uint8 (T, H, W, 3)) the plain-PyTorch I3D of i3d_reference.py ('videogpt' variant,
         hash-generated weights) on the clip: preprocessing + forward, float32, torch threads = 1 (runs: max(1, R // 3))
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def median_ms(fn, runs):
    fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    return float(np.median(t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lpips", action="store_true")
    ap.add_argument("--fid-dim", type=int, default=0)
    ap.add_argument("--fid-n", type=int, default=0)
    ap.add_argument("--i3d-clip", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    frames = np.load(a.frames)
    pairs = [(frames[2 * k], frames[2 * k + 1]) for k in range(len(frames) // 2)]
    kw = dict(channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    res = {
        "psnr": float(np.median([median_ms(lambda: peak_signal_noise_ratio(x, y, data_range=255), a.runs) for x, y in pairs])),
        "ssim": float(np.median([median_ms(lambda: structural_similarity(x, y, **kw), a.runs) for x, y in pairs])),
        "ssim_values": [float(structural_similarity(x, y, **kw)) for x, y in pairs],
    }
    if a.lpips:
        import torch
        torch.set_num_threads(1)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import lpips_reference as L
        rng = np.random.default_rng(1234)
        w = L.make_backbone(rng, L.ALEX, 0.06)
        lins = L.make_lin(rng, [64, 192, 384, 256, 256])
        x, y = pairs[0]
        with torch.no_grad():
            res["lpips"] = median_ms(lambda: L.lpips(x, y, L.ALEX, w, L.ALEX_TAPS, (3, 2), lins, torch.float32), a.runs)
    if a.fid_dim:
        from scipy import linalg
        rng = np.random.default_rng(7)
        f1 = rng.random((a.fid_n, a.fid_dim))
        f2 = rng.random((a.fid_n, a.fid_dim))

        def fid():
            mu1, s1 = f1.mean(0), np.cov(f1, rowvar=False)
            mu2, s2 = f2.mean(0), np.cov(f2, rowvar=False)
            covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
            return ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real)

        res["fid"] = median_ms(fid, max(1, a.runs // 3))
        res["fid_value"] = float(fid())
        np.save(a.out + ".fid.npy", np.concatenate([f1, f2]))
    if a.i3d_clip:
        import torch
        torch.set_num_threads(1)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import i3d_reference as R
        w = {k: torch.from_numpy(R.tensor_for(k, s)) for k, s in R.declare()}
        clip = np.load(a.i3d_clip)
        net = R.I3D(w, 1e-5)
        run = lambda: net.forward(R.preprocess(clip))[0, :, :, 0, 0].mean(1)
        with torch.no_grad():
            res["i3d"] = median_ms(run, max(1, a.runs // 3))
            res["i3d_features"] = [float(v) for v in run()]
    with open(a.out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
