"""The dataset (/work/coord/DATASET-CONTRACT.md, written by `magicportrait prepare-data` / `synth-data`):

  DATASET/<split>/<clip>/{images,depth,normal,render}/frame_NNNNNN.png + meta.json (written last)

Only clips with meta.json are read; every guidance folder must hold exactly the files of images/; frame numbers are
source frame indices (gaps = dropped frames), so stage-2 runs of consecutive frames never cross a gap.

Sampling is a pure function of (seed, stage, step, global sample index): `SampleDraw` seeds a private generator from
those four numbers and draws everything the sample needs (which item — through a seeded per-epoch permutation —, the
reference frame, the timestep, the noise, the noise offset, the latent's sampling noise, the reference dropout). One
process and N processes with the same global batch therefore see the same samples and noise, and a resumed run the
same as an uninterrupted one, with no data-loader state to save.
"""
import hashlib
import json
import os
import re

import torch


class DatasetError(Exception):
    """A dataset that cannot be trained on; the message names the clip / folder / file."""


_FRAME = re.compile(r"(\d+)")


def frame_number(name):
    m = _FRAME.findall(os.path.splitext(name)[0])
    return int(m[-1]) if m else None


class Clip:
    def __init__(self, split, name, path, frames, meta):
        self.split, self.name, self.path, self.frames, self.meta = split, name, path, frames, meta
        nums = [frame_number(f) for f in frames]
        self.numbers = nums if all(n is not None for n in nums) else list(range(len(frames)))

    def runs(self, length):
        """Start positions of `length` consecutive kept frames (no gap in the source frame numbers)."""
        out, start = [], 0
        for i in range(1, len(self.frames) + 1):
            if i == len(self.frames) or self.numbers[i] != self.numbers[i - 1] + 1:
                out += list(range(start, i - length + 1))
                start = i
        return out

    def __repr__(self):
        return f"Clip({self.split}/{self.name}, {len(self.frames)} frames)"


def _pngs(d):
    return sorted(f for f in os.listdir(d) if f.lower().endswith(".png") and not f.startswith("."))


def scan_split(root, split, maps):
    """The complete clips of one split, checked against the contract. Raises DatasetError."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise DatasetError(f"dataset {root} does not exist or is not a folder")
    sdir = os.path.join(root, split)
    if not os.path.isdir(sdir):
        have = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        raise DatasetError(f"dataset {root} has no '{split}' split (folders: {', '.join(have) or 'none'})")
    listed = None
    dj = os.path.join(root, "dataset.json")
    if os.path.exists(dj):
        try:
            with open(dj, encoding="utf-8") as f:
                listed = json.load(f).get("splits", {}).get(split)
        except ValueError as e:
            raise DatasetError(f"{dj} is not valid JSON: {e}") from e
    clips, incomplete = [], []
    for name in sorted(os.listdir(sdir)):
        cdir = os.path.join(sdir, name)
        if not os.path.isdir(cdir) or name.startswith("."):
            continue
        mpath = os.path.join(cdir, "meta.json")
        if not os.path.exists(mpath):
            incomplete.append(name)
            continue
        try:
            with open(mpath, encoding="utf-8") as f:
                meta = json.load(f)
        except ValueError as e:
            raise DatasetError(f"clip {split}/{name}: {mpath} is not valid JSON: {e}") from e
        idir = os.path.join(cdir, "images")
        if not os.path.isdir(idir):
            raise DatasetError(f"clip {split}/{name}: images/ is missing ({cdir})")
        frames = _pngs(idir)
        if not frames:
            raise DatasetError(f"clip {split}/{name}: images/ holds no .png frames ({idir})")
        want = set(frames)
        for m in maps:
            mdir = os.path.join(cdir, m)
            if not os.path.isdir(mdir):
                raise DatasetError(f"clip {split}/{name}: the guidance folder {m}/ is missing ({mdir}); it must hold the same files as images/")
            have = set(_pngs(mdir))
            if have != want:
                miss, extra = sorted(want - have), sorted(have - want)
                detail = "; ".join(x for x in (f"missing {', '.join(miss[:3])}{' …' if len(miss) > 3 else ''}" if miss else "",
                                               f"extra {', '.join(extra[:3])}{' …' if len(extra) > 3 else ''}" if extra else "") if x)
                raise DatasetError(f"clip {split}/{name}: {m}/ has {len(have)} frames, images/ has {len(want)} ({detail})")
        mf = meta.get("frames")
        if isinstance(mf, list) and sorted(mf) != frames:
            raise DatasetError(f"clip {split}/{name}: meta.json lists {len(mf)} frames, images/ holds {len(frames)} (the clip was changed after it was written)")
        if isinstance(mf, list):
            frames = list(mf)  # time order as written
        clips.append(Clip(split, name, cdir, frames, meta))
    if listed is not None:
        names = {c.name for c in clips}
        absent = [c for c in listed if c not in names]
        if absent:
            raise DatasetError(f"{dj} lists {len(absent)} {split} clip(s) that are missing or incomplete, e.g. {', '.join(absent[:3])}")
    if not clips:
        why = f" ({len(incomplete)} clip folder(s) without meta.json, i.e. incomplete: {', '.join(incomplete[:3])})" if incomplete else ""
        raise DatasetError(f"dataset {root}: no complete clips in '{split}'{why}")
    return clips


# ------------------------------------------------------------------------------------------------------------------
# Deterministic per-sample randomness


def mix_seed(*parts):
    """A 63-bit seed from any tuple of numbers / strings (stable across processes and Python versions)."""
    h = hashlib.blake2b("/".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def generator(*parts):
    return torch.Generator().manual_seed(mix_seed(*parts))


class Epochs:
    """Item k of the global sample stream: a seeded permutation of the items per epoch."""

    def __init__(self, n_items, seed, stage):
        self.n, self.seed, self.stage = n_items, seed, stage
        self._cache = {}

    def item(self, global_sample):
        e, pos = divmod(global_sample, self.n)
        perm = self._cache.get(e)
        if perm is None:
            perm = torch.randperm(self.n, generator=generator(self.seed, self.stage, "epoch", e)).tolist()
            self._cache = {e: perm}
        return perm[pos]
