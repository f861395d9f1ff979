#!/usr/bin/python3
"""Synthetic MagicPortrait checkpoints in the REAL file layouts at toy widths, for the importer tests
(src/kernel/diffusion/import.ts).

Regenerate (from the repository root, Debian's torch 1.13):

    /usr/bin/python3 test/diffusion/golden/import_synthetic.py

writes test/diffusion/fixtures/import/<path>.gz (each file gzipped; the tests gunzip them into a temp folder):

  sd15/unet/config.json                               diffusers UNet2DConditionModel config (toy widths)
  sd15/unet/diffusion_pytorch_model.safetensors       SD 1.5 diffusers UNet keys, float16 (as hub fp16 exports)
  sd15/tokenizer/vocab.json, merges.txt               a tiny synthetic CLIP-style BPE vocabulary
  vae/config.json, vae/diffusion_pytorch_model.bin    sd-vae-ft-mse (diffusers AutoencoderKL) with the OLD attention
                                                      key names (query/key/value/proj_attn), torch.save zip
  motion_module.pth                                   AnimateDiff motion-module keys only (*.motion_modules.*)
  ckpts/denoising_unet.pth                            the 3D UNet state dict (2D keys + motion keys, EXCEPT
                                                      mid_block.motion_modules.*, which must then come from the
                                                      motion-module file)
  ckpts/reference_unet.pth                            the 2D reference UNet state dict (incl. conv_norm_out/conv_out)
  ckpts/guidance_encoder_{depth,normal,render}.pth    GuidanceEncoder state dicts (§6.4 incl. the unused modules)
  text_embeds.npy                                     (1, 77, 16) float32 prompt embedding stand-in

Architecture = IMPORT_TEST_ARCH of test/diffusion/import-helpers.ts (TINY_ARCH at half the UNet/VAE widths, to keep
the fixtures small). Key names and shape rules follow diffusers /
AnimateDiff / MagicPortrait (reference-pipeline.md §6.4, §7.1, §8.2). Values are seeded round(0.6·N(0,1))/sqrt(fan_in) (mostly
0 and ±1 steps: low entropy, so the gzipped fixtures stay small); norm scales 1, pos_encoder.pe sinusoidal.
Each layer file gets a different seed, so a test can tell which layer a value came from.
"""
import gzip
import io
import json
import math
import os
import struct
from collections import OrderedDict

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "import")

# IMPORT_TEST_ARCH
UNET = dict(block_out=[16, 32, 32], cross=[True, True, False], layers=1, cross_dim=16, max_len=32, groups=8, heads=4)
VAE = dict(block_out=[8, 16, 16, 16], layers=1, latent=4, groups=8)
GGE = dict(block_out=[8, 8, 16, 16], out=16)


def resnet(p, cin, cout, temb):
    k = OrderedDict()
    k[f"{p}.norm1.weight"] = [cin]
    k[f"{p}.norm1.bias"] = [cin]
    k[f"{p}.conv1.weight"] = [cout, cin, 3, 3]
    k[f"{p}.conv1.bias"] = [cout]
    if temb:
        k[f"{p}.time_emb_proj.weight"] = [cout, temb]
        k[f"{p}.time_emb_proj.bias"] = [cout]
    k[f"{p}.norm2.weight"] = [cout]
    k[f"{p}.norm2.bias"] = [cout]
    k[f"{p}.conv2.weight"] = [cout, cout, 3, 3]
    k[f"{p}.conv2.bias"] = [cout]
    if cin != cout:
        k[f"{p}.conv_shortcut.weight"] = [cout, cin, 1, 1]
        k[f"{p}.conv_shortcut.bias"] = [cout]
    return k


def ff(p, c):
    return OrderedDict([(f"{p}.net.0.proj.weight", [8 * c, c]), (f"{p}.net.0.proj.bias", [8 * c]),
                        (f"{p}.net.2.weight", [c, 4 * c]), (f"{p}.net.2.bias", [c])])


def attn(p, c, kv):
    return OrderedDict([(f"{p}.to_q.weight", [c, c]), (f"{p}.to_k.weight", [c, kv]), (f"{p}.to_v.weight", [c, kv]),
                        (f"{p}.to_out.0.weight", [c, c]), (f"{p}.to_out.0.bias", [c])])


def transformer(p, c, cross_dim):
    """diffusers Transformer2DModel (use_linear_projection False); cross_dim None = no attn2/norm2 (GGE)."""
    k = OrderedDict()
    k[f"{p}.norm.weight"] = [c]
    k[f"{p}.norm.bias"] = [c]
    k[f"{p}.proj_in.weight"] = [c, c, 1, 1]
    k[f"{p}.proj_in.bias"] = [c]
    tb = f"{p}.transformer_blocks.0"
    k[f"{tb}.norm1.weight"] = [c]
    k[f"{tb}.norm1.bias"] = [c]
    k.update(attn(f"{tb}.attn1", c, c))
    if cross_dim:
        k[f"{tb}.norm2.weight"] = [c]
        k[f"{tb}.norm2.bias"] = [c]
        k.update(attn(f"{tb}.attn2", c, cross_dim))
    k[f"{tb}.norm3.weight"] = [c]
    k[f"{tb}.norm3.bias"] = [c]
    k.update(ff(f"{tb}.ff", c))
    k[f"{p}.proj_out.weight"] = [c, c, 1, 1]
    k[f"{p}.proj_out.bias"] = [c]
    return k


def motion(p, c, max_len):
    """AnimateDiff VanillaTemporalModule → TemporalTransformer3DModel, one block, two temporal self-attentions."""
    t = f"{p}.temporal_transformer"
    k = OrderedDict([(f"{t}.norm.weight", [c]), (f"{t}.norm.bias", [c]), (f"{t}.proj_in.weight", [c, c]), (f"{t}.proj_in.bias", [c])])
    tb = f"{t}.transformer_blocks.0"
    for i in range(2):
        k.update(attn(f"{tb}.attention_blocks.{i}", c, c))
        k[f"{tb}.attention_blocks.{i}.pos_encoder.pe"] = [1, max_len, c]
    for i in range(2):
        k[f"{tb}.norms.{i}.weight"] = [c]
        k[f"{tb}.norms.{i}.bias"] = [c]
    k.update(ff(f"{tb}.ff", c))
    k[f"{tb}.ff_norm.weight"] = [c]
    k[f"{tb}.ff_norm.bias"] = [c]
    k[f"{t}.proj_out.weight"] = [c, c]
    k[f"{t}.proj_out.bias"] = [c]
    return k


def unet_keys(u, with_motion):
    """(2D keys, motion keys) of the UNet in module order; the skip bookkeeping mirrors diffusers."""
    ch, n, L, cd = u["block_out"], len(u["block_out"]), u["layers"], u["cross_dim"]
    c0, temb = ch[0], 4 * ch[0]
    k2, km = OrderedDict(), OrderedDict()
    k2["conv_in.weight"] = [c0, 4, 3, 3]
    k2["conv_in.bias"] = [c0]
    k2["time_embedding.linear_1.weight"] = [temb, c0]
    k2["time_embedding.linear_1.bias"] = [temb]
    k2["time_embedding.linear_2.weight"] = [temb, temb]
    k2["time_embedding.linear_2.bias"] = [temb]
    skips = [c0]
    c = c0
    for i in range(n):
        for j in range(L):
            k2.update(resnet(f"down_blocks.{i}.resnets.{j}", c, ch[i], temb))
            c = ch[i]
            if u["cross"][i]:
                k2.update(transformer(f"down_blocks.{i}.attentions.{j}", c, cd))
            km.update(motion(f"down_blocks.{i}.motion_modules.{j}", c, u["max_len"]))
            skips.append(c)
        if i < n - 1:
            k2[f"down_blocks.{i}.downsamplers.0.conv.weight"] = [c, c, 3, 3]
            k2[f"down_blocks.{i}.downsamplers.0.conv.bias"] = [c]
            skips.append(c)
    top = ch[-1]
    k2.update(resnet("mid_block.resnets.0", top, top, temb))
    k2.update(transformer("mid_block.attentions.0", top, cd))
    km.update(motion("mid_block.motion_modules.0", top, u["max_len"]))
    k2.update(resnet("mid_block.resnets.1", top, top, temb))
    for i in range(n):
        lvl = n - 1 - i
        for j in range(L + 1):
            s = skips.pop()
            k2.update(resnet(f"up_blocks.{i}.resnets.{j}", c + s, ch[lvl], temb))
            c = ch[lvl]
            if u["cross"][lvl]:
                k2.update(transformer(f"up_blocks.{i}.attentions.{j}", c, cd))
            km.update(motion(f"up_blocks.{i}.motion_modules.{j}", c, u["max_len"]))
        if i < n - 1:
            k2[f"up_blocks.{i}.upsamplers.0.conv.weight"] = [c, c, 3, 3]
            k2[f"up_blocks.{i}.upsamplers.0.conv.bias"] = [c]
    k2["conv_norm_out.weight"] = [c0]
    k2["conv_norm_out.bias"] = [c0]
    k2["conv_out.weight"] = [4, c0, 3, 3]
    k2["conv_out.bias"] = [4]
    return k2, km


def vae_attention(p, c, old):
    names = ("query", "key", "value", "proj_attn") if old else ("to_q", "to_k", "to_v", "to_out.0")
    k = OrderedDict([(f"{p}.group_norm.weight", [c]), (f"{p}.group_norm.bias", [c])])
    for nm in names:
        k[f"{p}.{nm}.weight"] = [c, c]
        k[f"{p}.{nm}.bias"] = [c]
    return k


def vae_keys(v, old):
    ch, L, lat = v["block_out"], v["layers"], v["latent"]
    k = OrderedDict()
    k["encoder.conv_in.weight"] = [ch[0], 3, 3, 3]
    k["encoder.conv_in.bias"] = [ch[0]]
    c = ch[0]
    for i in range(len(ch)):
        for j in range(L):
            k.update(resnet(f"encoder.down_blocks.{i}.resnets.{j}", c, ch[i], 0))
            c = ch[i]
        if i < len(ch) - 1:
            k[f"encoder.down_blocks.{i}.downsamplers.0.conv.weight"] = [c, c, 3, 3]
            k[f"encoder.down_blocks.{i}.downsamplers.0.conv.bias"] = [c]
    k.update(resnet("encoder.mid_block.resnets.0", c, c, 0))
    k.update(vae_attention("encoder.mid_block.attentions.0", c, old))
    k.update(resnet("encoder.mid_block.resnets.1", c, c, 0))
    k["encoder.conv_norm_out.weight"] = [c]
    k["encoder.conv_norm_out.bias"] = [c]
    k["encoder.conv_out.weight"] = [2 * lat, c, 3, 3]
    k["encoder.conv_out.bias"] = [2 * lat]
    k["quant_conv.weight"] = [2 * lat, 2 * lat, 1, 1]
    k["quant_conv.bias"] = [2 * lat]
    k["post_quant_conv.weight"] = [lat, lat, 1, 1]
    k["post_quant_conv.bias"] = [lat]
    rev = list(reversed(ch))
    c = rev[0]
    k["decoder.conv_in.weight"] = [c, lat, 3, 3]
    k["decoder.conv_in.bias"] = [c]
    k.update(resnet("decoder.mid_block.resnets.0", c, c, 0))
    k.update(vae_attention("decoder.mid_block.attentions.0", c, old))
    k.update(resnet("decoder.mid_block.resnets.1", c, c, 0))
    for i in range(len(rev)):
        for j in range(L + 1):
            k.update(resnet(f"decoder.up_blocks.{i}.resnets.{j}", c, rev[i], 0))
            c = rev[i]
        if i < len(rev) - 1:
            k[f"decoder.up_blocks.{i}.upsamplers.0.conv.weight"] = [c, c, 3, 3]
            k[f"decoder.up_blocks.{i}.upsamplers.0.conv.bias"] = [c]
    k["decoder.conv_norm_out.weight"] = [c]
    k["decoder.conv_norm_out.bias"] = [c]
    k["decoder.conv_out.weight"] = [3, c, 3, 3]
    k["decoder.conv_out.bias"] = [3]
    return k


def gge_keys(g):
    b0, b1, b2, b3 = g["block_out"]
    k = OrderedDict([("conv_in.weight", [b0, 3, 3, 3]), ("conv_in.bias", [b0])])
    plan = [(b0, b0), (b0, b1), (b1, b1), (b1, b2), (b2, b2), (b2, b3)]
    for i, (ci, co) in enumerate(plan):
        k[f"blocks.{i}.weight"] = [co, ci, 3, 3]
        k[f"blocks.{i}.bias"] = [co]
    for i, (_, co) in enumerate(plan):
        k.update(transformer(f"attentions.{i}", co, None))
    k.update(transformer("guidance_attention", b3, None))
    k["conv_out.weight"] = [g["out"], b3, 3, 3]
    k["conv_out.bias"] = [g["out"]]
    return k


def values(keys, seed, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for name, shape in keys.items():
        if name.endswith("pos_encoder.pe"):
            _, n, c = shape
            pe = torch.zeros(1, n, c)
            pos = torch.arange(n, dtype=torch.float32)[:, None]
            div = torch.exp(torch.arange(0, c, 2, dtype=torch.float32) * (-math.log(10000.0) / c))
            pe[0, :, 0::2] = torch.sin(pos * div)
            pe[0, :, 1::2] = torch.cos(pos * div)
            t = pe
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            t = torch.round(torch.randn(shape, generator=gen) * 0.6) / math.sqrt(fan_in)
        elif name.endswith(".weight"):
            t = torch.ones(shape)
        else:
            t = torch.round(torch.randn(shape, generator=gen) * 0.02 * 64) / 64
        sd[name] = t.to(dtype).contiguous()
    return sd


def save_safetensors(sd, path):
    codes = {torch.float16: "F16", torch.float32: "F32"}
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in sd.items():
        b = t.numpy().tobytes()
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


FILES = {}


def put(rel, data):
    FILES[rel] = data


def torch_bytes(sd):
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def main():
    u = UNET
    k2, km = unet_keys(u, True)
    unet_cfg = {
        "_class_name": "UNet2DConditionModel", "in_channels": 4, "out_channels": 4,
        "block_out_channels": u["block_out"], "layers_per_block": u["layers"], "attention_head_dim": u["heads"],
        "cross_attention_dim": u["cross_dim"], "norm_num_groups": u["groups"], "norm_eps": 1e-5,
        "down_block_types": ["CrossAttnDownBlock2D" if c else "DownBlock2D" for c in u["cross"]],
        "up_block_types": ["CrossAttnUpBlock2D" if c else "UpBlock2D" for c in reversed(u["cross"])],
        "flip_sin_to_cos": True, "freq_shift": 0, "downsample_padding": 1, "use_linear_projection": False,
        "sample_size": 8,
    }
    put("sd15/unet/config.json", json.dumps(unet_cfg, indent=2).encode())
    p = os.path.join(OUT, "_tmp.safetensors")
    os.makedirs(OUT, exist_ok=True)
    save_safetensors(values(k2, 1, torch.float16), p)
    with open(p, "rb") as f:
        put("sd15/unet/diffusion_pytorch_model.safetensors", f.read())
    os.remove(p)

    put("motion_module.pth", torch_bytes(values(km, 2)))
    den = OrderedDict(k2)
    den.update((k, s) for k, s in km.items() if not k.startswith("mid_block.motion_modules."))
    put("ckpts/denoising_unet.pth", torch_bytes(values(den, 3)))
    put("ckpts/reference_unet.pth", torch_bytes(values(k2, 4)))
    for i, t in enumerate(("depth", "normal", "render")):
        put(f"ckpts/guidance_encoder_{t}.pth", torch_bytes(values(gge_keys(GGE), 10 + i)))

    v = VAE
    vae_cfg = {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": v["latent"],
               "block_out_channels": v["block_out"], "layers_per_block": v["layers"], "norm_num_groups": v["groups"],
               "sample_size": 64, "scaling_factor": 0.18215}
    put("vae/config.json", json.dumps(vae_cfg, indent=2).encode())
    put("vae/diffusion_pytorch_model.bin", torch_bytes(values(vae_keys(v, old=True), 5)))

    # tiny BPE vocabulary in the CLIP format: byte-level unicode symbols, '</w>' word ends, merges by rank
    put("sd15/tokenizer/vocab.json", json.dumps(tiny_vocab(), ensure_ascii=False).encode())
    put("sd15/tokenizer/merges.txt", ("#version: 0.2\n" + "\n".join(MERGES) + "\n").encode())

    # CLIP text encoder (HF CLIPTextModel layout) at toy width, and the prompt's last hidden state computed here
    te_cfg = {"architectures": ["CLIPTextModel"], "hidden_size": u["cross_dim"], "intermediate_size": 4 * u["cross_dim"],
              "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
              "layer_norm_eps": 1e-5, "vocab_size": len(tiny_vocab())}
    put("sd15/text_encoder/config.json", json.dumps(te_cfg, indent=2).encode())
    te = clip_text_weights(te_cfg)
    p = os.path.join(OUT, "_tmp.safetensors")
    save_safetensors(te, p)
    with open(p, "rb") as f:
        put("sd15/text_encoder/model.safetensors", f.read())
    os.remove(p)
    ids = PROMPT_IDS + [PROMPT_IDS[-1]] * (77 - len(PROMPT_IDS))
    emb = clip_text_forward(te, te_cfg, torch.tensor([ids])).numpy()
    buf = io.BytesIO()
    np.save(buf, emb.astype(np.float32))
    put("text_embeds.npy", buf.getvalue())

    total = 0
    for rel, data in FILES.items():
        path = os.path.join(OUT, rel + ".gz")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(gzip.compress(data, 9, mtime=0))
        total += os.path.getsize(path)
        print(f"{rel}: {len(data)} bytes -> {os.path.getsize(path)} gz")
    print("total gz", total)


# Merges of the synthetic tokenizer: enough to build 'close</w>', 'up</w>', 'of</w>', 'a</w>' partially etc.
MERGES = ["c l", "cl o", "clo s", "clos e</w>", "u p</w>", "o f</w>", "p e", "pe r", "per s", "o n</w>"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def tiny_vocab():
    """CLIP's vocab order: 256 byte symbols, the same with '</w>', one entry per merge, then the two specials.
    The real file has 48894 merges, so its specials are 49406/49407; this one's are 256+256+len(MERGES)+0/1."""
    syms = list(bytes_to_unicode().values())
    vocab = syms + [s + "</w>" for s in syms] + ["".join(m.split()) for m in MERGES] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}


# "A close up of a person." on the synthetic vocabulary (derived in test/diffusion/tokenizer.test.ts):
# BOS, a</w>, close</w>, up</w>, of</w>, a</w>, pers, on</w>, .</w>, EOS
PROMPT_IDS = [522, 320, 515, 516, 517, 320, 520, 521, 269, 523]


def clip_text_weights(cfg):
    d, f, n_layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    gen = torch.Generator().manual_seed(7)
    sd = OrderedDict()
    r = lambda *shape, s=1.0: torch.round(torch.randn(shape, generator=gen) * 4) / 4 * s
    sd["text_model.embeddings.token_embedding.weight"] = r(cfg["vocab_size"], d, s=0.5)
    sd["text_model.embeddings.position_embedding.weight"] = r(77, d, s=0.25)
    for i in range(n_layers):
        p = f"text_model.encoder.layers.{i}"
        for nm in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[f"{p}.self_attn.{nm}.weight"] = r(d, d, s=d ** -0.5)
            sd[f"{p}.self_attn.{nm}.bias"] = r(d, s=0.05)
        sd[f"{p}.layer_norm1.weight"] = 1 + r(d, s=0.05)
        sd[f"{p}.layer_norm1.bias"] = r(d, s=0.05)
        sd[f"{p}.mlp.fc1.weight"] = r(f, d, s=d ** -0.5)
        sd[f"{p}.mlp.fc1.bias"] = r(f, s=0.05)
        sd[f"{p}.mlp.fc2.weight"] = r(d, f, s=f ** -0.5)
        sd[f"{p}.mlp.fc2.bias"] = r(d, s=0.05)
        sd[f"{p}.layer_norm2.weight"] = 1 + r(d, s=0.05)
        sd[f"{p}.layer_norm2.bias"] = r(d, s=0.05)
    sd["text_model.final_layer_norm.weight"] = 1 + r(d, s=0.05)
    sd["text_model.final_layer_norm.bias"] = r(d, s=0.05)
    return OrderedDict((k, v.float().contiguous()) for k, v in sd.items())


def clip_text_forward(sd, cfg, ids):
    """CLIPTextTransformer: embeddings, pre-LN layers with a causal mask, quick_gelu MLP, final LayerNorm."""
    d, h, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    t = ids.shape[1]
    x = sd["text_model.embeddings.token_embedding.weight"][ids] + sd["text_model.embeddings.position_embedding.weight"][:t][None]
    mask = torch.full((t, t), float("-inf")).triu(1)
    ln = lambda v, p: torch.nn.functional.layer_norm(v, (d,), sd[f"{p}.weight"], sd[f"{p}.bias"], eps)
    lin = lambda v, p: v @ sd[f"{p}.weight"].T + sd[f"{p}.bias"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"text_model.encoder.layers.{i}"
        r = x
        y = ln(x, f"{p}.layer_norm1")
        split = lambda v: v.view(1, t, h, d // h).transpose(1, 2)
        q = split(lin(y, f"{p}.self_attn.q_proj") * (d // h) ** -0.5)
        k = split(lin(y, f"{p}.self_attn.k_proj"))
        v = split(lin(y, f"{p}.self_attn.v_proj"))
        a = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1) @ v
        x = r + lin(a.transpose(1, 2).reshape(1, t, d), f"{p}.self_attn.out_proj")
        r = x
        y = lin(ln(x, f"{p}.layer_norm2"), f"{p}.mlp.fc1")
        y = y * torch.sigmoid(1.702 * y)
        x = r + lin(y, f"{p}.mlp.fc2")
    return ln(x, "text_model.final_layer_norm")


if __name__ == "__main__":
    main()
