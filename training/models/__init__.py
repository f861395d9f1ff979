"""Plain PyTorch modules of the MagicPortrait stack whose state-dict keys are the official checkpoints' keys."""
import torch
import torch.nn as nn

from .guidance import GuidanceEncoder
from .text import CLIPTextModel, ClipTokenizer
from .unet import DenoisingUNet, ReferenceUNet
from .vae import AutoencoderKL

GUIDANCE_TYPES = ("depth", "normal", "render")


def _trainable(m):
    return any(p.requires_grad for p in m.parameters())


class MagicPortraitNet(nn.Module):
    """The trainable networks of both stages in one module (so one DistributedDataParallel wraps them):
    reference UNet, denoising UNet, one guidance encoder per type. `forward` is one v-prediction of the denoising
    UNet for a batch of B samples × F frames."""

    def __init__(self, model_cfg, motion=False):
        super().__init__()
        u = model_cfg["unet"]
        g = model_cfg["guidance"]
        self.types = list(g.get("types", GUIDANCE_TYPES))
        self.reference_unet = ReferenceUNet(u)
        self.denoising_unet = DenoisingUNet(u, motion=model_cfg["motion"] if motion else None)
        self.guidance_encoders = nn.ModuleDict({
            t: GuidanceEncoder(u["block_out_channels"][0], g.get("in_channels", 3), g["block_out_channels"], g.get("heads", 8), g.get("groups", 32))
            for t in self.types})

    def set_gradient_checkpointing(self, on):
        self.reference_unet.gradient_checkpointing = on
        self.denoising_unet.gradient_checkpointing = on

    def guidance_features(self, maps):
        """maps: dict type → (N, 3, H, W) in [0, 1]; the per-type features summed in the order depth + normal + render
        (§6.3)."""
        out = None
        for t in self.types:
            f = self.guidance_encoders[t](maps[t])
            out = f if out is None else out + f
        return out

    def forward(self, noisy, timesteps, text, maps, ref_latents, ref_keep, frames):
        """noisy (B·F, C, h, w); timesteps (B,); text (1, T, D); maps type → (B·F, 3, H, W); ref_latents (B, C, h, w);
        ref_keep (B,) bool (False: classifier-free dropout of this sample's reference). Returns v (B·F, C, h, w)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and _trainable(self.guidance_encoders)):
            g = self.guidance_features(maps)
        bank = None
        if ref_latents is not None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and _trainable(self.reference_unet)):
                bank = self.reference_unet(ref_latents, text)
        return self.denoising_unet(noisy, timesteps, text, g, bank, ref_keep, frames)


__all__ = ["AutoencoderKL", "CLIPTextModel", "ClipTokenizer", "DenoisingUNet", "GuidanceEncoder", "MagicPortraitNet",
           "ReferenceUNet", "GUIDANCE_TYPES"]
