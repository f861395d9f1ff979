#!/usr/bin/python3
"""Independent references for src/kernel/diffusion/scheduler.ts (reference-pipeline.md §7.5, §7.6).

Regenerate (from the repository root, Debian's torch 1.13 + numpy):

    /usr/bin/python3 test/diffusion/golden/scheduler_reference.py

writes test/diffusion/fixtures/scheduler.npz with
  betas_f32, alphas_cumprod_f32   the schedule computed with float32 torch tensor ops on the CPU, the way the
                                  library builds it (linspace, rescale_zero_terminal_snr, cumprod)
  alphas_cumprod_f64              the same maths in float64 numpy (the exact schedule)
  step_*                          DDIM v-prediction steps (eta = 0) computed in float64 numpy from float32 inputs:
                                  x_t, v, t, the expected x_prev and x0 for t in {999, 949, 499, 49}
  cfg_*                           classifier-free guidance v_u + 3.5 (v_c - v_u) in float32 torch
The step maths is written from the spec's formulas, not from any library source.
"""
import os
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "scheduler.npz")
T = 1000


def schedule_torch_f32():
    betas = torch.linspace(0.00085, 0.012, T, dtype=torch.float32)
    alphas = 1.0 - betas
    abar = torch.cumprod(alphas, dim=0)
    r = abar.sqrt()
    r0 = r[0].clone()
    rT = r[-1].clone()
    r = r - rT
    r = r * (r0 / (r0 - rT))
    abar2 = r ** 2
    a = torch.cat([abar2[0:1], abar2[1:] / abar2[:-1]])
    betas2 = 1 - a
    return betas.numpy(), torch.cumprod(1.0 - betas2, dim=0).numpy()


def schedule_np_f64():
    betas = np.linspace(0.00085, 0.012, T, dtype=np.float64)
    abar = np.cumprod(1.0 - betas)
    r = np.sqrt(abar)
    r = (r - r[-1]) * r[0] / (r[0] - r[-1])
    abar2 = r * r
    a = np.concatenate([abar2[:1], abar2[1:] / abar2[:-1]])
    return np.cumprod(a)  # = abar2 up to rounding


def ddim_v_step(x, v, t, abar, n_steps=20):
    """float64 DDIM with eta 0 and v-prediction (§7.5)."""
    x = x.astype(np.float64)
    v = v.astype(np.float64)
    a_t = float(abar[t])
    tp = t - T // n_steps
    a_p = float(abar[tp]) if tp >= 0 else 1.0
    x0 = np.sqrt(a_t) * x - np.sqrt(1 - a_t) * v
    eps = np.sqrt(a_t) * v + np.sqrt(1 - a_t) * x
    return np.sqrt(a_p) * x0 + np.sqrt(1 - a_p) * eps, x0


def main():
    betas, abar32 = schedule_torch_f32()
    abar64 = schedule_np_f64()
    rng = np.random.default_rng(1234)
    out = {
        "betas_f32": betas.astype(np.float32),
        "alphas_cumprod_f32": abar32.astype(np.float32),
        "alphas_cumprod_f64": abar64,
    }
    ts = [999, 949, 499, 49]
    out["step_t"] = np.array(ts, dtype=np.int64)
    for i, t in enumerate(ts):
        x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
        v = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
        # the step uses the float32 schedule values, as the library does
        prev, x0 = ddim_v_step(x, v, t, abar32.astype(np.float64))
        out[f"step{i}_x"] = x
        out[f"step{i}_v"] = v
        out[f"step{i}_prev"] = prev
        out[f"step{i}_x0"] = x0
    vu = torch.from_numpy(rng.standard_normal(64).astype(np.float32))
    vc = torch.from_numpy(rng.standard_normal(64).astype(np.float32))
    out["cfg_vu"] = vu.numpy()
    out["cfg_vc"] = vc.numpy()
    out["cfg_out"] = (vu + 3.5 * (vc - vu)).numpy()
    np.savez_compressed(OUT, **out)
    print("wrote", os.path.relpath(OUT), "ᾱ[949] =", abar32[949], "max |f32 - f64| =", np.abs(abar32 - abar64).max())


if __name__ == "__main__":
    main()
