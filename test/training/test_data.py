"""Dataset checks (clear errors naming the clip / folder / file) and the deterministic sample stream."""
import os
import shutil

import pytest
import torch

from conftest import run_cli
from synthetic_data import make_dataset, write_clip
from training.cache import build_cache
from training.data import DatasetError, Epochs, scan_split
from training.models import AutoencoderKL
from training.samples import SampleSource

TYPES = ["depth", "normal", "render"]


@pytest.fixture
def data(tmp_path):
    return make_dataset(str(tmp_path / "d"), size=16, identities=(0, 1), clips=1, frames=4)


def test_missing_guidance_folder(data):
    shutil.rmtree(os.path.join(data, "train", "id00001_c00", "normal"))
    with pytest.raises(DatasetError, match=r"train/id00001_c00: the guidance folder normal/ is missing"):
        scan_split(data, "train", TYPES)


def test_mismatched_frame_counts(data):
    os.remove(os.path.join(data, "train", "id00000_c00", "render", "frame_000002.png"))
    with pytest.raises(DatasetError, match=r"id00000_c00: render/ has 3 frames, images/ has 4 \(missing frame_000002.png\)"):
        scan_split(data, "train", TYPES)


def test_unreadable_image_names_the_file(data, tmp_path):
    bad = os.path.join(data, "train", "id00001_c00", "depth", "frame_000003.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really a png")
    clips = scan_split(data, "train", TYPES)
    vae = AutoencoderKL({"block_out_channels": [8, 8, 8, 8], "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 4})
    with pytest.raises(DatasetError, match=r"cannot read image .*id00001_c00/depth/frame_000003.png"):
        build_cache(clips, vae, TYPES, 16, str(tmp_path / "cache"), log=lambda m: None)
    # nothing half-written: no cache entry for the failing clip
    entries = os.listdir(str(tmp_path / "cache" / "clips"))
    assert all(not e.startswith(".tmp") for e in entries)


def test_no_complete_clips(data):
    for c in ("id00000_c00", "id00001_c00"):
        os.remove(os.path.join(data, "train", c, "meta.json"))
    os.remove(os.path.join(data, "dataset.json"))
    with pytest.raises(DatasetError, match=r"no complete clips in 'train' \(2 clip folder\(s\) without meta.json"):
        scan_split(data, "train", TYPES)


def test_dataset_json_lists_a_missing_clip(data):
    os.remove(os.path.join(data, "train", "id00001_c00", "meta.json"))
    with pytest.raises(DatasetError, match=r"dataset.json lists 1 train clip\(s\) that are missing or incomplete, e.g. id00001_c00"):
        scan_split(data, "train", TYPES)


def test_cli_reports_dataset_errors_without_a_traceback(data, tmp_path):
    shutil.rmtree(os.path.join(data, "train", "id00000_c00", "depth"))
    p = run_cli("stage1", "--config", "tiny", "--data", data, "--run", str(tmp_path / "r"), check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "id00000_c00: the guidance folder depth/ is missing" in p.stderr


def test_runs_respect_gaps_and_stage2_needs_a_run(tmp_path):
    root = str(tmp_path / "g")
    write_clip(root, "train", 0, 0, 16, 6, gaps=(3,))  # frames 0 1 2 _ 4 5 6
    clip = scan_split(root, "train", TYPES)[0]
    assert clip.numbers == [0, 1, 2, 4, 5, 6]
    assert clip.runs(3) == [0, 3] and clip.runs(4) == []
    vae = AutoencoderKL({"block_out_channels": [8, 8, 8, 8], "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 4})
    arrays = build_cache([clip], vae, TYPES, 16, str(tmp_path / "c"), log=lambda m: None)
    with pytest.raises(DatasetError, match="no clip has 4 consecutive kept frames"):
        SampleSource(arrays, 2, 4, 0, 1.0)
    src = SampleSource(arrays, 2, 3, 0, 1.0)
    for n in range(10):  # every drawn run is gap-free
        s = src.sample(0, n)
        assert s["x0"].shape[0] == 3


def test_samples_do_not_depend_on_how_the_batch_is_split(data, tmp_path):
    clips = scan_split(data, "train", TYPES)
    vae = AutoencoderKL({"block_out_channels": [8, 8, 8, 8], "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 4})
    arrays = build_cache(clips, vae, TYPES, 16, str(tmp_path / "c"), log=lambda m: None)
    # the cache is content-keyed: a second build reuses every entry
    again = build_cache(clips, vae, TYPES, 16, str(tmp_path / "c"), log=lambda m: (_ for _ in ()).throw(AssertionError(m)))
    assert [a.latents.filename for a in arrays.values()] == [a.latents.filename for a in again.values()]
    src = SampleSource(arrays, 1, 1, 7, 0.5)
    whole = src.batch(3, 0, 8, 8)
    halves = [src.batch(3, 0, 4, 8), src.batch(3, 4, 8, 8)]
    for k in whole:
        assert torch.equal(whole[k], torch.cat([h[k] for h in halves]))
    other = src.batch(4, 0, 8, 8)
    assert not torch.equal(whole["noise"], other["noise"])


def test_epochs_visit_every_item_once():
    e = Epochs(7, 3, "s")
    for ep in range(3):
        assert sorted(e.item(ep * 7 + i) for i in range(7)) == list(range(7))
    assert [e.item(i) for i in range(7)] != [e.item(7 + i) for i in range(7)]
