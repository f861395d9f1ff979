#!/usr/bin/python3
"""SMIRK's encoder (reference-pipeline.md §3) in plain PyTorch, the target of src/kernel/perception/smirk-encoder.ts.

timm is not installed here, so the backbones are written out from timm's definitions of
tf_mobilenetv3_{small,large}_minimal_100 with features_only=True: ReLU, no squeeze-excite, 3x3 depthwise kernels,
BatchNorm eps 1e-3, TF "same" padding (F.pad before a stride-2 conv), no conv bias, no head.

Regenerate (from the repository root, Debian's torch 1.13):

    /usr/bin/python3 test/perception/golden/smirk_reference.py

writes into test/perception/fixtures/:
* smirk_em1_synthetic.pt: the SMIRK_em1.pt layout (flat state dict, `smirk_encoder.*` at the real sizes, BatchNorm
  `num_batches_tracked`, a few `smirk_generator.*` keys that must be ignored). To keep it small, every conv weight is
  a view into one shared random storage and every head weight a view into another (torch.save stores a storage once);
  BatchNorm statistics are calibrated on the inputs so activations stay O(1) through all blocks.
* smirk_encoder.npz: image_u8 (2,3,224,224): a §1.3 crop of boy_cropped.jpg (fixed box, bilinear warp in 0..255,
  truncating uint8 cast) and a synthetic pattern; the encoder outputs pose, cam, shape, expression, eyelid, jaw and
  the raw 55 expression-head values.
* smirk_bad_key.pt / smirk_bad_shape.pt: the full key set with one key renamed / one shape changed; every tensor is a
  stride-0 expansion of one number, so the files are tiny.
* smirk_evil_global.pt: a torch zip whose pickle calls posix.system (must be refused, never run).
"""
import math
import os
from collections import OrderedDict

import numpy as np
import skimage.io
import skimage.transform
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
DATA = os.path.join(HERE, "..", "..", "..", "..", "shared", "data")
EPS = 1e-3

# (type, repeats, kernel, stride, expansion, out) per stage; the first block of a stage carries its stride.
SMALL = [
    [("ds", 1, 3, 2, 1, 16)],
    [("ir", 1, 3, 2, 4.5, 24), ("ir", 1, 3, 1, 3.67, 24)],
    [("ir", 1, 3, 2, 4, 40), ("ir", 2, 3, 1, 6, 40)],
    [("ir", 2, 3, 1, 3, 48)],
    [("ir", 3, 3, 2, 6, 96)],
    [("cn", 1, 1, 1, 1, 576)],
]
LARGE = [
    [("ds", 1, 3, 1, 1, 16)],
    [("ir", 1, 3, 2, 4, 24), ("ir", 1, 3, 1, 3, 24)],
    [("ir", 3, 3, 2, 3, 40)],
    [("ir", 1, 3, 2, 6, 80), ("ir", 1, 3, 1, 2.5, 80), ("ir", 2, 3, 1, 2.3, 80)],
    [("ir", 2, 3, 1, 6, 112)],
    [("ir", 3, 3, 2, 6, 160)],
    [("cn", 1, 1, 1, 1, 960)],
]


def divisible8(v):
    n = max(8, int(v + 4) // 8 * 8)
    return n + 8 if n < 0.9 * v else n


class TfConv(nn.Conv2d):
    """Conv2d without bias and TensorFlow 'SAME' padding computed from the input size."""

    def __init__(self, cin, cout, k, stride=1, groups=1):
        super().__init__(cin, cout, k, stride, 0, groups=groups, bias=False)

    def forward(self, x):
        k, s = self.kernel_size[0], self.stride[0]
        h, w = x.shape[-2:]
        ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
        pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


def bn(c):
    return nn.BatchNorm2d(c, eps=EPS)


class DS(nn.Module):
    def __init__(self, cin, cout, k, s):
        super().__init__()
        self.conv_dw, self.bn1 = TfConv(cin, cin, k, s, groups=cin), bn(cin)
        self.conv_pw, self.bn2 = TfConv(cin, cout, 1), bn(cout)
        self.skip = s == 1 and cin == cout

    def forward(self, x):
        y = self.bn2(self.conv_pw(F.relu(self.bn1(self.conv_dw(x)))))
        return y + x if self.skip else y


class IR(nn.Module):
    def __init__(self, cin, cout, k, s, e):
        super().__init__()
        mid = divisible8(cin * e)
        self.conv_pw, self.bn1 = TfConv(cin, mid, 1), bn(mid)
        self.conv_dw, self.bn2 = TfConv(mid, mid, k, s, groups=mid), bn(mid)
        self.conv_pwl, self.bn3 = TfConv(mid, cout, 1), bn(cout)
        self.skip = s == 1 and cin == cout

    def forward(self, x):
        y = F.relu(self.bn1(self.conv_pw(x)))
        y = F.relu(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(y))
        return y + x if self.skip else y


class CN(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv, self.bn1 = TfConv(cin, cout, k), bn(cout)

    def forward(self, x):
        return F.relu(self.bn1(self.conv(x)))


class Backbone(nn.Module):
    """features_only trunk: returns the last feature map only (what SMIRK uses)."""

    def __init__(self, stages):
        super().__init__()
        self.conv_stem, self.bn1 = TfConv(3, 16, 3, 2), bn(16)
        cin, blocks = 16, []
        for stage in stages:
            mods = []
            for (t, r, k, s, e, c) in stage:
                for i in range(r):
                    stride = s if i == 0 else 1
                    mods.append(DS(cin, c, k, stride) if t == "ds" else IR(cin, c, k, stride, e) if t == "ir" else CN(cin, c, k))
                    cin = c
            blocks.append(nn.Sequential(*mods))
        self.blocks = nn.Sequential(*blocks)
        self.channels = cin

    def forward(self, x):
        return self.blocks(F.relu(self.bn1(self.conv_stem(x))))


class Head(nn.Module):
    def __init__(self, stages, layers_name, out):
        super().__init__()
        self.encoder = Backbone(stages)
        self.layers_name = layers_name
        setattr(self, layers_name, nn.Sequential(nn.Linear(self.encoder.channels, out)))

    def forward(self, x):
        f = F.adaptive_avg_pool2d(self.encoder(x), (1, 1)).flatten(1)
        return getattr(self, self.layers_name)(f)


class Smirk(nn.Module):
    def __init__(self):
        super().__init__()
        self.pose_encoder = Head(SMALL, "pose_cam_layers", 6)
        self.shape_encoder = Head(LARGE, "shape_layers", 300)
        self.expression_encoder = Head(LARGE, "expression_layers", 55)

    def forward(self, x):
        pc = self.pose_encoder(x)
        p = self.expression_encoder(x)
        jaw = torch.cat([F.relu(p[:, 52:53]), torch.clamp(p[:, 53:55], -0.2, 0.2)], 1)
        return OrderedDict(pose=pc[:, :3], cam=pc[:, 3:], shape=self.shape_encoder(x), expression=p[:, :50],
                           eyelid=torch.clamp(p[:, 50:52], 0, 1), jaw=jaw, expression_raw=p)


def shared_views(model, gen):
    """Conv / Linear weights become views of two shared random storages (small file, real shapes)."""
    conv_base = torch.randn(1 << 18, generator=gen)
    head_base = torch.randn(300 * 960, generator=gen) * 0.05
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                base = head_base if isinstance(mod, nn.Linear) else conv_base
                n = mod.weight.numel()
                off = int(torch.randint(0, base.numel() - n + 1, (1,), generator=gen))
                mod.weight = nn.Parameter(base[off:off + n].view(mod.weight.shape))
                if isinstance(mod, nn.Linear):
                    mod.bias = nn.Parameter(torch.rand(mod.bias.shape, generator=gen) * 0.4 - 0.2)
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) + 0.5)
                mod.bias.copy_(torch.rand(mod.bias.shape, generator=gen) * 0.6 - 0.3)


def calibrate(model, x):
    """Running statistics = the batch statistics of x (cumulative average over one pass), then eval mode."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
            m.num_batches_tracked.fill_(123)
    model.eval()


def real_crop():
    """§1.3 on boy_cropped.jpg with a fixed landmark box (what MediaPipe's 478 points would span)."""
    img = skimage.io.imread(os.path.join(DATA, "magicportrait", "boy_cropped.jpg"))[:, :, :3]
    left, right, top, bottom = 140.0, 372.0, 150.0, 400.0
    size = int((right - left + bottom - top) / 2 * 1.4)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    src = np.array([[cx - size / 2, cy - size / 2], [cx - size / 2, cy + size / 2], [cx + size / 2, cy - size / 2]])
    dst = np.array([[0, 0], [0, 223], [223, 0]])
    T = skimage.transform.estimate_transform("similarity", src, dst)
    crop = skimage.transform.warp(img, T.inverse, output_shape=(224, 224), preserve_range=True).astype(np.uint8)
    return crop.transpose(2, 0, 1)


def state_dict_file(model):
    sd = OrderedDict()
    for k, v in model.state_dict(keep_vars=False).items():
        sd["smirk_encoder." + k] = v
    g = torch.Generator().manual_seed(5)
    sd["smirk_generator.encoder.0.weight"] = torch.randn(8, 3, 3, 3, generator=g)
    sd["smirk_generator.encoder.0.bias"] = torch.randn(8, generator=g)
    sd["smirk_generator.decoder.final.weight"] = torch.randn(3, 8, 1, 1, generator=g)
    return sd


def tiny(sd):
    """The same keys and shapes, each tensor a stride-0 expansion of one number (a few KB on disk)."""
    one = torch.ones(1)
    return OrderedDict((k, one.expand(*v.shape) if v.dim() else torch.tensor(v.item())) for k, v in sd.items())


class Evil:
    def __reduce__(self):
        return (os.system, ("touch smirk_evil_global_ran",))


def main():
    gen = torch.Generator().manual_seed(0)
    model = Smirk()
    shared_views(model, gen)
    pattern = ((np.random.default_rng(1).integers(0, 256, (1, 3, 224, 224)) // 32) * 32).astype(np.uint8)
    u8 = np.concatenate([real_crop()[None], pattern], 0)
    x = torch.from_numpy(u8.astype(np.float32) / 255)
    calibrate(model, x)
    with torch.no_grad():
        # shift the eyelid / jaw outputs so both inputs exercise every side of the clamps and the ReLU
        model.expression_encoder.expression_layers[0].bias[50:55] += torch.tensor([1.0, 0.3, 0.6, -0.7, 0.0])
        out = model(x)
    sd = state_dict_file(model)
    torch.save(sd, os.path.join(FIX, "smirk_em1_synthetic.pt"))
    np.savez_compressed(os.path.join(FIX, "smirk_encoder.npz"), image_u8=u8, **{k: v.numpy() for k, v in out.items()})

    bad = tiny(sd)
    k = "smirk_encoder.expression_encoder.encoder.blocks.3.1.conv_dw.weight"
    renamed = OrderedDict((kk.replace("blocks.3.1.conv_dw", "blocks.3.1.conv_depthwise") if kk == k else kk, v) for kk, v in bad.items())
    torch.save(renamed, os.path.join(FIX, "smirk_bad_key.pt"))
    reshaped = OrderedDict(bad)
    reshaped["smirk_encoder.shape_encoder.shape_layers.0.weight"] = torch.ones(1).expand(100, 960)
    torch.save(reshaped, os.path.join(FIX, "smirk_bad_shape.pt"))
    torch.save(OrderedDict(x=torch.zeros(2), payload=Evil()), os.path.join(FIX, "smirk_evil_global.pt"))
    for k, v in out.items():
        print(k, tuple(v.shape), float(v.abs().max()))
    print("file", os.path.getsize(os.path.join(FIX, "smirk_em1_synthetic.pt")))


if __name__ == "__main__":
    main()
