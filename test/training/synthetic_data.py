"""A toy dataset in the DATASET-CONTRACT layout for the trainer's tests (and quick pilots): per identity a smooth
background, a shaded ellipsoid "head" with eyes and a mouth, and a neck; per frame the head turns, nods and opens its
mouth. The guidance maps are exact: depth (1 at the nearest point), normal (negative components clipped, as the
reference), render (albedo × shading inside the face), mask. The image is the render inside the face and the
background / neck elsewhere, so a reference frame plus the maps determine every frame (the demo-head data's property
that the issue relies on). Deterministic in (seed, identity, clip).

    /usr/bin/python3 test/training/synthetic_data.py OUT --size 64 --identities 8 --clips 2 --frames 24
"""
import argparse
import json
import os

import numpy as np
from PIL import Image


def _png(path, a):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(a).save(path)


def render_frame(S, ident, yaw, pitch, mouth, shift):
    r = np.random.RandomState(ident)
    bg_a, bg_b = r.uniform(0.1, 0.9, 3), r.uniform(0.1, 0.9, 3)
    skin = r.uniform([0.45, 0.3, 0.2], [0.95, 0.75, 0.6])
    light = r.normal(size=3) * [0.6, 0.6, 0.2] + [0, 0, 1]
    light /= np.linalg.norm(light)
    blob = r.uniform(0.15, 0.85, 2)
    y, x = (np.mgrid[0:S, 0:S] + 0.5) / S
    bg = bg_a * (1 - x[..., None]) + bg_b * x[..., None]
    bg = bg + 0.25 * np.exp(-((x - blob[0]) ** 2 + (y - blob[1]) ** 2)[..., None] / 0.02) * (1 - bg)
    cx, cy = 0.5 + shift[0], 0.45 + shift[1]
    ax, ay = 0.22, 0.28
    u, v = (x - cx) / ax, (y - cy) / ay
    inside = u ** 2 + v ** 2 < 1
    z = np.sqrt(np.clip(1 - u ** 2 - v ** 2, 0, 1))
    n = np.stack([u, -v, z], -1)
    # turning the head: rotate the normal field (yaw about y, pitch about x)
    cyw, syw, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    n = n @ np.array([[cyw, 0, -syw], [0, 1, 0], [syw, 0, cyw]]).T @ np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]]).T
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-9
    alb = np.broadcast_to(skin, (S, S, 3)).copy()
    # features follow the rotation: their positions in the face's (u, v) move with yaw / pitch
    fu, fv = u - np.sin(yaw) * 0.9, v + np.sin(pitch) * 0.9
    for ex in (-0.38, 0.38):
        eye = ((fu - ex) / 0.14) ** 2 + ((fv + 0.2) / 0.09) ** 2 < 1
        alb[eye] = [0.08, 0.08, 0.12]
    mouth_m = (fu / 0.35) ** 2 + ((fv - 0.45) / (0.05 + 0.18 * mouth)) ** 2 < 1
    alb[mouth_m] = [0.55, 0.1, 0.12] if mouth < 0.3 else [0.25, 0.03, 0.05]
    shade = np.clip(n @ light, 0, 1) * 0.85 + 0.25
    render = np.where(inside[..., None], np.clip(alb * shade[..., None], 0, 1), 0)
    neck = (np.abs(x - cx) < 0.1) & (y > cy) & ~inside
    img = np.where(neck[..., None], skin * 0.7, bg)
    img = np.where(inside[..., None], render, img)
    depth = np.where(inside, (z + n[..., 2]) / 2, 0)
    normal = np.where(inside[..., None], np.clip(n, 0, 1), 0)
    q = lambda a: np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    return q(img), q(np.repeat(depth[..., None], 3, -1)), q(normal), q(render), q(inside.astype(float))


def write_clip(root, split, ident, clip, S, frames, seed=0, gaps=()):
    r = np.random.RandomState(1000 * seed + 37 * ident + clip)
    name = f"id{ident:05d}_c{clip:02d}"
    cdir = os.path.join(root, split, name)
    ph = r.uniform(0, 2 * np.pi, 3)
    names = []
    for k in range(frames + len(gaps)):
        if k in gaps:
            continue
        t = k / 12.0
        yaw, pitch = 0.5 * np.sin(t * 2.1 + ph[0]), 0.25 * np.sin(t * 1.3 + ph[1])
        mouth = 0.5 + 0.5 * np.sin(t * 3.0 + ph[2])
        shift = (0.03 * np.sin(t * 0.7 + ph[1]), 0.02 * np.sin(t * 0.9))
        fn = f"frame_{k:06d}.png"
        for sub, a in zip(("images", "depth", "normal", "render", "mask"), render_frame(S, ident, yaw, pitch, mouth, shift)):
            _png(os.path.join(cdir, sub, fn), a)
        names.append(fn)
    meta = {"format": "magicportrait.clip", "version": 1, "clip": name, "split": split, "identity": f"id{ident:05d}",
            "synthetic": True, "label": "synthetic toy heads (trainer tests) — not real faces", "size": S, "fps": 25,
            "frames": names, "maps": ["depth", "normal", "render", "mask"], "model": {"kind": "demo-head", "name": "toy", "label": "toy"}}
    with open(os.path.join(cdir, "meta.json"), "w") as f:
        json.dump(meta, f)
    return name


def make_dataset(root, size=32, identities=(0, 1, 2), val=(), test=(), clips=1, frames=8, seed=0):
    splits = {}
    for split, ids in (("train", identities), ("val", val), ("test", test)):
        splits[split] = [write_clip(root, split, i, c, size, frames, seed) for i in ids for c in range(clips)]
    with open(os.path.join(root, "dataset.json"), "w") as f:
        json.dump({"format": "magicportrait.dataset", "version": 1, "kind": "synthetic", "label": "toy", "size": size,
                   "maps": ["depth", "normal", "render"], "splits": splits}, f)
    return root


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--identities", type=int, default=8)
    p.add_argument("--val", type=int, default=2)
    p.add_argument("--test", type=int, default=2)
    p.add_argument("--clips", type=int, default=2)
    p.add_argument("--frames", type=int, default=24)
    a = p.parse_args()
    n, v = a.identities, a.val
    make_dataset(a.out, a.size, range(n), range(n, n + v), range(n + v, n + v + a.test), a.clips, a.frames)
