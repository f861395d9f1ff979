#!/usr/bin/python3
"""Full-size (REFERENCE_ARCH) SPARSE checkpoints in the real layouts: safetensors headers with the real key names and
shapes, data left as holes (zeros; ~12 GB apparent, < 1 MB on disk). For the header-only estimate and the by-hand
test/diffusion/fullsize-check.ts. Not used by the unit tests.

    /usr/bin/python3 test/diffusion/golden/import_fullsize_sparse.py /tmp/fullsize/files

Key counts it produces: SD 1.5 UNet 686, motion module 588 (21 modules × 28), VAE 248, guidance encoder 149.
"""
import sys, json, os, struct
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import import_synthetic as g
import numpy as np
OUT = sys.argv[1] if len(sys.argv) > 1 else '/tmp/fullsize/files'
U = dict(block_out=[320, 640, 1280, 1280], cross=[True, True, True, False], layers=2, cross_dim=768, max_len=32, groups=32, heads=8)
V = dict(block_out=[128, 256, 512, 512], layers=2, latent=4, groups=32)
G = dict(block_out=[16, 32, 96, 256], out=320)
def sparse_st(keys, path, itemsize):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    hdr, off = {}, 0
    for k, s in keys.items():
        n = int(np.prod(s)) * itemsize
        hdr[k] = {"dtype": "F16" if itemsize == 2 else "F32", "shape": s, "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(hdr).encode(); h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h)
    os.truncate(path, 8 + len(h) + off)
k2, km = g.unet_keys(U, True)
cfg = {"in_channels": 4, "out_channels": 4, "block_out_channels": U["block_out"], "layers_per_block": 2, "cross_attention_dim": 768, "norm_num_groups": 32,
       "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], "use_linear_projection": False}
os.makedirs(OUT + '/sd15/unet', exist_ok=True); os.makedirs(OUT + '/vae', exist_ok=True)
json.dump(cfg, open(OUT + '/sd15/unet/config.json', 'w'))
json.dump({"block_out_channels": V["block_out"], "layers_per_block": 2, "latent_channels": 4}, open(OUT + '/vae/config.json', 'w'))
sparse_st(k2, OUT + '/sd15/unet/diffusion_pytorch_model.safetensors', 2)
sparse_st(km, OUT + '/mm.safetensors', 4)
den = dict(k2); den.update(km)
sparse_st(den, OUT + '/ckpts/denoising_unet.safetensors', 4)
sparse_st(k2, OUT + '/ckpts/reference_unet.safetensors', 4)
for t in ("depth", "normal", "render"): sparse_st(g.gge_keys(G), OUT + f'/ckpts/guidance_encoder_{t}.safetensors', 4)
sparse_st(g.vae_keys(V, old=True), OUT + '/vae/diffusion_pytorch_model.safetensors', 4)
print(len(k2), len(km))
