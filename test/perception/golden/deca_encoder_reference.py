#!/usr/bin/python3
"""DECA E_flame (reference-pipeline.md §2.2) at toy widths, the target of src/kernel/perception/deca-encoder.ts.

Regenerate (from the repository root, Debian's torch 1.13):

    /usr/bin/python3 test/perception/golden/deca_encoder_reference.py

writes test/perception/fixtures/deca_model_tiny.tar (torch.save of {'E_flame', 'E_detail', 'D_detail'} state dicts,
the deca_model.tar layout) and deca_encoder.npz (image (2,3,224,224) in [0,1], code (2,236)).
E_flame: torchvision-style ResNet (stride on the bottleneck's 3x3 conv, BN eval eps 1e-5, maxpool 3/2 pad 1,
AvgPool2d(7, 1)) → Linear(4·w4 → hidden) → ReLU → Linear(hidden → 236). Toy widths: stem 4, widths [4, 8, 8, 16],
blocks [1, 1, 2, 1], hidden 16 (the real one: 64, [64, 128, 256, 512], [3, 4, 6, 3], 1024).
"""
import os
from collections import OrderedDict
import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
STEM, WIDTHS, BLOCKS, HIDDEN = 4, [4, 8, 8, 16], [1, 1, 2, 1], 16


class Bottleneck(nn.Module):
    def __init__(self, cin, w, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, w, 1, bias=False), nn.BatchNorm2d(w)
        self.conv2, self.bn2 = nn.Conv2d(w, w, 3, stride, 1, bias=False), nn.BatchNorm2d(w)
        self.conv3, self.bn3 = nn.Conv2d(w, 4 * w, 1, bias=False), nn.BatchNorm2d(4 * w)
        self.downsample = None
        if stride != 1 or cin != 4 * w:
            self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * w, 1, stride, bias=False), nn.BatchNorm2d(4 * w))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return torch.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, STEM, 7, 2, 3, bias=False), nn.BatchNorm2d(STEM)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = STEM
        for k, (w, n) in enumerate(zip(WIDTHS, BLOCKS)):
            blocks = []
            for i in range(n):
                blocks.append(Bottleneck(cin, w, (1 if k == 0 else 2) if i == 0 else 1))
                cin = 4 * w
            setattr(self, f"layer{k + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AvgPool2d(7, stride=1)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        for k in range(4):
            x = getattr(self, f"layer{k + 1}")(x)
        return self.avgpool(x).flatten(1)


class EFlame(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = ResNet()
        self.layers = nn.Sequential(nn.Linear(4 * WIDTHS[-1], HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 236))

    def forward(self, x):
        return self.layers(self.encoder(x))


def main():
    torch.manual_seed(0)
    m = EFlame()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.3, 0.3)
                mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(7)
    m.eval()
    u8 = np.random.default_rng(1).integers(0, 256, (2, 3, 224, 224), dtype=np.uint8)
    u8 = (u8 // 32 * 32).astype(np.uint8)  # low entropy
    img = torch.from_numpy(u8.astype(np.float32) / 255)
    with torch.no_grad():
        code = m(img)
    tar = {"E_flame": m.state_dict(), "E_detail": OrderedDict(x=torch.zeros(3)), "D_detail": OrderedDict(y=torch.zeros(2))}
    torch.save(tar, os.path.join(FIX, "deca_model_tiny.tar"))
    np.savez_compressed(os.path.join(FIX, "deca_encoder.npz"), image_u8=u8, code=code.numpy())
    print(code.shape, float(code.abs().max()))


if __name__ == "__main__":
    main()
