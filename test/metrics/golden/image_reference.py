#!/usr/bin/python3
"""PSNR / SSIM goldens from scikit-image on real frames of ../shared/data.

Regenerate (from the repository root, Debian's python3-skimage 0.19 + numpy):

    /usr/bin/python3 test/metrics/golden/image_reference.py

writes test/metrics/fixtures/image_golden.json. Frames are decoded with the same ffmpeg binary and arguments as
src/kernel/io/video.ts readFrames (rawvideo rgb24, -vsync 0), also for the still JPEG, so the TypeScript test sees
the same bytes; each case stores the SHA-256 of both frames and the test checks them first.

Reference calls (the documented settings of src/kernel/metrics/image.ts):
    peak_signal_noise_ratio(a, b, data_range=255)
    structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                          use_sample_covariance=False, data_range=255)
"""
import hashlib
import json
import os
import subprocess

import numpy as np
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
FFMPEG = os.path.join(ROOT, "node_modules", "@ffmpeg-installer", "linux-x64", "ffmpeg")
OUT = os.path.join(ROOT, "test", "metrics", "fixtures", "image_golden.json")


def frames(rel, count):
    args = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", os.path.join(DATA, rel),
            "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-vsync", "0", "pipe:1"]
    raw = subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout
    size = {"magicportrait/boy_cropped.jpg": 512}.get(rel, 512)
    n = len(raw) // (size * size * 3)
    arr = np.frombuffer(raw[: n * size * size * 3], dtype=np.uint8).reshape(n, size, size, 3)
    return arr[:count]


def noise_pattern(h, w):
    """Deterministic perturbation, reproduced in the test: ((7·row + 13·col + 5·channel) mod 11) − 5."""
    r = np.arange(h)[:, None, None]
    c = np.arange(w)[None, :, None]
    ch = np.arange(3)[None, None, :]
    return ((7 * r + 13 * c + 5 * ch) % 11) - 5


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def main():
    drv = frames("magicportrait/driving.mp4", 13)
    d0 = frames("liveportrait/d0.mp4", 4)
    d3 = frames("liveportrait/d3.mp4", 1)
    boy = frames("magicportrait/boy_cropped.jpg", 1)
    src = {
        "magicportrait/driving.mp4": drv,
        "liveportrait/d0.mp4": d0,
        "liveportrait/d3.mp4": d3,
        "magicportrait/boy_cropped.jpg": boy,
    }
    specs = [
        dict(name="driving f0 vs f12", a=("magicportrait/driving.mp4", 0), b=("magicportrait/driving.mp4", 12)),
        dict(name="d0 f0 vs d3 f0", a=("liveportrait/d0.mp4", 0), b=("liveportrait/d3.mp4", 0)),
        dict(name="boy_cropped vs driving f0", a=("magicportrait/boy_cropped.jpg", 0), b=("magicportrait/driving.mp4", 0)),
        dict(name="d0 f3 vs itself + pattern noise", a=("liveportrait/d0.mp4", 3), b=("liveportrait/d0.mp4", 3), noise=True),
        dict(name="driving f0 vs f12, 137x91 crop", a=("magicportrait/driving.mp4", 0), b=("magicportrait/driving.mp4", 12),
             crop=[100, 200, 137, 91]),
        dict(name="identical", a=("liveportrait/d3.mp4", 0), b=("liveportrait/d3.mp4", 0)),
    ]
    cases = []
    for s in specs:
        a = src[s["a"][0]][s["a"][1]]
        b = src[s["b"][0]][s["b"][1]]
        if "crop" in s:
            y, x, h, w = s["crop"]
            a = a[y:y + h, x:x + w]
            b = b[y:y + h, x:x + w]
        if s.get("noise"):
            b = np.clip(b.astype(np.int32) + noise_pattern(*b.shape[:2]), 0, 255).astype(np.uint8)
        a = np.ascontiguousarray(a)
        b = np.ascontiguousarray(b)
        p = peak_signal_noise_ratio(a, b, data_range=255)
        kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
        ss = structural_similarity(a, b, channel_axis=-1, **kw)
        per = [structural_similarity(a[..., c], b[..., c], **kw) for c in range(3)]
        cases.append(dict(s, a=list(s["a"]), b=list(s["b"]), sha_a=sha(a), sha_b=sha(b),
                          psnr=None if np.isinf(p) else float(p), psnr_inf=bool(np.isinf(p)),
                          ssim=float(ss), ssim_channels=[float(v) for v in per]))
        print(f"{s['name']}: psnr {p:.6f} ssim {ss:.8f}")
    with open(OUT, "w") as f:
        json.dump({"skimage": skimage.__version__, "numpy": np.__version__, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
