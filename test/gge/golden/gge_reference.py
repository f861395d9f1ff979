#!/usr/bin/python3
"""Independent PyTorch reference of the MagicPortrait Geometric Guidance Encoder (GGE).

Written from docs/reference-pipeline.md §6 (construction, the one Transformer3DModel that runs, inputs, key layout),
in plain PyTorch (Debian python3-torch 1.13, no diffusers). Module attribute names follow the reference module tree,
so `state_dict()` has exactly the §6.4 key layout, unused attentions included.

Regenerate the committed fixtures (run from the repository root):

    /usr/bin/python3 test/gge/golden/gge_reference.py fixtures

which writes test/gge/fixtures/{gge_weights.pth.gz, gge_golden.json, gge_golden.bin.gz, gge_forbidden_global.pth}.

Other modes (used by bench/gge.ts, never by the tests):

    gge_reference.py make-pth --out DIR [--seed S]         three dense, real-sized guidance_encoder_{type}.pth
    gge_reference.py bench --weights DIR --input F --height H --width W --threads T --repeats R --out JSON [--dump F]

The reference computes in float64 for the fixtures (the exact value of the float32 network), float32 for the bench.
"""
import argparse
import gzip
import hashlib
import io
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TYPES = ("depth", "normal", "render")
BLOCK_OUT = (16, 32, 96, 256)
EMBED = 320
HEADS = 8
# channel widths of attentions.0 .. attentions.5 and their GroupNorm groups (§6.1; only attentions.5 runs)
ATTN_CH = (16, 32, 32, 96, 96, 256)
ATTN_GROUPS = (1, 32, 1, 32, 1, 32)


# ----------------------------------------------------------------------------------------------------------------
# The model (§6.1, §6.2)


class Attention(nn.Module):
    """diffusers-style self-attention: to_q/to_k/to_v without bias, to_out.0 with bias, scale d^-0.5."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x):
        b, n, c = x.shape
        h, d = self.heads, self.head_dim
        q = self.to_q(x).reshape(b, n, h, d).transpose(1, 2)
        k = self.to_k(x).reshape(b, n, h, d).transpose(1, 2)
        v = self.to_v(x).reshape(b, n, h, d).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (d ** -0.5)
        probs = scores.softmax(dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, n, c)
        return self.to_out[0](out), probs


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x):
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)  # exact (erf) GELU


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class TransformerBlock(nn.Module):
    """TemporalBasicTransformerBlock with no cross-attention and no temporal attention."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn1 = Attention(dim, heads)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5)
        self.ff = FeedForward(dim)

    def forward(self, h, taps):
        n1 = self.norm1(h)
        a, probs = self.attn1(n1)
        taps["tokens"], taps["probs"], taps["delta"] = n1, probs, a
        h = a + h
        return self.ff(self.norm3(h)) + h


class Transformer3D(nn.Module):
    def __init__(self, dim, groups, heads=HEADS):
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6, affine=True)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(dim, heads)])
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x, taps):
        b, c, hh, ww = x.shape  # frames already folded into the batch
        res = x
        h = self.proj_in(self.norm(x))
        h = h.permute(0, 2, 3, 1).reshape(b, hh * ww, c)  # token index = row * W + col
        h = self.transformer_blocks[0](h, taps)
        h = h.reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        return self.proj_out(h) + res


class GuidanceEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        c = BLOCK_OUT
        self.conv_in = nn.Conv2d(3, c[0], 3, padding=1)
        blocks = []
        for i in range(len(c) - 1):
            blocks.append(nn.Conv2d(c[i], c[i], 3, padding=1))
            blocks.append(nn.Conv2d(c[i], c[i + 1], 3, padding=1, stride=2))
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList([Transformer3D(ch, g) for ch, g in zip(ATTN_CH, ATTN_GROUPS)])
        self.guidance_attention = Transformer3D(c[-1], 32)
        self.conv_out = nn.Conv2d(c[-1], EMBED, 3, padding=1)

    def forward(self, x, taps=None):
        """x: (N, 3, H, W) in [0, 1]; frames folded into N. Returns (N, 320, H/8, W/8)."""
        taps = {} if taps is None else taps
        h = F.silu(self.conv_in(x))
        for blk in self.blocks:
            h = F.silu(blk(h))
        h = self.attentions[-1](h, taps)  # only attentions.5 runs
        taps["block_out"] = h
        return self.conv_out(h)


def attention_products(taps, hh, ww, queries=()):
    """The reduced products our graph computes: mean attention received per key, magnitude maps, query rows."""
    p = taps["probs"]  # (N, heads, L, L)
    n = p.shape[0]
    out = {
        "attn_received": p.mean(dim=2).reshape(n, HEADS, hh, ww),
        "attn_out_norm": taps["block_out"].pow(2).sum(dim=1).sqrt(),
        "attn_delta_norm": taps["delta"].pow(2).sum(dim=-1).sqrt().reshape(n, hh, ww),
    }
    if len(queries):
        out["attn_rows"] = p[:, :, list(queries), :]
    return out


# ----------------------------------------------------------------------------------------------------------------
# Synthetic inputs and weights (the TypeScript tests implement synth_frame identically, in integer arithmetic)


def synth_frame(hh, ww, seed):
    """A uint8 RGB (H, W, 3) test frame: an ellipse of integer sawtooth textures on a darker background."""
    y, x = np.mgrid[0:hh, 0:ww].astype(np.int64)
    cy, cx = hh * (40 + 7 * seed) // 100, ww * (55 - 5 * seed) // 100
    ry, rx = max(hh * 35 // 100, 1), max(ww * 30 // 100, 1)
    inside = ((y - cy) * rx) ** 2 + ((x - cx) * ry) ** 2 <= (rx * ry) ** 2
    out = np.empty((hh, ww, 3), np.uint8)
    for c in range(3):
        v = (x * (3 + c + seed) + y * (5 + 2 * c) + ((x * y) >> (4 + c)) + 37 * seed + 71 * c) % 256
        out[..., c] = np.where(inside, v, v >> 2)
    return out


def frames_to_input(frames):
    """uint8 HWC frames -> float (N, 3, H, W) in [0, 1] (§6.3: /255, no normalisation)."""
    a = np.stack(frames).astype(np.float32) / np.float32(255.0)
    return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()


def key_shapes():
    """(key, shape, used) for every key of the reference layout (§6.4)."""
    out = [("conv_in.weight", (16, 3, 3, 3), True), ("conv_in.bias", (16,), True)]
    ch = [(16, 16), (16, 32), (32, 32), (32, 96), (96, 96), (96, 256)]
    for i, (ci, co) in enumerate(ch):
        out += [(f"blocks.{i}.weight", (co, ci, 3, 3), True), (f"blocks.{i}.bias", (co,), True)]
    prefixes = [(f"attentions.{i}", c, i == 5) for i, c in enumerate(ATTN_CH)] + [("guidance_attention", 256, False)]
    for p, c, used in prefixes:
        t = f"{p}.transformer_blocks.0"
        out += [
            (f"{p}.norm.weight", (c,), used), (f"{p}.norm.bias", (c,), used),
            (f"{p}.proj_in.weight", (c, c, 1, 1), used), (f"{p}.proj_in.bias", (c,), used),
            (f"{t}.norm1.weight", (c,), used), (f"{t}.norm1.bias", (c,), used),
            (f"{t}.attn1.to_q.weight", (c, c), used), (f"{t}.attn1.to_k.weight", (c, c), used),
            (f"{t}.attn1.to_v.weight", (c, c), used),
            (f"{t}.attn1.to_out.0.weight", (c, c), used), (f"{t}.attn1.to_out.0.bias", (c,), used),
            (f"{t}.norm3.weight", (c,), used), (f"{t}.norm3.bias", (c,), used),
            (f"{t}.ff.net.0.proj.weight", (8 * c, c), used), (f"{t}.ff.net.0.proj.bias", (8 * c,), used),
            (f"{t}.ff.net.2.weight", (c, 4 * c), used), (f"{t}.ff.net.2.bias", (c,), used),
            (f"{p}.proj_out.weight", (c, c, 1, 1), used), (f"{p}.proj_out.bias", (c,), used),
        ]
    out += [("conv_out.weight", (320, 256, 3, 3), True), ("conv_out.bias", (320,), True)]
    return out


def weight_std(key, shape):
    """Scales that keep activations O(1) through the stack (features std ~1, so 1e-4 is a real test), and make the
    attention neither uniform nor one-hot (rows peak at ~10-100x the uniform 1/L)."""
    if key.endswith("bias"):
        return 0.02
    if len(shape) == 1:  # norm weights are 1 + noise (handled by the caller)
        return 0.1
    fan_in = int(np.prod(shape[1:]))
    if "to_q" in key or "to_k" in key:
        return 8.0 / math.sqrt(fan_in)
    if key.startswith("conv_in") or key.startswith("blocks."):
        return 2.2 / math.sqrt(fan_in)
    return 1.0 / math.sqrt(fan_in)


def make_state_dict(seed, compact):
    """Random weights in the reference layout. compact=True: sparse values k*2^-e (|k| <= 15) for the large used
    tensors and a constant per unused tensor, so the committed .pth compresses well; compact=False: dense normal."""
    rng = np.random.default_rng(seed)
    sd = {}
    for idx, (key, shape, used) in enumerate(key_shapes()):
        n = int(np.prod(shape))
        if not used and compact:
            a = np.full(shape, 0.01 * (1 + idx % 7), np.float32)  # distractor: must not be picked up
        else:
            std = weight_std(key, shape)
            a = rng.standard_normal(shape) * std
            if len(shape) == 1 and key.endswith("weight"):
                a = 1.0 + a
            if compact:
                density = 1.0 if n <= 4096 else 0.12
                if density < 1.0:
                    a = a * (rng.random(shape) < density) / math.sqrt(density)
                e = math.floor(math.log2(max(std, 1e-8) / 4.0))  # ~4 steps per std, k in [-15, 15]
                a = np.clip(np.round(a / 2.0 ** e), -15, 15) * 2.0 ** e
        sd[key] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    return sd


def build(sd, dtype):
    m = GuidanceEncoder()
    m.load_state_dict(sd, strict=True)  # our own files: every key present (the pipeline itself uses strict=False)
    return m.to(dtype).eval()


# ----------------------------------------------------------------------------------------------------------------
# Fixtures


class _Forbidden:
    """Pickles as a reference to posix.system; only ever written, never loaded."""

    def __reduce__(self):
        return (os.system, ("true",))


def write_gz(path, data):
    """Deterministic gzip (no timestamp, no file name) so regenerating gives identical bytes."""
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as f:
            f.write(data)


def cmd_fixtures(args):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    fx = os.path.join(root, "fixtures")
    os.makedirs(fx, exist_ok=True)
    torch.manual_seed(0)
    sd = make_state_dict(seed=1234, compact=True)
    buf = io.BytesIO()
    torch.save(sd, buf)  # zip format (default since torch 1.6)
    pth_bytes = buf.getvalue()
    write_gz(os.path.join(fx, "gge_weights.pth.gz"), pth_bytes)
    torch.save({"conv_in.weight": sd["conv_in.weight"], "hook": _Forbidden()},
               os.path.join(fx, "gge_forbidden_global.pth"))

    model = build(sd, torch.float64)
    blobs, entries = [], {}
    offset = [0]

    def put(name, arr):
        arr = np.ascontiguousarray(arr)
        dt = "int32" if arr.dtype.kind in "iu" else "float32"
        raw = arr.astype(np.int32 if dt == "int32" else np.float32).tobytes()
        entries[name] = {"offset": offset[0], "length": int(arr.size), "shape": list(arr.shape), "dtype": dt}
        blobs.append(raw)
        offset[0] += len(raw)

    cases = [
        {"name": "small", "height": 64, "width": 64, "seeds": [0], "queries": [0, 27, 63], "full": True},
        {"name": "odd", "height": 44, "width": 60, "seeds": [1, 2], "queries": [0, 13, 47], "full": True},
        {"name": "full512", "height": 512, "width": 512, "seeds": [3], "queries": [0, 2080, 4095], "full": False},
    ]
    out_cases = []
    for case in cases:
        frames = [synth_frame(case["height"], case["width"], s) for s in case["seeds"]]
        x = frames_to_input(frames).to(torch.float64)
        taps = {}
        with torch.no_grad():
            feat = model(x, taps)
        hh, ww = feat.shape[2], feat.shape[3]
        prod = attention_products(taps, hh, ww, case["queries"])
        n = case["name"]
        info = dict(case, grid=[hh, ww], stats={})
        f = feat.numpy()
        info["stats"]["feature"] = {"mean": float(f.mean()), "std": float(f.std()), "min": float(f.min()),
                                    "max": float(f.max()), "meanAbs": float(np.abs(f).mean())}
        put(f"{n}.attn_received", prod["attn_received"].numpy())
        put(f"{n}.attn_out_norm", prod["attn_out_norm"].numpy())
        put(f"{n}.attn_delta_norm", prod["attn_delta_norm"].numpy())
        rows = prod["attn_rows"].numpy()  # (N, heads, Q, L)
        if case["full"]:
            put(f"{n}.feature", f)
            put(f"{n}.attn_rows", rows)
            put(f"{n}.attn_tokens", taps["tokens"].numpy()[:, :: max(1, hh * ww // 16), :])
        else:
            r = np.random.default_rng(7)
            fi = np.sort(r.choice(f.size, 4096, replace=False)).astype(np.int32)
            put(f"{n}.feature_index", fi)
            put(f"{n}.feature_values", f.reshape(-1)[fi])
            ki = np.sort(r.choice(hh * ww, 512, replace=False)).astype(np.int32)
            put(f"{n}.rows_key_index", ki)
            put(f"{n}.attn_rows_sampled", rows[..., ki])
            info["stats"]["rows_argmax"] = rows.argmax(-1).tolist()
            info["stats"]["rows_max"] = rows.max(-1).tolist()
        out_cases.append(info)

    write_gz(os.path.join(fx, "gge_golden.bin.gz"), b"".join(blobs))
    meta = {
        "generator": "test/gge/golden/gge_reference.py fixtures",
        "torch": torch.__version__,
        "precision": "float64",
        "weights": {"file": "gge_weights.pth.gz", "pthSha256": hashlib.sha256(pth_bytes).hexdigest(),
                    "pthBytes": len(pth_bytes), "seed": 1234},
        "forbidden": {"file": "gge_forbidden_global.pth", "global": "posix.system"},
        "cases": out_cases,
        "arrays": entries,
    }
    with open(os.path.join(fx, "gge_golden.json"), "w") as f:
        json.dump(meta, f, indent=1)
    sizes = {p: os.path.getsize(os.path.join(fx, p)) for p in sorted(os.listdir(fx))}
    print(json.dumps(sizes))


# ----------------------------------------------------------------------------------------------------------------
# Bench helpers


def cmd_make_pth(args):
    os.makedirs(args.out, exist_ok=True)
    files = {}
    for i, t in enumerate(TYPES):
        sd = make_state_dict(seed=args.seed + i, compact=False)
        p = os.path.join(args.out, f"guidance_encoder_{t}.pth")
        torch.save(sd, p)
        files[t] = p
    print(json.dumps(files))


def cmd_bench(args):
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    models = []
    for t in TYPES:
        sd = torch.load(os.path.join(args.weights, f"guidance_encoder_{t}.pth"), map_location="cpu")
        models.append(build(sd, torch.float32))
    load_s = time.perf_counter() - t0
    raw = np.fromfile(args.input, dtype=np.float32).reshape(1, 3, args.height, args.width)
    x = torch.from_numpy(raw)
    times = []
    with torch.no_grad():
        for r in range(args.repeats + 1):
            t0 = time.perf_counter()
            feats = [m(x) for m in models]
            total = torch.stack(feats).sum(0)
            dt = time.perf_counter() - t0
            if r > 0:  # the first run warms up
                times.append(dt)
    if args.dump:
        total.numpy().astype(np.float32).tofile(args.dump)
    print(json.dumps({"threads": torch.get_num_threads(), "times_s": times, "load_s": load_s,
                      "torch": torch.__version__}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fixtures")
    p = sub.add_parser("make-pth")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=100)
    p = sub.add_parser("bench")
    p.add_argument("--weights", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dump")
    args = ap.parse_args()
    {"fixtures": cmd_fixtures, "make-pth": cmd_make_pth, "bench": cmd_bench}[args.cmd](args)


if __name__ == "__main__":
    main()
