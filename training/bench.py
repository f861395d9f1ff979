"""Trainer throughput (used by bench/train.ts; prints one JSON object per line).

  python -m training.bench small [--threads N] [--config small]   VAE, stage-1 and stage-2 steps of the config
  python -m training.bench fullwidth [--dir DIR]                  SD 1.5 widths at 64²: files in the real layouts
                                                                  (generated once into DIR, sparse values), loaded by the
                                                                  real config's loaders with full key coverage, then one
                                                                  stage-1 forward+backward and one stage-2 AdamW step,
                                                                  each in its own process (peak memory per phase)

Each row: wall seconds per step (median), samples/s, CPU seconds per sample (process time: a load-independent cost),
peak RSS, and a calibration (a fixed 3×3-convolution forward+backward, the reference measured in the same run) so that
rows compare across machines and loads.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch


def calibration(reps=5):
    """Median wall ms of a fixed conv workload (64→64 channels, 3×3, 8×64×64, forward + backward)."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(8, 64, 64, 64, requires_grad=True)
    ts = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        conv(x).square().mean().backward()
        if i:
            ts.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2] * 1000


def timed(step, reps):
    step()  # warm-up
    walls, cpus = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


def peak_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def stage_step(net, sched, model_cfg, B, F, stage, optimizer=True):
    from .train import set_trainable

    set_trainable(net, stage)
    S = model_cfg["image_size"]
    C, lat = model_cfg["unet"]["in_channels"], S // 8
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5) if optimizer else None
    g = torch.Generator().manual_seed(0)
    text = torch.randn(1, 77, model_cfg["unet"]["cross_attention_dim"], generator=g)
    x0, noise = torch.randn(B * F, C, lat, lat, generator=g), torch.randn(B * F, C, lat, lat, generator=g)
    t = torch.randint(0, 1000, (B,), generator=g)
    maps = {k: torch.rand(B * F, 3, S, S, generator=g) for k in net.types}
    ref, keep = torch.randn(B, C, lat, lat, generator=g), torch.ones(B, dtype=torch.bool)

    def step():
        tt = t.repeat_interleave(F)
        v = net(sched.add_noise(x0, noise, tt), t, text, maps, ref, keep, F)
        loss = (((v - sched.velocity(x0, noise, tt)) ** 2).reshape(B, -1).mean(1) * sched.min_snr_weight(t, 5.0)).mean()
        if opt:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if opt:
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        else:
            for p in params:
                p.grad = None

    return step


def bench_small(a):
    from .config import load_config
    from .models import AutoencoderKL, MagicPortraitNet
    from .schedule import Schedule
    from .train_vae import _VaeLoss

    cfg = load_config(a.config)
    m = cfg["model"]
    S = m["image_size"]
    rows = []
    cal = calibration()
    torch.manual_seed(0)
    vae = AutoencoderKL(m["vae"])
    vl, opt = _VaeLoss(vae), torch.optim.AdamW(vae.parameters(), 1e-4)
    B = int(cfg["vae_train"]["batch"])
    crop = int(cfg["vae_train"].get("crop", S))
    x, e = torch.rand(B, 3, crop, crop) * 2 - 1, torch.randn(B, m["vae"]["latent_channels"], crop // 8, crop // 8)

    def vstep():
        loss, _ = vl(x, e, 1e-6)
        opt.zero_grad()
        loss.mean().backward()
        opt.step()

    w, c = timed(vstep, a.reps)
    rows.append({"name": f"{a.config} VAE step ({B}×{crop}²)", "step_s": w, "samples_per_s": B / w, "cpu_s_per_sample": c / B})
    sched = Schedule(cfg["schedule"])
    for stage in (1, 2):
        sc = cfg[f"stage{stage}"]
        B, F = int(sc["batch"]), 1 if stage == 1 else int(sc["frames"])
        torch.manual_seed(0)
        net = MagicPortraitNet(m, motion=stage == 2)
        w, c = timed(stage_step(net, sched, m, B, F, stage), a.reps)
        unit = "samples" if stage == 1 else f"{F}-frame clips"
        rows.append({"name": f"{a.config} stage {stage} step ({B} {unit}, {S}²)", "step_s": w, "samples_per_s": B / w, "cpu_s_per_sample": c / B})
    for r in rows:
        r.update({"calibration_ms": cal, "threads": torch.get_num_threads(), "rss_peak_mb": peak_mb()})
        print(json.dumps(r), flush=True)


# ------------------------------------------------------------------------------------------------------------------
# Full width


def fullwidth_config():
    from .config import load_config

    cfg = load_config("real")
    cfg["model"]["image_size"] = 64
    cfg["model"]["unet"]["sample_size"] = 8
    cfg["runtime"].update({"precision": "fp32", "gradient_checkpointing": True})
    return cfg


def write_fullwidth_files(d):
    """SD 1.5 / sd-vae-ft-mse / AnimateDiff files at their real sizes (sparse values: seeded normals, mostly zero),
    written once; `done` marks a complete set."""
    from .base import write_json
    from .checkpoint_io import LazyTensor, save_torch, write_safetensors
    from .models import AutoencoderKL, CLIPTextModel
    from .models.text import SD15_TEXT_CONFIG, tiny_bpe_files, PROMPT
    from .models.unet import DenoisingUNet

    if os.path.exists(os.path.join(d, "done")):
        return
    cfg = fullwidth_config()
    m = cfg["model"]

    def sparse(shape, seed, dtype=torch.float16):
        def make():
            g = torch.Generator().manual_seed(seed)
            t = torch.randn(shape, generator=g) * 0.02
            return (t * (torch.rand(shape, generator=g) < 0.1)).to(dtype)
        return LazyTensor(dtype, shape, make)

    with torch.device("meta") if hasattr(torch, "device") and hasattr(torch.device, "__enter__") else _nullctx():
        den = DenoisingUNet(m["unet"], motion=m["motion"])
    shapes = {k: list(v.shape) for k, v in den.state_dict().items()}
    del den
    two = {k: s for k, s in shapes.items() if ".motion_modules." not in k}
    mm = {k: s for k, s in shapes.items() if ".motion_modules." in k}
    sd = os.path.join(d, "sd15")
    write_safetensors({k: sparse(s, i) for i, (k, s) in enumerate(two.items())}, os.path.join(sd, "unet", "diffusion_pytorch_model.safetensors"))
    write_json(os.path.join(sd, "unet", "config.json"), dict(m["unet"]))
    write_safetensors({k: sparse(s, 10_000 + i, torch.float32) for i, (k, s) in enumerate(mm.items())}, os.path.join(d, "mm_sd_v15_v2.safetensors"))
    te = CLIPTextModel(SD15_TEXT_CONFIG)
    write_safetensors({k: sparse(list(v.shape), 20_000 + i) for i, (k, v) in enumerate(te.state_dict().items())}, os.path.join(sd, "text_encoder", "model.safetensors"))
    del te
    write_json(os.path.join(sd, "text_encoder", "config.json"), SD15_TEXT_CONFIG)
    vocab, merges = tiny_bpe_files(sorted(set(PROMPT.lower().replace(".", " . ").split())))
    os.makedirs(os.path.join(sd, "tokenizer"), exist_ok=True)
    json.dump(vocab, open(os.path.join(sd, "tokenizer", "vocab.json"), "w"), ensure_ascii=False)
    open(os.path.join(sd, "tokenizer", "merges.txt"), "w").write("#version: 0.2\n" + "\n".join(merges) + "\n")
    vae = AutoencoderKL(m["vae"])
    from .models.vae import _OLD

    old = {}
    for k, v in vae.state_dict().items():
        for o, n in _OLD.items():
            k = k.replace(f".attentions.0.{n}.", f".attentions.0.{o}.")
        old[k] = v.half()
    save_torch(old, os.path.join(d, "vae", "diffusion_pytorch_model.bin"))
    write_json(os.path.join(d, "vae", "config.json"), dict(m["vae"]))
    open(os.path.join(d, "done"), "w").write("ok\n")


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def fullwidth_phase(a):
    """One phase in this process: load the files (full key coverage), then one step."""
    from .export import load_motion
    from .models import MagicPortraitNet
    from .schedule import Schedule
    from .train import init_stage1

    cfg = fullwidth_config()
    d = a.dir
    cfg["init"].update({"sd15": os.path.join(d, "sd15"), "vae": os.path.join(d, "vae"), "motion_module": os.path.join(d, "mm_sd_v15_v2.safetensors")})
    t0 = time.perf_counter()
    from .base import load_vae, prompt_embedding

    prompt_embedding(cfg["init"]["sd15"])
    load_vae(cfg["init"]["vae"])
    stage = 1 if a.phase == "stage1" else 2
    torch.manual_seed(0)
    net = MagicPortraitNet(cfg["model"], motion=stage == 2)
    init_stage1(net, cfg, cfg["init"]["sd15"])
    if stage == 2:
        load_motion(net, cfg["init"]["motion_module"])
    net.set_gradient_checkpointing(True)
    net.train()
    load_s = time.perf_counter() - t0
    B, F = (1, 1) if stage == 1 else (1, 12)
    step = stage_step(net, Schedule(cfg["schedule"]), cfg["model"], B, F, stage, optimizer=stage == 2)
    w, c = timed(step, a.reps)
    n_train = sum(p.numel() for p in net.parameters() if p.requires_grad)
    what = "stage 1 forward+backward (1 sample)" if stage == 1 else "stage 2 AdamW step (1 clip of 12 frames)"
    print(json.dumps({"name": f"full width (SD 1.5) {what}, 64²", "step_s": w, "samples_per_s": B / w, "cpu_s_per_sample": c / B,
                      "load_s": round(load_s, 1), "trainable_params": n_train, "rss_peak_mb": peak_mb(), "threads": torch.get_num_threads(),
                      "calibration_ms": calibration()}), flush=True)


def main(argv):
    p = argparse.ArgumentParser(prog="python -m training.bench")
    p.add_argument("what", choices=["small", "fullwidth"])
    p.add_argument("--config", default="small")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--dir", default=os.path.join("/tmp", "mp-train-fullwidth"))
    p.add_argument("--phase", choices=["stage1", "stage2"])
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads or os.cpu_count() or 1)
    if a.what == "small":
        return bench_small(a)
    if a.phase:
        return fullwidth_phase(a)
    t0 = time.perf_counter()
    write_fullwidth_files(a.dir)
    print(json.dumps({"name": "full width: files in the real layouts", "dir": a.dir, "write_s": round(time.perf_counter() - t0, 1)}), flush=True)
    for ph in ("stage2", "stage1"):
        subprocess.run([sys.executable, "-m", "training.bench", "fullwidth", "--phase", ph, "--dir", a.dir, "--reps", str(max(1, a.reps - 1)),
                        "--threads", str(torch.get_num_threads())], check=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
