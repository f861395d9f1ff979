#!/usr/bin/python3
"""Golden fixtures for the reference pipeline's JPEG round trip of the guidance maps (reference-pipeline.md §5.6):
Pillow's save(..., 'JPEG') with its defaults (quality 75, 4:2:0, libjpeg) and Pillow's open(...).convert('RGB').

Regenerate (from the repository root, Debian's python3-pil, NOT the python3 on PATH):

    /usr/bin/python3 test/io/golden/jpeg_reference.py

Written with Pillow 9.4.0 on libjpeg62-turbo 2.1.5 (Debian bookworm). The reference pins Pillow 11.2.1; the JPEG
defaults used here (quality 75, 4:2:0, no optimised Huffman tables, ISLOW DCT) are the same in both.

For every case, test/io/fixtures/jpeg/<name>.input.png holds the 8-bit map that is saved, <name>.pil.jpg the bytes
Pillow writes, and <name>.pil.png what Pillow decodes from them. The maps are synthetic guidance-like images (an
ellipsoidal head: depth grey, clamped normals, SH-shaded albedo on black) plus an odd-sized noisy crop that
exercises the edge padding and dummy blocks.
"""
import io
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'jpeg')


def head(size=512):
    """Depth / normal / render maps of an ellipsoid with a nose bump, in the guidance conventions (black background)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    u = (x + 0.5) / size * 2 - 1
    v = (y + 0.5) / size * 2 - 1
    a, b = 0.62, 0.8
    r2 = (u / a) ** 2 + (v / b) ** 2
    inside = r2 < 1
    z = np.sqrt(np.clip(1 - r2, 0, 1))
    z = z + 0.25 * np.exp(-((u / 0.08) ** 2 + ((v - 0.05) / 0.16) ** 2))
    depth = np.where(inside, z / z[inside].max(), 0)
    gy, gx = np.gradient(z)
    n = np.stack([-gx * size / 4, gy * size / 4, np.ones_like(z)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    normal = np.where(inside[..., None], np.clip(n, 0, 1), 0)
    albedo = np.stack([0.75 + 0.05 * np.sin(x / 9), 0.55 + 0.04 * np.cos(y / 7), 0.45 * np.ones_like(x)], -1)
    shade = 0.35 + 0.6 * np.clip(n @ np.array([0.3, 0.4, 0.87]), 0, None)
    render = np.where(inside[..., None], np.clip(albedo * shade[..., None], 0, 1), 0)
    to8 = lambda m: np.floor(np.clip(m * 255 + 0.5, 0, 255)).astype(np.uint8)  # torchvision save_image
    return {'depth': to8(np.repeat(depth[..., None], 3, -1)), 'normal': to8(normal), 'render': to8(render)}


def noisy(h=301, w=297):
    rng = np.random.default_rng(19)
    base = head(512)['render'][:h, 100:100 + w].astype(np.int32)
    base[40:90, 30:250] = rng.integers(0, 256, (50, 220, 3))
    return base.astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = dict(head())
    cases['odd-noisy'] = noisy()
    for name, img in cases.items():
        Image.fromarray(img).save(os.path.join(OUT, f'{name}.input.png'), optimize=True)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format='JPEG', quality=75)
        data = buf.getvalue()
        with open(os.path.join(OUT, f'{name}.pil.jpg'), 'wb') as f:
            f.write(data)
        dec = np.array(Image.open(io.BytesIO(data)).convert('RGB'))
        Image.fromarray(dec).save(os.path.join(OUT, f'{name}.pil.png'), optimize=True)
        print(f'{name}: {img.shape[1]}x{img.shape[0]}, {len(data)} JPEG bytes')


if __name__ == '__main__':
    main()
