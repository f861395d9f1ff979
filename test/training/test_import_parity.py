"""Trainer checkpoints → our TypeScript importer → our ONNX sampler, against the trainer's own PyTorch sampler.

This is a pytest that calls node (rather than a TypeScript test over a committed fixture) because the point is the
whole chain on the trainer's CURRENT output: the checkpoints are written by the training run of this session, imported
by `node bin/magicportrait.js import` (the command users run, architecture derived from the files), and sampled by
src/kernel/diffusion/sample.ts through test/training/onnx_sample.ts. A committed fixture would only prove that an old
trainer once matched. CI has both runtimes (npm test runs this file through scripts/test.mjs).
"""
import json
import os
import subprocess

import numpy as np
import pytest
import torch

from conftest import ROOT
from training.base import load_vae, prompt_embedding
from training.cache import BICUBIC, LANCZOS, load_rgb
from training.config import load_config
from training.export import load_official
from training.models import MagicPortraitNet
from training.sampler import sample
from training.schedule import Schedule


def node(*args, timeout=300):
    p = subprocess.run(["node", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


def do_import(run, ckpts, motion, out):
    return node("bin/magicportrait.js", "import", "--sd15", os.path.join(run, "base"), "--vae", os.path.join(run, "base", "vae"),
                "--motion", os.path.join(ckpts, motion), "--ckpts", ckpts, "--out", out)


@pytest.fixture(scope="module")
def bundle(tiny_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bundle"))
    report = do_import(tiny_run, os.path.join(tiny_run, "stage2", "ckpts"), "motion_module-4.pth", out)
    return out, report


def test_import_covers_every_key(bundle, tiny_run):
    out, report = bundle
    assert "Key coverage: 100%" in report and "UNEXPECTED" not in report
    # every official file was read, nothing was left unaccounted
    for f in ("reference_unet.pth", "denoising_unet.pth", "motion_module-4.pth", "guidance_encoder_depth.pth"):
        line = next(l for l in report.splitlines() if l.endswith("unexpected") and f"/{f}:" in l)
        assert line.rstrip().endswith("0 unexpected") and " 0 used" not in line, line
    # the architecture came from the trainer's configs (arch 'auto')
    man = json.load(open(os.path.join(out, "manifest.json")))
    cfg = load_config("tiny")["model"]
    assert man["architecture"]["unet"]["blockOutChannels"] == cfg["unet"]["block_out_channels"]
    assert man["architecture"]["imageSize"] == cfg["image_size"]
    assert man["architecture"]["vae"]["scalingFactor"] == pytest.approx(json.load(open(os.path.join(tiny_run, "base", "vae", "config.json")))["scaling_factor"])


def test_stage1_checkpoints_import_too(tiny_run, tmp_path):
    report = do_import(tiny_run, os.path.join(tiny_run, "stage1", "ckpts"), "motion_module-0.pth", str(tmp_path / "b1"))
    assert "Key coverage: 100%" in report


def test_prompt_embedding_equals_the_typescript_text_encoder(bundle, tiny_run):
    ours = prompt_embedding(os.path.join(tiny_run, "base")).numpy()
    ts = np.load(os.path.join(bundle[0], "text_embeds.npy"))
    assert ts.shape == ours.shape == (1, 77, load_config("tiny")["model"]["text"]["hidden_size"])
    assert np.abs(ts - ours).max() < 1e-5


@pytest.mark.parametrize("steps", [1, 3])
def test_onnx_sampler_matches_the_pytorch_sampler(bundle, tiny_run, toy_data, tmp_path, steps):
    """The same weights, reference, guidance maps and initial noise; 6 frames in windows of 4 with overlap 1 (two
    windows, one wrapping around). steps = 1 is one denoising step: from t = 999, where ᾱ = 0, the result is −v."""
    cfg = load_config("tiny")
    ck = os.path.join(tiny_run, "stage2", "ckpts")
    net = MagicPortraitNet(cfg["model"], motion=True)
    load_official(net, ck, os.path.join(ck, "motion_module-4.pth"))
    vae = load_vae(os.path.join(tiny_run, "base", "vae"))
    text = prompt_embedding(os.path.join(tiny_run, "base"))
    clip = os.path.join(toy_data, "val", "id00003_c00")
    names = json.load(open(os.path.join(clip, "meta.json")))["frames"][:6]
    S = cfg["model"]["image_size"]
    ref = load_rgb(os.path.join(clip, "images", names[0]), S, LANCZOS)
    maps = {t: np.stack([load_rgb(os.path.join(clip, t, n), S, BICUBIC) for n in names]) for t in net.types}
    noise = torch.randn(1, 4, 6, S // 8, S // 8, generator=torch.Generator().manual_seed(11))
    np.save(str(tmp_path / "noise.npy"), noise.numpy())
    ctx = {"size": 4, "overlap": 1}
    out = sample(net, vae, Schedule(cfg["schedule"]), text, ref, maps, steps, 3.5, noise=noise[0].permute(1, 0, 2, 3), context=ctx, decode=False)
    assert out["windows"] == [[0, 1, 2, 3], [3, 4, 5, 0]]
    spec = {"bundle": bundle[0], "clip": clip, "frames": 6, "steps": steps, "guidanceScale": 3.5, "noise": str(tmp_path / "noise.npy"),
            "context": ctx, "out": str(tmp_path / "ts.npy")}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    node("--import", "tsx", "test/training/onnx_sample.ts", str(tmp_path / "spec.json"))
    ts, pt = np.load(str(tmp_path / "ts.npy")), out["latents"].numpy()
    rel = np.abs(ts - pt).max() / np.abs(pt).max()
    assert rel < 1e-3, rel
