#!/usr/bin/python3
"""Safetensors HEADERS (key names, dtypes, shapes; no data) of full-size (REFERENCE_ARCH) checkpoints in the real
layouts, the same files import_fullsize_sparse.py writes as sparse files, as one small gzipped JSON fixture. The unit
test test/diffusion/fullsize.test.ts turns them back into sparse files (header + a hole) and plans an import over
them, so the full-size key list comes from the diffusers / AnimateDiff layout, independently of the graph builders.

    /usr/bin/python3 test/diffusion/golden/fullsize_headers.py

writes test/diffusion/fixtures/fullsize_headers.json.gz: {"configs": {path: json}, "files": {path: {key: [dtype, shape]}}}
"""
import gzip, json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import import_synthetic as g

U = dict(block_out=[320, 640, 1280, 1280], cross=[True, True, True, False], layers=2, cross_dim=768, max_len=32, groups=32, heads=8)
V = dict(block_out=[128, 256, 512, 512], layers=2, latent=4, groups=32)
G = dict(block_out=[16, 32, 96, 256], out=320)

k2, km = g.unet_keys(U, True)
den = dict(k2)
den.update(km)
files = {
    'sd15/unet/diffusion_pytorch_model.safetensors': ('F16', k2),
    'mm.safetensors': ('F32', km),
    'ckpts/denoising_unet.safetensors': ('F32', den),
    'ckpts/reference_unet.safetensors': ('F32', k2),
    'vae/diffusion_pytorch_model.safetensors': ('F32', g.vae_keys(V, old=True)),
}
for t in ('depth', 'normal', 'render'):
    files[f'ckpts/guidance_encoder_{t}.safetensors'] = ('F32', g.gge_keys(G))
configs = {
    'sd15/unet/config.json': {"in_channels": 4, "out_channels": 4, "block_out_channels": U["block_out"], "layers_per_block": 2,
                              "cross_attention_dim": 768, "norm_num_groups": 32,
                              "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], "use_linear_projection": False},
    'vae/config.json': {"block_out_channels": V["block_out"], "layers_per_block": 2, "latent_channels": 4},
}
out = {"configs": configs, "files": {p: {k: [dt, list(s)] for k, s in keys.items()} for p, (dt, keys) in files.items()}}
path = os.path.join(HERE, '..', 'fixtures', 'fullsize_headers.json.gz')
with gzip.GzipFile(path, 'wb', mtime=0) as f:
    f.write(json.dumps(out, separators=(',', ':')).encode())
print(path, {p: len(k) for p, (_, k) in files.items()})
