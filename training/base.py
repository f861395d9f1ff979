"""Base models in the Stable Diffusion 1.5 diffusers layout, read and (for the small config) written.

Read (`real` config, the user's files, or a folder this module wrote):
  <sd15>/unet/config.json + diffusion_pytorch_model.{safetensors,bin}     both UNets start from it
  <sd15>/text_encoder/config.json + model.safetensors | pytorch_model.bin  the frozen CLIP text encoder
  <sd15>/tokenizer/vocab.json + merges.txt                                the CLIP BPE tokenizer
  <vae>/config.json + diffusion_pytorch_model.{safetensors,bin}            the frozen VAE (sd-vae-ft-mse)

Written (`small` config, trained from scratch): the same layout under <run>/base/, so that `magicportrait import`
reads it exactly as it reads real SD 1.5: the seeded initial UNet (float16 safetensors: every key is overridden by
the trained checkpoints at import, so it only needs to exist), a small random CLIP text encoder (frozen: it only has
to turn the fixed prompt into a fixed (1, 77, D) embedding), a tiny BPE vocabulary that covers the prompt, and the VAE
trained by `training vae`. unet/config.json carries a `magicportrait` section with the two hyper-parameters a
checkpoint's shapes cannot tell (motion-module heads, guidance-encoder heads / groups); our importer reads it.
"""
import json
import os

import torch

from .checkpoint_io import WeightFileError, atomic_write, diffusers_weights, load_into, load_weights, write_safetensors
from .models import AutoencoderKL, CLIPTextModel, ClipTokenizer
from .models.text import PROMPT, tiny_bpe_files
from .models.unet import DenoisingUNet
from .models.vae import convert_vae_state


def read_json(path, what):
    if not os.path.exists(path):
        raise WeightFileError(f"{what}: {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as e:
        raise WeightFileError(f"{what}: {path} is not valid JSON: {e}") from e


def write_json(path, obj):
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def text_weights_file(folder):
    for n in ("model.safetensors", "pytorch_model.bin", "model.fp16.safetensors", "pytorch_model.fp16.bin"):
        if os.path.exists(os.path.join(folder, n)):
            return os.path.join(folder, n)
    raise WeightFileError(f"text encoder folder {folder} has no model.safetensors or pytorch_model.bin")


def load_text_encoder(sd15_dir):
    d = os.path.join(sd15_dir, "text_encoder")
    cfg = read_json(os.path.join(d, "config.json"), "text encoder")
    m = CLIPTextModel(cfg)
    p = text_weights_file(d)
    sd = load_weights(p)
    if not any(k.startswith("text_model.") for k in sd):
        sd = {"text_model." + k: v for k, v in sd.items()}
    load_into(m, sd, p, ignore=(r"position_ids$",))
    return m.eval()


@torch.no_grad()
def prompt_embedding(sd15_dir, prompt=PROMPT, tokens=77):
    """The fixed prompt's CLIP last hidden state (1, 77, D), float32 (reference-pipeline.md §7.3)."""
    tok = ClipTokenizer.from_dir(os.path.join(sd15_dir, "tokenizer"))
    te = load_text_encoder(sd15_dir).float()
    ids = torch.tensor([tok.encode(prompt, tokens)])
    return te(ids).float()


def load_unet_state(sd15_dir):
    d = os.path.join(sd15_dir, "unet")
    cfg = read_json(os.path.join(d, "config.json"), "SD 1.5 UNet")
    p = diffusers_weights(d, "SD 1.5 UNet")
    return cfg, load_weights(p), p


def load_vae(vae_dir):
    cfg = read_json(os.path.join(vae_dir, "config.json"), "VAE")
    vae = AutoencoderKL(cfg)
    p = diffusers_weights(vae_dir, "VAE")
    load_into(vae, convert_vae_state(load_weights(p), vae), p)
    return vae.eval()


def save_vae(vae, folder):
    """diffusers AutoencoderKL folder: config.json + diffusion_pytorch_model.bin (torch.save of the state dict)."""
    from .checkpoint_io import save_torch

    os.makedirs(folder, exist_ok=True)
    save_torch({k: v.detach().cpu().contiguous() for k, v in vae.state_dict().items()}, os.path.join(folder, "diffusion_pytorch_model.bin"))
    write_json(os.path.join(folder, "config.json"), dict(vae.config, scaling_factor=vae.scaling_factor))


def unet_config_file(model_cfg):
    u = dict(model_cfg["unet"])
    u["sample_size"] = model_cfg["image_size"] // 8
    g = model_cfg["guidance"]
    u["magicportrait"] = {"motion_module": {"num_attention_heads": model_cfg["motion"]["heads"], "temporal_position_encoding_max_len": model_cfg["motion"]["max_len"]},
                          "guidance_encoder": {"attention_num_heads": g.get("heads", 8), "norm_num_groups": g.get("groups", 32)}}
    return u


def write_small_base(model_cfg, out_dir, seed):
    """unet/, text_encoder/, tokenizer/ of the small config's base model (the VAE is added by `training vae`).
    Deterministic for a given config and seed."""
    torch.manual_seed(seed)
    unet = DenoisingUNet(model_cfg["unet"])
    write_safetensors({k: v.half() for k, v in unet.state_dict().items()}, os.path.join(out_dir, "unet", "diffusion_pytorch_model.safetensors"))
    write_json(os.path.join(out_dir, "unet", "config.json"), unet_config_file(model_cfg))
    words = sorted(set(w for w in PROMPT.lower().replace(".", " . ").split()))
    vocab, merges = tiny_bpe_files(words)
    os.makedirs(os.path.join(out_dir, "tokenizer"), exist_ok=True)
    atomic_write(os.path.join(out_dir, "tokenizer", "vocab.json"), lambda f: f.write(json.dumps(vocab, ensure_ascii=False).encode()))
    atomic_write(os.path.join(out_dir, "tokenizer", "merges.txt"), lambda f: f.write(("#version: 0.2\n" + "\n".join(merges) + "\n").encode()))
    tcfg = dict(model_cfg["text"], vocab_size=len(vocab))
    torch.manual_seed(seed + 1)
    te = CLIPTextModel(tcfg)
    with torch.no_grad():  # CLIP's initialisation scale: keeps the random embedding well conditioned
        for n, p in te.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.02)
    write_safetensors(dict(te.state_dict()), os.path.join(out_dir, "text_encoder", "model.safetensors"))
    write_json(os.path.join(out_dir, "text_encoder", "config.json"), tcfg)
    write_json(os.path.join(out_dir, "magicportrait_base.json"), {
        "format": "magicportrait.base-model", "label": "demo base model generated by the MagicPortrait trainer (random initial weights, not Stable Diffusion)",
        "seed": seed, "prompt": PROMPT})
