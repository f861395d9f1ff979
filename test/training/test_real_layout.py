"""The `real` configuration on files in the real published layouts (generated here, at toy widths, by the importer's
own golden script test/diffusion/golden/import_synthetic.py): SD 1.5 diffusers folder (fp16 safetensors UNet, a
`text_model.`-prefixed pytorch_model.bin text encoder with the old `position_ids` buffer, CLIP tokenizer files),
sd-vae-ft-mse (.bin with the old attention names), an AnimateDiff motion-module .ckpt. Stage 1 and stage 2 each run
one step with gradient checkpointing; every key of every file must be used (the loaders refuse anything else).
The full-width measurement (SD 1.5 sizes, 64² images) is `python -m training.bench fullwidth` / `npm run bench -- train`
(heavy: ~15 GB of RAM; not in the suite)."""
import json
import os
import sys

import torch

from conftest import ROOT, run_cli

sys.path.insert(0, os.path.join(ROOT, "test", "diffusion", "golden"))
import import_synthetic as S  # noqa: E402

from training.checkpoint_io import load_weights, read_safetensors, write_safetensors  # noqa: E402
from training.config import load_config  # noqa: E402


def write_real_layout(root):
    u, v = S.UNET, S.VAE
    k2, km = S.unet_keys(u, True)
    unet_cfg = {"_class_name": "UNet2DConditionModel", "in_channels": 4, "out_channels": 4, "block_out_channels": u["block_out"],
                "layers_per_block": u["layers"], "attention_head_dim": u["heads"], "cross_attention_dim": u["cross_dim"],
                "norm_num_groups": u["groups"], "norm_eps": 1e-5, "sample_size": 8,
                "down_block_types": ["CrossAttnDownBlock2D" if c else "DownBlock2D" for c in u["cross"]],
                "up_block_types": ["CrossAttnUpBlock2D" if c else "UpBlock2D" for c in reversed(u["cross"])]}
    sd = os.path.join(root, "sd15")
    os.makedirs(os.path.join(sd, "unet"))
    json.dump(unet_cfg, open(os.path.join(sd, "unet", "config.json"), "w"))
    write_safetensors(S.values(k2, 1, torch.float16), os.path.join(sd, "unet", "diffusion_pytorch_model.safetensors"))
    os.makedirs(os.path.join(sd, "tokenizer"))
    json.dump(S.tiny_vocab(), open(os.path.join(sd, "tokenizer", "vocab.json"), "w"), ensure_ascii=False)
    open(os.path.join(sd, "tokenizer", "merges.txt"), "w").write("#version: 0.2\n" + "\n".join(S.MERGES) + "\n")
    te_cfg = {"architectures": ["CLIPTextModel"], "hidden_size": u["cross_dim"], "intermediate_size": 4 * u["cross_dim"], "num_hidden_layers": 2,
              "num_attention_heads": 2, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "vocab_size": len(S.tiny_vocab())}
    os.makedirs(os.path.join(sd, "text_encoder"))
    json.dump(te_cfg, open(os.path.join(sd, "text_encoder", "config.json"), "w"))
    te = dict(S.clip_text_weights(te_cfg))
    te["text_model.embeddings.position_ids"] = torch.arange(77)[None]  # older transformers saved this buffer
    torch.save(te, os.path.join(sd, "text_encoder", "pytorch_model.bin"))
    vae = os.path.join(root, "vae")
    os.makedirs(vae)
    json.dump({"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": v["block_out"],
               "layers_per_block": v["layers"], "norm_num_groups": v["groups"], "sample_size": 64}, open(os.path.join(vae, "config.json"), "w"))
    torch.save(S.values(S.vae_keys(v, old=True), 5), os.path.join(vae, "diffusion_pytorch_model.bin"))
    torch.save(S.values(km, 2), os.path.join(root, "mm_sd_v15_v2.ckpt"))
    cfg = load_config("real")
    cfg["model"].update({
        "image_size": 64, "unet": dict(cfg["model"]["unet"], **{k: unet_cfg[k] for k in ("block_out_channels", "layers_per_block", "attention_head_dim",
                                                                                             "cross_attention_dim", "norm_num_groups", "down_block_types", "up_block_types")}, sample_size=8),
        "motion": {"heads": 4, "max_len": 32},
        "vae": dict(cfg["model"]["vae"], block_out_channels=v["block_out"], layers_per_block=v["layers"], norm_num_groups=v["groups"]),
        "guidance": {"types": ["depth", "normal", "render"], "in_channels": 3, "block_out_channels": [4, 8, 8, 16], "heads": 4, "groups": 8}})
    cfg["stage1"].update({"batch": 2, "steps": 1, "validate_every": 0})
    cfg["stage2"].update({"batch": 1, "frames": 4, "steps": 1, "validate_every": 0})
    cfg["runtime"].update({"precision": "fp32", "threads": 1, "cache_dtype": "float16"})  # gradient checkpointing stays on
    json.dump(cfg, open(os.path.join(root, "real_toy.json"), "w"))
    return sd, vae, os.path.join(root, "mm_sd_v15_v2.ckpt"), os.path.join(root, "real_toy.json"), k2, km


def test_real_config_loads_the_published_layouts_and_trains(tmp_path, toy_data):
    sd, vae, mm, cfg, k2, km = write_real_layout(str(tmp_path))
    run = str(tmp_path / "run")
    args = ["--config", cfg, "--data", toy_data, "--run", run, "--sd15", sd, "--vae", vae, "--motion-module", mm]
    run_cli("stage1", *args)
    run_cli("stage2", *args)
    base = read_safetensors(os.path.join(sd, "unet", "diffusion_pytorch_model.safetensors"))
    den = load_weights(os.path.join(run, "stage1", "ckpts", "denoising_unet.pth"))
    ref = load_weights(os.path.join(run, "stage1", "ckpts", "reference_unet.pth"))
    assert sorted(den) == sorted(k2) and sorted(ref) == sorted(k for k in k2 if not k.startswith(("conv_norm_out", "conv_out")))
    # started from the SD 1.5 file: one AdamW step at lr 1e-5 moves each weight by about 1e-5 at most
    for k in den:
        assert float((den[k] - base[k].float()).abs().max()) < 3e-5, k
    m1 = load_weights(os.path.join(run, "stage2", "ckpts", "motion_module-1.pth"))
    m0 = torch.load(mm)
    assert sorted(m1) == sorted(km)
    assert max(float((m1[k] - m0[k]).abs().max()) for k in km) < 3e-5
    assert any(not torch.equal(m1[k], m0[k]) for k in km)


def test_unexpected_keys_in_a_motion_module_are_an_error(tmp_path, toy_data):
    sd, vae, mm, cfg, k2, km = write_real_layout(str(tmp_path))
    run = str(tmp_path / "run")
    args = ["--config", cfg, "--data", toy_data, "--run", run, "--sd15", sd, "--vae", vae]
    run_cli("stage1", *args)
    bad = dict(torch.load(mm))
    bad["down_blocks.0.motion_modules.0.temporal_transformer.extra.weight"] = torch.zeros(1)
    torch.save(bad, str(tmp_path / "bad.ckpt"))
    p = run_cli("stage2", *args, "--motion-module", str(tmp_path / "bad.ckpt"), check=False)
    assert p.returncode == 2 and "bad.ckpt" in p.stderr and "unexpected" in p.stderr and "temporal_transformer.extra.weight" in p.stderr
