"""Command line of the trainer. One process, or N under torchrun (the same command after `torchrun --nproc_per_node N
-m training …`); every command resumes from the newest state in the run folder unless --no-resume.

  base    the small config's base model folder (SD 1.5 layout: unet/, text_encoder/, tokenizer/) → RUN/base
  vae     the small config's VAE from scratch → RUN/base/vae (diffusers layout)
  stage1  stage 1 (images) → RUN/stage1/ckpts (official files + motion_module-0.pth, the identity motion modules)
  stage2  stage 2 (motion modules, 12-frame clips) → RUN/stage2/ckpts (the complete official set)
  all     base → vae → stage1 → stage2 (the small demo), each skipped when already complete
  sample  the trainer's sampler on one clip with a run's official checkpoints (GIF/PNG, optional latents .npy)
"""
import argparse
import json
import os
import sys

from .checkpoint_io import WeightFileError
from .config import load_config, save_config
from .data import DatasetError


def _parser():
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["base", "vae", "stage1", "stage2", "all", "sample"])
    p.add_argument("--config", default="small", help="preset (small, real, tiny) or a JSON file (default small)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value (JSON), repeatable")
    p.add_argument("--data", help="dataset folder (DATASET-CONTRACT layout)")
    p.add_argument("--run", required=True, help="run folder (created; holds base/, vae/, stage1/, stage2/, cache/)")
    p.add_argument("--sd15", help="real config: Stable Diffusion 1.5 diffusers folder (unet/, text_encoder/, tokenizer/)")
    p.add_argument("--vae", help="real config: sd-vae-ft-mse folder")
    p.add_argument("--motion-module", help="real config: AnimateDiff mm_sd_v15_v2.ckpt (stage 2 initialisation)")
    p.add_argument("--no-resume", action="store_true", help="start the command's stage afresh (older states are replaced)")
    p.add_argument("--device", choices=["auto", "cpu"], default="auto")
    p.add_argument("--stop-at", type=int, help="stop (as if interrupted, state saved) after this step — for tests and sittings")
    # sample
    p.add_argument("--ckpts", help="sample: official checkpoint folder (default RUN/stage2/ckpts, else RUN/stage1/ckpts)")
    p.add_argument("--clip", help="sample: a clip folder of the dataset")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance-scale", type=float, default=3.5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--noise", help="sample: initial latent .npy (1, C, F, h, w) instead of the seeded one")
    p.add_argument("--save-latents", help="sample: write the final latents (1, C, F, h, w) to this .npy")
    p.add_argument("--out", help="sample: output .gif / .png")
    return p


def resolve_config(a):
    cfg = load_config(a.config, a.set)
    if a.sd15 or a.vae or a.motion_module:
        cfg["init"].update({k: os.path.abspath(v) for k, v in (("sd15", a.sd15), ("vae", a.vae), ("motion_module", a.motion_module)) if v})
    if a.device == "cpu":
        cfg["runtime"]["device"] = "cpu"
    return cfg


def check_run_config(cfg, run):
    """The run folder remembers its model / schedule; continuing it with another one is an error."""
    p = os.path.join(run, "config.json")
    if os.path.exists(p):
        with open(p, encoding="utf-8") as f:
            old = json.load(f)
        for k in ("model", "schedule"):
            if json.dumps(old.get(k), sort_keys=True) != json.dumps(cfg.get(k), sort_keys=True):
                raise ValueError(f"{p}: this run was started with a different '{k}' section; use a new --run folder")
        if old.get("init", {}).get("kind") != cfg["init"]["kind"]:
            raise ValueError(f"{p}: this run was started from '{old.get('init', {}).get('kind')}', not '{cfg['init']['kind']}'; use a new --run folder")
    else:
        os.makedirs(run, exist_ok=True)
        save_config(cfg, p)


def main(argv):
    a = _parser().parse_args(argv)
    log = lambda m: print(m, flush=True)
    try:
        cfg = resolve_config(a)
        run = os.path.abspath(a.run)
        if a.command != "sample":
            is_main = int(os.environ.get("RANK", "0")) == 0
            if is_main:
                check_run_config(cfg, run)
        if a.command in ("vae", "stage1", "stage2", "all") and not a.data:
            raise ValueError(f"'{a.command}' needs --data DATASET")
        resume = not a.no_resume
        if a.command in ("base", "all"):
            ensure_base(cfg, run, log)
        if a.command in ("vae", "all") and cfg["init"]["kind"] == "scratch":
            from .train_vae import train_vae

            if a.command == "vae" or not os.path.exists(os.path.join(run, "base", "vae", "config.json")):
                train_vae(cfg, run, a.data, resume, log, a.stop_at)
        if a.command in ("stage1", "stage2", "all"):
            from .train import StageTrainer

            for st in ((1, 2) if a.command == "all" else (int(a.command[-1]),)):
                if a.command == "all" and stage_done(cfg, run, st):
                    continue
                StageTrainer(cfg, st, run, a.data, resume, log, a.stop_at).run()
        if a.command == "sample":
            return cmd_sample(a, cfg, run, log)
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        from .train import Interrupted

        if isinstance(e, Interrupted):
            print(f"[training] {e}", file=sys.stderr)
            return 130
        if isinstance(e, (DatasetError, WeightFileError, ValueError, FileNotFoundError)):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


def ensure_base(cfg, run, log):
    if cfg["init"]["kind"] != "scratch":
        return
    from .base import write_small_base

    if not os.path.exists(os.path.join(run, "base", "magicportrait_base.json")):
        write_small_base(cfg["model"], os.path.join(run, "base"), int(cfg["runtime"]["seed"]))
        log(f"base model written to {os.path.join(run, 'base')}")


def stage_done(cfg, run, stage):
    p = os.path.join(run, f"stage{stage}", "log.jsonl")
    if not os.path.exists(p):
        return False
    steps = int(cfg[f"stage{stage}"]["steps"])
    with open(p, encoding="utf-8") as f:
        return any(json.loads(l).get("step") == steps and "loss" in json.loads(l) for l in f if l.strip())


def cmd_sample(a, cfg, run, log):
    import numpy as np
    import torch

    from .base import load_vae, prompt_embedding
    from .cache import BICUBIC, LANCZOS, load_rgb
    from .data import scan_split
    from .export import latest_motion_module, load_official
    from .models import MagicPortraitNet
    from .sampler import sample
    from .schedule import Schedule
    from .train import base_dirs
    from .validate import psnr, write_gif, write_strip

    if not a.clip:
        raise ValueError("sample needs --clip CLIP_FOLDER")
    ck = a.ckpts or next((c for c in (os.path.join(run, "stage2", "ckpts"), os.path.join(run, "stage1", "ckpts")) if os.path.isdir(c)), None)
    if not ck:
        raise ValueError(f"no checkpoints under {run}; give --ckpts")
    base, vae_dir = base_dirs(cfg, run)
    types = cfg["model"]["guidance"]["types"]
    S = cfg["model"]["image_size"]
    clip_dir = os.path.abspath(a.clip)
    split, name = os.path.basename(os.path.dirname(clip_dir)), os.path.basename(clip_dir)
    clip = next(c for c in scan_split(os.path.dirname(os.path.dirname(clip_dir)), split, types) if c.name == name)
    mm = latest_motion_module(ck)
    torch.manual_seed(0)
    net = MagicPortraitNet(cfg["model"], motion=mm is not None)
    load_official(net, ck, mm)
    vae = load_vae(vae_dir)
    text = prompt_embedding(base)
    n = min(a.frames, len(clip.frames))
    ref = load_rgb(os.path.join(clip.path, "images", clip.frames[0]), S, LANCZOS)
    gt = np.stack([load_rgb(os.path.join(clip.path, "images", f), S, LANCZOS) for f in clip.frames[:n]])
    maps = {t: np.stack([load_rgb(os.path.join(clip.path, t, f), S, BICUBIC) for f in clip.frames[:n]]) for t in types}
    noise = None
    if a.noise:
        x = np.load(a.noise)
        noise = torch.from_numpy(x.reshape(x.shape[-4:]) if x.ndim == 5 else x).permute(1, 0, 2, 3).contiguous()
    out = sample(net, vae, Schedule(cfg["schedule"]), text, ref, maps, a.steps, a.guidance_scale, a.seed, noise, cfg["validation"].get("context"))
    p = float(np.mean([psnr(x, y) for x, y in zip(out["frames"], gt)]))
    if a.save_latents:
        np.save(a.save_latents, out["latents"].permute(1, 0, 2, 3)[None].numpy())
    if a.out:
        (write_gif if a.out.endswith(".gif") else write_strip)([(ref, out["frames"], gt, maps.get("render"))], a.out)
    log(json.dumps({"frames": n, "psnr": round(p, 3), "ckpts": ck, "motion_module": mm}))
    return 0
