"""The small config's VAE, trained from scratch before stage 1 (diffusers AutoencoderKL layout, factor 8).

Objective per sample: L1 + MSE between the image and the decoder's output for z = μ + σ·ε (the posterior sample, as
the Stable Diffusion VAE is trained), plus kl_weight · KL(q(z|x) ‖ N(0, 1)) (per-element mean). Random crops
(`crop`, a multiple of 8) and horizontal flips, drawn from (seed, step, sample index) like every other sample.
At the end the latent scaling factor is set to 1 / std of the latent means over the training frames (Stable
Diffusion's 0.18215 was chosen the same way), so the diffusion model sees unit-variance latents; the VAE is written to
<run>/base/vae/ in the diffusers layout. Reconstruction PSNR on validation frames is logged.
"""
import os
import time

import numpy as np
import torch
import torch.nn as nn

from .base import save_vae
from .cache import LANCZOS, load_rgb
from .config import save_config
from .data import Epochs, DatasetError, generator, scan_split
from .loop import Dist, JsonLog, StateStore, StopFlag, lr_at, memory_mb, rng_state, set_rng_state, set_threads
from .models import AutoencoderKL
from .train import Interrupted
from .validate import psnr


class _VaeLoss(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x, eps, kl_weight):
        mean, logvar = self.vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * eps
        y = self.vae.decode(z)
        rec = (y - x).abs().flatten(1).mean(1) + ((y - x) ** 2).flatten(1).mean(1)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).flatten(1).mean(1)
        return rec + kl_weight * kl, rec


def load_frames(clips, size, limit=None):
    paths = [os.path.join(c.path, "images", f) for c in clips for f in c.frames]
    if limit and len(paths) > limit:
        idx = np.linspace(0, len(paths) - 1, limit).round().astype(int)
        paths = [paths[i] for i in idx]
    return np.stack([load_rgb(p, size, LANCZOS) for p in paths])


def train_vae(cfg, run_dir, data_root, resume=True, log=print, stop_at=None):
    vt, rt = cfg["vae_train"], cfg["runtime"]
    if not vt:
        raise ValueError("this config has no vae_train section (the real config uses sd-vae-ft-mse)")
    d = Dist(force_cpu=rt.get("device") == "cpu")
    set_threads(rt.get("threads", 0), d.local_world)
    dev = d.device
    out_dir = os.path.join(run_dir, "vae")
    if d.main:
        os.makedirs(out_dir, exist_ok=True)
        save_config(cfg, os.path.join(out_dir, "config.json"))
    S = int(cfg["model"]["image_size"])
    crop = int(vt.get("crop", S))
    if crop % 8 or crop > S:
        raise ValueError(f"vae_train.crop {crop} must be a multiple of 8 and at most image_size {S}")
    types = cfg["model"]["guidance"]["types"]
    train = load_frames(scan_split(data_root, "train", types), S, vt.get("max_frames"))
    try:
        val_clips = scan_split(data_root, "val", types)
    except DatasetError:
        val_clips = scan_split(data_root, "train", types)
    val = load_frames(val_clips, S, int(vt.get("val_frames", 64)))
    torch.manual_seed(int(rt["seed"]))
    vae = AutoencoderKL(cfg["model"]["vae"]).to(dev)
    B, steps = int(vt["batch"]), int(vt["steps"])
    if B % d.world:
        raise ValueError(f"vae_train.batch {B} must be divisible by the {d.world} processes")
    b = B // d.world
    opt = torch.optim.AdamW(vae.parameters(), lr=float(vt["lr"]), weight_decay=float(vt.get("weight_decay", 0.0)))
    store = StateStore(os.path.join(out_dir, "state"), vt.get("keep_checkpoints", 2))
    start, wall0, resumed = 0, 0.0, False
    if resume and store.latest():
        path, st = store.load()
        vae.load_state_dict(st["weights"])
        opt.load_state_dict(st["optimizer"])
        set_rng_state(st["rng"])
        start, wall0, resumed = int(st["step"]), float(st.get("wall_s", 0)), True
        log(f"vae: resumed from {path} (step {start})")
    model = _VaeLoss(vae)
    if d.distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[d.local_rank] if dev.type == "cuda" else None)
    jlog = JsonLog(os.path.join(out_dir, "log.jsonl"), start if resumed else None, d.main)
    epochs = Epochs(len(train), int(rt["seed"]), "vae")
    sched = dict(vt, lr_schedule=vt.get("lr_schedule", "cosine"))
    stop = StopFlag()
    t_start = time.time()
    step = start

    def batch(step):
        xs, es = [], []
        lat = crop // 8
        C = vae.latent_channels
        for i in range(d.rank * b, (d.rank + 1) * b):
            n = step * B + i
            g = generator(rt["seed"], "vae", step, n)
            img = train[epochs.item(n)]
            oy, ox = (int(torch.randint(S - crop + 1, (1,), generator=g)) for _ in range(2))
            flip = bool(torch.rand((), generator=g) < 0.5)
            x = img[oy:oy + crop, ox:ox + crop]
            if flip:
                x = x[:, ::-1]
            xs.append(np.ascontiguousarray(x))
            es.append(torch.randn(C, lat, lat, generator=g))
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 127.5 - 1
        return x.to(dev), torch.stack(es).to(dev)

    def save(step, wall):
        if d.main:
            store.save(step, {"stage": "vae", "step": step, "weights": {k: v.detach().cpu() for k, v in vae.state_dict().items()},
                              "optimizer": opt.state_dict(), "rng": rng_state(), "wall_s": wall})
        d.barrier()

    try:
        while step < steps:
            t0 = time.time()
            for g_ in opt.param_groups:
                g_["lr"] = lr_at(step, sched)
            x, eps = batch(step)
            per, rec = model(x, eps, float(vt["kl_weight"]))
            opt.zero_grad(set_to_none=True)
            per.mean().backward()
            gn = float(torch.nn.utils.clip_grad_norm_(vae.parameters(), float(vt.get("grad_clip", 1.0))))
            opt.step()
            step += 1
            loss, recl = (v / B for v in d.sum([float(per.detach().sum()), float(rec.detach().sum())]))
            dt = time.time() - t0
            wall = wall0 + time.time() - t_start
            if d.main and (step % int(vt["log_every"]) == 0 or step == start + 1 or step == steps):
                r = {"step": step, "stage": "vae", "loss": loss, "recon": recl, "lr": opt.param_groups[0]["lr"], "grad_norm": gn,
                     "samples_per_s": round(B / dt, 3), "step_s": round(dt, 3), "wall_s": round(wall, 1), "processes": d.world}
                r.update(memory_mb(dev))
                jlog.write(r)
                log(f"vae step {step}/{steps} loss {loss:.4f} {r['samples_per_s']} samples/s")
            interrupted = d.any(stop.requested or (stop_at is not None and step >= stop_at))
            if interrupted or step == steps or step % int(vt["checkpoint_every"]) == 0:
                save(step, wall)
                if d.main:
                    p = reconstruction_psnr(vae, val, dev)
                    jlog.write({"step": step, "stage": "vae", "event": "validation", "val_psnr": round(p, 3)})
                    log(f"vae validation at step {step}: reconstruction PSNR {p:.2f} dB")
            if interrupted:
                raise Interrupted(f"VAE training stopped at step {step}; resume with the same command")
    finally:
        stop.restore()
    if d.main:
        vae.scaling_factor = latent_scale(vae, train, dev, int(vt.get("latent_stats_frames", 512)))
        save_vae(vae, os.path.join(run_dir, "base", "vae"))
        p = reconstruction_psnr(vae, val, dev)
        jlog.write({"step": step, "stage": "vae", "event": "export", "val_psnr": round(p, 3), "scaling_factor": vae.scaling_factor})
        log(f"vae: exported to {os.path.join(run_dir, 'base', 'vae')} (scaling factor {vae.scaling_factor:.5f}, PSNR {p:.2f} dB)")
    d.barrier()
    return vae


@torch.no_grad()
def reconstruction_psnr(vae, frames, device, batch=16):
    vae.eval()
    ps = []
    for i in range(0, len(frames), batch):
        x = torch.from_numpy(frames[i:i + batch]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        y = ((vae.decode(vae.encode(x)[0]).clamp(-1, 1) / 2 + 0.5) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        ps += [psnr(a, b) for a, b in zip(y, frames[i:i + batch])]
    vae.train()
    return float(np.mean(ps))


@torch.no_grad()
def latent_scale(vae, frames, device, limit):
    idx = np.linspace(0, len(frames) - 1, min(limit, len(frames))).round().astype(int)
    vae.eval()
    ms = []
    for i in range(0, len(idx), 16):
        x = torch.from_numpy(frames[idx[i:i + 16]]).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        ms.append(vae.encode(x)[0].float().cpu())
    vae.train()
    return float(1.0 / torch.cat(ms).std())
