#!/usr/bin/python3
"""Independent plain-PyTorch reference of the MagicPortrait denoising stack, written from
docs/reference-pipeline.md §6, §7.1-7.8 (no diffusers; module attribute names follow diffusers/AnimateDiff so
state_dict() keys are the checkpoint keys).

Regenerate the committed fixtures (from the repository root, Debian's torch 1.13 + numpy):

    /usr/bin/python3 test/diffusion/golden/blocks_reference.py fixtures

writes test/diffusion/fixtures/blocks.npz (one case per graph building block: weights under '<case>/w/<key>',
inputs and float64 expected outputs) and test/diffusion/fixtures/micro.npz (a micro configuration of the whole
stack: weights of the reference UNet, denoising UNet, VAE and guidance encoders, the reference bank, both CFG branches
of one UNet call, a 3-step sampling run over 14 frames with 12-frame windows, and the decoded 8-bit frames).
Expected values are computed in float64 from float32 weights and inputs (the exact value of the float32 network).

Other mode (used by bench/diffusion.ts, never by the tests):

    blocks_reference.py bench --arch JSON --frames F --calls N --threads T --out JSON
    blocks_reference.py bench-layer --threads T --runs R --out JSON
    blocks_reference.py bench-unet --arch JSON --frames F --calls N --threads T --out JSON

time the same denoising / reference UNet (architecture from the JSON, random weights), one full-width level-0
layer (ResNet 320 + spatial transformer with a 4096-token bank, one frame), and (bench-unet, used by
bench/unet-fullsize.ts) one conditional call of the whole denoising UNet alone — any width, e.g. the full-size one at a
reduced image size — reading random float16-rounded banks of the reference's shapes, in float32 PyTorch on the CPU.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")

# ------------------------------------------------------------------------------------------------------------------
# Modules (§7.1, §7.2, §7.4, §6.2)


class Attention(nn.Module):
    """to_q/to_k/to_v (bias optional), to_out.0 with bias; scale d^-1/2; softmax over keys."""

    def __init__(self, dim, heads, kv_dim=None, bias=False):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(kv_dim or dim, dim, bias=bias)
        self.to_v = nn.Linear(kv_dim or dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x, kv=None):
        kv = x if kv is None else kv
        b, n, c = x.shape
        h = self.heads
        d = c // h
        q = self.to_q(x).reshape(b, n, h, d).transpose(1, 2)
        k = self.to_k(kv).reshape(kv.shape[0], kv.shape[1], h, d).transpose(1, 2)
        v = self.to_v(kv).reshape(kv.shape[0], kv.shape[1], h, d).transpose(1, 2)
        p = (q @ k.transpose(-1, -2) * d ** -0.5).softmax(-1)
        return self.to_out[0]((p @ v).transpose(1, 2).reshape(b, n, c))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x):
        a, g = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(g)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicBlock(nn.Module):
    """BasicTransformerBlock / TemporalBasicTransformerBlock with the reference-attention hooks of §7.2."""

    def __init__(self, dim, heads, text_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.has_text = text_dim is not None
        if self.has_text:
            self.norm2 = nn.LayerNorm(dim)
            self.attn2 = Attention(dim, heads, kv_dim=text_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, h, text=None, bank=None, mode="none"):
        x = self.norm1(h)
        if mode == "write":
            bank.append(x.clone())
        if mode == "read" and bank is not None:
            ref = bank.pop(0)  # (1, L_ref, C) -> repeated over the frames of h
            kv = torch.cat([x, ref.expand(x.shape[0], -1, -1)], dim=1)
            h = self.attn1(x, kv) + h
        else:
            h = self.attn1(x) + h
        if self.has_text:
            h = self.attn2(self.norm2(h), text.expand(h.shape[0], -1, -1)) + h
        return self.ff(self.norm3(h)) + h


class SpatialTransformer(nn.Module):
    def __init__(self, dim, heads, groups, text_dim):
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([BasicBlock(dim, heads, text_dim)])
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x, text=None, bank=None, mode="none"):
        n, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(n, hh * ww, c)
        h = self.transformer_blocks[0](h, text, bank, mode)
        return self.proj_out(h.reshape(n, hh, ww, c).permute(0, 3, 1, 2)) + x


class Resnet(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)
        self.has_temb = bool(temb)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.has_temb:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        s = self.conv_shortcut(x) if hasattr(self, "conv_shortcut") else x
        return (s + h) / 1.0


def sinusoid_pe(max_len, dim):
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, max_len, dim, dtype=torch.float64)
    pe[0, :, 0::2] = torch.sin(pos * div)
    pe[0, :, 1::2] = torch.cos(pos * div)
    return pe


class PosEnc(nn.Module):
    def __init__(self, dim, max_len):
        super().__init__()
        self.register_buffer("pe", sinusoid_pe(max_len, dim).float())

    def forward(self, x):
        return x + self.pe[:, : x.shape[1]]


class TemporalAttention(Attention):
    def __init__(self, dim, heads, max_len):
        super().__init__(dim, heads)
        self.pos_encoder = PosEnc(dim, max_len)

    def forward(self, x, frames):
        # (F, HW, C) -> (HW, F, C), positional encoding over frames, attention over frames, back
        hw = x.shape[1]
        t = self.pos_encoder(x.transpose(0, 1))
        return super().forward(t).transpose(0, 1)


class TemporalBlock(nn.Module):
    def __init__(self, dim, heads, max_len):
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalAttention(dim, heads, max_len) for _ in range(2)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(2)])
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, h):
        for att, norm in zip(self.attention_blocks, self.norms):
            h = att(norm(h), h.shape[0]) + h
        return self.ff(self.ff_norm(h)) + h


class TemporalTransformer(nn.Module):
    def __init__(self, dim, heads, groups, max_len):
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = nn.Linear(dim, dim)
        self.transformer_blocks = nn.ModuleList([TemporalBlock(dim, heads, max_len)])
        self.proj_out = nn.Linear(dim, dim)

    def forward(self, x):
        f, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x).permute(0, 2, 3, 1).reshape(f, hh * ww, c))
        h = self.proj_out(self.transformer_blocks[0](h))
        return h.reshape(f, hh, ww, c).permute(0, 3, 1, 2) + x


class MotionModule(nn.Module):
    def __init__(self, dim, heads, groups, max_len):
        super().__init__()
        self.temporal_transformer = TemporalTransformer(dim, heads, groups, max_len)

    def forward(self, x):
        return self.temporal_transformer(x)


class TimeEmbedding(nn.Module):
    def __init__(self, dim, out):
        super().__init__()
        self.linear_1 = nn.Linear(dim, out)
        self.linear_2 = nn.Linear(out, out)


def timestep_features(t, dim, dtype):
    half = dim // 2
    # frequencies and t * frequency in float32, as the library computes them; cos/sin in the working precision
    e = torch.exp((-math.log(10000) * torch.arange(half, dtype=torch.float32)) / half)
    a = (torch.tensor([float(t)], dtype=torch.float32)[:, None] * e[None]).to(dtype)
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


class Down(nn.Module):
    def __init__(self, c, vae=False):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0 if vae else 1)
        self.vae = vae

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)) if self.vae else x)


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Wrap(nn.Module):
    """Holds a module under a diffusers-style name ('downsamplers.0' etc.)."""

    def __init__(self, m):
        super().__init__()
        self.m = nn.ModuleList([m])


class Level(nn.Module):
    pass


class UNet(nn.Module):
    """SD-1.5-style UNet (§7.1). kind 'reference': 2D, no motion modules, no conv_out; 'denoising': 3D with motion
    modules, guidance added after conv_in, conv_norm_out + conv_out."""

    def __init__(self, a, kind):
        super().__init__()
        u = a["unet"]
        self.a, self.kind = a, kind
        ch, L, G = u["blockOutChannels"], u["layersPerBlock"], u["normGroups"]
        T = 4 * u["timeEmbedDim"]
        td = u["crossAttentionDim"]
        mm = kind == "denoising"
        self.conv_in = nn.Conv2d(u["inChannels"], ch[0], 3, padding=1)
        self.time_embedding = TimeEmbedding(u["timeEmbedDim"], T)
        n = len(ch)
        self.down_blocks = nn.ModuleList()
        c = ch[0]
        for i in range(n):
            blk = Level()
            blk.resnets = nn.ModuleList()
            for j in range(L):
                blk.resnets.append(Resnet(c, ch[i], T, G, u["resnetEps"]))
                c = ch[i]
            if u["crossAttnLevels"][i]:
                blk.attentions = nn.ModuleList([SpatialTransformer(c, u["heads"], G, td) for _ in range(L)])
            if mm:
                blk.motion_modules = nn.ModuleList([MotionModule(c, u["motion"]["heads"], G, u["motion"]["maxLen"]) for _ in range(L)])
            if i < n - 1:
                blk.downsamplers = nn.ModuleList([Down(c)])
            self.down_blocks.append(blk)
        self.mid_block = Level()
        self.mid_block.resnets = nn.ModuleList([Resnet(c, c, T, G, u["resnetEps"]) for _ in range(2)])
        self.mid_block.attentions = nn.ModuleList([SpatialTransformer(c, u["heads"], G, td)])
        if mm:
            self.mid_block.motion_modules = nn.ModuleList([MotionModule(c, u["motion"]["heads"], G, u["motion"]["maxLen"])])
        self.up_blocks = nn.ModuleList()
        skip_ch = [ch[0]] + [ch[i] for i in range(n) for _ in range(L + (1 if i < n - 1 else 0))]
        for i in range(n):
            lvl = n - 1 - i
            blk = Level()
            blk.resnets = nn.ModuleList()
            for j in range(L + 1):
                s = skip_ch.pop()
                blk.resnets.append(Resnet(c + s, ch[lvl], T, G, u["resnetEps"]))
                c = ch[lvl]
            if u["crossAttnLevels"][lvl]:
                blk.attentions = nn.ModuleList([SpatialTransformer(c, u["heads"], G, td) for _ in range(L + 1)])
            if mm:
                blk.motion_modules = nn.ModuleList([MotionModule(c, u["motion"]["heads"], G, u["motion"]["maxLen"]) for _ in range(L + 1)])
            if i < n - 1:
                blk.upsamplers = nn.ModuleList([Up(c)])
            self.up_blocks.append(blk)
        if mm:
            self.conv_norm_out = nn.GroupNorm(G, ch[0], eps=u["resnetEps"])
            self.conv_out = nn.Conv2d(ch[0], u["outChannels"], 3, padding=1)

    def forward(self, x, t, text, guidance=None, bank=None, mode="none"):
        u = self.a["unet"]
        dt = x.dtype
        emb = timestep_features(t, u["timeEmbedDim"], dt)
        temb = self.time_embedding.linear_2(F.silu(self.time_embedding.linear_1(emb)))
        h = self.conv_in(x)
        if guidance is not None:
            h = h + guidance
        skips = [h]
        n = len(u["blockOutChannels"])

        def layer(blk, j, h):
            h = blk.resnets[j](h, temb)
            if hasattr(blk, "attentions"):
                h = blk.attentions[j](h, text, bank, mode)
            if hasattr(blk, "motion_modules"):
                h = blk.motion_modules[j](h)
            return h

        for i, blk in enumerate(self.down_blocks):
            for j in range(len(blk.resnets)):
                h = layer(blk, j, h)
                skips.append(h)
            if hasattr(blk, "downsamplers"):
                h = blk.downsamplers[0](h)
                skips.append(h)
        m = self.mid_block
        h = m.resnets[0](h, temb)
        h = m.attentions[0](h, text, bank, mode)
        if hasattr(m, "motion_modules"):
            h = m.motion_modules[0](h)
        h = m.resnets[1](h, temb)
        for i, blk in enumerate(self.up_blocks):
            for j in range(len(blk.resnets)):
                h = torch.cat([h, skips.pop()], dim=1)
                h = layer(blk, j, h)
            if hasattr(blk, "upsamplers"):
                h = blk.upsamplers[0](h)
        if self.kind == "reference":
            return None
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class VaeAttention(nn.Module):
    def __init__(self, c, groups, eps):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=eps)
        self.to_q = nn.Linear(c, c)
        self.to_k = nn.Linear(c, c)
        self.to_v = nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c), nn.Dropout(0.0)])

    def forward(self, x):
        n, c, hh, ww = x.shape
        t = self.group_norm(x).reshape(n, c, hh * ww).transpose(1, 2)
        q, k, v = self.to_q(t), self.to_k(t), self.to_v(t)
        p = (q @ k.transpose(-1, -2) / math.sqrt(c)).softmax(-1)
        o = self.to_out[0](p @ v)
        return o.transpose(1, 2).reshape(n, c, hh, ww) + x


class VaeMid(nn.Module):
    def __init__(self, c, g, eps):
        super().__init__()
        self.resnets = nn.ModuleList([Resnet(c, c, 0, g, eps) for _ in range(2)])
        self.attentions = nn.ModuleList([VaeAttention(c, g, eps)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class VaeCoder(nn.Module):
    pass


class VAE(nn.Module):
    def __init__(self, a):
        super().__init__()
        v = a["vae"]
        ch, L, G, eps, lat = v["blockOutChannels"], v["layersPerBlock"], v["normGroups"], v["eps"], v["latentChannels"]
        self.v = v
        e = VaeCoder()
        e.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        e.down_blocks = nn.ModuleList()
        c = ch[0]
        for i in range(len(ch)):
            b = Level()
            b.resnets = nn.ModuleList()
            for j in range(L):
                b.resnets.append(Resnet(c, ch[i], 0, G, eps))
                c = ch[i]
            if i < len(ch) - 1:
                b.downsamplers = nn.ModuleList([Down(c, vae=True)])
            e.down_blocks.append(b)
        e.mid_block = VaeMid(c, G, eps)
        e.conv_norm_out = nn.GroupNorm(G, c, eps=eps)
        e.conv_out = nn.Conv2d(c, 2 * lat, 3, padding=1)
        self.encoder = e
        self.quant_conv = nn.Conv2d(2 * lat, 2 * lat, 1)
        self.post_quant_conv = nn.Conv2d(lat, lat, 1)
        d = VaeCoder()
        rev = list(reversed(ch))
        d.conv_in = nn.Conv2d(lat, rev[0], 3, padding=1)
        c = rev[0]
        d.mid_block = VaeMid(c, G, eps)
        d.up_blocks = nn.ModuleList()
        for i in range(len(rev)):
            b = Level()
            b.resnets = nn.ModuleList()
            for j in range(L + 1):
                b.resnets.append(Resnet(c, rev[i], 0, G, eps))
                c = rev[i]
            if i < len(rev) - 1:
                b.upsamplers = nn.ModuleList([Up(c)])
            d.up_blocks.append(b)
        d.conv_norm_out = nn.GroupNorm(G, c, eps=eps)
        d.conv_out = nn.Conv2d(c, 3, 3, padding=1)
        self.decoder = d

    def encode_mean(self, x):
        e = self.encoder
        h = e.conv_in(x)
        for b in e.down_blocks:
            for r in b.resnets:
                h = r(h)
            if hasattr(b, "downsamplers"):
                h = b.downsamplers[0](h)
        h = e.conv_out(F.silu(e.conv_norm_out(e.mid_block(h))))
        return self.quant_conv(h)[:, : self.v["latentChannels"]]

    def decode(self, z):
        d = self.decoder
        h = d.mid_block(d.conv_in(self.post_quant_conv(z)))
        for b in d.up_blocks:
            for r in b.resnets:
                h = r(h)
            if hasattr(b, "upsamplers"):
                h = b.upsamplers[0](h)
        return d.conv_out(F.silu(d.conv_norm_out(h)))


class GuidanceEncoder(nn.Module):
    """§6.1: conv stack (stride 2 at blocks 1, 3, 5), attentions.5 only, conv_out. (Unused attentions omitted.)"""

    def __init__(self, a):
        super().__init__()
        gd = a["guidance"]
        b0, b1, b2, b3 = gd["blockOutChannels"]
        self.conv_in = nn.Conv2d(3, b0, 3, padding=1)
        plan = [(b0, b0, 1), (b0, b1, 2), (b1, b1, 1), (b1, b2, 2), (b2, b2, 1), (b2, b3, 2)]
        self.blocks = nn.ModuleList([nn.Conv2d(i, o, 3, stride=s, padding=1) for i, o, s in plan])
        self.attentions = nn.ModuleDict({"5": SpatialTransformer(b3, gd["heads"], gd["normGroups"], None)})
        self.conv_out = nn.Conv2d(b3, a["unet"]["blockOutChannels"][0], 3, padding=1)

    def forward(self, x):
        h = F.silu(self.conv_in(x))
        for b in self.blocks:
            h = F.silu(b(h))
        return self.conv_out(self.attentions["5"](h))


# ------------------------------------------------------------------------------------------------------------------
# Weights and helpers


def randomize(module, gen, zero_pe=False):
    """Deterministic random weights: N(0, 1/fan_in) matrices, norms 1 ± 0.1, biases ±0.1; PE buffers sinusoidal."""
    sd = module.state_dict()
    out = {}
    for k, v in sd.items():
        if k.endswith("pos_encoder.pe"):
            out[k] = v.clone()
        elif k.endswith(".weight") and v.ndim >= 2:
            fan_in = int(np.prod(v.shape[1:]))
            out[k] = torch.randn(v.shape, generator=gen) / math.sqrt(fan_in)
        elif k.endswith(".weight"):
            out[k] = 1 + 0.1 * torch.randn(v.shape, generator=gen)
        else:
            out[k] = 0.1 * torch.randn(v.shape, generator=gen)
    module.load_state_dict(out)
    return {k: v.float().numpy() for k, v in out.items()}


def randomize_inplace(module, gen):
    """randomize()'s distributions, written into the parameters in place (no copies: a full-size UNet is 5 GB)."""
    with torch.no_grad():
        for k, v in module.state_dict(keep_vars=True).items():
            if k.endswith("pos_encoder.pe"):
                continue
            if k.endswith(".weight") and v.ndim >= 2:
                v.normal_(0, 1 / math.sqrt(int(np.prod(v.shape[1:]))), generator=gen)
            elif k.endswith(".weight"):
                v.normal_(1, 0.1, generator=gen)
            else:
                v.normal_(0, 0.1, generator=gen)


def f64(m):
    return m.double()


def rnd(gen, *shape, scale=1.0):
    return (torch.randn(shape, generator=gen) * scale).float()


def np32(t):
    return t.detach().float().numpy()


def np64(t):
    return t.detach().double().numpy()


def fp16_round(t):
    return t.float().half().double()


# ------------------------------------------------------------------------------------------------------------------
# Block cases


def block_cases():
    gen = torch.Generator().manual_seed(2024)
    out = {}

    def put(case, module, weights, **arrays):
        for k, v in weights.items():
            out[f"{case}/w/{k}"] = v
        for k, v in arrays.items():
            out[f"{case}/{k}"] = v

    with torch.no_grad():
        # ResNet block with time embedding (16 -> 24 channels, shortcut conv, 4 groups)
        m = Resnet(16, 24, 64, 4, 1e-5)
        w = randomize(m, gen)
        x, temb = rnd(gen, 2, 16, 6, 6), rnd(gen, 1, 64)
        y = f64(m)(x.double(), temb.double())
        put("resnet", m, w, x=np32(x), temb=np32(temb), y=np64(y))

        # time embedding for t in {0, 49, 999}: 32 sinusoid channels -> 64
        m = TimeEmbedding(32, 64)
        w = randomize(m, gen)
        f64(m)
        ys = []
        for t in (0, 49, 999):
            ys.append(np64(m.linear_2(F.silu(m.linear_1(timestep_features(t, 32, torch.float64))))))
        put("temb", m, w, t=np.array([0, 49, 999], dtype=np.int64), y=np.concatenate(ys, 0))

        # spatial transformer with reference K/V (bank) + text cross-attention; 3 frames of 16 ch at 4x4, 4 heads
        m = SpatialTransformer(16, 4, 4, 12)
        w = randomize(m, gen)
        x, text = rnd(gen, 3, 16, 4, 4), rnd(gen, 1, 5, 12)
        bank = rnd(gen, 1, 9, 16).half()  # a 3x3 reference grid, float16 as the reference rounds it
        md = f64(m)
        y_ref = md(x.double(), text.double(), [bank.double()], "read")
        y_plain = md(x.double(), text.double(), None, "none")
        taps = []
        md(x[:1].double(), text.double(), taps, "write")
        put("spatial", m, w, x=np32(x), text=np32(text), bank=bank.numpy(), y_ref=np64(y_ref), y_plain=np64(y_plain), norm1=np64(taps[0]))

        # temporal transformer (motion module) with sinusoidal PE, 32 frames (the PE length) and 5 frames
        m = MotionModule(16, 4, 4, 32)
        w = randomize(m, gen)
        md = f64(m)
        x32 = rnd(gen, 32, 16, 2, 3)
        x5 = rnd(gen, 5, 16, 2, 3)
        put("motion", m, w, x32=np32(x32), y32=np64(md(x32.double())), x5=np32(x5), y5=np64(md(x5.double())))

        # up / down samplers (UNet: stride-2 conv pad 1; VAE: pad right/bottom then stride-2 conv)
        for name, mod, shape in (("down", Down(8), (2, 8, 6, 6)), ("vaedown", Down(8, vae=True), (2, 8, 6, 6)), ("up", Up(8), (2, 8, 3, 3))):
            mm = Wrap(mod)
            w = {k.replace("m.0.", ""): v for k, v in randomize(mm, gen).items()}
            x = rnd(gen, *shape)
            put(name, mm, w, x=np32(x), y=np64(f64(mod)(x.double())))

        # VAE mid-block attention (one head over all pixels, q/k/v with bias), 16 channels, 4 groups
        m = VaeAttention(16, 4, 1e-6)
        w = randomize(m, gen)
        x = rnd(gen, 2, 16, 3, 4)
        put("vaeattn", m, w, x=np32(x), y=np64(f64(m)(x.double())))
    return out


# ------------------------------------------------------------------------------------------------------------------
# Micro pipeline


MICRO = {
    "imageSize": 32,
    "unet": {
        "inChannels": 4, "outChannels": 4, "blockOutChannels": [8, 16], "crossAttnLevels": [True, False], "layersPerBlock": 1,
        "heads": 2, "crossAttentionDim": 8, "normGroups": 4, "resnetEps": 1e-5, "transformerEps": 1e-6, "timeEmbedDim": 8,
        "motion": {"heads": 2, "maxLen": 32},
    },
    "vae": {"inChannels": 3, "latentChannels": 4, "blockOutChannels": [4, 4, 8, 8], "layersPerBlock": 1, "normGroups": 4, "eps": 1e-6, "scalingFactor": 0.18215},
    "guidance": {"types": ["depth", "normal", "render"], "inChannels": 3, "blockOutChannels": [4, 4, 4, 8], "heads": 2, "normGroups": 4},
    "text": {"tokens": 5, "dim": 8},
}


def alphas_cumprod_f32():
    betas = torch.linspace(0.00085, 0.012, 1000, dtype=torch.float32)
    abar = torch.cumprod(1.0 - betas, dim=0)
    r = abar.sqrt()
    r0, rT = r[0].clone(), r[-1].clone()
    r = (r - rT) * (r0 / (r0 - rT))
    a2 = r ** 2
    a = torch.cat([a2[0:1], a2[1:] / a2[:-1]])
    return torch.cumprod(1.0 - (1 - a), dim=0).double()


def windows(n, size=12, overlap=1):
    if n <= size:
        return [list(range(n))]
    return [[(s + k) % n for k in range(size)] for s in range(0, n, size - overlap)]


def micro_case():
    gen = torch.Generator().manual_seed(7)
    a = MICRO
    out = {"arch": np.frombuffer(json.dumps(a).encode(), dtype=np.uint8)}
    with torch.no_grad():
        ref_unet, den_unet, vae = UNet(a, "reference"), UNet(a, "denoising"), VAE(a)
        for name, m in (("ref", ref_unet), ("den", den_unet), ("vae", vae)):
            for k, v in randomize(m, gen).items():
                out[f"{name}/{k}"] = v
        gges = {}
        for t in a["guidance"]["types"]:
            gges[t] = GuidanceEncoder(a)
            for k, v in randomize(gges[t], gen).items():
                out[f"gge/{t}.{k}"] = v
        ref_unet, den_unet, vae = f64(ref_unet), f64(den_unet), f64(vae)
        for m in gges.values():
            f64(m)
        S = a["imageSize"]
        lat = S // 8
        T, D = a["text"]["tokens"], a["text"]["dim"]
        text = rnd(gen, 1, T, D)
        out["text"] = np32(text)

        # reference image (8-bit) -> [-1, 1] -> VAE mean * 0.18215
        ref_u8 = torch.randint(0, 256, (S, S, 3), generator=gen, dtype=torch.uint8)
        out["ref_u8"] = ref_u8.numpy()
        img = ((ref_u8.float() / 255.0) * 2 - 1).permute(2, 0, 1)[None].double()  # float32 preprocessing
        out["ref_image"] = np32(img)
        z_r = vae.encode_mean(img) * 0.18215
        out["ref_latent"] = np64(z_r)

        # bank: norm1 taps of the reference UNet at t = 0, rounded to float16 (from the float32 ref latent)
        taps = []
        ref_unet(z_r.float().double(), 0, text.double(), None, taps, "write")
        bank16 = [tp.float().half() for tp in taps]
        for i, b in enumerate(bank16):
            out[f"bank_{i:02d}"] = b.numpy()
            out[f"bank64_{i:02d}"] = np64(taps[i])

        # guidance encoder: three 2-frame maps in [0, 1] -> summed features
        gm = {t: (torch.randint(0, 256, (2, 3, S, S), generator=gen).double() / 255.0) for t in a["guidance"]["types"]}
        for t, v in gm.items():
            out[f"gmap_{t}"] = np32(v)
        gsum = gges["depth"](gm["depth"]) + gges["normal"](gm["normal"]) + gges["render"](gm["render"])
        out["gfeat"] = np64(gsum)

        # one UNet call, both CFG branches: 3 frames at t = 949
        x = rnd(gen, 3, 4, lat, lat)
        g3 = rnd(gen, 3, a["unet"]["blockOutChannels"][0], lat, lat, scale=0.5)
        out["call_x"], out["call_g"] = np32(x), np32(g3)
        out["call_vc"] = np64(den_unet(x.double(), 949, text.double(), g3.double(), [b.double() for b in bank16], "read"))
        out["call_vu"] = np64(den_unet(x.double(), 949, text.double(), g3.double(), None, "none"))

        # sampling: 14 frames, 12-frame windows (overlap 1, wrap), 3 DDIM steps, CFG 3.5, then decode + trunc(255 x)
        Fn = 14
        abar = alphas_cumprod_f32()
        steps = 3
        ratio = 1000 / steps
        ts = [int(round(1000 - i * ratio)) - 1 for i in range(steps)]
        xs = rnd(gen, Fn, 4, lat, lat)
        gF = rnd(gen, Fn, a["unet"]["blockOutChannels"][0], lat, lat, scale=0.5)
        out["sample_noise"], out["sample_g"] = np32(xs), np32(gF)
        out["sample_t"] = np.array(ts, dtype=np.int64)
        xcur = xs.double()
        bank64 = [b.double() for b in bank16]
        for t in ts:
            acc_u = torch.zeros_like(xcur)
            acc_c = torch.zeros_like(xcur)
            cnt = torch.zeros(Fn, dtype=torch.float64)
            for w in windows(Fn):
                acc_u[w] += den_unet(xcur[w], t, text.double(), gF.double()[w], None, "none")
                acc_c[w] += den_unet(xcur[w], t, text.double(), gF.double()[w], list(bank64), "read")
                cnt[w] += 1
            vu = acc_u / cnt[:, None, None, None]
            vc = acc_c / cnt[:, None, None, None]
            v = vu + 3.5 * (vc - vu)
            at = abar[t]
            tp = t - 1000 // steps
            ap = abar[tp] if tp >= 0 else torch.tensor(1.0, dtype=torch.float64)
            x0 = at.sqrt() * xcur - (1 - at).sqrt() * v
            eps = at.sqrt() * v + (1 - at).sqrt() * xcur
            xcur = ap.sqrt() * x0 + (1 - ap).sqrt() * eps
        out["sample_latents"] = np64(xcur)
        frames = (vae.decode(xcur / 0.18215) / 2 + 0.5).clamp(0, 1)
        out["sample_u8"] = (frames.permute(0, 2, 3, 1) * 255).floor().to(torch.uint8).numpy()
    return out


# ------------------------------------------------------------------------------------------------------------------
# Benchmark mode


def bench(argv):
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True)
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    o = p.parse_args(argv)
    torch.set_num_threads(o.threads)
    a = json.load(open(o.arch))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        unet = UNet(a, "denoising")
        randomize(unet, gen)
        ref = UNet(a, "reference")
        randomize(ref, gen)
        lat = a["imageSize"] // 8
        text = rnd(gen, 1, a["text"]["tokens"], a["text"]["dim"])
        zr = rnd(gen, 1, 4, lat, lat)
        ref_ms = []
        for _ in range(4):
            taps = []
            t0 = time.perf_counter()
            ref(zr, 0, text, None, taps, "write")
            ref_ms.append((time.perf_counter() - t0) * 1e3)
        ref_ms = ref_ms[1:]
        bank = [tp.half().float() for tp in taps]
        x = rnd(gen, o.frames, 4, lat, lat)
        g = rnd(gen, o.frames, a["unet"]["blockOutChannels"][0], lat, lat)
        unet(x, 999, text, g, list(bank), "read")  # warm-up
        times = {"cond": [], "uncond": []}
        for i in range(o.calls):
            for kind in ("uncond", "cond"):
                t0 = time.perf_counter()
                unet(x, 999 - 50 * i, text, g, list(bank) if kind == "cond" else None, "read" if kind == "cond" else "none")
                times[kind].append((time.perf_counter() - t0) * 1e3)
    json.dump({"torch": torch.__version__, "threads": o.threads, "ref_ms": ref_ms, **{k: v for k, v in times.items()}}, open(o.out, "w"))


def bench_layer(argv):
    """One full-width level-0 layer for 1 frame: ResNet(320) + spatial transformer reading a 4096-token bank."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", required=True)
    o = p.parse_args(argv)
    torch.set_num_threads(o.threads)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        res, tr = Resnet(320, 320, 1280, 32, 1e-5), SpatialTransformer(320, 8, 32, 768)
        randomize(res, gen)
        randomize(tr, gen)
        x, temb, text, bank = rnd(gen, 1, 320, 64, 64), rnd(gen, 1, 1280), rnd(gen, 1, 77, 768), rnd(gen, 1, 4096, 320)
        tr(res(x, temb), text, [bank], "read")
        ts = []
        for _ in range(o.runs):
            t0 = time.perf_counter()
            tr(res(x, temb), text, [bank], "read")
            ts.append((time.perf_counter() - t0) * 1e3)
    json.dump({"torch": torch.__version__, "threads": o.threads, "ms": ts}, open(o.out, "w"))


def bench_unet(argv):
    """One conditional call of the denoising UNet alone (no reference UNet: random banks of its shapes)."""
    import argparse
    import resource

    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True)
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--calls", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    o = p.parse_args(argv)
    torch.set_num_threads(o.threads)
    a = json.load(open(o.arch))
    u = a["unet"]
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        unet = UNet(a, "denoising")
        randomize_inplace(unet, gen)
        lat = a["imageSize"] // 8
        n = len(u["blockOutChannels"])
        sites = []  # (side, channels) in the order the transformers run: down, mid, up
        for i in range(n):
            if u["crossAttnLevels"][i]:
                sites += [(lat >> i, u["blockOutChannels"][i])] * u["layersPerBlock"]
        sites.append((lat >> (n - 1), u["blockOutChannels"][n - 1]))
        for i in range(n):
            lvl = n - 1 - i
            if u["crossAttnLevels"][lvl]:
                sites += [(lat >> lvl, u["blockOutChannels"][lvl])] * (u["layersPerBlock"] + 1)
        bank = [rnd(gen, 1, s * s, c).half().float() for s, c in sites]
        text = rnd(gen, 1, a["text"]["tokens"], a["text"]["dim"])
        x = rnd(gen, o.frames, 4, lat, lat)
        g = rnd(gen, o.frames, u["blockOutChannels"][0], lat, lat)
        ms, cpu = [], []
        for i in range(o.calls + 1):  # the first call warms up
            t0, c0 = time.perf_counter(), time.process_time()
            y = unet(x, 999 - 50 * i, text, g, list(bank), "read")
            if i:
                ms.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    json.dump({"torch": torch.__version__, "threads": o.threads, "ms": ms, "cpu_ms": cpu, "peak_rss_gib": rss, "out_rms": float(y.pow(2).mean().sqrt())}, open(o.out, "w"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "bench-unet":
        return bench_unet(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        return bench(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "bench-layer":
        return bench_layer(sys.argv[2:])
    os.makedirs(FIX, exist_ok=True)
    b = block_cases()
    np.savez_compressed(os.path.join(FIX, "blocks.npz"), **b)
    m = micro_case()
    np.savez_compressed(os.path.join(FIX, "micro.npz"), **m)
    for f in ("blocks.npz", "micro.npz"):
        print("wrote", os.path.relpath(os.path.join(FIX, f)), os.path.getsize(os.path.join(FIX, f)), "bytes")


if __name__ == "__main__":
    main()
