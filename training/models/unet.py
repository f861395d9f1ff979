"""The two UNets of MagicPortrait (reference-pipeline.md §7.1, §7.2), built from a diffusers `UNet2DConditionModel`
config dict (SD 1.5's `unet/config.json`, or the small config's own):

* `ReferenceUNet` (2D): runs once per sample at t = 0 and yields the attention bank, the `norm1` output of every
  spatial transformer block in module order down → mid → up (the pairing of §7.2), rounded to float16 as the
  reference does. Like MagicPortrait's copy it has no `conv_norm_out` / `conv_out`, and it stops after the last tap
  (the rest of that block exists for the checkpoint keys only).
* `DenoisingUNet` (the inflated 3D UNet, frames folded into the batch): guidance features added after `conv_in`,
  each spatial self-attention's K/V extended with the bank (per-sample mask: a dropped reference = plain
  self-attention, the unconditional branch), AnimateDiff motion modules after every resnet/transformer when
  `motion=True`.

Gradient checkpointing (`gradient_checkpointing = True`) recomputes each resnet / transformer / motion module in the
backward pass; taps are returned values, never side effects, so recomputation cannot duplicate them.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .layers import Downsample, MotionModule, ResnetBlock, Transformer2D, Upsample


def unet_heads(cfg):
    """Spatial-transformer heads: `num_attention_heads` when set, else SD 1.5's `attention_head_dim` (which diffusers
    uses as the head count, §7.1)."""
    h = cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8)
    if isinstance(h, (list, tuple)):
        if len(set(h)) != 1:
            raise ValueError(f"per-block attention heads {h} are not supported (one value for every block)")
        h = h[0]
    return int(h)


def cross_levels(cfg):
    return [t.startswith("CrossAttn") for t in cfg["down_block_types"]]


class _Block(nn.Module):
    """A down / mid / up block: ModuleLists named as diffusers names them."""


def timestep_features(t, dim):
    """diffusers `Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0)`: [cos(t·f), sin(t·f)],
    f_i = exp(−ln(10⁴)·i/(dim/2))."""
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    e = t.float()[:, None] * torch.exp(exponent)[None]
    return torch.cat([torch.cos(e), torch.sin(e)], dim=-1)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class UNetBase(nn.Module):
    def __init__(self, cfg, motion=None, reference=False):
        super().__init__()
        self.config = dict(cfg)
        ch = list(cfg["block_out_channels"])
        n = len(ch)
        layers = int(cfg["layers_per_block"])
        heads = unet_heads(cfg)
        groups = int(cfg.get("norm_num_groups", 32))
        eps = float(cfg.get("norm_eps", 1e-5))
        cd = int(cfg["cross_attention_dim"])
        cross = cross_levels(cfg)
        if cfg.get("use_linear_projection"):
            raise ValueError("use_linear_projection: SD 1.5 (and our importer) use 1×1 conv projections")
        self.cross, self.layers, self.n = cross, layers, n
        self.gradient_checkpointing = False
        c0, temb = ch[0], 4 * ch[0]
        self.c0 = c0
        self.conv_in = nn.Conv2d(int(cfg.get("in_channels", 4)), c0, 3, padding=1)
        self.time_embedding = TimestepEmbedding(c0, temb)
        mm = (lambda c: MotionModule(c, motion["heads"], groups, motion["max_len"])) if motion else None

        self.down_blocks = nn.ModuleList()
        skips = [c0]
        c = c0
        for i in range(n):
            b = _Block()
            b.resnets = nn.ModuleList()
            if cross[i]:
                b.attentions = nn.ModuleList()
            if mm:
                b.motion_modules = nn.ModuleList()
            for _ in range(layers):
                b.resnets.append(ResnetBlock(c, ch[i], temb, groups, eps))
                c = ch[i]
                if cross[i]:
                    b.attentions.append(Transformer2D(c, heads, groups, cd))
                if mm:
                    b.motion_modules.append(mm(c))
                skips.append(c)
            if i < n - 1:
                b.downsamplers = nn.ModuleList([Downsample(c)])
                skips.append(c)
            self.down_blocks.append(b)
        top = ch[-1]
        self.mid_block = _Block()
        self.mid_block.resnets = nn.ModuleList([ResnetBlock(top, top, temb, groups, eps), ResnetBlock(top, top, temb, groups, eps)])
        self.mid_block.attentions = nn.ModuleList([Transformer2D(top, heads, groups, cd)])
        if mm:
            self.mid_block.motion_modules = nn.ModuleList([mm(top)])
        self.up_blocks = nn.ModuleList()
        for i in range(n):
            lvl = n - 1 - i
            b = _Block()
            b.resnets = nn.ModuleList()
            if cross[lvl]:
                b.attentions = nn.ModuleList()
            if mm:
                b.motion_modules = nn.ModuleList()
            for _ in range(layers + 1):
                s = skips.pop()
                b.resnets.append(ResnetBlock(c + s, ch[lvl], temb, groups, eps))
                c = ch[lvl]
                if cross[lvl]:
                    b.attentions.append(Transformer2D(c, heads, groups, cd))
                if mm:
                    b.motion_modules.append(mm(c))
            if i < n - 1:
                b.upsamplers = nn.ModuleList([Upsample(c)])
            self.up_blocks.append(b)
        if not reference:
            self.conv_norm_out = nn.GroupNorm(groups, c0, eps=eps)
            self.conv_out = nn.Conv2d(c0, int(cfg.get("out_channels", 4)), 3, padding=1)

    # -- helpers

    def _run(self, fn, *args):
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def temb(self, t, n):
        """Time embedding for a (B,) or scalar timestep, repeated to n rows."""
        t = torch.as_tensor(t, device=self.conv_in.weight.device).reshape(-1)
        e = self.time_embedding(timestep_features(t, self.c0).to(self.conv_in.weight.dtype))
        return e.expand(n, -1) if e.shape[0] == 1 else e.repeat_interleave(n // e.shape[0], 0)

    def transformer_paths(self):
        """Module paths of the spatial transformers in bank order (down → mid → up)."""
        out = []
        for i in range(self.n):
            if self.cross[i]:
                out += [f"down_blocks.{i}.attentions.{j}" for j in range(self.layers)]
        out.append("mid_block.attentions.0")
        for i in range(self.n):
            if self.cross[self.n - 1 - i]:
                out += [f"up_blocks.{i}.attentions.{j}" for j in range(self.layers + 1)]
        return out


class ReferenceUNet(UNetBase):
    """The reference (appearance) UNet: `bank(ref_latents, text)` → list of (B, L_i, C_i) float16 tensors."""

    def __init__(self, cfg):
        super().__init__(cfg, motion=None, reference=True)
        last = self.transformer_paths()[-1]
        blk = self.get_submodule(last)
        # never executed (after the last bank tap): kept for the checkpoint keys, excluded from training
        for m in (blk.transformer_blocks[0].attn1, blk.transformer_blocks[0].norm2, blk.transformer_blocks[0].attn2,
                  blk.transformer_blocks[0].norm3, blk.transformer_blocks[0].ff, blk.proj_out):
            for p in m.parameters():
                p.requires_grad_(False)

    def unused_parameter_names(self):
        return [n for n, p in self.named_parameters() if not p.requires_grad]

    def forward(self, ref_latents, text, timestep=0):
        b = ref_latents.shape[0]
        temb = self.temb(torch.full((b,), timestep, dtype=torch.long), b)
        taps = []
        total = len(self.transformer_paths())

        def attn(mod, h):
            last = len(taps) == total - 1
            h, tap = self._run(lambda x, tx, m=mod, tl=last: m(x, tx, tap_only=tl), h, text)
            taps.append(tap.to(torch.float16))  # the reference's fp16 bank (§7.2)
            return h

        h = self.conv_in(ref_latents)
        skips = [h]
        for i, blk in enumerate(self.down_blocks):
            for j, res in enumerate(blk.resnets):
                h = self._run(res, h, temb)
                if self.cross[i]:
                    h = attn(blk.attentions[j], h)
                skips.append(h)
            if hasattr(blk, "downsamplers"):
                h = blk.downsamplers[0](h)
                skips.append(h)
        h = self._run(self.mid_block.resnets[0], h, temb)
        h = attn(self.mid_block.attentions[0], h)
        h = self._run(self.mid_block.resnets[1], h, temb)
        for i, blk in enumerate(self.up_blocks):
            lvl = self.n - 1 - i
            for j, res in enumerate(blk.resnets):
                h = self._run(res, torch.cat([h, skips.pop()], 1), temb)
                if self.cross[lvl]:
                    h = attn(blk.attentions[j], h)
                    if len(taps) == total:
                        return taps
            if hasattr(blk, "upsamplers"):
                h = blk.upsamplers[0](h)
        raise RuntimeError("internal: the reference UNet ended before its last bank tap")


class DenoisingUNet(UNetBase):
    """The denoising UNet. `forward(sample, t, text, guidance, bank, bank_keep, frames)` → v-prediction."""

    def __init__(self, cfg, motion=None):
        super().__init__(cfg, motion=motion, reference=False)
        self.has_motion = motion is not None

    def motion_parameters(self):
        return [p for n, p in self.named_parameters() if ".motion_modules." in n]

    def forward(self, sample, timestep, text, guidance=None, bank=None, bank_keep=None, frames=1):
        """sample (B·F, C, h, w); timestep (B,) or scalar; text (1 or B·F, T, D); guidance (B·F, C0, h, w) or None;
        bank: list of (B, L_i, C_i) or None (no reference anywhere); bank_keep (B,) bool: False = this sample's
        reference is dropped (its frames attend to themselves only)."""
        n = sample.shape[0]
        temb = self.temb(timestep, n)
        bias = None
        if bank is not None and bank_keep is not None and not bool(bank_keep.all()):
            keep = bank_keep.repeat_interleave(frames, 0)
            bias = torch.zeros(n, 1, 1, 1, device=sample.device, dtype=torch.float32)
            bias[~keep] = float("-inf")
        banks = list(bank) if bank is not None else None

        def attn(mod, h):
            bk = banks.pop(0) if banks is not None else None
            bb = None if (bias is None or bk is None) else bias.expand(n, 1, 1, bk.shape[1])
            return self._run(lambda x, tx, b_, bb_, m=mod: m(x, tx, b_, bb_)[0], h, text, bk, bb)

        def motion(blk, j, h):
            if not self.has_motion:
                return h
            return self._run(lambda x, m=blk.motion_modules[j]: m(x, frames), h)

        h = self.conv_in(sample)
        if guidance is not None:
            h = h + guidance
        skips = [h]
        for i, blk in enumerate(self.down_blocks):
            for j, res in enumerate(blk.resnets):
                h = self._run(res, h, temb)
                if self.cross[i]:
                    h = attn(blk.attentions[j], h)
                h = motion(blk, j, h)
                skips.append(h)
            if hasattr(blk, "downsamplers"):
                h = blk.downsamplers[0](h)
                skips.append(h)
        h = self._run(self.mid_block.resnets[0], h, temb)
        h = attn(self.mid_block.attentions[0], h)
        h = motion(self.mid_block, 0, h)
        h = self._run(self.mid_block.resnets[1], h, temb)
        for i, blk in enumerate(self.up_blocks):
            lvl = self.n - 1 - i
            for j, res in enumerate(blk.resnets):
                h = self._run(res, torch.cat([h, skips.pop()], 1), temb)
                if self.cross[lvl]:
                    h = attn(blk.attentions[j], h)
                h = motion(blk, j, h)
            if hasattr(blk, "upsamplers"):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))
