"""The trainer's own sampler, the same algorithm as our ONNX sampler (src/kernel/diffusion/sample.ts) and the
reference (reference-pipeline.md §7.8):

  z_r  = s · VAE.mean(2·ref/255 − 1)                  s = the VAE's scaling factor (0.18215 for sd-vae-ft-mse)
  bank = fp16(reference-UNet norm1 taps (z_r, t = 0, E))
  G    = Σ_type GGE_type(map/255)                     per frame
  x    = randn(1, C, F, h, w) from a CPU generator seeded `seed` (= our TypeScript `seededLatentNoise`), or given
  for t in trailing DDIM timesteps:
      for each context window w (12 frames, overlap 1, closed loop):  v_u[w] += UNet(x[w], no bank), v_c[w] += UNet(x[w], bank)
      v = avg(v_u) + scale·(avg(v_c) − avg(v_u));  x = DDIM_v(x, v, t)
  frames = clamp(VAE.dec(x / s)/2 + 0.5, 0, 1), one frame at a time

so that it serves both for validation during training and as the PyTorch side of the parity test against our
sampler. Everything runs in float32 except the fp16 bank.
"""
import numpy as np
import torch


def context_windows(frames, size=12, overlap=1, closed_loop=True):
    """The reference's 'uniform' context windows at step 0 (stride 1): starts every size − overlap frames while
    start < F, wrapping around the end; F ≤ size is one window."""
    if frames <= size:
        return [list(range(frames))]
    out, start = [], 0
    end = frames if closed_loop else frames - overlap
    while start < end:
        out.append([(start + k) % frames for k in range(size)])
        start += size - overlap
    return out


def initial_noise(seed, frames, channels, size):
    """torch.randn((1, C, F, h, w)) on a CPU generator, returned frame-major (F, C, h, w)."""
    x = torch.randn((1, channels, frames, size, size), generator=torch.Generator().manual_seed(int(seed)))
    return x[0].permute(1, 0, 2, 3).contiguous()


def maps_to_tensor(maps_u8, types, device):
    """dict type → uint8 (F, S, S, 3) → dict type → float (F, 3, S, S) in [0, 1]."""
    return {t: torch.from_numpy(np.ascontiguousarray(maps_u8[t])).to(device).permute(0, 3, 1, 2).float() / 255.0 for t in types}


@torch.no_grad()
def sample(net, vae, schedule, text, ref_u8, maps_u8, steps=20, guidance_scale=3.5, seed=42, noise=None,
           context=None, should_stop=None, device="cpu", decode=True):
    """Returns {'latents': (F, C, h, w) final latents, 'frames': uint8 (F, S, S, 3) or None, 'windows', 'timesteps'}.
    `net` is a MagicPortraitNet (its denoising UNet may have motion modules), `ref_u8` uint8 (S, S, 3)."""
    net_was, vae_was = net.training, vae.training
    net.eval()
    vae.eval()
    try:
        ctx = dict(size=12, overlap=1)
        ctx.update(context or {})
        sf = vae.scaling_factor
        ref = torch.from_numpy(np.ascontiguousarray(ref_u8)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
        z_r = vae.encode(ref)[0] * sf
        bank = net.reference_unet(z_r, text)
        m = maps_to_tensor(maps_u8, net.types, device)
        F_ = next(iter(m.values())).shape[0]
        g = torch.cat([net.guidance_features({t: m[t][i:i + 1] for t in net.types}) for i in range(F_)])
        C = net.denoising_unet.conv_in.in_channels
        h = z_r.shape[-1]
        x = (initial_noise(seed, F_, C, h) if noise is None else torch.as_tensor(noise, dtype=torch.float32)).to(device)
        windows = context_windows(F_, ctx["size"], ctx["overlap"])
        ts = schedule.ddim_timesteps(steps)
        for t in ts:
            acc_u = torch.zeros_like(x)
            acc_c = torch.zeros_like(x)
            cnt = torch.zeros(F_, device=device)
            for w in windows:
                if should_stop is not None and should_stop():
                    return None
                xs, gs = x[w], g[w]
                tt = torch.tensor([t], device=device)
                acc_u[w] += net.denoising_unet(xs, tt, text, gs, None, None, len(w))
                acc_c[w] += net.denoising_unet(xs, tt, text, gs, bank, None, len(w))
                cnt[w] += 1
            vu = acc_u / cnt[:, None, None, None]
            vc = acc_c / cnt[:, None, None, None]
            v = vu + guidance_scale * (vc - vu)
            x, _ = schedule.ddim_step(v, t, x, steps)
        frames = None
        if decode:
            frames = np.stack([decode_frame(vae, x[i:i + 1]) for i in range(F_)])
        return {"latents": x, "frames": frames, "windows": windows, "timesteps": ts}
    finally:
        net.train(net_was)
        vae.train(vae_was)


@torch.no_grad()
def decode_frame(vae, z):
    """(1, C, h, w) scaled latent → uint8 (S, S, 3) = trunc(255 · clamp(dec(z/s)/2 + 0.5, 0, 1))."""
    y = vae.decode(z / vae.scaling_factor)[0].float()
    y = (y / 2 + 0.5).clamp(0, 1)
    return (y * 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
