"""The VAE: diffusers `AutoencoderKL` layout (sd-vae-ft-mse, reference-pipeline.md §7.4), from its config dict.

encode(x in [−1, 1]) → (mean, logvar) of the latent distribution (unscaled); decode(z unscaled) → image ≈ [−1, 1].
The mid-block attention uses the current diffusers names (to_q/to_k/to_v/to_out.0, group_norm); `load_vae_state`
renames the old query/key/value/proj_attn names of older checkpoints (sd-vae-ft-mse's .bin).
"""
import re

import torch.nn as nn
import torch.nn.functional as F

from .layers import Attention, Downsample, ResnetBlock, Upsample


class VaeAttention(nn.Module):
    """UNetMidBlock2D attention: GN → one head over all pixels (q/k/v with bias, scale C^−½) → to_out.0 → + input."""

    def __init__(self, c, groups, eps):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=eps)
        att = Attention(c, 1, qkv_bias=True)
        self.to_q, self.to_k, self.to_v, self.to_out = att.to_q, att.to_k, att.to_v, att.to_out
        self._att = [att]  # not a submodule: its layers are registered above under diffusers' names

    def forward(self, x):
        n, c, h, w = x.shape
        t = self.group_norm(x).reshape(n, c, h * w).transpose(1, 2)
        return self._att[0](t).transpose(1, 2).reshape(n, c, h, w) + x


class _Mid(nn.Module):
    def __init__(self, c, groups, eps):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(c, c, 0, groups, eps), ResnetBlock(c, c, 0, groups, eps)])
        self.attentions = nn.ModuleList([VaeAttention(c, groups, eps)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class _Level(nn.Module):
    pass


class Encoder(nn.Module):
    def __init__(self, cin, lat, ch, layers, groups, eps):
        super().__init__()
        self.conv_in = nn.Conv2d(cin, ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        c = ch[0]
        for i, co in enumerate(ch):
            b = _Level()
            b.resnets = nn.ModuleList()
            for _ in range(layers):
                b.resnets.append(ResnetBlock(c, co, 0, groups, eps))
                c = co
            if i < len(ch) - 1:
                b.downsamplers = nn.ModuleList([Downsample(c, vae=True)])
            self.down_blocks.append(b)
        self.mid_block = _Mid(c, groups, eps)
        self.conv_norm_out = nn.GroupNorm(groups, c, eps=eps)
        self.conv_out = nn.Conv2d(c, 2 * lat, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for b in self.down_blocks:
            for r in b.resnets:
                h = r(h)
            if hasattr(b, "downsamplers"):
                h = b.downsamplers[0](h)
        h = self.mid_block(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cout, lat, ch, layers, groups, eps):
        super().__init__()
        rev = list(reversed(ch))
        self.conv_in = nn.Conv2d(lat, rev[0], 3, padding=1)
        self.mid_block = _Mid(rev[0], groups, eps)
        self.up_blocks = nn.ModuleList()
        c = rev[0]
        for i, co in enumerate(rev):
            b = _Level()
            b.resnets = nn.ModuleList()
            for _ in range(layers + 1):
                b.resnets.append(ResnetBlock(c, co, 0, groups, eps))
                c = co
            if i < len(rev) - 1:
                b.upsamplers = nn.ModuleList([Upsample(c)])
            self.up_blocks.append(b)
        self.conv_norm_out = nn.GroupNorm(groups, c, eps=eps)
        self.conv_out = nn.Conv2d(c, cout, 3, padding=1)

    def forward(self, z):
        h = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            for r in b.resnets:
                h = r(h)
            if hasattr(b, "upsamplers"):
                h = b.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = dict(cfg)
        ch = list(cfg["block_out_channels"])
        layers = int(cfg.get("layers_per_block", 2))
        groups = int(cfg.get("norm_num_groups", 32))
        lat = int(cfg.get("latent_channels", 4))
        eps = 1e-6
        self.latent_channels = lat
        self.scaling_factor = float(cfg.get("scaling_factor", 0.18215))
        self.factor = 2 ** (len(ch) - 1)
        self.encoder = Encoder(int(cfg.get("in_channels", 3)), lat, ch, layers, groups, eps)
        self.quant_conv = nn.Conv2d(2 * lat, 2 * lat, 1)
        self.post_quant_conv = nn.Conv2d(lat, lat, 1)
        self.decoder = Decoder(int(cfg.get("out_channels", 3)), lat, ch, layers, groups, eps)

    def encode(self, x):
        """x (N, 3, H, W) in [−1, 1] → (mean, logvar), each (N, lat, H/f, W/f), unscaled."""
        m = self.quant_conv(self.encoder(x))
        mean, logvar = m.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


_OLD = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def rename_old_vae_key(k):
    return re.sub(r"(\.attentions\.\d+\.)(query|key|value|proj_attn)\.", lambda m: m.group(1) + _OLD[m.group(2)] + ".", k)


def convert_vae_state(sd, model):
    """Old attention names → current; old 1×1-conv attention weights (4-D) → Linear (2-D)."""
    out = {}
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    for k, v in sd.items():
        k2 = rename_old_vae_key(k)
        if k2 in shapes and v.dim() == 4 and len(shapes[k2]) == 2:
            v = v[:, :, 0, 0]
        out[k2] = v
    return out
