"""Training configurations: presets (`tiny` for tests, `small` for the CPU demo, `real` for SD 1.5 scale), a JSON file,
and `--set section.key=value` overrides (values parsed as JSON, else strings). The resolved config is written into the
run folder; a resumed run must have the same model and batch settings.

Sections:
  model      image_size, unet (a diffusers UNet2DConditionModel config), motion (AnimateDiff heads / max_len),
             vae (a diffusers AutoencoderKL config), guidance (GGE widths / heads / groups), text (CLIPTextModel config)
  init       "scratch" (small: the trainer writes its own SD-1.5-layout base model) or "sd15" (real: the user's files)
  schedule   the noise schedule (schedule.py: linear betas + zero-SNR, v-prediction, as the official inference)
  vae_train  the small config's VAE, trained from scratch before stage 1
  stage1 / stage2   optimiser, batch, steps, losses, logging / validation / checkpoint cadence
  validation the trainer's sampler (DDIM trailing, CFG; sliding 12-frame windows in stage 2)
  runtime    seed, threads, precision (fp32 | fp16 | bf16 on CUDA), gradient checkpointing, latent-cache dtype
"""
import copy
import json
import os

SCHEDULE = {"train_steps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear", "zero_snr": True,
            "prediction": "v_prediction"}

_STAGE = {"batch": 4, "grad_accum": 1, "lr": 1e-5, "warmup": 1, "weight_decay": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8,
          "grad_clip": 1.0, "uncond_ratio": 0.1, "snr_gamma": 5.0, "noise_offset": 0.05, "log_every": 10,
          "validate_every": 1000, "checkpoint_every": 500, "keep_checkpoints": 2}


def _unet(widths, layers, heads, cross_dim, groups, latent, cross=None, sample_size=64):
    cross = cross if cross is not None else [True] * (len(widths) - 1) + [False]
    return {"_class_name": "UNet2DConditionModel", "in_channels": latent, "out_channels": latent,
            "block_out_channels": list(widths), "layers_per_block": layers, "attention_head_dim": heads,
            "cross_attention_dim": cross_dim, "norm_num_groups": groups, "norm_eps": 1e-5,
            "down_block_types": ["CrossAttnDownBlock2D" if c else "DownBlock2D" for c in cross],
            "up_block_types": ["CrossAttnUpBlock2D" if c else "UpBlock2D" for c in reversed(cross)],
            "flip_sin_to_cos": True, "freq_shift": 0, "downsample_padding": 1, "use_linear_projection": False,
            "sample_size": sample_size}


def _vae(widths, layers, latent, groups, scaling=0.18215, sample_size=512):
    return {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": latent,
            "block_out_channels": list(widths), "layers_per_block": layers, "norm_num_groups": groups,
            "down_block_types": ["DownEncoderBlock2D"] * len(widths), "up_block_types": ["UpDecoderBlock2D"] * len(widths),
            "act_fn": "silu", "sample_size": sample_size, "scaling_factor": scaling}


def _text(dim, layers, heads, vocab=0):
    return {"architectures": ["CLIPTextModel"], "hidden_size": dim, "intermediate_size": 4 * dim, "num_hidden_layers": layers,
            "num_attention_heads": heads, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
            "vocab_size": vocab}


def _stage(**kw):
    s = copy.deepcopy(_STAGE)
    s.update(kw)
    return s


PRESETS = {
    # The CPU demo (issue #17): trained from scratch on the synthetic demo-head set in ≤ 3 h on 2 cores.
    "small": {
        "model": {
            "image_size": 64,
            "unet": _unet([32, 64, 64], 1, 8, 64, 16, 16, sample_size=8),
            "motion": {"heads": 8, "max_len": 32},
            "vae": _vae([32, 64, 64, 64], 1, 16, 16, sample_size=64),
            "guidance": {"types": ["depth", "normal", "render"], "in_channels": 3, "block_out_channels": [8, 16, 16, 32], "heads": 8, "groups": 32},
            "text": _text(64, 1, 4),
        },
        "init": {"kind": "scratch"},
        "schedule": dict(SCHEDULE),
        "vae_train": {"steps": 6000, "batch": 16, "crop": 64, "lr": 1e-3, "lr_schedule": "cosine", "kl_weight": 1e-6, "log_every": 50,
                      "checkpoint_every": 500, "keep_checkpoints": 2, "latent_stats_frames": 512},
        "stage1": _stage(batch=16, lr=3e-4, warmup=100, lr_schedule="cosine", steps=8000, validate_every=1000, checkpoint_every=250, log_every=20),
        "stage2": _stage(batch=2, frames=12, lr=3e-4, warmup=50, lr_schedule="cosine", steps=1000, validate_every=500, checkpoint_every=100, log_every=10),
        "validation": {"steps": 20, "guidance_scale": 3.5, "clips": 2, "frames": 24, "image_frames": 4, "seed": 42,
                       "context": {"size": 12, "overlap": 1}},
        "runtime": {"seed": 42, "threads": 0, "precision": "fp32", "gradient_checkpointing": False, "cache_dtype": "float32"},
    },
    # SD 1.5 / AnimateDiff / sd-vae-ft-mse scale (initialised from the user's files), the paper's settings.
    "real": {
        "model": {
            "image_size": 512,
            "unet": _unet([320, 640, 1280, 1280], 2, 8, 768, 32, 4, sample_size=64),
            "motion": {"heads": 8, "max_len": 32},
            "vae": _vae([128, 256, 512, 512], 2, 4, 32, sample_size=512),
            "guidance": {"types": ["depth", "normal", "render"], "in_channels": 3, "block_out_channels": [16, 32, 96, 256], "heads": 8, "groups": 32},
            "text": None,
        },
        "init": {"kind": "sd15", "sd15": None, "vae": None, "motion_module": None},
        "schedule": dict(SCHEDULE),
        "vae_train": None,
        "stage1": _stage(batch=4, lr=1e-5, steps=30000, validate_every=1000, checkpoint_every=2000, log_every=10),
        "stage2": _stage(batch=1, frames=12, lr=1e-5, steps=10000, validate_every=1000, checkpoint_every=1000, log_every=10),
        "validation": {"steps": 20, "guidance_scale": 3.5, "clips": 1, "frames": 24, "image_frames": 4, "seed": 42,
                       "context": {"size": 12, "overlap": 1}},
        "runtime": {"seed": 42, "threads": 0, "precision": "fp16", "gradient_checkpointing": True, "cache_dtype": "float16"},
    },
}

# A toy configuration for the tests: seconds per step on one CPU core.
PRESETS["tiny"] = copy.deepcopy(PRESETS["small"])
PRESETS["tiny"]["model"].update({
    "image_size": 32,
    "unet": _unet([16, 32], 1, 4, 16, 8, 4, cross=[True, False], sample_size=4),
    "motion": {"heads": 4, "max_len": 32},
    "vae": _vae([8, 16, 16, 16], 1, 4, 8, sample_size=32),
    "guidance": {"types": ["depth", "normal", "render"], "in_channels": 3, "block_out_channels": [4, 8, 8, 16], "heads": 4, "groups": 8},
    "text": _text(16, 1, 2),
})
PRESETS["tiny"]["vae_train"].update({"steps": 20, "batch": 4, "crop": 32, "lr": 1e-3, "log_every": 5, "checkpoint_every": 10, "latent_stats_frames": 32})
PRESETS["tiny"]["stage1"].update({"batch": 4, "lr": 1e-3, "warmup": 1, "steps": 6, "validate_every": 0, "checkpoint_every": 3, "log_every": 1})
PRESETS["tiny"]["stage2"].update({"batch": 2, "frames": 4, "lr": 1e-3, "warmup": 1, "steps": 4, "validate_every": 0, "checkpoint_every": 2, "log_every": 1})
PRESETS["tiny"]["validation"].update({"steps": 3, "clips": 1, "frames": 6, "image_frames": 2, "context": {"size": 4, "overlap": 1}})
PRESETS["tiny"]["runtime"].update({"threads": 1})


def parse_set(items):
    """['stage1.steps=10', 'runtime.precision="fp16"'] → [(['stage1', 'steps'], 10), …]."""
    out = []
    for it in items or []:
        if "=" not in it:
            raise ValueError(f"--set '{it}': expected section.key=value")
        k, v = it.split("=", 1)
        try:
            val = json.loads(v)
        except ValueError:
            val = v
        out.append((k.split("."), val))
    return out


def load_config(name_or_path, overrides=()):
    if name_or_path in PRESETS:
        cfg = copy.deepcopy(PRESETS[name_or_path])
        cfg["preset"] = name_or_path
    else:
        if not os.path.exists(name_or_path):
            raise ValueError(f"config '{name_or_path}': not a preset ({', '.join(sorted(PRESETS))}) and no such file")
        with open(name_or_path, encoding="utf-8") as f:
            cfg = json.load(f)
    for path, val in parse_set(overrides) if overrides and isinstance(overrides[0], str) else overrides:
        d = cfg
        for p in path[:-1]:
            if not isinstance(d.get(p), dict):
                raise ValueError(f"--set {'.'.join(path)}: '{p}' is not a config section")
            d = d[p]
        d[path[-1]] = val
    validate_config(cfg)
    return cfg


def validate_config(cfg):
    m = cfg["model"]
    u = m["unet"]
    S = int(m["image_size"])
    ch = u["block_out_channels"]
    vf = 2 ** (len(m["vae"]["block_out_channels"]) - 1) if m.get("vae") else 8
    bad = lambda msg: ValueError(f"config: {msg}")
    if vf != 8:
        raise bad(f"model.vae has a factor-{vf} VAE; the guidance encoder (three stride-2 convs) and our sampler need factor 8")
    if S % (vf * 2 ** (len(ch) - 1)):
        raise bad(f"model.image_size {S} must be a multiple of {vf * 2 ** (len(ch) - 1)} (VAE ×8, then {len(ch) - 1} UNet halvings)")
    if m.get("vae") and m["vae"]["latent_channels"] != u["in_channels"]:
        raise bad("model.vae.latent_channels must equal model.unet.in_channels")
    for c in ch:
        if c % u["norm_num_groups"] or c % m["motion"]["heads"]:
            raise bad(f"UNet width {c} must split into {u['norm_num_groups']} groups and {m['motion']['heads']} motion heads")
    if m.get("text") and m["text"]["hidden_size"] != u["cross_attention_dim"]:
        raise bad("model.text.hidden_size must equal model.unet.cross_attention_dim")
    for s in ("stage1", "stage2"):
        if cfg[s]["batch"] < 1 or cfg[s]["grad_accum"] < 1 or cfg[s]["batch"] % cfg[s]["grad_accum"]:
            raise bad(f"{s}.batch must be a positive multiple of {s}.grad_accum")
    if cfg["stage2"].get("frames", 12) > m["motion"]["max_len"]:
        raise bad("stage2.frames exceeds the motion modules' positional-encoding length")
    if cfg["runtime"]["precision"] not in ("fp32", "fp16", "bf16"):
        raise bad("runtime.precision must be fp32, fp16 or bf16")
    return cfg


def save_config(cfg, path):
    from .checkpoint_io import atomic_write

    atomic_write(path, lambda f: f.write(json.dumps(cfg, indent=2).encode()))
