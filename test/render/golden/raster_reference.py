#!/usr/bin/env python3
# Independent numpy reference for src/kernel/render (MagicPortrait guidance maps).
#
# Regenerate the committed fixtures (from the repository root; Debian numpy, NOT the python3 on PATH):
#     /usr/bin/python3 test/render/golden/raster_reference.py
# Time one 512x512 frame, all three maps, FLAME-sized mesh (used by bench/render.ts; prints one JSON line and
# writes nothing):
#     /usr/bin/python3 test/render/golden/raster_reference.py --bench 3
# Render the demo-head cases (inputs written by make_demo_cases.ts, see there for the full command):
#     /usr/bin/python3 test/render/golden/raster_reference.py --demo
# Render an arbitrary case given as an .npz of inputs:
#     /usr/bin/python3 test/render/golden/raster_reference.py --case IN.npz OUTDIR
#
# Written from docs/reference-pipeline.md (§1.4, §2.5, §2.6, §5), NOT from the TypeScript. It is deliberately a
# different algorithm from ours: a *fragment list* rasteriser. Every (pixel, face) pair inside a face's bounding
# box is evaluated at once with numpy, the fragments that pass the inside test are sorted by (pixel, z, face
# index) and the first one per pixel wins. All arithmetic is float32 in the operation order of pytorch3d 0.7.8
# (rasterize_meshes), DECA (SRenderY, render_depth, vertex_normals, transform_points, batch_orth_proj),
# torch.nn.functional.grid_sample (bilinear, zeros, align_corners=False) and torchvision save_image. Like DECA it
# rasterises twice: once with z - min z + 10 for the depth map and once with that + 10 for everything else.
#
# Fixtures (test/render/fixtures/):
#   synthetic_mesh.npz   the FLAME-sized synthetic head: 5023 vertices, 9976 faces (head shell with a neck opening
#                        plus two eyeballs that pierce it), UV topology with seams, a 68-point landmark embedding
#   synthetic_cases.npz  per case: rotation (the vertices are rebuilt from it, see rotate_about), cam, tform, light,
#                        world landmarks; for one case the first vertices projected and placed (camera check)
#   <case>_{depth,normal,render,mask,landmarks}.png   8-bit maps (depth and mask as 1-channel grey PNGs)
import json
import os
import struct
import sys
import time
import zlib

import numpy as np

F32 = np.float32
EPS = F32(1e-8)
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, '..', 'fixtures'))

# ------------------------------------------------------------------------------------------------ constants (§5.1)
SH_FACTORS = np.array([
    1 / np.sqrt(4 * np.pi),
    (2 * np.pi / 3) * np.sqrt(3 / (4 * np.pi)),
    (2 * np.pi / 3) * np.sqrt(3 / (4 * np.pi)),
    (2 * np.pi / 3) * np.sqrt(3 / (4 * np.pi)),
    (np.pi / 4) * 3 * np.sqrt(5 / (12 * np.pi)),
    (np.pi / 4) * 3 * np.sqrt(5 / (12 * np.pi)),
    (np.pi / 4) * 3 * np.sqrt(5 / (12 * np.pi)),
    (np.pi / 4) * (3 / 2) * np.sqrt(5 / (12 * np.pi)),
    (np.pi / 4) * (1 / 2) * np.sqrt(5 / (4 * np.pi)),
], dtype=np.float64).astype(F32)


# ------------------------------------------------------------------------------------------------ camera (§2.6, §1.4)
def orth_project(verts, cam):
    """batch_orth_proj then DECA's negation of y and z: 224-crop NDC, +y down, smaller z nearer."""
    s, tx, ty = F32(cam[0]), F32(cam[1]), F32(cam[2])
    out = np.empty_like(verts, dtype=F32)
    out[:, 0] = s * (verts[:, 0] + tx)
    out[:, 1] = -(s * (verts[:, 1] + ty))
    out[:, 2] = -(s * verts[:, 2])
    return out


def transform_points(pts, tform, out_h, out_w, crop=224):
    """transform_points: crop NDC -> crop pixels (x224, the 224-vs-223 quirk) -> [u v 1]·tform -> image NDC."""
    tform = tform.astype(F32)
    u = (pts[:, 0] * F32(0.5) + F32(0.5)) * F32(crop)
    v = (pts[:, 1] * F32(0.5) + F32(0.5)) * F32(crop)
    uo = (u * tform[0, 0] + v * tform[1, 0]) + tform[2, 0]
    vo = (u * tform[0, 1] + v * tform[1, 1]) + tform[2, 1]
    out = np.empty_like(pts, dtype=F32)
    out[:, 0] = uo / F32(out_w) * F32(2) - F32(1)
    out[:, 1] = vo / F32(out_h) * F32(2) - F32(1)
    out[:, 2] = pts[:, 2]
    return out


# ------------------------------------------------------------------------------------------------ rasteriser (§5.2)
def edge(px, py, ax, ay, bx, by):
    """pytorch3d EdgeFunctionForward(p, a, b) = (p - a) x (b - a), float32."""
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax)


def rasterize(v, faces, H, W):
    """Returns pix_to_face (H, W) int64 with -1 for background and bary (H, W, 3) float32 (unclipped)."""
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    f0, f1, f2 = faces[:, 0], faces[:, 1], faces[:, 2]
    x0, y0, z0 = x[f0], y[f0], z[f0]
    x1, y1, z1 = x[f1], y[f1], z[f1]
    x2, y2, z2 = x[f2], y[f2], z[f2]
    face_area = edge(x0, y0, x1, y1, x2, y2)
    zmin = np.minimum(np.minimum(z0, z1), z2)
    xmin = np.minimum(np.minimum(x0, x1), x2)
    xmax = np.maximum(np.maximum(x0, x1), x2)
    ymin = np.minimum(np.minimum(y0, y1), y2)
    ymax = np.maximum(np.maximum(y0, y1), y2)
    ok = ~((face_area <= EPS) & (face_area >= -EPS)) & ~(zmin < EPS)
    # candidate pixel ranges (one pixel of slack; the exact float32 bbox test below decides)
    j0 = np.floor((xmin.astype(np.float64) + 1) * W / 2 - 0.5).astype(np.int64) - 1
    j1 = np.ceil((xmax.astype(np.float64) + 1) * W / 2 - 0.5).astype(np.int64) + 1
    i0 = np.floor((ymin.astype(np.float64) + 1) * H / 2 - 0.5).astype(np.int64) - 1
    i1 = np.ceil((ymax.astype(np.float64) + 1) * H / 2 - 0.5).astype(np.int64) + 1
    j0, j1 = np.clip(j0, 0, W - 1), np.clip(j1, 0, W - 1)
    i0, i1 = np.clip(i0, 0, H - 1), np.clip(i1, 0, H - 1)
    ok &= (xmax >= F32(-1)) & (xmin <= F32(1)) & (ymax >= F32(-1)) & (ymin <= F32(1))
    nj, ni = j1 - j0 + 1, i1 - i0 + 1
    ok &= (nj > 0) & (ni > 0)
    idx = np.nonzero(ok)[0]
    key = ni[idx] * 100000 + nj[idx]
    frag_pix, frag_z, frag_face, frag_w = [], [], [], []
    for k in np.unique(key):
        g = idx[key == k]
        h, w = int(ni[g[0]]), int(nj[g[0]])
        jj = j0[g][:, None, None] + np.arange(w)[None, None, :]
        ii = i0[g][:, None, None] + np.arange(h)[None, :, None]
        jj, ii = np.broadcast_arrays(jj, ii)
        # pixel centres in DECA NDC: x = (2j+1)/W - 1, y = (2i+1)/H - 1 (exact in float32). pytorch3d works on the
        # negated coordinates; negating every x and y changes no product in the edge functions, so this is exact.
        px = (2 * jj + 1).astype(F32) / F32(W) - F32(1)
        py = (2 * ii + 1).astype(F32) / F32(H) - F32(1)
        X0, Y0, Z0 = x0[g][:, None, None], y0[g][:, None, None], z0[g][:, None, None]
        X1, Y1, Z1 = x1[g][:, None, None], y1[g][:, None, None], z1[g][:, None, None]
        X2, Y2, Z2 = x2[g][:, None, None], y2[g][:, None, None], z2[g][:, None, None]
        inbox = (px >= xmin[g][:, None, None]) & (px <= xmax[g][:, None, None]) & \
                (py >= ymin[g][:, None, None]) & (py <= ymax[g][:, None, None])
        area = edge(X2, Y2, X0, Y0, X1, Y1) + EPS          # BarycentricCoordsForward
        w0 = edge(px, py, X1, Y1, X2, Y2) / area
        w1 = edge(px, py, X2, Y2, X0, Y0) / area
        w2 = edge(px, py, X0, Y0, X1, Y1) / area
        pz = w0 * Z0 + w1 * Z1 + w2 * Z2
        inside = inbox & (w0 > 0) & (w1 > 0) & (w2 > 0) & ~(pz < 0)
        sel = np.nonzero(inside)
        frag_pix.append(ii[sel] * W + jj[sel])
        frag_z.append(pz[sel])
        frag_face.append(np.broadcast_to(g[:, None, None], inside.shape)[sel])
        frag_w.append(np.stack([w0[sel], w1[sel], w2[sel]], axis=-1))
    pix_to_face = np.full(H * W, -1, dtype=np.int64)
    bary = np.zeros((H * W, 3), dtype=F32)
    if frag_pix:
        pix = np.concatenate(frag_pix)
        fz = np.concatenate(frag_z)
        ff = np.concatenate(frag_face)
        fw = np.concatenate(frag_w)
        # nearest z wins; exact ties keep the first face encountered, i.e. the lowest face index
        order = np.lexsort((ff, fz, pix))
        pix_s = pix[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = pix_s[1:] != pix_s[:-1]
        win = order[first]
        pix_to_face[pix[win]] = ff[win]
        bary[pix[win]] = fw[win]
    return pix_to_face.reshape(H, W), bary.reshape(H, W, 3)


def interpolate(pix_to_face, bary, faces, attr):
    """Pytorch3dRasterizer attribute gather: sum_k w_k * attr_k (unclipped), 0 on background. attr: (V, D)."""
    fa = attr[faces]                                   # (F, 3, D)
    f = np.maximum(pix_to_face, 0)
    vals = fa[f]                                       # (H, W, 3, D)
    out = (bary[..., 0:1] * vals[..., 0, :] + bary[..., 1:2] * vals[..., 1, :]) + bary[..., 2:3] * vals[..., 2, :]
    out[pix_to_face < 0] = 0
    return out.astype(F32)


# ------------------------------------------------------------------------------------------------ maps (§5.3–§5.5)
def vertex_normals(verts, faces):
    """util.vertex_normals: area-weighted face normals added to each corner, then n / max(|n|, 1e-6)."""
    vf = verts[faces]
    n = np.zeros_like(verts, dtype=F32)
    np.add.at(n, faces[:, 1], np.cross(vf[:, 2] - vf[:, 1], vf[:, 0] - vf[:, 1]).astype(F32))
    np.add.at(n, faces[:, 2], np.cross(vf[:, 0] - vf[:, 2], vf[:, 1] - vf[:, 2]).astype(F32))
    np.add.at(n, faces[:, 0], np.cross(vf[:, 1] - vf[:, 0], vf[:, 2] - vf[:, 0]).astype(F32))
    norm = np.sqrt((n * n).sum(axis=1, dtype=F32)).astype(F32)
    return (n / np.maximum(norm, F32(1e-6))[:, None]).astype(F32)


def grid_sample_bilinear(img, gx, gy):
    """F.grid_sample(img (C, Hs, Ws), grid) bilinear, padding zeros, align_corners=False."""
    C, Hs, Ws = img.shape
    ix = ((gx + F32(1)) * F32(Ws) - F32(1)) / F32(2)
    iy = ((gy + F32(1)) * F32(Hs) - F32(1)) / F32(2)
    ix0 = np.floor(ix)
    iy0 = np.floor(iy)
    ix1 = ix0 + F32(1)
    iy1 = iy0 + F32(1)
    wnw = (ix1 - ix) * (iy1 - iy)
    wne = (ix - ix0) * (iy1 - iy)
    wsw = (ix1 - ix) * (iy - iy0)
    wse = (ix - ix0) * (iy - iy0)
    out = np.zeros((C,) + gx.shape, dtype=F32)
    for cx, cy, wgt in ((ix0, iy0, wnw), (ix1, iy0, wne), (ix0, iy1, wsw), (ix1, iy1, wse)):
        inb = (cx >= 0) & (cx <= Ws - 1) & (cy >= 0) & (cy <= Hs - 1)
        xi = np.clip(cx, 0, Ws - 1).astype(np.int64)
        yi = np.clip(cy, 0, Hs - 1).astype(np.int64)
        tap = img[:, yi, xi]
        out = out + np.where(inb[None], tap * wgt[None], F32(0))
    return out


def sh_shading(n, light):
    """add_SHlight: 9 SH basis values x constant factors, weighted by light (9, 3). n: (3, H, W)."""
    nx, ny, nz = n[0], n[1], n[2]
    basis = [nx * F32(0) + F32(1), nx, ny, nz, nx * ny, nx * nz, ny * nz, nx ** 2 - ny ** 2, F32(3) * (nz ** 2) - F32(1)]
    sh = [b * SH_FACTORS[k] for k, b in enumerate(basis)]
    out = np.zeros((3,) + nx.shape, dtype=F32)
    for c in range(3):
        acc = light[0, c] * sh[0]
        for k in range(1, 9):
            acc = acc + light[k, c] * sh[k]
        out[c] = acc
    return out


def save_u8(x):
    """torchvision save_image: floor(clamp(x*255 + 0.5, 0, 255)) in float32 (x: (C, H, W) float32)."""
    return np.floor(np.clip(x.astype(F32) * F32(255) + F32(0.5), F32(0), F32(255))).astype(np.uint8)


# ------------------------------------------------------------------------------------------------ landmarks (ours)
# The 68-point map is not in the reference (its landmarks never reach an image). Our definition, documented in
# src/kernel/render/landmarkMap.ts: iBUG-68 groups drawn as line segments (pixel painted when the squared distance
# from its centre to the segment is <= (lineWidth/2)^2), then every point as a white disc (squared distance
# <= radius^2). Pixel coordinates of an NDC point: c = ((x+1)W - 1)/2, r = ((y+1)H - 1)/2 (pixel centres on
# integers, the rasteriser's convention). Groups in this order; later groups and then the points paint over.
LMK_GROUPS = [
    (list(range(0, 17)), False, (255, 255, 0)),
    (list(range(17, 22)), False, (255, 128, 0)),
    (list(range(22, 27)), False, (255, 128, 0)),
    (list(range(27, 31)), False, (0, 255, 255)),
    (list(range(31, 36)), False, (0, 255, 255)),
    (list(range(36, 42)), True, (0, 255, 0)),
    (list(range(42, 48)), True, (0, 255, 0)),
    (list(range(48, 60)), True, (255, 0, 255)),
    (list(range(60, 68)), True, (255, 0, 128)),
]


def landmark_map(lmk_ndc, H, W):
    scale = W / 512.0
    line_w = max(1.0, 2.0 * scale)
    radius = max(1.0, 2.0 * scale)
    img = np.zeros((H, W, 3), dtype=np.uint8)
    cx = ((lmk_ndc[:, 0].astype(np.float64) + 1.0) * W - 1.0) / 2.0
    cy = ((lmk_ndc[:, 1].astype(np.float64) + 1.0) * H - 1.0) / 2.0
    jj, ii = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    half2 = (line_w / 2.0) * (line_w / 2.0)
    for ids, closed, colour in LMK_GROUPS:
        segs = list(zip(ids[:-1], ids[1:])) + ([(ids[-1], ids[0])] if closed else [])
        for a, b in segs:
            ax, ay, bx, by = cx[a], cy[a], cx[b], cy[b]
            dx, dy = bx - ax, by - ay
            len2 = dx * dx + dy * dy
            if len2 > 0:
                t = ((jj - ax) * dx + (ii - ay) * dy) / len2
                t = np.clip(t, 0.0, 1.0)
            else:
                t = np.zeros_like(jj)
            ex = jj - (ax + t * dx)
            ey = ii - (ay + t * dy)
            img[(ex * ex + ey * ey) <= half2] = colour
    r2 = radius * radius
    for k in range(68):
        ex = jj - cx[k]
        ey = ii - cy[k]
        img[(ex * ex + ey * ey) <= r2] = (255, 255, 255)
    return img


# ------------------------------------------------------------------------------------------------ one frame (§5.7)
def render_frame(verts, trans_crop, tform, faces, uvcoords, uvfaces, albedo, light, H=512, W=512, lmk_world=None,
                 cam=None):
    """verts: world (V,3) f32; trans_crop: 224-crop NDC (V,3) f32; tform: (T^-1)^T (3,3) or None (crop frame)."""
    tv = transform_points(trans_crop, tform, H, W) if tform is not None else trans_crop.astype(F32).copy()
    z = tv[:, 2]
    # render_depth: z -= min z; attribute a = -z; a -= min a; a /= max a; then z += 10 and rasterise
    z1 = z - z.min()
    a = -z1
    a = a - a.min()
    a = a / a.max()
    zd = z1 + F32(10)
    vd = tv.copy(); vd[:, 2] = zd
    p2f_d, bary_d = rasterize(vd, faces, H, W)
    depth = interpolate(p2f_d, bary_d, faces, np.repeat(a[:, None], 3, axis=1))[..., 0]
    # forward: z += 10 again
    vf = tv.copy(); vf[:, 2] = zd + F32(10)
    p2f, bary = rasterize(vf, faces, H, W)
    cover = (p2f >= 0).astype(F32)
    normals = vertex_normals(verts, faces)
    nimg = interpolate(p2f, bary, faces, normals).transpose(2, 0, 1)          # (3, H, W)
    normal_img = nimg * cover[None]
    # UV: (2u-1, -(2v-1), 1) per uv vertex, rasterised with the uv faces
    uv3 = np.stack([uvcoords[:, 0] * F32(2) - F32(1), -(uvcoords[:, 1] * F32(2) - F32(1)),
                    np.ones(len(uvcoords), dtype=F32)], axis=1).astype(F32)
    fuv = uv3[uvfaces]                                                        # (F, 3, 3)
    f = np.maximum(p2f, 0)
    vals = fuv[f]
    uvimg = (bary[..., 0:1] * vals[..., 0, :] + bary[..., 1:2] * vals[..., 1, :]) + bary[..., 2:3] * vals[..., 2, :]
    uvimg[p2f < 0] = 0
    alb = grid_sample_bilinear(albedo, uvimg[..., 0].astype(F32), uvimg[..., 1].astype(F32))
    shading = sh_shading(nimg, light)
    rendered = (alb * shading) * cover[None]
    out = {
        'depth': save_u8(depth[None])[0],
        'normal': save_u8(normal_img).transpose(1, 2, 0),
        'render': save_u8(rendered).transpose(1, 2, 0),
        'mask': (cover * 255).astype(np.uint8),
        'faces_depth': p2f_d,
        'faces': p2f,
    }
    if lmk_world is not None:
        lc = orth_project(lmk_world, cam)
        ln = transform_points(lc, tform, H, W) if tform is not None else lc
        out['landmarks'] = landmark_map(ln, H, W)
    return out


# ------------------------------------------------------------------------------------------------ synthetic mesh
def lcg(seed):
    state = seed & 0xFFFFFFFFFFFFFFFF
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        yield (state >> 11) / float(1 << 53)


def albedo_pattern(size=256):
    """Procedural albedo (3, size, size) float32, values k/200 for k in 0..255 (some > 1, as DECA's are unclamped).
    The same formula is in test/render/mesh.ts."""
    i = np.arange(size)[:, None]
    j = np.arange(size)[None, :]
    out = np.empty((3, size, size), dtype=F32)
    for c in range(3):
        k = (i * 3 + j * 5 + c * 77 + ((i // 32 + j // 32) % 2) * 60) % 256
        out[c] = (k / 200.0).astype(F32)
    return out


def make_mesh():
    R, C = 64, 60            # head: top pole + 64 rings x 60 segments, open at the neck
    r, c = 19, 31            # each eyeball: 19 rings x 31 segments + 2 poles
    rng = lcg(20240504)
    th_max = 0.82 * np.pi
    verts, faces, uvs, uvfaces = [], [], [], []

    def head_point(th, ph):
        s, co = np.sin(th), np.cos(th)
        x = 0.078 * s * np.sin(ph)
        y = 0.105 * co + 0.01
        z = 0.092 * s * np.cos(ph)
        front = max(np.cos(ph), 0.0)
        z += 0.032 * np.exp(-(ph / 0.17) ** 2 - ((th - 1.62) / 0.2) ** 2)               # nose
        z += 0.008 * np.exp(-((th - 1.25) / 0.08) ** 2) * front ** 2                      # brow ridge
        z -= 0.012 * np.exp(-((abs(ph) - 0.42) / 0.14) ** 2 - ((th - 1.38) / 0.1) ** 2)   # eye sockets
        z -= 0.006 * np.exp(-(ph / 0.3) ** 2 - ((th - 1.95) / 0.03) ** 2)                 # mouth groove
        z += 0.010 * np.exp(-(ph / 0.35) ** 2 - ((th - 2.2) / 0.12) ** 2)                 # chin
        return np.array([x, y, z])

    verts.append(head_point(0.0, 0.0))
    for i in range(1, R + 1):
        th = th_max * i / R
        for j in range(C):
            ph = -np.pi + 2 * np.pi * j / C
            p = head_point(th, ph)
            p *= 1.0 + 0.004 * (next(rng) - 0.5)
            verts.append(p)
    hv = lambda i, j: 0 if i == 0 else 1 + (i - 1) * C + (j % C)
    # head uv grid: rows 0..R, columns 0..C (column C duplicates column 0: the seam at the back)
    for i in range(R + 1):
        for j in range(C + 1):
            uvs.append((0.04 + 0.62 * j / C, 1.0 - (0.03 + 0.94 * i / R)))
    hu = lambda i, j: i * (C + 1) + j
    for j in range(C):
        faces.append((hv(0, 0), hv(1, j), hv(1, j + 1)))
        uvfaces.append((hu(0, j), hu(1, j), hu(1, j + 1)))
    for i in range(1, R):
        for j in range(C):
            a, b, cc, d = hv(i, j), hv(i + 1, j), hv(i + 1, j + 1), hv(i, j + 1)
            ua, ub, uc, ud = hu(i, j), hu(i + 1, j), hu(i + 1, j + 1), hu(i, j + 1)
            faces.append((a, b, cc)); uvfaces.append((ua, ub, uc))
            faces.append((a, cc, d)); uvfaces.append((ua, uc, ud))
    # eyeballs (shared uv set): poles on the z axis, the front pole looks at the camera
    eye_uv0 = len(uvs)
    uvs.append((0.83, 0.92))                                  # front pole
    for i in range(1, r + 1):
        for j in range(c + 1):
            uvs.append((0.70 + 0.26 * j / c, 0.90 - 0.8 * i / (r + 1)))
    uvs.append((0.83, 0.08))                                  # back pole
    eu = lambda i, j: eye_uv0 if i == 0 else (eye_uv0 + 1 + r * (c + 1) if i == r + 1 else eye_uv0 + 1 + (i - 1) * (c + 1) + j)
    for side in (-1, 1):
        sock = head_point(1.38, side * 0.42)
        d = np.array([sock[0], 0.0, sock[2]]); d /= np.linalg.norm(d)
        centre = sock - 0.006 * d
        rad = 0.0125
        base = len(verts)
        verts.append(centre + rad * np.array([0, 0, 1.0]))
        for i in range(1, r + 1):
            al = np.pi * i / (r + 1)
            for j in range(c):
                be = 2 * np.pi * j / c
                verts.append(centre + rad * np.array([np.sin(al) * np.cos(be), np.sin(al) * np.sin(be), np.cos(al)]))
        verts.append(centre + rad * np.array([0, 0, -1.0]))
        ev = lambda i, j: base if i == 0 else (base + 1 + r * c if i == r + 1 else base + 1 + (i - 1) * c + (j % c))
        for j in range(c):
            faces.append((ev(0, 0), ev(1, j), ev(1, j + 1))); uvfaces.append((eu(0, 0), eu(1, j), eu(1, j + 1)))
        for i in range(1, r):
            for j in range(c):
                faces.append((ev(i, j), ev(i + 1, j), ev(i + 1, j + 1)))
                uvfaces.append((eu(i, j), eu(i + 1, j), eu(i + 1, j + 1)))
                faces.append((ev(i, j), ev(i + 1, j + 1), ev(i, j + 1)))
                uvfaces.append((eu(i, j), eu(i + 1, j + 1), eu(i, j + 1)))
        for j in range(c):
            faces.append((ev(r, j), ev(r + 1, 0), ev(r, j + 1))); uvfaces.append((eu(r, j), eu(r + 1, 0), eu(r, j + 1)))
    verts = np.array(verts, dtype=np.float64)
    faces = np.array(faces, dtype=np.int64)
    uvfaces = np.array(uvfaces, dtype=np.int64)
    # orient every face outward (away from its component's centroid), swapping corners 1 and 2 in both topologies
    comp_centre = np.zeros((len(faces), 3))
    head_f = C + 2 * C * (R - 1)
    comp_centre[:head_f] = verts[:1 + R * C].mean(axis=0)
    eye_f = 2 * r * c
    comp_centre[head_f:head_f + eye_f] = verts[1 + R * C:1 + R * C + r * c + 2].mean(axis=0)
    comp_centre[head_f + eye_f:] = verts[1 + R * C + r * c + 2:].mean(axis=0)
    vf = verts[faces]
    n = np.cross(vf[:, 1] - vf[:, 0], vf[:, 2] - vf[:, 0])
    flip = (n * (vf.mean(axis=1) - comp_centre)).sum(axis=1) < 0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    uvfaces[flip] = uvfaces[flip][:, [0, 2, 1]]
    assert verts.shape == (5023, 3) and faces.shape == (9976, 3), (verts.shape, faces.shape)
    # 68 landmarks embedded on head faces (face index, barycentrics), laid out like the iBUG 68 points
    def lmk_face(th, ph):
        i = min(max(int(round(th / th_max * R)), 1), R - 1)
        j = int(np.floor((ph + np.pi) / (2 * np.pi) * C)) % C
        return C + 2 * ((i - 1) * C + j)
    spots = []
    for k in range(17):                                       # jaw
        t = k / 16.0
        ph = -1.15 + 2.3 * t
        spots.append((1.55 + 0.62 * np.sin(np.pi * t) ** 0.7, ph))
    for k in range(5): spots.append((1.22 - 0.04 * np.sin(np.pi * k / 4), -0.75 + 0.12 * k))   # right brow
    for k in range(5): spots.append((1.22 - 0.04 * np.sin(np.pi * k / 4), 0.27 + 0.12 * k))    # left brow
    for k in range(4): spots.append((1.36 + 0.08 * k, 0.0))                                    # nose bridge
    for k in range(5): spots.append((1.72, -0.14 + 0.07 * k))                                  # nostrils
    for side in (-0.42, 0.42):                                                                 # eyes
        for k in range(6):
            a = np.pi + 2 * np.pi * k / 6
            spots.append((1.38 - 0.045 * np.sin(a), side + 0.11 * np.cos(a)))
    for k in range(12):                                                                        # outer lips
        a = np.pi + 2 * np.pi * k / 12
        spots.append((1.95 - 0.06 * np.sin(a), 0.3 * np.cos(a)))
    for k in range(8):                                                                         # inner lips
        a = np.pi + 2 * np.pi * k / 8
        spots.append((1.95 - 0.025 * np.sin(a), 0.2 * np.cos(a)))
    lmk_faces = np.array([lmk_face(th, ph) for th, ph in spots], dtype=np.int64)
    lmk_bary = np.tile(np.array([0.3, 0.3, 0.4], dtype=F32), (68, 1))
    return (verts.astype(F32), faces, np.array(uvs, dtype=F32), uvfaces, lmk_faces, lmk_bary)


def rotation(yaw, pitch, roll):
    y, p, r = np.radians([yaw, pitch, roll])
    Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    Rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def crop_tform(cx, cy, size):
    """§1.2 step 5 then §1.4: T maps 512-image pixels to 224-crop pixels; the renderer uses (T^-1)^T."""
    k = 223.0 / size
    T = np.array([[k, 0, -k * (cx - size / 2)], [0, k, -k * (cy - size / 2)], [0, 0, 1.0]])
    return np.ascontiguousarray(np.linalg.inv(T).T).astype(F32)


CASES = [
    # name, (yaw, pitch, roll), cam (s, tx, ty), tform (cx, cy, size) or None for the crop frame
    ('frontal_crop', (0, 0, 0), (8.0, 0.0, 0.01), None),
    ('yaw30_tform', (30, 8, 0), (7.5, 0.01, -0.005), (250, 262, 310)),
    ('yawm55_roll_tform', (-55, -5, 12), (8.5, -0.01, 0.0), (270, 250, 280)),
    ('pitchup_big_tform', (-10, -25, 0), (11.0, 0.0, 0.02), (256, 240, 260)),
    ('profile90_crop', (90, 0, 0), (8.0, 0.0, 0.0), None),
]


def lights_for(seed):
    g = lcg(seed)
    L = np.empty((9, 3), dtype=F32)
    for c in range(3):
        L[0, c] = 3.0 + next(g)
    for k in range(1, 9):
        for c in range(3):
            L[k, c] = (next(g) - 0.5) * 1.2
    return L


def landmarks_world(verts, faces, lmk_faces, lmk_bary):
    vf = verts[faces[lmk_faces]]                       # (68, 3, 3)
    b = lmk_bary.astype(F32)
    return ((b[:, 0:1] * vf[:, 0] + b[:, 1:2] * vf[:, 1]) + b[:, 2:3] * vf[:, 2]).astype(F32)


ROOT = (0.0, -0.03, -0.01)


def rotate_about(verts0, R, root=ROOT):
    """R·(v − root) + root in float64 with an explicit operation order (no BLAS), then float32: test/render/
    fixtures.ts repeats it bit for bit, so the per-case vertices need not be stored."""
    v = verts0.astype(np.float64)
    out = np.empty_like(v)
    d = [v[:, k] - root[k] for k in range(3)]
    for r in range(3):
        out[:, r] = ((R[r, 0] * d[0] + R[r, 1] * d[1]) + R[r, 2] * d[2]) + root[r]
    return out.astype(F32)


def build_cases(mesh):
    verts0, faces, uvs, uvfaces, lmk_faces, lmk_bary = mesh
    out = []
    for n, (name, (yaw, pitch, roll), cam, tf) in enumerate(CASES):
        R = rotation(yaw, pitch, roll)
        verts = rotate_about(verts0, R)
        cam = np.array(cam, dtype=F32)
        trans = orth_project(verts, cam)
        tform = crop_tform(*tf) if tf is not None else None
        out.append(dict(name=name, verts=verts, rot=R, trans=trans, cam=cam, tform=tform, light=lights_for(1000 + n),
                        lmk=landmarks_world(verts, faces, lmk_faces, lmk_bary)))
    return out


# ------------------------------------------------------------------------------------------------ PNG writer
def write_png(path, img):
    """Minimal PNG encoder (8-bit grey or RGB; per row the filter with the smallest sum of |signed bytes|, the
    usual heuristic; zlib level 9)."""
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    ch = 1 if img.ndim == 2 else img.shape[2]
    a = img.reshape(h, w * ch).astype(np.int16)
    left = np.zeros_like(a); left[:, ch:] = a[:, :-ch]
    up = np.zeros_like(a); up[1:] = a[:-1]
    ul = np.zeros_like(a); ul[1:, ch:] = a[:-1, :-ch]
    p = left + up - ul
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - ul)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, ul))
    preds = [np.zeros_like(a), left, up, (left + up) // 2, paeth]          # filter types 0..4
    filt = np.stack([((a - pr) % 256).astype(np.uint8) for pr in preds])    # (5, h, w*ch)
    cost = np.abs(filt.astype(np.int8).astype(np.int32)).sum(axis=2)        # (5, h)
    best = cost.argmin(axis=0)
    rows = filt[best, np.arange(h)]
    raw = np.concatenate([best.astype(np.uint8)[:, None], rows], axis=1).tobytes()

    def chunk(t, data):
        return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t + data) & 0xFFFFFFFF)
    ihdr = struct.pack('>IIBBBBB', w, h, 8, 0 if ch == 1 else 2, 0, 0, 0)
    with open(path, 'wb') as fh:
        fh.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


# ------------------------------------------------------------------------------------------------ main
def render_case(case, mesh, albedo):
    _, faces, uvs, uvfaces, _, _ = mesh
    return render_frame(case['verts'], case['trans'], case['tform'], faces, uvs, uvfaces, albedo, case['light'],
                        lmk_world=case['lmk'], cam=case['cam'])


def main():
    args = sys.argv[1:]
    if args and args[0] == '--bench':
        reps = int(args[1]) if len(args) > 1 else 3
        mesh = make_mesh()
        albedo = albedo_pattern()
        case = build_cases(mesh)[1]
        _, faces, uvs, uvfaces, _, _ = mesh
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            render_frame(case['verts'], case['trans'], case['tform'], faces, uvs, uvfaces, albedo, case['light'])
            times.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({'ms': min(times), 'runs': times, 'numpy': np.__version__}))
        return
    if args and args[0] == '--demo':
        # the demo-head cases written by make_demo_cases.ts (inputs committed; albedo stored as u8, used as u8/255)
        d = np.load(os.path.join(FIXTURES, 'demo_head_cases.npz'))
        with open(os.path.join(FIXTURES, 'demo_head_cases.json')) as fh:
            meta = json.load(fh)
        faces = d['faces'].astype(np.int64)
        uvs = d['uvcoords'].astype(F32)
        uvfaces = d['uvfaces'].astype(np.int64)
        albedo = (d['albedo_u8'].astype(F32) / F32(255)).astype(F32)
        for c in meta['cases']:
            n = c['name']
            tform = d[f'{n}.tform'].astype(F32) if f'{n}.tform' in d.files else None
            verts = d[f'{n}.verts'].astype(F32)
            cam = d[f'{n}.cam'].astype(F32)
            t0 = time.perf_counter()
            res = render_frame(verts, orth_project(verts, cam), tform, faces, uvs, uvfaces, albedo, d[f'{n}.light'].astype(F32),
                               lmk_world=d[f'{n}.lmk'].astype(F32), cam=cam)
            for key in ('depth', 'normal', 'render', 'mask', 'landmarks'):
                write_png(os.path.join(FIXTURES, f'{n}_{key}.png'), res[key])
            print(f'{n}: covered {int((res["faces"] >= 0).sum())} px, {time.perf_counter() - t0:.2f} s')
        return
    if args and args[0] == '--case':
        # inputs: verts, trans, faces, uvcoords, uvfaces, albedo (3,S,S), light (9,3), optional tform, cam, lmk
        d = np.load(args[1])
        outdir = args[2]
        os.makedirs(outdir, exist_ok=True)
        tform = d['tform'].astype(F32) if 'tform' in d.files else None
        res = render_frame(d['verts'].astype(F32), d['trans'].astype(F32), tform, d['faces'].astype(np.int64),
                           d['uvcoords'].astype(F32), d['uvfaces'].astype(np.int64), d['albedo'].astype(F32),
                           d['light'].astype(F32), lmk_world=d['lmk'].astype(F32) if 'lmk' in d.files else None,
                           cam=d['cam'].astype(F32) if 'cam' in d.files else None)
        name = d['name'].item() if 'name' in d.files else 'case'
        for key in ('depth', 'normal', 'render', 'mask', 'landmarks'):
            if key in res:
                write_png(os.path.join(outdir, f'{name}_{key}.png'), res[key])
        return
    os.makedirs(FIXTURES, exist_ok=True)
    mesh = make_mesh()
    verts0, faces, uvs, uvfaces, lmk_faces, lmk_bary = mesh
    np.savez_compressed(os.path.join(FIXTURES, 'synthetic_mesh.npz'), verts=verts0,
                        faces=faces.astype(np.uint16), uvcoords=uvs, uvfaces=uvfaces.astype(np.uint16),
                        lmk_faces=lmk_faces.astype(np.uint16), lmk_bary=lmk_bary)
    albedo = albedo_pattern()
    cases = build_cases(mesh)
    arrays = {}
    meta = {'albedo_sum': float(albedo.astype(np.float64).sum()), 'cases': []}
    for case in cases:
        t0 = time.perf_counter()
        res = render_case(case, mesh, albedo)
        dt = time.perf_counter() - t0
        n = case['name']
        # the vertices are not stored: the test rebuilds them from the mesh and the rotation (rotate_about); a
        # checksum guards that
        for k in ('rot', 'cam', 'light', 'lmk'):
            arrays[f'{n}.{k}'] = case[k]
        arrays[f'{n}.verts_sum'] = np.array([case['verts'].astype(np.float64).sum()])
        if case['tform'] is not None:
            arrays[f'{n}.tform'] = case['tform']
        if n == 'yaw30_tform':
            # the first 600 vertices projected, to check the camera helpers bit for bit (everything else is
            # projected by the same helpers in the test)
            arrays[f'{n}.trans'] = case['trans'][:600]
            arrays[f'{n}.placed'] = transform_points(case['trans'], case['tform'], 512, 512)[:600]
        for key in ('depth', 'normal', 'render', 'mask', 'landmarks'):
            write_png(os.path.join(FIXTURES, f'{n}_{key}.png'), res[key])
        cov = int((res['faces'] >= 0).sum())
        same = int((res['faces'] == res['faces_depth']).sum())
        meta['cases'].append({'name': n, 'covered': cov, 'depthPassSameFace': same,
                              'placement': 'image' if case['tform'] is not None else 'crop'})
        print(f'{n}: covered {cov} px, depth-pass face == main-pass face on {same} px, {dt:.2f} s')
    np.savez_compressed(os.path.join(FIXTURES, 'synthetic_cases.npz'), **arrays)
    with open(os.path.join(FIXTURES, 'synthetic_cases.json'), 'w') as fh:
        json.dump(meta, fh, indent=1)
        fh.write('\n')


if __name__ == '__main__':
    main()
