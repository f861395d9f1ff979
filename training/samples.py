"""Training samples of both stages, drawn deterministically from (seed, stage, step, global sample index).

Stage 1 item = one (clip, frame): the target is that frame, the reference a different random frame of the same clip.
Stage 2 item = one clip: a random run of `frames` consecutive kept frames plus a random reference frame of the clip.
Per sample, in this order: the item (per-epoch permutation), the reference frame, [the run start], the timestep
t ~ U[0, 1000), the latent sampling noise, the diffusion noise, the noise offset (per channel, shared by the frames),
the reference dropout. Latents are scaled by the VAE's scaling factor; the reference uses the distribution mean (as
inference does), the target a sample.
"""
import numpy as np
import torch

from .data import DatasetError, Epochs, generator


class SampleSource:
    def __init__(self, arrays, stage, frames, seed, scaling, train_steps=1000, noise_offset=0.05, uncond_ratio=0.1):
        self.arrays = list(arrays.values())
        self.stage, self.frames, self.seed, self.scaling = stage, frames, seed, scaling
        self.train_steps, self.noise_offset, self.uncond_ratio = train_steps, noise_offset, uncond_ratio
        if stage == 1:
            self.items = [(a, i) for a in self.arrays for i in range(len(a.clip.frames))]
        else:
            self.items = [(a, a.clip.runs(frames)) for a in self.arrays]
            self.items = [(a, r) for a, r in self.items if r]
            if not self.items:
                longest = max(len(a.clip.frames) for a in self.arrays)
                raise DatasetError(f"no clip has {frames} consecutive kept frames (stage 2 needs runs of {frames}; the longest clip has {longest} frames, gaps in the frame numbers split runs)")
        self.epochs = Epochs(len(self.items), seed, f"stage{stage}")

    def sample(self, step, n):
        """Global sample `n` (= step · global batch + position in the batch) of global step `step`."""
        g = generator(self.seed, f"stage{self.stage}", step, n)
        item = self.items[self.epochs.item(n)]
        a = item[0]
        nf = len(a.clip.frames)
        if self.stage == 1:
            tgt = [item[1]]
            others = [i for i in range(nf) if i != tgt[0]] or [tgt[0]]
            ref = others[int(torch.randint(len(others), (1,), generator=g))]
        else:
            ref = int(torch.randint(nf, (1,), generator=g))
            s = item[1][int(torch.randint(len(item[1]), (1,), generator=g))]
            tgt = list(range(s, s + self.frames))
        t = int(torch.randint(self.train_steps, (1,), generator=g))
        lat = torch.from_numpy(np.array(a.latents[tgt], dtype=np.float32))
        c = lat.shape[1] // 2
        eps = torch.randn(lat[:, :c].shape, generator=g)
        x0 = (lat[:, :c] + lat[:, c:] * eps) * self.scaling
        noise = torch.randn(x0.shape, generator=g)
        offset = torch.randn(1, c, 1, 1, generator=g)
        noise = noise + self.noise_offset * offset
        keep = bool(torch.rand((), generator=g) >= self.uncond_ratio)
        ref_lat = torch.from_numpy(np.array(a.latents[ref, :c], dtype=np.float32)) * self.scaling
        maps = torch.from_numpy(np.array(a.maps[tgt]))  # (F, T, 3, S, S) uint8
        return {"x0": x0, "noise": noise, "t": t, "keep": keep, "ref": ref_lat, "maps": maps}

    def batch(self, step, lo, hi, batch):
        """Samples lo … hi−1 of global step `step` (global batch size `batch`), stacked: x0/noise (n·F, C, h, w),
        t (n,), keep (n,), ref (n, C, h, w), maps (n·F, T, 3, S, S) uint8."""
        ss = [self.sample(step, step * batch + i) for i in range(lo, hi)]
        return {"x0": torch.cat([s["x0"] for s in ss]), "noise": torch.cat([s["noise"] for s in ss]),
                "t": torch.tensor([s["t"] for s in ss]), "keep": torch.tensor([s["keep"] for s in ss]),
                "ref": torch.stack([s["ref"] for s in ss]), "maps": torch.cat([s["maps"] for s in ss])}
