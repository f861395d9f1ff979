"""Building blocks of the MagicPortrait networks, written from docs/reference-pipeline.md §6-§7 (no diffusers).

Attribute names follow diffusers / AnimateDiff / MagicPortrait so that `state_dict()` keys are exactly the keys of
the official checkpoints (reference-pipeline.md §6.4, §8.2). Layout: images are (N, C, H, W) with N = batch·frames
(the reference's "inflated" 3D layers act per frame, so frames simply fold into the batch axis); token sequences are
(N, L, C).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

_HAS_SDPA = hasattr(F, "scaled_dot_product_attention")  # PyTorch >= 2.0


def attention_core(q, k, v, heads, bias=None):
    """Multi-head softmax(q kᵀ / √d) v on projected (N, Lq, C), (N, Lk, C). `bias` (N, 1, 1, Lk) is added to the
    logits (−inf masks a key). Uses PyTorch 2's fused kernel when present; the explicit path (PyTorch 1.13) does the
    softmax in float32 under half precision."""
    n, lq, c = q.shape
    d = c // heads
    q = q.reshape(n, lq, heads, d).transpose(1, 2)
    k = k.reshape(k.shape[0], k.shape[1], heads, d).transpose(1, 2)
    v = v.reshape(v.shape[0], v.shape[1], heads, d).transpose(1, 2)
    if _HAS_SDPA:
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=None if bias is None else bias.to(q.dtype))
    else:
        s = torch.matmul(q * (d ** -0.5), k.transpose(-1, -2))
        if bias is not None:
            s = s + bias.to(s.dtype)
        p = s.float().softmax(-1).to(v.dtype) if s.dtype in (torch.float16, torch.bfloat16) else s.softmax(-1)
        o = torch.matmul(p, v)
    return o.transpose(1, 2).reshape(n, lq, c)


class Attention(nn.Module):
    """diffusers `Attention`: to_q / to_k / to_v (bias optional), to_out.0 (with bias), scale d^−½, no residual."""

    def __init__(self, dim, heads, kv_dim=None, qkv_bias=False):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_k = nn.Linear(kv_dim or dim, dim, bias=qkv_bias)
        self.to_v = nn.Linear(kv_dim or dim, dim, bias=qkv_bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x, context=None, extra=None, extra_bias=None):
        """x (N, L, C). `context` (1 or N, T, D): cross-attention keys/values, projected once and broadcast.
        `extra` (B, L_ref, C) with N = B·F: tokens appended to every frame's keys/values (the reference bank, K/V
        concatenation of §7.2); `extra_bias` (N, 1, 1, L_ref) masks them per frame (−inf: plain self-attention)."""
        q = self.to_q(x)
        src = x if context is None else context
        k, v = self.to_k(src), self.to_v(src)
        if k.shape[0] != x.shape[0]:
            k, v = k.expand(x.shape[0], -1, -1), v.expand(x.shape[0], -1, -1)
        bias = None
        if extra is not None:
            frames = x.shape[0] // extra.shape[0]
            ek = self.to_k(extra).repeat_interleave(frames, 0)
            ev = self.to_v(extra).repeat_interleave(frames, 0)
            k, v = torch.cat([k, ek], 1), torch.cat([v, ev], 1)
            if extra_bias is not None:
                bias = torch.cat([extra_bias.new_zeros(x.shape[0], 1, 1, x.shape[1]), extra_bias.expand(x.shape[0], 1, 1, -1)], -1)
        return self.to_out[0](attention_core(q, k, v, self.heads, bias))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x):
        a, g = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(g)


class FeedForward(nn.Module):
    """GEGLU ×4 feed-forward: net.0.proj (C → 8C), net.2 (4C → C)."""

    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    """norm1 → attn1 (self, optionally with the reference bank) → norm2 → attn2 (text) → norm3 → FF, residuals."""

    def __init__(self, dim, heads, cross_dim=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.has_cross = cross_dim is not None
        if self.has_cross:
            self.norm2 = nn.LayerNorm(dim)
            self.attn2 = Attention(dim, heads, kv_dim=cross_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, h, text=None, bank=None, bank_bias=None, tap_only=False):
        """Returns (h, norm1 tokens). `tap_only` stops after norm1 (the reference UNet's last bank tap)."""
        x = self.norm1(h)
        if tap_only:
            return h, x
        if bank is not None:
            h = self.attn1(x, extra=bank.to(x.dtype), extra_bias=bank_bias) + h
        else:
            h = self.attn1(x) + h
        if self.has_cross:
            h = self.attn2(self.norm2(h), context=text) + h
        return self.ff(self.norm3(h)) + h, x


class Transformer2D(nn.Module):
    """diffusers `Transformer2DModel` / MagicPortrait `Transformer3DModel` (per frame): GN(eps 1e-6) → 1×1 proj_in →
    one block → 1×1 proj_out → + input."""

    def __init__(self, dim, heads, groups, cross_dim=None):
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(dim, heads, cross_dim)])
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x, text=None, bank=None, bank_bias=None, tap_only=False):
        n, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(n, hh * ww, c)
        h, tap = self.transformer_blocks[0](h, text, bank, bank_bias, tap_only)
        if tap_only:
            return x, tap
        return self.proj_out(h.reshape(n, hh, ww, c).permute(0, 3, 1, 2)) + x, tap


class ResnetBlock(nn.Module):
    """diffusers `ResnetBlock2D` (inflated = per frame): GN → SiLU → conv1 (+ time_emb_proj(SiLU(temb))) → GN → SiLU →
    conv2, plus the input (1×1 conv_shortcut when the width changes)."""

    def __init__(self, cin, cout, temb_dim, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb_dim:
            self.time_emb_proj = nn.Linear(temb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if hasattr(self, "conv_shortcut") else x) + h


class Downsample(nn.Module):
    """UNet `Downsample2D`: 3×3 conv, stride 2, padding 1. The VAE's variant (padding 0) pads right/bottom by one."""

    def __init__(self, ch, vae=False):
        super().__init__()
        self.vae = vae
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0 if vae else 1)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)) if self.vae else x)


class Upsample(nn.Module):
    """`Upsample2D`: nearest ×2, then a 3×3 conv."""

    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def sinusoid_table(max_len, dim):
    """AnimateDiff's positional encoding pe[p, 2i] = sin(p·10000^(−2i/C)), pe[p, 2i+1] = cos(…), (1, max_len, C)."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, max_len, dim)
    pe[0, :, 0::2] = torch.sin(pos * div)
    pe[0, :, 1::2] = torch.cos(pos * div)
    return pe


class PositionalEncoding(nn.Module):
    def __init__(self, dim, max_len):
        super().__init__()
        self.register_buffer("pe", sinusoid_table(max_len, dim))  # persistent: part of the checkpoint (§7.1)

    def forward(self, x):
        return x + self.pe[:, : x.shape[1]].to(x.dtype)


class TemporalAttention(Attention):
    """AnimateDiff `VersatileAttention` (Temporal_Self): tokens regrouped per pixel over the F frames of each clip,
    + positional encoding, self-attention over frames."""

    def __init__(self, dim, heads, max_len):
        super().__init__(dim, heads)
        self.pos_encoder = PositionalEncoding(dim, max_len)

    def forward(self, x, frames):
        n, l, c = x.shape
        b = n // frames
        t = x.reshape(b, frames, l, c).permute(0, 2, 1, 3).reshape(b * l, frames, c)
        t = super().forward(self.pos_encoder(t))
        return t.reshape(b, l, frames, c).permute(0, 2, 1, 3).reshape(n, l, c)


class TemporalTransformerBlock(nn.Module):
    def __init__(self, dim, heads, max_len):
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalAttention(dim, heads, max_len) for _ in range(2)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(2)])
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, h, frames):
        for att, norm in zip(self.attention_blocks, self.norms):
            h = att(norm(h), frames) + h
        return self.ff(self.ff_norm(h)) + h


class TemporalTransformer3D(nn.Module):
    def __init__(self, dim, heads, groups, max_len):
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = nn.Linear(dim, dim)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(dim, heads, max_len)])
        self.proj_out = nn.Linear(dim, dim)
        nn.init.zeros_(self.proj_out.weight)  # AnimateDiff's zero_initialize: a new module starts as the identity
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x, frames):
        n, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x).permute(0, 2, 3, 1).reshape(n, hh * ww, c))
        h = self.proj_out(self.transformer_blocks[0](h, frames))
        return h.reshape(n, hh, ww, c).permute(0, 3, 1, 2) + x


class MotionModule(nn.Module):
    """AnimateDiff `VanillaTemporalModule` (two Temporal_Self attentions, GEGLU FF), keys
    `motion_modules.<j>.temporal_transformer.*`."""

    def __init__(self, dim, heads, groups, max_len):
        super().__init__()
        self.temporal_transformer = TemporalTransformer3D(dim, heads, groups, max_len)

    def forward(self, x, frames):
        return self.temporal_transformer(x, frames)
