#!/usr/bin/python3
"""Plain-PyTorch LPIPS reference (no `lpips` package): random weights in the real key layouts, real frames.

Regenerate (from the repository root, Debian's python3-torch 1.13 + numpy):

    /usr/bin/python3 test/metrics/golden/lpips_reference.py

writes, under test/metrics/fixtures/:
  lpips_alex_backbone.pth.gz  torchvision AlexNet layout (alexnet-owt-*.pth): features.{0,3,6,8,10}.{weight,bias} at the
                              real shapes, plus stub classifier.{1,4,6}.* keys (wrong, tiny shapes: never read)
  lpips_alex_lin.pth.gz       the lpips package's linear-layer file layout (weights/v0.1/alex.pth): lin{0..4}.model.1.weight
  lpips_vgg_full.pth.gz       a whole `lpips.LPIPS(net='vgg').state_dict()` layout: scaling_layer.{shift,scale},
                              net.slice{1..5}.<i>.{weight,bias} (VGG16 features at the real shapes), lin{k}.model.1.weight
                              and the duplicate lins.{k}.model.1.weight
  lpips_cases.npz             uint8 image pairs (real frames of ../shared/data, resized/cropped by ffmpeg + numpy) and the
                              reference distances: <net>_<case>_dist (float32 forward, as lpips runs) and _dist64 (float64)
                              and the per-layer terms <net>_<case>_layers (float64)
Weights are sparse (alex 6 %, vgg 1.5 % non-zero) multiples of a per-layer He-scaled unit, so the gzipped files stay small
while every layer carries signal; linear weights are dense and non-negative, as trained LPIPS weights are.

The reference forward follows the lpips package (v0.1, lpips=True, spatial=False, eval mode: dropout is the identity):
  x in [-1, 1] = uint8/127.5 − 1;  x ← (x − shift)/scale, shift = (−.030, −.088, −.188), scale = (.458, .448, .450)
  taps: alex relu1..relu5 (features 1, 4, 7, 9, 11), vgg relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (3, 8, 15, 22, 29)
  per tap: f / (‖f‖₂ over channels + 1e-10); d = (f₀ − f₁)²; lin (1×1 conv, no bias); mean over H, W; sum over taps.
"""
import gzip
import io
import os
import subprocess
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
FFMPEG = os.path.join(ROOT, "node_modules", "@ffmpeg-installer", "linux-x64", "ffmpeg")
FIX = os.path.join(ROOT, "test", "metrics", "fixtures")

SHIFT = [-0.030, -0.088, -0.188]
SCALE = [0.458, 0.448, 0.450]

# (feature index, in, out, kernel, stride, pad); 'M' = MaxPool(3, 2) for alex, MaxPool(2, 2) for vgg
ALEX = [(0, 3, 64, 11, 4, 2), "M", (3, 64, 192, 5, 1, 2), "M", (6, 192, 384, 3, 1, 1), (8, 384, 256, 3, 1, 1),
        (10, 256, 256, 3, 1, 1)]
ALEX_TAPS = [0, 3, 6, 8, 10]  # the conv whose ReLU output is tapped
ALEX_SLICE = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
VGG_TAPS = [2, 7, 14, 21, 28]


def vgg_layers():
    layers, idx, cin = [], 0, 3
    for v in VGG_CFG:
        if v == "M":
            layers.append("M")
            idx += 1
        else:
            layers.append((idx, cin, v, 3, 1, 1))
            cin = v
            idx += 2
    return layers


VGG = vgg_layers()


def vgg_slice(i):
    return 1 if i < 4 else 2 if i < 9 else 3 if i < 16 else 4 if i < 23 else 5


def sparse_weights(rng, shape, density):
    fan_in = int(np.prod(shape[1:]))
    unit = np.sqrt(2.0 / (fan_in * density)) / 2
    unit = 2.0 ** np.round(np.log2(unit))  # a power of two: exact multiples in float32
    mask = rng.random(shape) < density
    vals = rng.choice([-3, -2, -1, 1, 2, 3], size=shape)
    return (mask * vals * unit).astype(np.float32)


def make_backbone(rng, layers, density):
    w = OrderedDict()
    for l in layers:
        if l == "M":
            continue
        i, cin, cout, k, _, _ = l
        w[i] = (sparse_weights(rng, (cout, cin, k, k), density),
                (np.round(rng.standard_normal(cout) * 8) / 64).astype(np.float32))
    return w


def make_lin(rng, chans):
    return [(np.round(rng.random((1, c, 1, 1)) * 32) / 256).astype(np.float32) for c in chans]


def features(x, layers, weights, taps, pool):
    out = []
    for l in layers:
        if l == "M":
            x = F.max_pool2d(x, pool[0], pool[1])
            continue
        i, _, _, _, s, p = l
        w, b = weights[i]
        x = F.relu(F.conv2d(x, torch.from_numpy(w).to(x.dtype), torch.from_numpy(b).to(x.dtype), stride=s, padding=p))
        if i in taps:
            out.append(x)
    return out


def lpips(img0, img1, layers, weights, taps, pool, lins, dtype):
    def prep(im):
        x = torch.from_numpy(im.astype(np.float64) / 127.5 - 1).permute(2, 0, 1)[None].to(torch.float32).to(dtype)
        shift = torch.tensor(SHIFT, dtype=torch.float32).to(dtype)[None, :, None, None]
        scale = torch.tensor(SCALE, dtype=torch.float32).to(dtype)[None, :, None, None]
        return (x - shift) / scale

    f0 = features(prep(img0), layers, weights, taps, pool)
    f1 = features(prep(img1), layers, weights, taps, pool)
    terms = []
    for a, b, w in zip(f0, f1, lins):
        na = a / (torch.sqrt(torch.sum(a ** 2, dim=1, keepdim=True)) + 1e-10)
        nb = b / (torch.sqrt(torch.sum(b ** 2, dim=1, keepdim=True)) + 1e-10)
        d = (na - nb) ** 2
        terms.append(F.conv2d(d, torch.from_numpy(w).to(dtype)).mean(dim=(2, 3), keepdim=True))
    total = sum(terms)
    return float(total.flatten()[0]), [float(t.flatten()[0]) for t in terms]


def save_gz(state, name):
    buf = io.BytesIO()
    torch.save(state, buf)
    with gzip.open(os.path.join(FIX, name), "wb", compresslevel=9) as f:
        f.write(buf.getvalue())


def frames(rel, count, size):
    args = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", os.path.join(DATA, rel), "-map", "0:v:0",
            "-vf", f"scale={size}:{size}:flags=bilinear", "-f", "rawvideo", "-pix_fmt", "rgb24", "-vsync", "0",
            "-frames:v", str(count), "pipe:1"]
    raw = subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, size, size, 3)


def main():
    rng = np.random.default_rng(1234)
    alex_w = make_backbone(rng, ALEX, 0.06)
    alex_lin = make_lin(rng, [64, 192, 384, 256, 256])
    vgg_w = make_backbone(rng, VGG, 0.015)
    vgg_lin = make_lin(rng, [64, 128, 256, 512, 512])

    tv = OrderedDict()
    for i, (w, b) in alex_w.items():
        tv[f"features.{i}.weight"] = torch.from_numpy(w)
        tv[f"features.{i}.bias"] = torch.from_numpy(b)
    for i in (1, 4, 6):
        tv[f"classifier.{i}.weight"] = torch.zeros(2, 3)
        tv[f"classifier.{i}.bias"] = torch.zeros(2)
    save_gz(tv, "lpips_alex_backbone.pth.gz")
    save_gz(OrderedDict((f"lin{k}.model.1.weight", torch.from_numpy(w)) for k, w in enumerate(alex_lin)),
            "lpips_alex_lin.pth.gz")

    full = OrderedDict()
    full["scaling_layer.shift"] = torch.tensor(SHIFT)[None, :, None, None]
    full["scaling_layer.scale"] = torch.tensor(SCALE)[None, :, None, None]
    for i, (w, b) in vgg_w.items():
        full[f"net.slice{vgg_slice(i)}.{i}.weight"] = torch.from_numpy(w)
        full[f"net.slice{vgg_slice(i)}.{i}.bias"] = torch.from_numpy(b)
    for k, w in enumerate(vgg_lin):
        full[f"lin{k}.model.1.weight"] = torch.from_numpy(w)
    for k, w in enumerate(vgg_lin):
        full[f"lins.{k}.model.1.weight"] = torch.from_numpy(w)
    save_gz(full, "lpips_vgg_full.pth.gz")

    drv = frames("magicportrait/driving.mp4", 11, 64)
    d0 = frames("liveportrait/d0.mp4", 1, 128)
    d3 = frames("liveportrait/d3.mp4", 1, 128)
    cases = {
        "drv0_drv10": (drv[0], drv[10]),
        "d0_d3_crop": (np.ascontiguousarray(d0[0, 20:76, 30:102]), np.ascontiguousarray(d3[0, 20:76, 30:102])),
        "same": (drv[3], drv[3]),
    }
    out = {}
    for name, (a, b) in cases.items():
        out[f"{name}_a"] = a
        out[f"{name}_b"] = b
        for net, layers, weights, taps, pool, lins in [("alex", ALEX, alex_w, ALEX_TAPS, (3, 2), alex_lin),
                                                       ("vgg", VGG, vgg_w, VGG_TAPS, (2, 2), vgg_lin)]:
            d32, _ = lpips(a, b, layers, weights, taps, pool, lins, torch.float32)
            d64, layers64 = lpips(a, b, layers, weights, taps, pool, lins, torch.float64)
            out[f"{net}_{name}_dist"] = np.float64(d32)
            out[f"{net}_{name}_dist64"] = np.float64(d64)
            out[f"{net}_{name}_layers"] = np.array(layers64)
            print(f"{net} {name} {a.shape}: {d32:.8f} (float64 {d64:.8f}) layers {np.round(layers64, 5)}")
    np.savez_compressed(os.path.join(FIX, "lpips_cases.npz"), **out)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
