"""The training schedule is the one our sampler runs: ᾱ at the 20 trailing timesteps equals reference-pipeline.md
§7.5's table (float64 values); the objective's identities hold; safetensors round-trips."""
import pytest
import torch

from training.checkpoint_io import WeightFileError, read_safetensors, write_safetensors
from training.config import SCHEDULE
from training.schedule import Schedule

# reference-pipeline.md §7.5 (linear betas 0.00085–0.012, zero-terminal-SNR)
TABLE = {999: 0.0, 949: 0.0002014478, 899: 0.0010373955, 849: 0.0029920018, 799: 0.0067744995, 749: 0.0133681844,
         699: 0.0240623042, 649: 0.0404493635, 599: 0.0643681223, 549: 0.0977743914, 499: 0.1425293828, 449: 0.2001095823,
         399: 0.2712618590, 349: 0.3556494796, 299: 0.4515534692, 249: 0.5557028563, 199: 0.6633010528, 149: 0.7682911767,
         99: 0.8638624672, 49: 0.9431503150}


def test_alphas_cumprod_match_the_reference_table():
    s = Schedule(SCHEDULE)
    ts = s.ddim_timesteps(20)
    assert ts == sorted(TABLE, reverse=True)
    for t, want in TABLE.items():
        assert abs(float(s.alphas_cumprod[t]) - want) < 5e-7, t
    assert float(s.alphas_cumprod[999]) == 0.0  # zero terminal SNR


def test_objective_identities():
    s = Schedule(SCHEDULE)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 4, 3, 3, generator=g), torch.randn(5, 4, 3, 3, generator=g)
    t = torch.tensor([0, 250, 500, 998, 999])
    xt, v = s.add_noise(x0, eps, t), s.velocity(x0, eps, t)
    a = s.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    # x0 = √ᾱ x_t − √(1−ᾱ) v and ε = √ᾱ v + √(1−ᾱ) x_t (what DDIM inverts)
    assert torch.allclose(a.sqrt() * xt - (1 - a).sqrt() * v, x0, atol=1e-5)
    assert torch.allclose(a.sqrt() * v + (1 - a).sqrt() * xt, eps, atol=1e-5)
    # one DDIM step with the true v lands on the forward process at the previous timestep
    prev, x0h = s.ddim_step(v[2:3], 500, xt[2:3], 20)
    assert torch.allclose(x0h, x0[2:3], atol=1e-5)
    assert torch.allclose(prev, s.add_noise(x0[2:3], eps[2:3], torch.tensor([450])), atol=1e-5)
    # Min-SNR-γ for v-prediction: min(SNR, 5)/(SNR + 1); 0 at the terminal step, 5/(SNR+1) at low noise
    w = s.min_snr_weight(t, 5.0)
    snr = (a / (1 - a)).flatten().double()
    assert w[-1] == 0 and abs(float(w[0]) - 5 / (float(snr[0]) + 1)) < 1e-6
    assert abs(float(w[2]) - min(float(snr[2]), 5) / (float(snr[2]) + 1)) < 1e-6


def test_safetensors_round_trip_and_errors(tmp_path):
    sd = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor([1.5, -2.0], dtype=torch.float16),
          "c": torch.tensor([0.1, 3e38], dtype=torch.bfloat16), "d": torch.tensor([7], dtype=torch.int64), "e": torch.zeros(0, 4)}
    p = str(tmp_path / "x.safetensors")
    write_safetensors(sd, p)
    back = read_safetensors(p)
    assert list(back) == list(sd)
    for k in sd:
        assert back[k].dtype == sd[k].dtype and torch.equal(back[k], sd[k])
    raw = open(p, "rb").read()
    (tmp_path / "cut.safetensors").write_bytes(raw[:-4])
    with pytest.raises(WeightFileError, match="cut.safetensors.*'e'|cut.safetensors.*truncated|cut.safetensors"):
        read_safetensors(str(tmp_path / "cut.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(WeightFileError, match="junk.safetensors"):
        read_safetensors(str(tmp_path / "junk.safetensors"))
