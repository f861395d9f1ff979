"""The Geometric Guidance Encoder (reference-pipeline.md §6.1-§6.4), one per guidance type.

conv_in · SiLU → blocks.0 … blocks.5 (3×3 convs, stride 2 at 1, 3, 5) · SiLU → attentions.5 (the only attention that
runs) → conv_out (zero-initialised, so a new encoder adds nothing). `attentions.0-4` and `guidance_attention` are
built, as the reference builds them, only so that the checkpoint keys match; they never run and are frozen.
"""
import torch.nn as nn
import torch.nn.functional as F

from .layers import Transformer2D


def _unused_groups(c, groups, i):
    # The reference alternates GroupNorm groups 1 / 32 for the unused attentions (§6.1); only the [C] shapes matter.
    g = groups if i % 2 == 1 else 1
    return g if c % g == 0 else 1


class GuidanceEncoder(nn.Module):
    def __init__(self, embedding_channels, in_channels=3, block_out_channels=(16, 32, 96, 256), heads=8, groups=32):
        super().__init__()
        b = list(block_out_channels)
        if len(b) != 4:
            raise ValueError("guidance encoder: block_out_channels needs 4 widths (three stride-2 stages)")
        if b[-1] % groups or b[-1] % heads:
            raise ValueError(f"guidance encoder: last width {b[-1]} must split into {groups} groups and {heads} heads")
        self.conv_in = nn.Conv2d(in_channels, b[0], 3, padding=1)
        plan = []
        for i in range(3):
            plan += [(b[i], b[i], 1), (b[i], b[i + 1], 2)]
        self.blocks = nn.ModuleList([nn.Conv2d(ci, co, 3, stride=s, padding=1) for ci, co, s in plan])
        self.attentions = nn.ModuleList([
            Transformer2D(co, heads if co % heads == 0 else 1, groups if i == 5 else _unused_groups(co, groups, i))
            for i, (_, co, _) in enumerate(plan)])
        self.guidance_attention = Transformer2D(b[-1], heads, groups)
        self.conv_out = nn.Conv2d(b[-1], embedding_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        for m in list(self.attentions[:5]) + [self.guidance_attention]:
            for p in m.parameters():
                p.requires_grad_(False)

    def forward(self, x):
        h = F.silu(self.conv_in(x))
        for conv in self.blocks:
            h = F.silu(conv(h))
        h = self.attentions[-1](h)[0]
        return self.conv_out(h)
