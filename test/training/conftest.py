"""Shared fixtures of the trainer's tests (real PyTorch on the CPU; run by `npm test` through scripts/test.mjs, or
directly: `/usr/bin/python3 -m pytest test/training`)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import torch  # noqa: E402

torch.set_num_threads(1)

from synthetic_data import make_dataset  # noqa: E402


def run_cli(*args, env=None, check=True, timeout=600):
    """`python -m training …` in a subprocess (one CPU thread); returns the CompletedProcess."""
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    e.update(env or {})
    p = subprocess.run([sys.executable, "-m", "training", *args], cwd=ROOT, env=e, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"python -m training {' '.join(args)} exited {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def read_log(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    """3 training identities, 1 validation identity, 1 clip of 8 frames each, 32²."""
    return make_dataset(str(tmp_path_factory.mktemp("toy")), size=32, identities=(0, 1, 2), val=(3,), clips=1, frames=8)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, toy_data):
    """The whole tiny pipeline once: base → VAE → stage 1 → stage 2."""
    run = str(tmp_path_factory.mktemp("run"))
    run_cli("all", "--config", "tiny", "--data", toy_data, "--run", run, "--set", "stage1.validate_every=6", "--set", "stage2.validate_every=4")
    return run
