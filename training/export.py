"""The official checkpoint layout (reference-pipeline.md §8; training-reference.md §1-§2): plain, unprefixed state
dicts saved with torch.save, under the names MagicPortrait's inference (and our `magicportrait import`) loads:

  reference_unet.pth                   the 2D reference UNet (no conv_norm_out / conv_out, as MagicPortrait's class)
  denoising_unet.pth                   the denoising UNet's 2D keys (stage 1; the motion modules are separate)
  guidance_encoder_{depth,normal,render}.pth   GuidanceEncoder state dicts, the unused modules included
  motion_module-<step>.pth             only the `*.motion_modules.*` keys (stage 2; stage 1 writes motion_module-0.pth,
                                       the identity motion modules, so a stage-1 model imports and samples too)
"""
import os
import re

import torch

from .checkpoint_io import WeightFileError, load_into, load_weights, save_torch

OFFICIAL = ("reference_unet.pth", "denoising_unet.pth")


def _plain(sd):
    return {k: v.detach().float().cpu().contiguous().clone() for k, v in sd.items()}


def export_official(net, folder, step=None, motion=False):
    """Writes the official files of `net` (a MagicPortraitNet) into `folder`; with `motion`, only the motion module
    file motion_module-<step>.pth. Each file is written atomically."""
    os.makedirs(folder, exist_ok=True)
    written = []
    if motion:
        sd = {k: v for k, v in net.denoising_unet.state_dict().items() if ".motion_modules." in k}
        p = os.path.join(folder, f"motion_module-{step}.pth")
        save_torch(_plain(sd), p)
        return [p]
    save_torch(_plain(net.reference_unet.state_dict()), os.path.join(folder, "reference_unet.pth"))
    save_torch(_plain({k: v for k, v in net.denoising_unet.state_dict().items() if ".motion_modules." not in k}), os.path.join(folder, "denoising_unet.pth"))
    written += [os.path.join(folder, n) for n in OFFICIAL]
    for t, enc in net.guidance_encoders.items():
        p = os.path.join(folder, f"guidance_encoder_{t}.pth")
        save_torch(_plain(enc.state_dict()), p)
        written.append(p)
    return written


def latest_motion_module(folder):
    best = None
    for f in os.listdir(folder):
        m = re.fullmatch(r"motion_module-(\d+)\.pth", f)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), os.path.join(folder, f))
    return best[1] if best else None


def load_official(net, folder, motion_file=None):
    """Loads official files into `net` with full key accounting (every key used; unexpected keys are errors)."""
    load_into(net.reference_unet, load_weights(os.path.join(folder, "reference_unet.pth")), os.path.join(folder, "reference_unet.pth"))
    den = load_weights(os.path.join(folder, "denoising_unet.pth"))
    load_into(net.denoising_unet, den, os.path.join(folder, "denoising_unet.pth"), allow_missing=(r"\.motion_modules\.",))
    for t, enc in net.guidance_encoders.items():
        p = os.path.join(folder, f"guidance_encoder_{t}.pth")
        load_into(enc, load_weights(p), p)
    if motion_file:
        load_motion(net, motion_file)


def load_motion(net, path):
    """Motion-module keys (AnimateDiff / our motion_module-<step>.pth) into the denoising UNet."""
    sd = load_weights(path)
    mm = {k: v for k, v in net.denoising_unet.state_dict().items() if ".motion_modules." in k}
    if not any(".motion_modules." in k for k in sd):
        raise ValueError(f"{path} has no '*.motion_modules.*' keys: not a motion-module checkpoint")
    missing = [k for k in mm if k not in sd]
    extra = [k for k in sd if k not in mm]
    bad = [k for k in mm if k in sd and tuple(sd[k].shape) != tuple(mm[k].shape)]
    if missing or extra or bad:
        raise WeightFileError(f"{path}: {len(missing)} missing motion key(s) {missing[:3]}, {len(extra)} unexpected {extra[:3]}, "
                              f"{len(bad)} wrong shape(s) {[f'{k} {list(sd[k].shape)} vs {list(mm[k].shape)}' for k in bad[:2]]}")
    with torch.no_grad():
        for k, v in mm.items():
            v.copy_(sd[k].to(v.dtype))
    return list(mm)
