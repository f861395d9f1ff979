"""The latent cache: the frozen VAE's latent distribution (mean, std) of every frame and the decoded guidance maps,
encoded once per clip and stored as memory-mapped .npy files.

Because the VAE is frozen, encoding the same frame twice gives the same numbers; caching them removes the VAE encoder
from every training step (at 512² it costs about as much as the UNets). Entries are content-keyed: the key hashes the
VAE's weights, the model size, the cache dtype and the bytes of every image and guidance file of the clip, so a
changed frame, map or VAE gives a new entry and an old cache is safe to reuse (or to share between runs). An entry
is written to a temporary folder and renamed into place, so a half-written entry is never read.

Consequence for augmentation: the latents are those of the frames as stored, so there are no per-step pixel
augmentations (Champ's RandomResizedCrop 0.9–1 is dropped); the target latent is still *sampled* from the cached
distribution (mean + std·ε with per-sample noise), as the reference trainer samples it. Data preparation already
aligns the crops; augment there if needed.
"""
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
import torch
from PIL import Image

from .data import DatasetError

CACHE_VERSION = 1


def module_digest(module):
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.float().numpy().tobytes())
    return h.hexdigest()


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def load_rgb(path, size, resample):
    """An 8-bit RGB frame as uint8 (size, size, 3); a clear error naming the file when it cannot be decoded."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), resample)
            return np.asarray(im, dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from e


LANCZOS = getattr(Image, "Resampling", Image).LANCZOS
BICUBIC = getattr(Image, "Resampling", Image).BICUBIC


class ClipArrays:
    """The cached arrays of one clip: `latents` (F, 2C, h, w) = [mean, std] unscaled; `maps` (F, T, 3, S, S) uint8."""

    def __init__(self, clip, folder):
        self.clip = clip
        self.latents = np.load(os.path.join(folder, "latents.npy"), mmap_mode="r")
        self.maps = np.load(os.path.join(folder, "maps.npy"), mmap_mode="r")


def clip_key(clip, types, vae_digest, size, dtype):
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "vae": vae_digest, "size": size, "dtype": dtype, "types": list(types)}).encode())
    for f in clip.frames:
        for sub in ["images"] + list(types):
            p = os.path.join(clip.path, sub, f)
            if not os.path.exists(p):
                raise DatasetError(f"clip {clip.split}/{clip.name}: {sub}/{f} is missing")
            h.update(f"{sub}/{f}:".encode())
            h.update(_file_digest(p).encode())
    return h.hexdigest()


@torch.no_grad()
def encode_frames(vae, frames_u8, device, batch=16):
    """uint8 (N, S, S, 3) → float32 (N, 2C, h, w): mean and std of the VAE's latent distribution (unscaled)."""
    out = []
    for i in range(0, len(frames_u8), batch):
        x = torch.from_numpy(np.ascontiguousarray(frames_u8[i:i + batch])).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        mean, logvar = vae.encode(x)
        out.append(torch.cat([mean, torch.exp(0.5 * logvar)], 1).float().cpu())
    return torch.cat(out).numpy()


def build_cache(clips, vae, types, size, cache_dir, dtype="float32", device="cpu", log=print, is_writer=True):
    """Makes sure every clip has a cache entry; returns {clip: ClipArrays}. Only `is_writer` (rank 0) encodes; the
    others must call this after rank 0 has finished (the trainer puts a barrier in between)."""
    vd = module_digest(vae)
    root = os.path.join(cache_dir, "clips")
    os.makedirs(root, exist_ok=True)
    out, built = {}, 0
    for clip in clips:
        key = clip_key(clip, types, vd, size, dtype)
        folder = os.path.join(root, key[:32])
        if not os.path.exists(os.path.join(folder, "info.json")):
            if not is_writer:
                raise DatasetError(f"latent cache entry for {clip.split}/{clip.name} is missing ({folder})")
            imgs = np.stack([load_rgb(os.path.join(clip.path, "images", f), size, LANCZOS) for f in clip.frames])
            maps = np.stack([np.stack([load_rgb(os.path.join(clip.path, t, f), size, BICUBIC) for t in types]) for f in clip.frames])
            lat = encode_frames(vae, imgs, device).astype(dtype)
            tmp = tempfile.mkdtemp(prefix=".tmp-", dir=root)
            try:
                np.save(os.path.join(tmp, "latents.npy"), lat)
                np.save(os.path.join(tmp, "maps.npy"), np.ascontiguousarray(maps.transpose(0, 1, 4, 2, 3)))
                with open(os.path.join(tmp, "info.json"), "w") as f:
                    json.dump({"clip": f"{clip.split}/{clip.name}", "frames": clip.frames, "size": size, "types": list(types),
                               "vae": vd, "dtype": dtype, "version": CACHE_VERSION}, f)
                try:
                    os.rename(tmp, folder)
                except OSError:  # another process made it first
                    shutil.rmtree(tmp, ignore_errors=True)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            built += 1
        out[clip] = ClipArrays(clip, folder)
    if built:
        log(f"latent cache: encoded {built} clip(s), reused {len(clips) - built} ({root})")
    return out
