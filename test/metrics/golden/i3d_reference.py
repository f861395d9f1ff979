#!/usr/bin/python3
"""Plain-PyTorch reference of the FVD feature network: Inception-I3D (Carreira & Zisserman) in the state-dict layout of
piergiaj/pytorch-i3d `InceptionI3d` (VideoGPT's / common_metrics_on_video_quality's `i3d_pretrained_400.pt`), with
hash-generated weights.

Regenerate (from the repository root, Debian's python3-torch 1.13 + numpy):

    /usr/bin/python3 test/metrics/golden/i3d_reference.py

writes test/metrics/fixtures/i3d_golden.json: the key list with shapes, the input clips (small uint8 frames of
../shared/data, base64) and the reference 400-d logits per clip and variant (float32 forward); and two files for the
importer's error paths: i3d_stem_only.pt.gz (torch.save of the stem unit's state dict in float16, with
num_batches_tracked, as a real checkpoint of an incomplete network) and torchscript_tiny.pt (torch.jit.save of a
scripted Conv3d: a genuine TorchScript archive).

The weights are not stored (12.7 M parameters): every tensor is a deterministic function of its key, computed
identically in test/metrics/i3d.test.ts:
    seed(key) = FNV-1a 32-bit of the key's UTF-8 bytes
    h(i)      = fmix32(i·0x9E3779B1 + seed)       (uint32 arithmetic, murmur3's finaliser)
    value(i)  = float32((h(i)/2³² · 2 − 1) · scale + offset)      (evaluated in float64)
    conv3d.weight: scale √(6/fan_in), offset 0; bn.weight: 0.1, 1; bn.running_var: 0.2, 1; bn.bias, bn.running_mean,
    logits.conv3d.bias: 0.1, 0.

Written from the architecture facts with torch.nn.functional only (no pytorch-i3d code):
  Unit3D = TF-"SAME" zero padding per dim (pad = max(k − s, 0) if n % s == 0 else max(k − n % s, 0); front = pad // 2,
  back = the rest) → conv3d (no bias) → batch norm (eval) → ReLU. Max pools pad the same way with zeros.
  Conv3d_1a_7x7 (64, k7, s2) → MaxPool3d_2a (k 1,3,3 s 1,2,2) → Conv3d_2b_1x1 (64) → Conv3d_2c_3x3 (192) →
  MaxPool3d_3a (k 1,3,3 s 1,2,2) → Mixed_3b, 3c → MaxPool3d_4a (k3 s2) → Mixed_4b … 4f → MaxPool3d_5a (k2 s2) →
  Mixed_5b, 5c → avg_pool3d (2, 7, 7), stride 1, no padding → logits (1×1×1 conv with bias, no BN/ReLU).
  Inception module (b0 | b1a→b1b 3³ | b2a→b2b 3³ | maxpool 3³ s1 → b3b), concatenated on channels.
Variants:
  'videogpt'    (VideoGPT's fvd/pytorch_i3d.py, used by the common FVD code with i3d_pretrained_400.pt): BN eps 1e-5,
                logits averaged over the remaining time axis → 400.
  'pytorch-i3d' (piergiaj's original): BN eps 1e-3, logits (N, 400, T') flattened (T' = 1 for 10–16 frames).
Preprocessing (VideoGPT / StyleGAN-V FVD): uint8/255 → bilinear resize (align_corners=False, no antialias) of the
shorter side to 224, the other to ceil(side·224/shorter) → centre crop 224² (start (n − 224) // 2) → (x − 0.5)·2.
"""
import base64
import gzip
import io
import json
import math
import os
import subprocess

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
FFMPEG = os.path.join(ROOT, "node_modules", "@ffmpeg-installer", "linux-x64", "ffmpeg")
OUT = os.path.join(ROOT, "test", "metrics", "fixtures", "i3d_golden.json")

M32 = np.uint64(0xFFFFFFFF)


def fnv1a(key):
    h = 0x811C9DC5
    for b in key.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def hash32(n, seed):
    x = (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B1) + np.uint64(seed)) & M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & M32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & M32
    x ^= x >> np.uint64(16)
    return x


def tensor_for(key, shape):
    n = int(np.prod(shape))
    if key.endswith(".conv3d.weight"):
        scale, offset = np.sqrt(6.0 / int(np.prod(shape[1:]))), 0.0
    elif key.endswith(".bn.weight"):
        scale, offset = 0.1, 1.0
    elif key.endswith(".bn.running_var"):
        scale, offset = 0.2, 1.0
    else:  # bn.bias, bn.running_mean, logits.conv3d.bias
        scale, offset = 0.1, 0.0
    u = hash32(n, fnv1a(key)).astype(np.float64) / 4294967296.0
    return ((u * 2 - 1) * scale + offset).astype(np.float32).reshape(shape)


# (name, [b0, b1a, b1b, b2a, b2b, b3b]) of the inception modules, in order
MIXED = [
    ("Mixed_3b", [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", [128, 128, 192, 32, 96, 64]),
    ("Mixed_4b", [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", [256, 160, 320, 32, 128, 128]),
    ("Mixed_5b", [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", [384, 192, 384, 48, 128, 128]),
]


def declare():
    keys = []

    def unit(name, cin, cout, k):
        keys.append((f"{name}.conv3d.weight", (cout, cin, k, k, k)))
        for p in ("weight", "bias", "running_mean", "running_var"):
            keys.append((f"{name}.bn.{p}", (cout,)))
        return cout

    unit("Conv3d_1a_7x7", 3, 64, 7)
    unit("Conv3d_2b_1x1", 64, 64, 1)
    c = unit("Conv3d_2c_3x3", 64, 192, 3)
    for name, o in MIXED:
        unit(f"{name}.b0", c, o[0], 1)
        unit(f"{name}.b1a", c, o[1], 1)
        unit(f"{name}.b1b", o[1], o[2], 3)
        unit(f"{name}.b2a", c, o[3], 1)
        unit(f"{name}.b2b", o[3], o[4], 3)
        unit(f"{name}.b3b", c, o[5], 1)
        c = o[0] + o[2] + o[4] + o[5]
    keys.append(("logits.conv3d.weight", (400, c, 1, 1, 1)))
    keys.append(("logits.conv3d.bias", (400,)))
    return keys


def same_pad(x, k, s):
    pads = []
    for n, kk, ss in zip(x.shape[2:], k, s):
        p = max(kk - ss, 0) if n % ss == 0 else max(kk - n % ss, 0)
        pads.append((p // 2, p - p // 2))
    (tf, tb), (hf, hb), (wf, wb) = pads
    return F.pad(x, (wf, wb, hf, hb, tf, tb))


class I3D:
    def __init__(self, w, eps):
        self.w, self.eps = w, eps

    def unit(self, x, name, k, s=(1, 1, 1)):
        k3 = (k, k, k)
        y = F.conv3d(same_pad(x, k3, s), self.w[f"{name}.conv3d.weight"], stride=s)
        b = lambda p: self.w[f"{name}.bn.{p}"]
        y = F.batch_norm(y, b("running_mean"), b("running_var"), b("weight"), b("bias"), training=False, eps=self.eps)
        return F.relu(y)

    @staticmethod
    def maxpool(x, k, s):
        return F.max_pool3d(same_pad(x, k, s), k, s)

    def mixed(self, x, name):
        u = self.unit
        b0 = u(x, f"{name}.b0", 1)
        b1 = u(u(x, f"{name}.b1a", 1), f"{name}.b1b", 3)
        b2 = u(u(x, f"{name}.b2a", 1), f"{name}.b2b", 3)
        b3 = u(self.maxpool(x, (3, 3, 3), (1, 1, 1)), f"{name}.b3b", 1)
        return torch.cat([b0, b1, b2, b3], 1)

    def forward(self, x):
        x = self.unit(x, "Conv3d_1a_7x7", 7, (2, 2, 2))
        x = self.maxpool(x, (1, 3, 3), (1, 2, 2))
        x = self.unit(x, "Conv3d_2b_1x1", 1)
        x = self.unit(x, "Conv3d_2c_3x3", 3)
        x = self.maxpool(x, (1, 3, 3), (1, 2, 2))
        for name, _ in MIXED:
            if name == "Mixed_4b":
                x = self.maxpool(x, (3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                x = self.maxpool(x, (2, 2, 2), (2, 2, 2))
            x = self.mixed(x, name)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)
        return F.conv3d(x, self.w["logits.conv3d.weight"], self.w["logits.conv3d.bias"])  # (N, 400, T', 1, 1)


def preprocess(frames):
    """(T, H, W, 3) uint8 → (1, 3, T, 224, 224) in [−1, 1]."""
    v = torch.from_numpy(frames.astype(np.float32) / 255).permute(0, 3, 1, 2)  # T C H W
    t, c, h, w = v.shape
    scale = 224 / min(h, w)
    size = (224, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), 224)
    v = F.interpolate(v, size=size, mode="bilinear", align_corners=False)
    h, w = v.shape[2:]
    hs, ws = (h - 224) // 2, (w - 224) // 2
    v = v[:, :, hs:hs + 224, ws:ws + 224]
    return ((v - 0.5) * 2).permute(1, 0, 2, 3)[None].contiguous()


def clip(rel, size, count):
    args = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", os.path.join(DATA, rel), "-map", "0:v:0",
            "-vf", f"scale={size[0]}:{size[1]}:flags=bilinear", "-frames:v", str(count),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw = subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(count, size[1], size[0], 3)


def main():
    torch.set_num_threads(2)
    keys = declare()
    w = {k: torch.from_numpy(tensor_for(k, s)) for k, s in keys}
    print("parameters", sum(int(np.prod(s)) for _, s in keys))
    clips = {"driving_16x64x48": clip("magicportrait/driving.mp4", (64, 48), 16),
             "d3_10x40x48": clip("liveportrait/d3.mp4", (40, 48), 10)}
    runs = [("driving_16x64x48", "videogpt"), ("d3_10x40x48", "videogpt"), ("d3_10x40x48", "pytorch-i3d")]
    out = {"keys": [[k, list(s)] for k, s in keys], "clips": {}, "features": {}}
    for name, frames in clips.items():
        out["clips"][name] = {"frames": frames.shape[0], "width": frames.shape[2], "height": frames.shape[1],
                              "rgb": base64.b64encode(frames.tobytes()).decode()}
    with torch.no_grad():
        for name, variant in runs:
            x = preprocess(clips[name])
            logits = I3D(w, 1e-5 if variant == "videogpt" else 1e-3).forward(x)[:, :, :, 0, 0]
            f = (logits.mean(2) if variant == "videogpt" else logits.flatten(1))[0].numpy()
            out["features"][f"{name}/{variant}"] = [float(v) for v in f]
            print(name, variant, "logits", f.shape, "mean", f.mean(), "absmax", np.abs(f).max())
    with open(OUT, "w") as fh:
        json.dump(out, fh)
    fixtures = os.path.dirname(OUT)
    stem = {k: v.half() for k, v in w.items() if k.startswith("Conv3d_1a_7x7.")}
    stem["Conv3d_1a_7x7.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    buf = io.BytesIO()
    torch.save(stem, buf)
    with open(os.path.join(fixtures, "i3d_stem_only.pt.gz"), "wb") as fh:
        fh.write(gzip.compress(buf.getvalue(), mtime=0))
    torch.jit.save(torch.jit.script(torch.nn.Conv3d(3, 4, 1)), os.path.join(fixtures, "torchscript_tiny.pt"))


if __name__ == "__main__":
    main()
