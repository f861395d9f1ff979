"""The modules' state-dict keys are the official checkpoints' keys, and they load files in the real layouts.

Independent truth: the key/shape enumeration of test/diffusion/golden/import_synthetic.py (written for the importer
from diffusers / AnimateDiff / MagicPortrait naming, not from these modules), its CLIP forward and tokenizer ids."""
import os
import sys

import torch

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "test", "diffusion", "golden"))
import import_synthetic as S  # noqa: E402

from training.checkpoint_io import load_into, load_weights, read_safetensors  # noqa: E402
from training.models import AutoencoderKL, CLIPTextModel, ClipTokenizer, DenoisingUNet, GuidanceEncoder, ReferenceUNet  # noqa: E402
from training.models.text import PROMPT, tiny_bpe_files  # noqa: E402
from training.models.vae import convert_vae_state  # noqa: E402

U = S.UNET
UNET_CFG = {"in_channels": 4, "out_channels": 4, "block_out_channels": U["block_out"], "layers_per_block": U["layers"],
            "attention_head_dim": U["heads"], "cross_attention_dim": U["cross_dim"], "norm_num_groups": U["groups"],
            "down_block_types": ["CrossAttnDownBlock2D" if c else "DownBlock2D" for c in U["cross"]]}


def shapes(sd):
    return {k: list(v.shape) for k, v in sd.items()}


def test_unet_keys_match_the_official_layout():
    k2, km = S.unet_keys(U, True)
    den = DenoisingUNet(UNET_CFG, motion={"heads": 4, "max_len": U["max_len"]})
    want = dict(k2)
    want.update(km)
    assert shapes(den.state_dict()) == {k: list(v) for k, v in want.items()}
    # MagicPortrait's reference UNet class has no conv_norm_out / conv_out
    ref = ReferenceUNet(UNET_CFG)
    assert shapes(ref.state_dict()) == {k: list(v) for k, v in k2.items() if not k.startswith(("conv_norm_out", "conv_out"))}
    # one motion module per resnet (SD 1.5: 4×2 down + 1 mid + 4×3 up = 21); here 3 levels × 1 layer: 3 + 1 + 3×2
    assert len({k.split(".temporal_transformer")[0] for k in km}) == 3 + 1 + 6


def test_guidance_encoder_and_vae_keys():
    g = GuidanceEncoder(S.GGE["out"], 3, S.GGE["block_out"], heads=2, groups=8)
    assert shapes(g.state_dict()) == {k: list(v) for k, v in S.gge_keys(S.GGE).items()}
    assert float(g.conv_out.weight.abs().sum()) == 0  # zero-initialised: a new encoder adds nothing
    v = AutoencoderKL({"block_out_channels": S.VAE["block_out"], "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 8})
    assert shapes(v.state_dict()) == {k: list(s) for k, s in S.vae_keys(S.VAE, old=False).items()}


def test_loads_the_real_layout_fixtures_with_full_coverage(tmp_path):
    """The importer's fixtures are files in the real layouts (fp16 safetensors UNet, old-name VAE .bin, AnimateDiff
    motion .pth, MagicPortrait ckpts); every key must load, none may be left over."""
    import gzip

    fx = os.path.join(ROOT, "test", "diffusion", "fixtures", "import")

    def unpack(rel):
        p = tmp_path / rel.replace("/", "_")
        p.write_bytes(gzip.decompress(open(os.path.join(fx, rel + ".gz"), "rb").read()))
        return str(p)

    sd = read_safetensors(unpack("sd15/unet/diffusion_pytorch_model.safetensors"))
    assert next(iter(sd.values())).dtype == torch.float16
    den = DenoisingUNet(UNET_CFG, motion={"heads": 4, "max_len": 32})
    load_into(den, sd, "sd15 unet", allow_missing=(r"\.motion_modules\.",))
    mm = load_weights(unpack("motion_module.pth"))
    assert all(".motion_modules." in k for k in mm)
    load_into(den, dict(sd, **mm), "motion")
    ref = ReferenceUNet(UNET_CFG)
    load_into(ref, load_weights(unpack("ckpts/reference_unet.pth")), "reference_unet.pth", ignore=(r"^conv_norm_out\.", r"^conv_out\."))
    for t in ("depth", "normal", "render"):
        load_into(GuidanceEncoder(S.GGE["out"], 3, S.GGE["block_out"], 2, 8), load_weights(unpack(f"ckpts/guidance_encoder_{t}.pth")), t)
    vae = AutoencoderKL({"block_out_channels": S.VAE["block_out"], "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 8})
    raw = load_weights(unpack("vae/diffusion_pytorch_model.bin"))
    assert any(".query." in k for k in raw)  # the old attention names
    load_into(vae, convert_vae_state(raw, vae), "vae")
    assert torch.equal(vae.encoder.mid_block.attentions[0].to_q.weight, raw["encoder.mid_block.attentions.0.query.weight"])


def test_clip_text_encoder_and_tokenizer_match_the_golden_script(tmp_path):
    vocab = S.tiny_vocab()
    tok = ClipTokenizer(vocab, S.MERGES)
    ids = tok.encode(PROMPT)
    assert ids[:len(S.PROMPT_IDS)] == S.PROMPT_IDS and len(ids) == 77 and set(ids[len(S.PROMPT_IDS):]) == {vocab["<|endoftext|>"]}
    cfg = {"hidden_size": 16, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77,
           "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "vocab_size": len(vocab)}
    w = S.clip_text_weights(cfg)
    m = CLIPTextModel(cfg)
    load_into(m, w, "clip")
    want = S.clip_text_forward(w, cfg, torch.tensor([ids]))
    got = m(torch.tensor([ids]))
    assert torch.allclose(got, want, atol=1e-5)


def test_tiny_bpe_vocabulary_makes_each_prompt_word_one_token():
    words = ["a", "close", "up", "of", "person", "."]
    vocab, merges = tiny_bpe_files(words)
    tok = ClipTokenizer(vocab, merges)
    ids = tok.encode(PROMPT)
    inv = {v: k for k, v in vocab.items()}
    assert [inv[i] for i in ids[1:8]] == ["a</w>", "close</w>", "up</w>", "of</w>", "a</w>", "person</w>", ".</w>"]


def test_bank_and_reference_dropout():
    """A dropped reference (bank masked for that sample) equals the plain self-attention (no bank) output; a kept one
    differs; the bank is float16 like the reference's."""
    torch.manual_seed(0)
    ref, den = ReferenceUNet(UNET_CFG), DenoisingUNet(UNET_CFG, motion={"heads": 4, "max_len": 32})
    with torch.no_grad():
        for p in den.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    text = torch.randn(1, 77, 16)
    z = torch.randn(2, 4, 8, 8)
    bank = ref(torch.randn(2, 4, 8, 8), text)
    assert all(b.dtype == torch.float16 for b in bank) and len(bank) == 7
    t = torch.tensor([500, 500])
    both = den(z, t, text, None, bank, torch.tensor([True, False]), 1)
    none = den(z, t, text, None, None, None, 1)
    full = den(z, t, text, None, bank, None, 1)
    assert torch.allclose(both[1], none[1], atol=1e-5)
    assert torch.allclose(both[0], full[0], atol=1e-5)
    assert (both[0] - none[0]).abs().max() > 1e-3


def test_motion_modules_start_as_identity_and_act_per_clip():
    torch.manual_seed(0)
    den = DenoisingUNet(UNET_CFG, motion={"heads": 4, "max_len": 32})
    plain = DenoisingUNet(UNET_CFG)
    plain.load_state_dict({k: v for k, v in den.state_dict().items() if ".motion_modules." not in k})
    z, t, text = torch.randn(6, 4, 8, 8), torch.tensor([10, 10]), torch.randn(1, 77, 16)
    assert torch.allclose(den(z, t, text, frames=3), plain(z, t, text, frames=3), atol=1e-6)
    with torch.no_grad():
        for p in den.motion_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    a = den(z, t, text, frames=3)
    z2 = z.clone()
    z2[3:] = torch.randn(3, 4, 8, 8)  # the second clip changes; the first clip's output must not
    b = den(z2, t, text, frames=3)
    assert torch.allclose(a[:3], b[:3], atol=1e-6) and (a[3:] - b[3:]).abs().max() > 1e-3
