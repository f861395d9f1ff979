"""Stage 1 (images) and stage 2 (motion modules) of MagicPortrait training (training-reference.md §1-§2, with the
MagicPortrait differences of §6: fixed text prompt, three guidance types, classifier-free dropout of the reference
only).

Per step, for a global batch of B samples split evenly over the processes (and `grad_accum` micro-batches):
  x0 = s·(μ + σ·ε) from the latent cache (the frozen VAE), noise += 0.05·offset (per sample and channel)
  t ~ U[0, 1000), x_t = √ᾱ x0 + √(1−ᾱ) noise, target v = √ᾱ noise − √(1−ᾱ) x0  (linear betas + zero-SNR)
  v̂ = denoising UNet(x_t, t, prompt, Σ GGE(maps), bank of the reference UNet(ref latent, t = 0))
      with the reference dropped (plain self-attention) for a sample with probability uncond_ratio
  loss = mean over samples of min(SNR, 5)/(SNR + 1) · mean((v̂ − v)²)
AdamW, gradient clipping 1.0. Stage 1 trains the reference UNet, the denoising UNet and the guidance encoders; stage 2
only the motion modules (12-frame clips), everything else loaded from stage 1 and frozen.

Run folder: <run>/stage<k>/{log.jsonl, state/step-N.pt, validation/, ckpts/} — ckpts/ holds the official files
(export.py); stage 2's ckpts/ is the complete set (the stage-1 files plus motion_module-<step>.pth).
"""
import contextlib
import os
import shutil
import time

import numpy as np
import torch

from .base import load_unet_state, load_vae, prompt_embedding
from .cache import build_cache, load_rgb, LANCZOS, BICUBIC
from .checkpoint_io import WeightFileError, load_into
from .config import save_config
from .data import DatasetError, scan_split
from .export import export_official, load_official
from .loop import Dist, JsonLog, StateStore, StopFlag, lr_at, memory_mb, rng_state, set_rng_state, set_threads
from .models import MagicPortraitNet
from .samples import SampleSource
from .sampler import sample as run_sampler
from .schedule import Schedule
from .validate import psnr, write_gif, write_strip


class Interrupted(Exception):
    """Raised after a signal-triggered save; the CLI exits with 130."""


def base_dirs(cfg, run_dir):
    """(SD-1.5-layout folder, VAE folder) of the run."""
    if cfg["init"]["kind"] == "scratch":
        return os.path.join(run_dir, "base"), os.path.join(run_dir, "base", "vae")
    i = cfg["init"]
    if not i.get("sd15") or not i.get("vae"):
        raise ValueError("the 'real' config needs --sd15 DIR (Stable Diffusion 1.5 diffusers folder) and --vae DIR (sd-vae-ft-mse)")
    return i["sd15"], i["vae"]


def require_base(cfg, base, vae_dir):
    if cfg["init"]["kind"] == "scratch":
        if not os.path.exists(os.path.join(base, "magicportrait_base.json")):
            raise ValueError(f"{base} does not exist yet: run `python -m training base` and `python -m training vae` first (or `all`)")
        if not os.path.exists(os.path.join(vae_dir, "config.json")):
            raise ValueError(f"{vae_dir} does not exist yet: train the VAE first (`python -m training vae`, or `all`)")


def autocast(device, precision):
    if device.type != "cuda" or precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def grad_scaler(device, precision):
    on = device.type == "cuda" and precision == "fp16"
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        try:
            return torch.amp.GradScaler("cuda", enabled=on)
        except TypeError:
            pass
    return torch.cuda.amp.GradScaler(enabled=on)


def init_stage1(net, cfg, sd15):
    """Both UNets from the base UNet (SD 1.5, or the small config's own base): every needed key must be there."""
    ucfg, sd, path = load_unet_state(sd15)
    for k in ("block_out_channels", "layers_per_block", "cross_attention_dim", "down_block_types", "in_channels", "out_channels"):
        if k in ucfg and ucfg[k] != cfg["model"]["unet"].get(k):
            raise WeightFileError(f"{sd15}/unet/config.json: {k} is {ucfg[k]}, the config needs {cfg['model']['unet'].get(k)}")
    load_into(net.reference_unet, sd, path, ignore=(r"^conv_norm_out\.", r"^conv_out\."))
    load_into(net.denoising_unet, sd, path, allow_missing=(r"\.motion_modules\.",))


def stage_frames(cfg, stage):
    return 1 if stage == 1 else int(cfg["stage2"]["frames"])


def set_trainable(net, stage):
    for p in net.parameters():
        p.requires_grad_(False)
    if stage == 1:
        for m in (net.reference_unet, net.denoising_unet):
            for p in m.parameters():
                p.requires_grad_(True)
        # modules built only for their keys stay frozen (never executed: they would get no gradient)
        last = net.reference_unet.transformer_paths()[-1]
        blk = net.reference_unet.get_submodule(last).transformer_blocks[0]
        for m in (blk.attn1, blk.norm2, blk.attn2, blk.norm3, blk.ff, net.reference_unet.get_submodule(last).proj_out):
            for p in m.parameters():
                p.requires_grad_(False)
        for enc in net.guidance_encoders.values():
            for n, p in enc.named_parameters():
                p.requires_grad_(not (n.startswith("guidance_attention.") or (n.startswith("attentions.") and not n.startswith("attentions.5."))))
    else:
        for p in net.denoising_unet.motion_parameters():
            p.requires_grad_(True)


def trainable_state(net):
    return {n: p.detach().cpu().clone() for n, p in net.named_parameters() if p.requires_grad}


def validation_clips(data_root, types, count):
    try:
        clips = scan_split(data_root, "val", types)
    except DatasetError:
        clips = scan_split(data_root, "train", types)
    return clips[:count]


class StageTrainer:
    def __init__(self, cfg, stage, run_dir, data_root, resume=True, log=print, stop_at=None):
        self.cfg, self.stage, self.run_dir, self.data_root = cfg, stage, os.path.abspath(run_dir), data_root
        self.resume, self.log, self.stop_at = resume, log, stop_at
        self.sc = cfg[f"stage{stage}"]
        self.dir = os.path.join(self.run_dir, f"stage{stage}")

    def run(self):
        cfg, sc, stage = self.cfg, self.sc, self.stage
        rt = cfg["runtime"]
        d = self.d = Dist(force_cpu=rt.get("device") == "cpu")
        set_threads(rt.get("threads", 0), d.local_world)
        dev = d.device
        B, accum = int(sc["batch"]), int(sc.get("grad_accum", 1))
        if B % (d.world * accum):
            raise ValueError(f"stage{stage}.batch {B} must be divisible by processes × grad_accum = {d.world} × {accum}")
        b_local, micro = B // d.world, B // d.world // accum
        F_ = stage_frames(cfg, stage)
        types = cfg["model"]["guidance"]["types"]
        base, vae_dir = base_dirs(cfg, self.run_dir)
        if d.main:
            os.makedirs(self.dir, exist_ok=True)
            save_config(cfg, os.path.join(self.dir, "config.json"))

        clips = scan_split(self.data_root, "train", types)
        require_base(cfg, base, vae_dir)
        # frozen parts: text embedding (once), VAE (cache + validation)
        text = prompt_embedding(base).to(dev)
        vae = load_vae(vae_dir).to(dev)
        sched = Schedule(cfg["schedule"])
        cache_dir = rt.get("cache_dir") or os.path.join(self.run_dir, "cache")
        arrays = None
        if d.main:
            arrays = build_cache(clips, vae, types, cfg["model"]["image_size"], cache_dir, rt.get("cache_dtype", "float32"), dev, self.log)
        d.barrier()
        if not d.main:
            arrays = build_cache(clips, vae, types, cfg["model"]["image_size"], cache_dir, rt.get("cache_dtype", "float32"), dev, self.log, is_writer=False)
        src = SampleSource(arrays, stage, F_, int(rt["seed"]), vae.scaling_factor, sched.num_train, float(sc["noise_offset"]), float(sc["uncond_ratio"]))

        # networks: identical seeded initialisation on every process
        torch.manual_seed(int(rt["seed"]))
        net = MagicPortraitNet(cfg["model"], motion=stage == 2)
        if stage == 1:
            init_stage1(net, cfg, base)
        else:
            s1 = self.sc.get("init_from") or os.path.join(self.run_dir, "stage1", "ckpts")
            mm = cfg["init"].get("motion_module") if cfg["init"]["kind"] == "sd15" else None
            load_official(net, s1, mm)
        set_trainable(net, stage)
        net.set_gradient_checkpointing(bool(rt.get("gradient_checkpointing")))
        net.to(dev)
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=float(sc["lr"]), betas=tuple(sc["betas"]), eps=float(sc["eps"]), weight_decay=float(sc["weight_decay"]))
        scaler = grad_scaler(dev, rt["precision"])

        store = StateStore(os.path.join(self.dir, "state"), sc.get("keep_checkpoints", 2))
        start, wall0, resumed = 0, 0.0, None
        if self.resume and store.latest():
            path, st = store.load()
            if st.get("stage") != stage or st.get("batch") != B:
                raise ValueError(f"{path}: saved by stage {st.get('stage')} with batch {st.get('batch')}; this run is stage {stage} with batch {B}")
            names = dict(net.named_parameters())
            missing = [n for n in names if names[n].requires_grad and n not in st["weights"]]
            if missing:
                raise WeightFileError(f"{path}: no weights for {len(missing)} trainable parameter(s), e.g. {missing[:3]}")
            with torch.no_grad():
                for n, v in st["weights"].items():
                    names[n].copy_(v)
            opt.load_state_dict(st["optimizer"])
            if st.get("scaler"):
                scaler.load_state_dict(st["scaler"])
            set_rng_state(st["rng"])
            start, wall0, resumed = int(st["step"]), float(st.get("wall_s", 0.0)), path
            self.log(f"stage {stage}: resumed from {path} (step {start})")
        model = net
        if d.distributed:
            model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[d.local_rank] if dev.type == "cuda" else None)
        jlog = JsonLog(os.path.join(self.dir, "log.jsonl"), start if resumed else None, d.main)
        self.net, self.vae, self.text, self.sched = net, vae, text, sched
        val = validation_clips(self.data_root, types, int(cfg["validation"]["clips"])) if d.main else []

        def save(step, wall):
            if d.main:
                store.save(step, {"stage": stage, "step": step, "batch": B, "weights": trainable_state(net), "optimizer": opt.state_dict(),
                                  "scaler": scaler.state_dict() if scaler.is_enabled() else None, "rng": rng_state(), "wall_s": wall})
                self.export(step)
            d.barrier()

        stop = StopFlag()
        t_start = time.time()
        steps = int(sc["steps"])
        step = start
        try:
            if start == 0 and d.main and stage == 2:
                self.export(0)  # the stage-1 files + the initial motion modules, so the folder imports at once
            while step < steps:
                t0 = time.time()
                for g_ in opt.param_groups:
                    g_["lr"] = lr_at(step, sc)
                opt.zero_grad(set_to_none=True)
                local = 0.0
                for k in range(accum):
                    lo = d.rank * b_local + k * micro
                    bt = src.batch(step, lo, lo + micro, B)
                    tt = bt["t"].repeat_interleave(F_)
                    x0, noise = bt["x0"].to(dev), bt["noise"].to(dev)
                    noisy = sched.add_noise(x0, noise, tt)
                    target = sched.velocity(x0, noise, tt)
                    mp = bt["maps"].to(dev)
                    maps = {ty: mp[:, i].float() / 255.0 for i, ty in enumerate(types)}
                    w = sched.min_snr_weight(bt["t"], sc.get("snr_gamma")).to(dev)
                    sync = contextlib.nullcontext() if (not d.distributed or k == accum - 1) else model.no_sync()
                    with sync:
                        with autocast(dev, rt["precision"]):
                            v = model(noisy, bt["t"].to(dev), text, maps, bt["ref"].to(dev), bt["keep"].to(dev), F_)
                        per = ((v.float() - target.float()) ** 2).reshape(micro, -1).mean(1) * w
                        scaler.scale(per.sum() / b_local).backward()
                    local += float(per.detach().sum())
                scaler.unscale_(opt)
                gn = float(torch.nn.utils.clip_grad_norm_(params, float(sc["grad_clip"])))
                scaler.step(opt)
                scaler.update()
                step += 1
                loss = d.sum([local])[0] / B
                dt = time.time() - t0
                wall = wall0 + time.time() - t_start
                if d.main and (step % int(sc["log_every"]) == 0 or step == start + 1 or step == steps):
                    rec = {"step": step, "stage": stage, "loss": loss, "lr": opt.param_groups[0]["lr"], "grad_norm": gn,
                           "samples_per_s": round(B / dt, 3), "step_s": round(dt, 3), "wall_s": round(wall, 1), "processes": d.world}
                    rec.update(memory_mb(dev))
                    jlog.write(rec)
                    self.log(f"stage {stage} step {step}/{steps} loss {loss:.4f} lr {rec['lr']:.2e} {rec['samples_per_s']} samples/s")
                interrupted = d.any(stop.requested or (self.stop_at is not None and step >= self.stop_at))
                last = step == steps
                if interrupted or last or step % int(sc["checkpoint_every"]) == 0:
                    save(step, wall)
                if interrupted:
                    if d.main:
                        jlog.write({"step": step, "stage": stage, "event": "interrupted", "wall_s": round(wall, 1)})
                    raise Interrupted(f"stage {stage} stopped at step {step}; resume with the same command")
                ve = int(sc.get("validate_every", 0) or 0)
                if d.main and (last or (ve and step % ve == 0)) and val:
                    rec = self.validate(step, val, stop)
                    if rec:
                        jlog.write(rec)
                d.barrier()
        finally:
            stop.restore()
        return {"step": step, "loss": loss if steps > start else None, "dir": self.dir}

    # -- outputs

    def export(self, step):
        ck = os.path.join(self.dir, "ckpts")
        if self.stage == 1:
            export_official(self.net, ck)
            if self.cfg["init"]["kind"] == "scratch":  # real scale: use mm_sd_v15_v2.ckpt or the stage-2 file instead
                export_official(self.net_identity_motion(), ck, step=0, motion=True)
        else:
            s1 = self.sc.get("init_from") or os.path.join(self.run_dir, "stage1", "ckpts")
            os.makedirs(ck, exist_ok=True)
            for n in ["reference_unet.pth", "denoising_unet.pth"] + [f"guidance_encoder_{t}.pth" for t in self.net.types]:
                dst = os.path.join(ck, n)
                if not os.path.exists(dst):
                    shutil.copyfile(os.path.join(s1, n), dst + ".partial")
                    os.replace(dst + ".partial", dst)
            for f in os.listdir(ck):
                if f.startswith("motion_module-") and f != f"motion_module-{step}.pth":
                    os.remove(os.path.join(ck, f))
            export_official(self.net, ck, step=step, motion=True)

    def net_identity_motion(self):
        """A stage-1 model's motion modules: freshly built AnimateDiff modules (zero proj_out = the identity)."""
        if not hasattr(self, "_ident"):
            torch.manual_seed(int(self.cfg["runtime"]["seed"]))
            self._ident = MagicPortraitNet(self.cfg["model"], motion=True)
        return self._ident

    def validate(self, step, clips, stop):
        cfg, vc = self.cfg, self.cfg["validation"]
        S = cfg["model"]["image_size"]
        types = cfg["model"]["guidance"]["types"]
        rows, ps, vps = [], [], []
        for clip in clips:
            n = len(clip.frames)
            if self.stage == 1:
                idx = sorted(set(np.linspace(0, n - 1, min(n, int(vc["image_frames"]))).round().astype(int).tolist()))
            else:
                idx = list(range(min(n, int(vc["frames"]))))
            ref = load_rgb(os.path.join(clip.path, "images", clip.frames[0]), S, LANCZOS)
            gt = np.stack([load_rgb(os.path.join(clip.path, "images", clip.frames[i]), S, LANCZOS) for i in idx])
            maps = {t: np.stack([load_rgb(os.path.join(clip.path, t, clip.frames[i]), S, BICUBIC) for i in idx]) for t in types}
            out = run_sampler(self.net, self.vae, self.sched, self.text, ref, maps, int(vc["steps"]), float(vc["guidance_scale"]),
                              int(vc["seed"]), context=vc.get("context"), should_stop=lambda: stop.requested, device=self.d.device)
            if out is None:
                return None
            ps.append(float(np.mean([psnr(a, b) for a, b in zip(out["frames"], gt)])))
            from .sampler import decode_frame
            with torch.no_grad():
                x = torch.from_numpy(gt).to(self.d.device).permute(0, 3, 1, 2).float() / 127.5 - 1
                rec = np.stack([decode_frame(self.vae, self.vae.encode(x[i:i + 1])[0] * self.vae.scaling_factor) for i in range(len(idx))])
            vps.append(float(np.mean([psnr(a, b) for a, b in zip(rec, gt)])))
            rows.append((ref, out["frames"], gt, maps.get("render")))
        vd = os.path.join(self.dir, "validation")
        name = os.path.join(vd, f"step-{step:06d}")
        if self.stage == 1:
            write_strip(rows, name + ".png")
            path = name + ".png"
        else:
            write_gif(rows, name + ".gif", fps=12)
            path = name + ".gif"
        rec = {"step": step, "stage": self.stage, "event": "validation", "val_psnr": round(float(np.mean(ps)), 3),
               "val_vae_psnr": round(float(np.mean(vps)), 3), "file": os.path.relpath(path, self.dir)}
        self.log(f"stage {self.stage} validation at step {step}: PSNR {rec['val_psnr']} dB (VAE reconstruction {rec['val_vae_psnr']} dB) → {path}")
        return rec
