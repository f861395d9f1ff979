"""MagicPortrait trainer (PyTorch): both training stages of the paper, a small VAE, and checkpoints in the official
layout that `magicportrait import` reads. Run `python -m training --help`; README "Training" has the details."""
import os

# OpenMP's default spin-waiting makes multi-threaded CPU steps crawl on a shared machine (measured: a small-config
# step with 2 threads took 35 s instead of 1.7 s at load 11 on 2 cores). Passive waiting must be chosen before
# PyTorch (and its OpenMP runtime) is loaded; an explicit OMP_WAIT_POLICY is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
