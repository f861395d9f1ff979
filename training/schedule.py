"""The noise schedule, the training objective and DDIM, as the official inference uses them (reference-pipeline.md
§7.5): 1000 steps, LINEAR betas 0.00085 → 0.012, the zero-terminal-SNR rescale, v-prediction; trailing DDIM (η = 0).

Why linear: the official inference config (what our sampler, src/kernel/diffusion/scheduler.ts, is fixed to) uses
"linear" + zero-SNR + trailing + v-prediction. Champ's trainer forces "scaled_linear" for training (training-reference
§1), so its models are sampled on a different schedule than they were trained on; we train on exactly the schedule we
sample with. `beta_schedule: "scaled_linear"` is available for experiments.

All arithmetic is float32 in the order diffusers uses, so ᾱ equals our TypeScript scheduler's table.
"""
import numpy as np
import torch


def make_betas(cfg):
    n = int(cfg.get("train_steps", 1000))
    a, b = float(cfg.get("beta_start", 0.00085)), float(cfg.get("beta_end", 0.012))
    kind = cfg.get("beta_schedule", "linear")
    if kind == "linear":
        betas = torch.linspace(a, b, n, dtype=torch.float32)
    elif kind == "scaled_linear":
        betas = torch.linspace(a ** 0.5, b ** 0.5, n, dtype=torch.float32) ** 2
    else:
        raise ValueError(f"schedule.beta_schedule '{kind}': use 'linear' (the reference's) or 'scaled_linear'")
    if cfg.get("zero_snr", True):
        betas = rescale_zero_terminal_snr(betas)
    return betas


def rescale_zero_terminal_snr(betas):
    """Lin et al. 2024: shift and scale √ᾱ so that √ᾱ_T = 0 while √ᾱ_0 is kept."""
    alphas = 1.0 - betas
    sq = torch.cumprod(alphas, dim=0).sqrt()
    s0, sT = sq[0].clone(), sq[-1].clone()
    sq = (sq - sT) * (s0 / (s0 - sT))
    bar = sq ** 2
    alphas = torch.cat([bar[0:1], bar[1:] / bar[:-1]])
    return 1 - alphas


class Schedule:
    def __init__(self, cfg):
        self.cfg = dict(cfg)
        self.betas = make_betas(cfg)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
        self.num_train = len(self.betas)
        if cfg.get("prediction", "v_prediction") != "v_prediction":
            raise ValueError("schedule.prediction: only v_prediction (the reference's) is supported")

    def _a(self, t, like):
        a = self.alphas_cumprod.to(like.device)[t.to(like.device)].to(torch.float32)
        return a.reshape(-1, *([1] * (like.dim() - 1)))

    def add_noise(self, x0, noise, t):
        """x_t = √ᾱ x0 + √(1−ᾱ) ε for per-row timesteps t (rows of x0)."""
        a = self._a(t, x0)
        return (a.sqrt() * x0.float() + (1 - a).sqrt() * noise.float()).to(x0.dtype)

    def velocity(self, x0, noise, t):
        """v = √ᾱ ε − √(1−ᾱ) x0."""
        a = self._a(t, x0)
        return (a.sqrt() * noise.float() - (1 - a).sqrt() * x0.float()).to(x0.dtype)

    def snr(self, t):
        a = self.alphas_cumprod[t.cpu()].double()
        return (a / (1 - a)).float()

    def min_snr_weight(self, t, gamma):
        """Min-SNR-γ for v-prediction: min(SNR, γ) / (SNR + 1) (Champ's compute_snr path). ᾱ_T = 0 gives weight 0."""
        if gamma is None:
            return torch.ones(len(t))
        s = self.snr(t)
        return torch.minimum(s, torch.full_like(s, float(gamma))) / (s + 1)

    # -- sampling

    def ddim_timesteps(self, steps):
        """Trailing spacing: round(arange(T, 0, −T/steps)) − 1, e.g. 999, 949, …, 49 for 20 steps."""
        return (np.round(np.arange(self.num_train, 0, -self.num_train / steps)).astype(np.int64) - 1).tolist()

    def ddim_step(self, v, t, x, steps):
        """One deterministic DDIM step (η = 0, v-prediction, ᾱ_prev = 1 after the last step). Returns (x_prev, x̂0)."""
        prev = t - self.num_train // steps
        a = self.alphas_cumprod[t]
        ap = self.alphas_cumprod[prev] if prev >= 0 else torch.tensor(1.0)
        x0 = a.sqrt() * x - (1 - a).sqrt() * v
        eps = a.sqrt() * v + (1 - a).sqrt() * x
        return ap.sqrt() * x0 + (1 - ap).sqrt() * eps, x0
