#!/usr/bin/python3
"""Plain-PyTorch reference of pytorch-fid's FID Inception-v3 (pool3 features), with hash-generated weights.

Regenerate (from the repository root, Debian's python3-torch 1.13 + numpy):

    /usr/bin/python3 test/metrics/golden/inception_reference.py

writes test/metrics/fixtures/inception_golden.json: the checkpoint's key list with shapes (torchvision Inception3
names, as in pt_inception-2015-12-05-6726825d.pth, without fc.*), the input images (small uint8 frames of
../shared/data, base64) and the reference pool3 features (float32 forward).

The weights are not stored: every tensor is a deterministic function of its key, computed identically in
test/metrics/inception.test.ts (so the test runs the full-size network without a 90 MB fixture):
    seed(key) = FNV-1a 32-bit of the key's UTF-8 bytes
    h(i)      = fmix32(i·0x9E3779B1 + seed)       (uint32 arithmetic, murmur3's finaliser)
    value(i)  = float32((h(i)/2³² · 2 − 1) · scale + offset)      (evaluated in float64)
    conv weights: scale √(6/fan_in), offset 0; bn.weight: 0.1, 1; bn.bias: 0.1, 0; bn.running_mean: 0.1, 0;
    bn.running_var: 0.2, 1.

The forward follows pytorch-fid's InceptionV3(output_blocks=[3], resize_input=True, normalize_input=True) with the FID
blocks (FIDInceptionA/C/E_1 average pools with count_include_pad=False; FIDInceptionE_2 uses max pooling), written
here with torch.nn.functional only: x ∈ [0,1] → bilinear resize to 299 (align_corners=False) → 2x − 1 → … → global
average pool → 2048.
"""
import base64
import json
import os
import subprocess

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
FFMPEG = os.path.join(ROOT, "node_modules", "@ffmpeg-installer", "linux-x64", "ffmpeg")
OUT = os.path.join(ROOT, "test", "metrics", "fixtures", "inception_golden.json")

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
    if key.endswith(".conv.weight"):
        scale, offset = np.sqrt(6.0 / (shape[1] * shape[2] * shape[3])), 0.0
    elif key.endswith(".bn.weight"):
        scale, offset = 0.1, 1.0
    elif key.endswith(".bn.running_var"):
        scale, offset = 0.2, 1.0
    else:  # bn.bias, bn.running_mean
        scale, offset = 0.1, 0.0
    u = hash32(n, fnv1a(key)).astype(np.float64) / 4294967296.0
    return ((u * 2 - 1) * scale + offset).astype(np.float32).reshape(shape)


class Net:
    def __init__(self):
        self.keys = []  # (key, shape)
        self.w = {}

    def conv(self, name, cin, cout, k):
        shape = (cout, cin, k[0], k[1])
        self.keys.append((f"{name}.conv.weight", shape))
        for p in ("weight", "bias", "running_mean", "running_var"):
            self.keys.append((f"{name}.bn.{p}", (cout,)))
        return cout

    def materialise(self):
        for key, shape in self.keys:
            self.w[key] = torch.from_numpy(tensor_for(key, shape))

    def basic(self, x, name, stride=1, pad=(0, 0)):
        w = self.w[f"{name}.conv.weight"]
        y = F.conv2d(x, w, stride=stride, padding=pad)
        b = lambda p: self.w[f"{name}.bn.{p}"]
        y = F.batch_norm(y, b("running_mean"), b("running_var"), b("weight"), b("bias"), training=False, eps=0.001)
        return F.relu(y)


# Architecture: (name, cin, cout, kernel) in build order; the forward below uses the same names.
def declare(net):
    c = net.conv
    c("Conv2d_1a_3x3", 3, 32, (3, 3)); c("Conv2d_2a_3x3", 32, 32, (3, 3)); c("Conv2d_2b_3x3", 32, 64, (3, 3))
    c("Conv2d_3b_1x1", 64, 80, (1, 1)); c("Conv2d_4a_3x3", 80, 192, (3, 3))
    for n, cin, pf in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        c(f"{n}.branch1x1", cin, 64, (1, 1)); c(f"{n}.branch5x5_1", cin, 48, (1, 1)); c(f"{n}.branch5x5_2", 48, 64, (5, 5))
        c(f"{n}.branch3x3dbl_1", cin, 64, (1, 1)); c(f"{n}.branch3x3dbl_2", 64, 96, (3, 3)); c(f"{n}.branch3x3dbl_3", 96, 96, (3, 3))
        c(f"{n}.branch_pool", cin, pf, (1, 1))
    c("Mixed_6a.branch3x3", 288, 384, (3, 3)); c("Mixed_6a.branch3x3dbl_1", 288, 64, (1, 1))
    c("Mixed_6a.branch3x3dbl_2", 64, 96, (3, 3)); c("Mixed_6a.branch3x3dbl_3", 96, 96, (3, 3))
    for n, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        c(f"{n}.branch1x1", 768, 192, (1, 1))
        c(f"{n}.branch7x7_1", 768, c7, (1, 1)); c(f"{n}.branch7x7_2", c7, c7, (1, 7)); c(f"{n}.branch7x7_3", c7, 192, (7, 1))
        c(f"{n}.branch7x7dbl_1", 768, c7, (1, 1)); c(f"{n}.branch7x7dbl_2", c7, c7, (7, 1)); c(f"{n}.branch7x7dbl_3", c7, c7, (1, 7))
        c(f"{n}.branch7x7dbl_4", c7, c7, (7, 1)); c(f"{n}.branch7x7dbl_5", c7, 192, (1, 7))
        c(f"{n}.branch_pool", 768, 192, (1, 1))
    c("Mixed_7a.branch3x3_1", 768, 192, (1, 1)); c("Mixed_7a.branch3x3_2", 192, 320, (3, 3))
    c("Mixed_7a.branch7x7x3_1", 768, 192, (1, 1)); c("Mixed_7a.branch7x7x3_2", 192, 192, (1, 7))
    c("Mixed_7a.branch7x7x3_3", 192, 192, (7, 1)); c("Mixed_7a.branch7x7x3_4", 192, 192, (3, 3))
    for n, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        c(f"{n}.branch1x1", cin, 320, (1, 1))
        c(f"{n}.branch3x3_1", cin, 384, (1, 1)); c(f"{n}.branch3x3_2a", 384, 384, (1, 3)); c(f"{n}.branch3x3_2b", 384, 384, (3, 1))
        c(f"{n}.branch3x3dbl_1", cin, 448, (1, 1)); c(f"{n}.branch3x3dbl_2", 448, 384, (3, 3))
        c(f"{n}.branch3x3dbl_3a", 384, 384, (1, 3)); c(f"{n}.branch3x3dbl_3b", 384, 384, (3, 1))
        c(f"{n}.branch_pool", cin, 192, (1, 1))


def avg3(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def forward(net, x):
    B = net.basic
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    x = 2 * x - 1
    x = B(x, "Conv2d_1a_3x3", stride=2); x = B(x, "Conv2d_2a_3x3"); x = B(x, "Conv2d_2b_3x3", pad=(1, 1))
    x = F.max_pool2d(x, 3, stride=2)
    x = B(x, "Conv2d_3b_1x1"); x = B(x, "Conv2d_4a_3x3")
    x = F.max_pool2d(x, 3, stride=2)
    for n in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
        b1 = B(x, f"{n}.branch1x1")
        b5 = B(B(x, f"{n}.branch5x5_1"), f"{n}.branch5x5_2", pad=(2, 2))
        bd = B(B(B(x, f"{n}.branch3x3dbl_1"), f"{n}.branch3x3dbl_2", pad=(1, 1)), f"{n}.branch3x3dbl_3", pad=(1, 1))
        bp = B(avg3(x), f"{n}.branch_pool")
        x = torch.cat([b1, b5, bd, bp], 1)
    n = "Mixed_6a"
    b3 = B(x, f"{n}.branch3x3", stride=2)
    bd = B(B(B(x, f"{n}.branch3x3dbl_1"), f"{n}.branch3x3dbl_2", pad=(1, 1)), f"{n}.branch3x3dbl_3", stride=2)
    x = torch.cat([b3, bd, F.max_pool2d(x, 3, stride=2)], 1)
    for n in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
        b1 = B(x, f"{n}.branch1x1")
        b7 = B(B(B(x, f"{n}.branch7x7_1"), f"{n}.branch7x7_2", pad=(0, 3)), f"{n}.branch7x7_3", pad=(3, 0))
        bd = B(x, f"{n}.branch7x7dbl_1")
        for k, p in ((2, (3, 0)), (3, (0, 3)), (4, (3, 0)), (5, (0, 3))):
            bd = B(bd, f"{n}.branch7x7dbl_{k}", pad=p)
        bp = B(avg3(x), f"{n}.branch_pool")
        x = torch.cat([b1, b7, bd, bp], 1)
    n = "Mixed_7a"
    b3 = B(B(x, f"{n}.branch3x3_1"), f"{n}.branch3x3_2", stride=2)
    b7 = B(B(B(B(x, f"{n}.branch7x7x3_1"), f"{n}.branch7x7x3_2", pad=(0, 3)), f"{n}.branch7x7x3_3", pad=(3, 0)), f"{n}.branch7x7x3_4", stride=2)
    x = torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)
    for n, pool in (("Mixed_7b", "avg"), ("Mixed_7c", "max")):
        b1 = B(x, f"{n}.branch1x1")
        t = B(x, f"{n}.branch3x3_1")
        b3 = torch.cat([B(t, f"{n}.branch3x3_2a", pad=(0, 1)), B(t, f"{n}.branch3x3_2b", pad=(1, 0))], 1)
        t = B(B(x, f"{n}.branch3x3dbl_1"), f"{n}.branch3x3dbl_2", pad=(1, 1))
        bd = torch.cat([B(t, f"{n}.branch3x3dbl_3a", pad=(0, 1)), B(t, f"{n}.branch3x3dbl_3b", pad=(1, 0))], 1)
        pooled = avg3(x) if pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        bp = B(pooled, f"{n}.branch_pool")
        x = torch.cat([b1, b3, bd, bp], 1)
    return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)


def frame(rel, size, index=0):
    args = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", os.path.join(DATA, rel), "-map", "0:v:0",
            "-vf", f"select=eq(n\\,{index}),scale={size[0]}:{size[1]}:flags=bilinear", "-frames:v", "1",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw = subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(size[1], size[0], 3)


def main():
    torch.set_num_threads(2)
    net = Net()
    declare(net)
    net.materialise()
    images = {"driving_160": frame("magicportrait/driving.mp4", (160, 160), 5),
              "d3_96x120": frame("liveportrait/d3.mp4", (96, 120), 0)}
    out = {"keys": [[k, list(s)] for k, s in net.keys], "images": {}, "features": {}}
    with torch.no_grad():
        for name, im in images.items():
            x = torch.from_numpy(im.astype(np.float32) / 255).permute(2, 0, 1)[None]
            f = forward(net, x)[0].numpy()
            out["images"][name] = {"width": im.shape[1], "height": im.shape[0], "rgb": base64.b64encode(im.tobytes()).decode()}
            out["features"][name] = [float(v) for v in f]
            print(name, im.shape, "features mean", f.mean(), "max", f.max(), "nonzero", (f > 0).mean())
    with open(OUT, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
