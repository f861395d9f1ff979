#!/usr/bin/python3
"""PyTorch CPU-generator normals, the target of src/kernel/diffusion/noise.ts (torchCpuRandn).

Regenerate (from the repository root, Debian's torch 1.13):

    /usr/bin/python3 test/diffusion/golden/noise_reference.py

writes test/diffusion/fixtures/noise.npz: torch.randn(shape, generator=torch.Generator().manual_seed(seed)) for
  latent_s42   (1, 4, 3, 4, 4), seed 42   (a multiple of 16: blocks only)
  tail_s7      (40,),  seed 7              (not a multiple of 16: the last 16 values are redrawn)
  min_s0       (16,),  seed 0
  big_s123     (4000,), seed 123           (several MT19937 state refills)
"""
import os
import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "noise.npz")


def randn(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32).numpy()


np.savez_compressed(
    OUT,
    latent_s42=randn((1, 4, 3, 4, 4), 42),
    tail_s7=randn((40,), 7),
    min_s0=randn((16,), 0),
    big_s123=randn((4000,), 123),
)
print("wrote", os.path.relpath(OUT))
