"""What every training loop shares: the distributed setup (torchrun / DistributedDataParallel, gloo on CPU, nccl on
CUDA), stop-on-signal, JSON-lines logs, resumable training state, memory figures.

Resumable state (`<stage>/state/step-<N>.pt`, written atomically, the newest `keep` kept): the trainable weights, the
optimiser (and gradient scaler) state, the step, and every RNG state (CPU, CUDA); data order and noise are functions
of (seed, step, sample index), so nothing else is needed. It loads with `weights_only=True` on every PyTorch version.
"""
import json
import os
import re
import resource
import signal
import sys
import time

import torch
import torch.distributed as dist

from .checkpoint_io import load_torch, pack_state, save_torch, unpack_state


class Dist:
    """Process-group facts from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); a plain single process
    otherwise. `device`: cuda:<local rank> when CUDA is available (unless forced to CPU), else cpu."""

    def __init__(self, force_cpu=False):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        cuda = torch.cuda.is_available() and not force_cpu
        self.device = torch.device(f"cuda:{self.local_rank}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(self.device)
        self.distributed = self.world > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")

    @property
    def main(self):
        return self.rank == 0

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def sum(self, values):
        """Sum of a list of floats over all processes (float64)."""
        t = torch.tensor(values, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        if self.distributed:
            dist.all_reduce(t)
        return t.tolist()

    def any(self, flag):
        if not self.distributed:
            return bool(flag)
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def close(self):
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def set_threads(n, local_world=1):
    n = int(n) if n else max(1, (os.cpu_count() or 1) // max(1, local_world))
    torch.set_num_threads(n)
    return n


class StopFlag:
    """SIGINT / SIGTERM set a flag; the loop saves a resumable state at the next step boundary and exits. A second
    signal stops at once."""

    def __init__(self):
        self.requested = False
        self.signal = None
        self._old = {}
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.requested = True
        self.signal = signum
        print(f"[training] {signal.Signals(signum).name}: stopping after this step (a resumable checkpoint is saved)", file=sys.stderr, flush=True)

    def restore(self):
        for s, h in self._old.items():
            signal.signal(s, h)


class JsonLog:
    """Append-only JSON lines. On resume from step N, lines of later steps (from the interrupted run) are dropped."""

    def __init__(self, path, resume_step=None, enabled=True):
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if resume_step is not None and os.path.exists(path):
            keep = []
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        if json.loads(line).get("step", 0) <= resume_step:
                            keep.append(line)
                    except ValueError:
                        pass
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(keep)
        elif resume_step is None and os.path.exists(path):
            os.remove(path)

    def write(self, rec):
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()


def memory_mb(device):
    """Peak resident memory of this process (MB) and, on CUDA, peak allocated GPU memory (MB)."""
    out = {"rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.type == "cuda":
        out["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
    return out


def rng_state():
    s = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def set_rng_state(s):
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(s["cuda"])
        except RuntimeError:
            pass  # a different GPU count: RNG on CUDA is not used for data or noise


class StateStore:
    """`<dir>/step-<N>.pt`, newest `keep` kept."""

    def __init__(self, folder, keep=2):
        self.folder, self.keep = folder, max(1, int(keep))

    def steps(self):
        if not os.path.isdir(self.folder):
            return []
        return sorted(int(m.group(1)) for f in os.listdir(self.folder) if (m := re.fullmatch(r"step-(\d+)\.pt", f)))

    def latest(self):
        s = self.steps()
        return os.path.join(self.folder, f"step-{s[-1]}.pt") if s else None

    def save(self, step, state):
        save_torch(pack_state(state), os.path.join(self.folder, f"step-{step}.pt"))
        for old in self.steps()[:-self.keep]:
            try:
                os.remove(os.path.join(self.folder, f"step-{old}.pt"))
            except OSError:
                pass

    def load(self, path=None):
        p = path or self.latest()
        return (p, unpack_state(load_torch(p))) if p else (None, None)


class Timer:
    def __init__(self):
        self.t0 = time.time()

    def elapsed(self):
        return time.time() - self.t0


def lr_at(step, cfg):
    """Linear warm-up over `warmup` steps, then constant (the reference's) or cosine to `min_lr_ratio`·lr."""
    base = float(cfg["lr"])
    w = max(1, int(cfg.get("warmup", 1)))
    if step < w:
        return base * (step + 1) / w
    if cfg.get("lr_schedule", "constant") == "cosine":
        import math

        total = max(w + 1, int(cfg["steps"]))
        p = min(1.0, (step - w) / max(1, total - w))
        lo = float(cfg.get("min_lr_ratio", 0.1))
        return base * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * p)))
    return base
