"""Validation outputs without ffmpeg: PNG strips (stage 1) and animated GIFs (stage 2), and PSNR."""
import numpy as np
from PIL import Image

from .checkpoint_io import atomic_write


def psnr(a, b):
    """PSNR in dB of two uint8 images (data range 255)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _tile(images, pad=2):
    h, w = images[0].shape[:2]
    out = np.zeros((h + 2 * pad, len(images) * (w + pad) + pad, 3), np.uint8)
    for i, im in enumerate(images):
        out[pad:pad + h, pad + i * (w + pad):pad + i * (w + pad) + w] = im
    return out


def write_strip(rows, path):
    """rows: (reference, generated frames, ground-truth frames, render maps or None) → one PNG, a row per clip:
    reference | generated… | ground truth… | render…"""
    lines = []
    for ref, gen, gt, render in rows:
        tiles = [ref] + list(gen) + list(gt) + (list(render) if render is not None else [])
        lines.append(_tile(tiles))
    w = max(l.shape[1] for l in lines)
    img = np.concatenate([np.pad(l, ((0, 0), (0, w - l.shape[1]), (0, 0))) for l in lines])
    atomic_write(path, lambda f: Image.fromarray(img).save(f, format="PNG"))


def write_gif(rows, path, fps=12):
    """rows as write_strip; frame k of the GIF shows reference | generated k | ground truth k | render k per clip."""
    n = min(len(r[1]) for r in rows)
    frames = []
    for k in range(n):
        lines = [_tile([ref, gen[k], gt[k]] + ([render[k]] if render is not None else [])) for ref, gen, gt, render in rows]
        frames.append(Image.fromarray(np.concatenate(lines)))
    atomic_write(path, lambda f: frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0))
