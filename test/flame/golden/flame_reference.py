#!/usr/bin/env python3
"""Independent numpy reference for src/kernel/flame (FLAME forward, landmarks, FLAMETex, camera, rotations).

Regenerate the committed fixtures (run from the repository root, Debian numpy/scipy):

    /usr/bin/python3 test/flame/golden/flame_reference.py

Time the reference forward for bench/flame.ts (the benchmark spawns this itself):

    /usr/bin/python3 test/flame/golden/flame_reference.py --bench DIR --batches 1,16 --repeat 30

Written from docs/reference-pipeline.md §2 (the published FLAME/DECA formulas), not from the TypeScript code.

What it writes under test/flame/fixtures/:
  synthetic_flame/generic_model.pkl.gz   a synthetic model with FLAME 2020's exact array shapes, pickled with
                                         protocol 2 the way the Python 2 original is (ASCII str and raw array
                                         bytes as BINSTRING), arrays wrapped in a stand-in `chumpy.ch.Ch` (state
                                         {'x': array}), J_regressor a `scipy.sparse.csc.csc_matrix`
  synthetic_flame/landmark_embedding.npy.gz   np.save of a dict (pickled object array) with DECA's keys
  synthetic_flame/FLAME_texture.npz      `mean` (512,512,3) and `tex_dir` (512,512,3,K) in 0-255 units, BGR
  synthetic_flame/head_template.obj.gz   the topology with UVs (v, vt, f v/vt)
  flame_expected.npz                     forward outputs for several parameter sets, rotations, camera, texture

The synthetic bases are sparse with values k/4096 so the compressed files stay small. Nothing here is FLAME data.
"""
import argparse
import gzip
import io
import json
import os
import pickle
import struct
import sys
import time
import types

import numpy as np

V, F, J = 5023, 9976, 5
N_SHAPE_FILE, N_EXPR_FILE = 300, 100
TEX_SIZE, TEX_K = 512, 6
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, '..', 'fixtures'))

# --------------------------------------------------------------------------------------------------------------
# A stand-in for chumpy: the recorded global must read `chumpy.ch Ch`, exactly as in FLAME 2020's pickle.
chumpy_mod = types.ModuleType('chumpy')
chumpy_ch_mod = types.ModuleType('chumpy.ch')


class Ch(object):
    def __init__(self, x):
        self.x = x

    def __array__(self, dtype=None):
        return np.asarray(self.x, dtype=dtype)


Ch.__module__ = 'chumpy.ch'
Ch.__qualname__ = 'Ch'
chumpy_ch_mod.Ch = Ch
chumpy_mod.ch = chumpy_ch_mod
sys.modules.setdefault('chumpy', chumpy_mod)
sys.modules.setdefault('chumpy.ch', chumpy_ch_mod)


class Py2StylePickler(pickle._Pickler):
    """Protocol 2 the way Python 2 wrote it: ASCII text and raw bytes as (SHORT_)BINSTRING."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_binstring(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode('latin1')
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(data)) + data)
        self.memoize(obj)

    def _save_str(self, obj):
        if all(ord(c) < 128 for c in obj):
            return self._save_binstring(obj)
        return pickle._Pickler.save_str(self, obj)

    dispatch[bytes] = _save_binstring
    dispatch[str] = _save_str


# --------------------------------------------------------------------------------------------------------------
# Rotations (§2.3 step 4, §2.7)

def skew(k):
    z = np.zeros(k.shape[0])
    return np.stack([z, -k[:, 2], k[:, 1], k[:, 2], z, -k[:, 0], -k[:, 1], k[:, 0], z], axis=1).reshape(-1, 3, 3)


def rodrigues(r):
    """(N,3) axis-angle -> (N,3,3). theta = |r + 1e-8| (1e-8 added to each component), k = r / theta."""
    r = np.asarray(r, dtype=np.float64).reshape(-1, 3)
    theta = np.linalg.norm(r + 1e-8, axis=1)
    k = r / theta[:, None]
    K = skew(k)
    s = np.sin(theta)[:, None, None]
    c = np.cos(theta)[:, None, None]
    return np.eye(3)[None] + s * K + (1.0 - c) * np.matmul(K, K)


def euler_to_quaternion(e):
    """XYZ Euler (radians) -> quaternion (w,x,y,z) of q = qx*qy*qz, i.e. R = Rx·Ry·Rz."""
    hx, hy, hz = e[:, 0] / 2, e[:, 1] / 2, e[:, 2] / 2
    qx = np.stack([np.cos(hx), np.sin(hx), 0 * hx, 0 * hx], 1)
    qy = np.stack([np.cos(hy), 0 * hy, np.sin(hy), 0 * hy], 1)
    qz = np.stack([np.cos(hz), 0 * hz, 0 * hz, np.sin(hz)], 1)
    return qmul(qmul(qx, qy), qz)


def qmul(a, b):
    w1, v1 = a[:, :1], a[:, 1:]
    w2, v2 = b[:, :1], b[:, 1:]
    w = w1 * w2 - np.sum(v1 * v2, 1, keepdims=True)
    v = w1 * v2 + w2 * v1 + np.cross(v1, v2)
    return np.concatenate([w, v], 1)


def quaternion_to_axis_angle(q):
    """Half-angle from atan2, folded so that the angle is taken for w >= 0 (|angle| <= pi); 2*v when sin = 0."""
    v = q[:, 1:]
    s = np.linalg.norm(v, axis=1)
    w = q[:, 0]
    half = np.where(w < 0, np.arctan2(-s, -w), np.arctan2(s, w))
    with np.errstate(invalid='ignore', divide='ignore'):
        scale = np.where(s * s > 0, 2 * half / np.where(s > 0, s, 1), 2.0)
    return v * scale[:, None]


def euler2axis(e):
    return quaternion_to_axis_angle(euler_to_quaternion(np.asarray(e, dtype=np.float64)))


def angle2matrix(deg):
    """Euler angles in degrees -> Rz·Ry·Rx, computed by multiplying the three elementary matrices."""
    a = np.deg2rad(np.asarray(deg, dtype=np.float64))
    out = []
    for x, y, z in a:
        Rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
        Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        Rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
        out.append(Rz @ Ry @ Rx)
    return np.array(out)


# --------------------------------------------------------------------------------------------------------------
# FLAME forward (§2.3), landmarks (§2.4)

class ReferenceFlame:
    def __init__(self, model, emb, n_shape, n_expr):
        self.faces = np.asarray(model['f']).astype(np.int64)
        self.v_template = np.asarray(model['v_template'], dtype=np.float64)
        sd = np.asarray(model['shapedirs'], dtype=np.float64)
        self.dirs = np.concatenate([sd[:, :, :n_shape], sd[:, :, N_SHAPE_FILE:N_SHAPE_FILE + n_expr]], axis=2)
        self.n_shape, self.n_expr = n_shape, n_expr
        self.dirs_mat = self.dirs.reshape(-1, n_shape + n_expr)  # (V*3, L)
        pd = np.asarray(model['posedirs'], dtype=np.float64)
        self.posedirs = pd.reshape(-1, pd.shape[-1]).T  # (36, V*3)
        jr = model['J_regressor']
        self.J_regressor = np.asarray(jr.todense() if hasattr(jr, 'todense') else jr, dtype=np.float64)
        self.parents = np.asarray(model['kintree_table'][0]).astype(np.int64)
        self.parents[0] = -1
        self.weights = np.asarray(model['weights'], dtype=np.float64)
        self.emb = emb

    def lbs(self, betas, full_pose):
        B = betas.shape[0]
        nV = self.v_template.shape[0]
        v_shaped = self.v_template[None] + (betas @ self.dirs_mat.T).reshape(B, nV, 3)
        joints = self.J_regressor @ v_shaped  # (J,V) @ (B,V,3)
        nJ = joints.shape[1]
        rot = rodrigues(full_pose.reshape(-1, 3)).reshape(B, nJ, 3, 3)
        pose_feature = (rot[:, 1:] - np.eye(3)[None, None]).reshape(B, -1)
        v_posed = v_shaped + (pose_feature @ self.posedirs).reshape(B, nV, 3)
        rel = joints.copy()
        rel[:, 1:] -= joints[:, self.parents[1:]]
        local = np.zeros((B, nJ, 4, 4))
        local[:, :, :3, :3] = rot
        local[:, :, :3, 3] = rel
        local[:, :, 3, 3] = 1
        chain = [local[:, 0]]
        for j in range(1, nJ):
            chain.append(chain[self.parents[j]] @ local[:, j])
        G = np.stack(chain, 1)
        posed_joints = G[:, :, :3, 3].copy()
        A = G.copy()
        A[:, :, :3, 3] -= np.einsum('bjik,bjk->bji', G[:, :, :3, :3], joints)
        T = (self.weights @ A.reshape(B, nJ, 16)).reshape(B, nV, 4, 4)
        verts = np.einsum('bvik,bvk->bvi', T[:, :, :3, :3], v_posed) + T[:, :, :3, 3]
        return verts, posed_joints, rot

    def contour_index(self, rot):
        rel = rot[:, 0] @ rot[:, 1]  # R_root · R_neck
        yaw = np.arctan2(-rel[:, 2, 0], np.sqrt(rel[:, 0, 0] ** 2 + rel[:, 1, 0] ** 2)) * 180.0 / np.pi
        yaw = np.round(np.minimum(yaw, 39.0)).astype(np.int64)  # np.round: half to even
        idx = np.where(yaw >= 0, yaw, np.where(yaw < -39, 78, 39 - yaw))
        return idx, yaw

    def landmarks(self, verts, face_idx, bary):
        B = verts.shape[0]
        vid = self.faces[face_idx]  # (B,L,3)
        pts = verts[np.arange(B)[:, None, None], vid]  # (B,L,3,3)
        return np.einsum('blk,blkc->blc', bary, pts)

    def forward(self, shape, expr, full_pose):
        B = shape.shape[0]
        betas = np.concatenate([shape, expr], 1)
        verts, joints, rot = self.lbs(betas, full_pose)
        idx, yaw = self.contour_index(rot)
        e = self.emb
        dyn_f = e['dynamic_lmk_faces_idx'][idx]
        dyn_b = e['dynamic_lmk_bary_coords'][idx]
        f2 = np.concatenate([dyn_f, np.broadcast_to(e['static_lmk_faces_idx'], (B, 51))], 1)
        b2 = np.concatenate([dyn_b, np.broadcast_to(e['static_lmk_bary_coords'], (B, 51, 3))], 1)
        lmk2d = self.landmarks(verts, f2, b2)
        f3 = np.broadcast_to(e['full_lmk_faces_idx'].reshape(1, 68), (B, 68))
        b3 = np.broadcast_to(e['full_lmk_bary_coords'].reshape(1, 68, 3), (B, 68, 3))
        lmk3d = self.landmarks(verts, f3, b3)
        return dict(vertices=verts, joints=joints, landmarks2d=lmk2d, landmarks3d=lmk3d, contour=idx, yaw=yaw)


def deca_full_pose(pose6):
    B = pose6.shape[0]
    z3 = np.zeros((B, 3))
    return np.concatenate([pose6[:, :3], z3, pose6[:, 3:6], z3, z3], 1)


# --------------------------------------------------------------------------------------------------------------
# FLAMETex (§2.5), camera (§2.6)

def nearest_indices(n_in, n_out):
    return np.minimum(np.floor(np.arange(n_out) * (n_in / n_out)).astype(np.int64), n_in - 1)


def flame_tex(mean, tex_dir, texcode, out_size=256):
    B, K = texcode.shape
    m = mean.reshape(1, -1).astype(np.float64) / 255.0
    basis = tex_dir.reshape(-1, tex_dir.shape[-1])[:, :K].astype(np.float64) / 255.0
    tex = m + texcode @ basis.T
    H = mean.shape[0]
    tex = tex.reshape(B, H, H, 3).transpose(0, 3, 1, 2)
    ii = nearest_indices(H, out_size)
    tex = tex[:, :, ii][:, :, :, ii]
    return tex[:, [2, 1, 0]]


def orth_proj(X, cam):
    s = cam[:, None, 0:1]
    xy = s * (X[:, :, :2] + cam[:, None, 1:3])
    out = np.concatenate([xy, s * X[:, :, 2:3]], 2)
    out[:, :, 1:] *= -1
    return out


# --------------------------------------------------------------------------------------------------------------
# The synthetic FLAME-format model

N_RING, N_LON = 62, 81  # 1 + 62*81 = 5023 vertices


def q(x, step):
    return np.round(np.asarray(x) / step) * step


def build_model(rng):
    assert 1 + N_RING * N_LON == V
    theta = (np.arange(1, N_RING + 1) / N_RING) * 0.86 * np.pi  # open at the bottom (the neck)
    phi = np.arange(N_LON) * 2 * np.pi / N_LON  # phi = 0 at the front (+z)
    T, P = np.meshgrid(theta, phi, indexing='ij')
    rx, ry, rz = 0.078, 0.105, 0.092
    bump = 0.012 * np.exp(-((T - 1.55) ** 2 / 0.02 + (np.angle(np.exp(1j * P))) ** 2 / 0.01))  # a nose
    pts = np.stack([(rx + bump) * np.sin(T) * np.sin(P), ry * np.cos(T) + 0.01,
                    (rz + bump) * np.sin(T) * np.cos(P)], -1).reshape(-1, 3)
    v_template = q(np.concatenate([[[0.0, ry + 0.01, 0.0]], pts]), 1 / 8192)
    ring = np.concatenate([[-1], np.repeat(np.arange(N_RING), N_LON)])
    lon = np.concatenate([[0.0], np.tile(phi, N_RING)])
    lon = np.angle(np.exp(1j * lon))  # (-pi, pi]

    def vid(i, j):
        return 1 + i * N_LON + (j % N_LON)

    faces = [[0, vid(0, j), vid(0, j + 1)] for j in range(N_LON)]
    for i in range(N_RING - 1):
        for j in range(N_LON):
            a, b, c, d = vid(i, j), vid(i, j + 1), vid(i + 1, j), vid(i + 1, j + 1)
            faces.append([a, c, b])
            faces.append([b, c, d])
    last = N_RING - 1
    while len(faces) < F:  # a partial fan over the neck opening to reach FLAME's 9976 faces
        k = len(faces) - (N_LON + 2 * (N_RING - 1) * N_LON)
        faces.append([vid(last, 0), vid(last, k + 2), vid(last, k + 1)])
    faces = np.array(faces, dtype=np.uint32)
    assert faces.shape == (F, 3)

    # Sparse, low-entropy bases: ~3% non-zero, values k/4096.
    def sparse_basis(shape, density, kmax, step):
        mask = rng.random(shape) < density
        k = rng.integers(1, kmax + 1, size=shape) * rng.choice([-1, 1], size=shape)
        return np.where(mask, k * step, 0.0)

    shapedirs = sparse_basis((V, 3, N_SHAPE_FILE + N_EXPR_FILE), 0.03, 16, 1 / 4096)
    posedirs = sparse_basis((V, 3, 36), 0.05, 16, 1 / 8192)

    # Skinning weights (k/64, each row sums to 1): root on the lowest rings, jaw on the lower front, eyes on patches.
    w = np.zeros((V, J))
    t_v = np.concatenate([[0.0], np.repeat(theta, N_LON)])
    lower = np.clip((t_v - 2.05) / 0.25, 0, 1)
    jaw = np.clip((t_v - 1.65) / 0.2, 0, 1) * np.clip((1.3 - np.abs(lon)) / 0.3, 0, 1) * (1 - lower)
    eye_centres = [(1.25, 0.42), (1.25, -0.42)]  # left eye at +x (phi > 0), right eye at -x
    eyes = [np.clip(1 - ((t_v - tc) ** 2 + (lon - pc) ** 2) / 0.015, 0, 1) for tc, pc in eye_centres]
    w[:, 0] = np.round(lower * 64) / 64
    w[:, 2] = np.round(jaw * 64) / 64
    w[:, 3] = np.round(eyes[0] * 64) / 64
    w[:, 4] = np.round(eyes[1] * 64) / 64
    w[:, 1] = 1 - w[:, [0, 2, 3, 4]].sum(1)
    assert np.all(w >= 0)

    # J_regressor: averages of vertex sets (5, 5023), stored sparse.
    import scipy.sparse as sp
    Jr = np.zeros((J, V))
    sets = [np.where(ring == N_RING - 1)[0], np.where(ring == N_RING - 8)[0],
            np.where((ring == 38) & (np.abs(np.abs(lon) - np.pi / 2) < 0.25))[0]]
    for tc, pc in eye_centres:
        sets.append(np.where(((t_v - tc) ** 2 + (lon - pc) ** 2) < 0.004)[0])
    for j, s in enumerate(sets):
        assert len(s) > 0
        Jr[j, s] = 1.0 / len(s)
    J_regressor = sp.csc_matrix(Jr)
    kintree = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)

    # UVs: a longitude/latitude chart with a seam column (like head_template.obj, more vt than v).
    uv = [[0.5, 0.98]]
    for i in range(N_RING):
        for j in range(N_LON + 1):
            uv.append([j / N_LON, 0.98 - 0.96 * (i + 1) / N_RING])
    uv = q(np.array(uv), 1 / 4096)

    def tid(i, j):
        return 1 + i * (N_LON + 1) + j

    uv_faces = [[0, tid(0, j), tid(0, j + 1)] for j in range(N_LON)]
    for i in range(N_RING - 1):
        for j in range(N_LON):
            a, b, c, d = tid(i, j), tid(i, j + 1), tid(i + 1, j), tid(i + 1, j + 1)
            uv_faces.append([a, c, b])
            uv_faces.append([b, c, d])
    while len(uv_faces) < F:
        k = len(uv_faces) - (N_LON + 2 * (N_RING - 1) * N_LON)
        uv_faces.append([tid(last, 0), tid(last, k + 2), tid(last, k + 1)])
    uv_faces = np.array(uv_faces, dtype=np.int64)

    model = {
        'f': faces,
        'v_template': v_template,
        'shapedirs': shapedirs,
        'posedirs': posedirs,
        'J_regressor': J_regressor,
        'kintree_table': kintree,
        'weights': w,
        'J': Jr @ v_template,
        'bs_style': 'lbs',
        'bs_type': 'lrotmin',
    }
    return model, uv, uv_faces


def build_embedding(rng):
    def bary(shape):
        a = rng.integers(1, 128, size=shape).astype(np.float64)
        b = rng.integers(1, 128, size=shape).astype(np.float64)
        return np.stack([a, b, 256 - a - b], -1) / 256.0  # positive, summing to 1

    return {
        'static_lmk_faces_idx': rng.integers(0, F, size=51).astype(np.int64),
        'static_lmk_bary_coords': bary((51,)),
        'dynamic_lmk_faces_idx': rng.integers(0, F, size=(79, 17)).astype(np.int64),
        'dynamic_lmk_bary_coords': bary((79, 17)),
        'full_lmk_faces_idx': rng.integers(0, F, size=(1, 68)).astype(np.int64),
        'full_lmk_bary_coords': bary((1, 68)),
    }


def build_texture(rng):
    yy, xx = np.meshgrid(np.arange(TEX_SIZE), np.arange(TEX_SIZE), indexing='ij')
    mean = np.stack([(xx // 4) % 256, (yy // 4) % 256, ((xx + yy) // 8) % 256], -1).astype(np.float32)  # B,G,R
    mask = rng.random((TEX_SIZE, TEX_SIZE, 3, TEX_K)) < 0.01
    tex_dir = np.where(mask, rng.integers(-40, 41, size=mask.shape), 0).astype(np.float32)
    return mean, tex_dir


# --------------------------------------------------------------------------------------------------------------
# Files

def write_pickle_py2(obj, path):
    buf = io.BytesIO()
    Py2StylePickler(buf, protocol=2).dump(obj)
    with gzip.GzipFile(path, 'wb', compresslevel=9, mtime=0) as f:
        f.write(buf.getvalue())
    return buf.getvalue()


def wrap_for_pickle(model):
    import scipy.sparse as sp
    out = dict(model)
    for k in ('v_template', 'shapedirs', 'posedirs', 'weights', 'J'):
        out[k] = Ch(model[k])
    csc = sp.csc_matrix
    return out, csc


def save_model_files(model, emb, uv, uv_faces, mean, tex_dir, d):
    os.makedirs(d, exist_ok=True)
    import scipy.sparse as sp
    obj, csc = wrap_for_pickle(model)
    import importlib
    old_module = csc.__module__
    legacy = importlib.import_module('scipy.sparse.csc')  # the module name recorded in FLAME 2020's pickle
    assert getattr(legacy, 'csc_matrix') is csc
    csc.__module__ = 'scipy.sparse.csc'
    try:
        raw = write_pickle_py2(obj, os.path.join(d, 'generic_model.pkl.gz'))
    finally:
        csc.__module__ = old_module
    # The file must load in Python as FLAME's does (encoding='latin1') and give back the same arrays.
    back = pickle.loads(raw, encoding='latin1')
    assert isinstance(back['shapedirs'], Ch) and np.array_equal(back['shapedirs'].x, model['shapedirs'])
    assert np.array_equal(back['J_regressor'].toarray(), model['J_regressor'].toarray())
    assert back['bs_style'] == 'lbs' and np.array_equal(back['f'], model['f'])
    assert b'cchumpy.ch\nCh\n' in raw and b'cscipy.sparse.csc\ncsc_matrix\n' in raw

    # DECA's file holds the dynamic contour tables as torch tensors (pickled through torch.storage._load_from_bytes)
    emb_out = dict(emb)
    try:
        import torch
        for k in ('dynamic_lmk_faces_idx', 'dynamic_lmk_bary_coords'):
            emb_out[k] = torch.from_numpy(np.ascontiguousarray(emb[k]))
    except ImportError:
        print('note: torch is not available; landmark_embedding.npy holds numpy arrays only')
    buf = io.BytesIO()
    np.save(buf, emb_out, allow_pickle=True)
    with gzip.GzipFile(os.path.join(d, 'landmark_embedding.npy.gz'), 'wb', compresslevel=9, mtime=0) as f:
        f.write(buf.getvalue())
    np.savez_compressed(os.path.join(d, 'FLAME_texture.npz'), mean=mean, tex_dir=tex_dir)
    lines = ['# synthetic FLAME-format topology (not FLAME data)']
    lines += ['v %.6f %.6f %.6f' % tuple(p) for p in model['v_template']]
    lines += ['vt %.6f %.6f' % tuple(t) for t in uv]
    lines += ['f %d/%d %d/%d %d/%d' % (a + 1, ta + 1, b + 1, tb + 1, c + 1, tc + 1)
              for (a, b, c), (ta, tb, tc) in zip(model['f'], uv_faces)]
    with gzip.GzipFile(os.path.join(d, 'head_template.obj.gz'), 'wb', compresslevel=9, mtime=0) as f:
        f.write(('\n'.join(lines) + '\n').encode())


def load_model_dir(d):
    def read(name):
        p = os.path.join(d, name)
        if os.path.exists(p):
            with open(p, 'rb') as f:
                return f.read()
        with gzip.open(p + '.gz', 'rb') as f:
            return f.read()

    model = pickle.loads(read('generic_model.pkl'), encoding='latin1')
    emb = np.load(io.BytesIO(read('landmark_embedding.npy')), allow_pickle=True, encoding='latin1').item()
    emb = {k: (v.numpy() if hasattr(v, 'numpy') else np.asarray(v)) for k, v in emb.items()}
    return model, emb


# --------------------------------------------------------------------------------------------------------------
# Parameter sets

def yaw_pose(yaw_deg, pitch_deg, roll_deg):
    """Axis-angle of Ry(yaw)·Rx(pitch)·Rz(roll) via the matrix log (independent of the Euler helpers above)."""
    from scipy.spatial.transform import Rotation
    Ry = Rotation.from_rotvec([0, np.deg2rad(yaw_deg), 0])
    Rx = Rotation.from_rotvec([np.deg2rad(pitch_deg), 0, 0])
    Rz = Rotation.from_rotvec([0, 0, np.deg2rad(roll_deg)])
    return (Ry * Rx * Rz).as_rotvec()


def parameter_sets(rng):
    sets = []
    sets.append(dict(name='zero', shape=np.zeros((1, 100)), expr=np.zeros((1, 50)), pose=np.zeros((1, 15))))
    p6 = np.concatenate([rng.normal(0, 0.15, 3), [0.18, 0.01, -0.02]])[None]
    sets.append(dict(name='deca_random', shape=rng.normal(0, 1.5, (1, 100)), expr=rng.normal(0, 1.0, (1, 50)),
                     pose=deca_full_pose(p6)))
    axis = np.array([0.3, -0.8, 0.5]) / np.linalg.norm([0.3, -0.8, 0.5])
    big = np.stack([np.concatenate([axis * 2.4, [0.35, 0, 0]]), np.concatenate([-axis[::-1] * 3.6, [0.05, 0.1, 0]])])
    sets.append(dict(name='large_rotation', shape=rng.normal(0, 1, (2, 100)), expr=rng.normal(0, 1, (2, 50)),
                     pose=deca_full_pose(big)))
    yaws = [-62.0, -39.3, -38.7, -21.2, -0.8, 0.3, 12.6, 25.2, 38.8, 39.4, 71.0, 100.0]
    rows = []
    for y in yaws:
        pitch, roll = rng.normal(0, 8), rng.normal(0, 5)
        while True:  # keep the computed yaw away from rounding ties (x.5), nudging the requested yaw if needed
            aa = yaw_pose(y, pitch, roll)
            R = rodrigues(aa)[0]
            raw = np.degrees(np.arctan2(-R[2, 0], np.hypot(R[0, 0], R[1, 0])))
            if abs(raw - np.floor(raw) - 0.5) > 0.05:
                break
            y += 0.13
        rows.append(np.concatenate([aa, [0.1, 0, 0]]))
    p = np.stack(rows)
    sets.append(dict(name='yaw_sweep', shape=rng.normal(0, 1, (len(yaws), 100)),
                     expr=rng.normal(0, 1, (len(yaws), 50)), pose=deca_full_pose(p)))
    full_pose = rng.normal(0, 0.3, (2, 15))
    sets.append(dict(name='all_components_all_joints', shape=rng.normal(0, 1, (2, 300)),
                     expr=rng.normal(0, 1, (2, 100)), pose=full_pose))
    sets.append(dict(name='odd_counts', shape=rng.normal(0, 2, (3, 7)), expr=rng.normal(0, 2, (3, 3)),
                     pose=rng.normal(0, 0.4, (3, 15))))
    return sets


def generate():
    rng = np.random.default_rng(20250607)
    model, uv, uv_faces = build_model(rng)
    emb = build_embedding(rng)
    mean, tex_dir = build_texture(rng)
    d = os.path.join(FIXTURES, 'synthetic_flame')
    save_model_files(model, emb, uv, uv_faces, mean, tex_dir, d)
    model, emb = load_model_dir(d)  # evaluate exactly what the files hold

    out = {}
    sub = np.arange(0, V, 9)
    out['vertex_subset'] = sub
    for si, s in enumerate(parameter_sets(rng)):
        ref = ReferenceFlame(model, emb, s['shape'].shape[1], s['expr'].shape[1])
        r = ref.forward(s['shape'], s['expr'], s['pose'])
        pre = 's%d_' % si
        out[pre + 'name'] = np.array(s['name'])
        out[pre + 'shape'] = s['shape']
        out[pre + 'expr'] = s['expr']
        out[pre + 'pose'] = s['pose']
        out[pre + 'vertices_sub'] = r['vertices'][:, sub]
        if s['name'] in ('deca_random', 'all_components_all_joints'):
            out[pre + 'vertices_full'] = r['vertices'].astype(np.float32)
        out[pre + 'joints'] = r['joints']
        out[pre + 'landmarks2d'] = r['landmarks2d']
        out[pre + 'landmarks3d'] = r['landmarks3d']
        out[pre + 'contour_index'] = r['contour']
        out[pre + 'yaw_deg'] = r['yaw']
    out['num_sets'] = np.array(len(parameter_sets(np.random.default_rng(0))))

    # Ties in the yaw rounding would make the contour row depend on float rounding: keep the sweep away from them.
    ref = ReferenceFlame(model, emb, 100, 50)
    s3 = [k for k in out if k.endswith('name') and str(out[k]) == 'yaw_sweep'][0][:-4]
    rot = rodrigues(out[s3 + 'pose'].reshape(-1, 3)).reshape(-1, 5, 3, 3)
    rel = rot[:, 0] @ rot[:, 1]
    yaw_raw = np.arctan2(-rel[:, 2, 0], np.sqrt(rel[:, 0, 0] ** 2 + rel[:, 1, 0] ** 2)) * 180 / np.pi
    frac = np.abs((yaw_raw - np.floor(yaw_raw)) - 0.5)
    assert np.all(frac > 0.02), yaw_raw
    assert len(set(out[s3 + 'contour_index'].tolist())) >= 8, out[s3 + 'contour_index']

    # Rotations
    r = np.random.default_rng(7)
    rv = [np.zeros(3), [1e-10, -2e-10, 3e-10], [0, 0, np.pi], [np.pi, 0, 0], [0, np.pi / 2, 0]]
    rv += list(r.normal(0, 1, (10, 3)))
    for n in [0.5, 1.5, 2.9, 3.1, 3.14159, 3.5, 5.0, 6.2, 9.0]:
        a = r.normal(0, 1, 3)
        rv.append(a / np.linalg.norm(a) * n)
    rv = np.array(rv, dtype=np.float64)
    out['rot_aa'] = rv
    out['rot_R'] = rodrigues(rv)
    eul = np.concatenate([r.uniform(-np.pi, np.pi, (12, 3)), np.zeros((1, 3)), [[0.2, 0, 0], [0, -0.7, 0], [0, 0, 2]]])
    out['euler_xyz'] = eul
    out['euler_axis'] = euler2axis(eul)
    out['euler_R'] = rodrigues(out['euler_axis'])
    deg = np.concatenate([r.uniform(-180, 180, (10, 3)), [[0, 0, 0], [30, 0, 0], [0, 45, 0], [0, 0, -60]]])
    out['angle_deg'] = deg
    out['angle_R'] = angle2matrix(deg)

    # Camera
    cam = np.array([[8.5, 0.01, -0.02], [5.0, -0.03, 0.04]])
    pts = r.normal(0, 0.1, (2, 20, 3))
    out['cam'] = cam
    out['cam_points'] = pts
    out['cam_proj'] = orth_proj(pts, cam)

    # Texture
    tex = np.load(os.path.join(d, 'FLAME_texture.npz'))
    codes = r.normal(0, 1, (2, TEX_K))
    alb = flame_tex(tex['mean'], tex['tex_dir'], codes)
    flat_idx = np.sort(r.choice(alb[0].size, 4000, replace=False))
    out['tex_code'] = codes
    out['tex_index'] = flat_idx
    out['tex_albedo'] = alb.reshape(2, -1)[:, flat_idx]
    alb3 = flame_tex(tex['mean'], tex['tex_dir'], codes[:, :3])
    out['tex_code3'] = codes[:, :3]
    out['tex_albedo3'] = alb3.reshape(2, -1)[:, flat_idx]

    np.savez_compressed(os.path.join(FIXTURES, 'flame_expected.npz'), **out)
    total = 0
    for root, _, files in os.walk(FIXTURES):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
            print('%-60s %9d' % (os.path.relpath(os.path.join(root, fn), FIXTURES), os.path.getsize(os.path.join(root, fn))))
    print('total', total)


# --------------------------------------------------------------------------------------------------------------
# Timing (bench/flame.ts)

def bench(d, batches, repeat):
    model, emb = load_model_dir(d)
    ref = ReferenceFlame(model, emb, 100, 50)
    rng = np.random.default_rng(1)
    res = {'numpy': np.__version__, 'threads': os.environ.get('OPENBLAS_NUM_THREADS', 'default'), 'ms': {}}
    for B in batches:
        shape, expr = rng.normal(0, 1, (B, 100)), rng.normal(0, 1, (B, 50))
        pose = deca_full_pose(rng.normal(0, 0.2, (B, 6)))
        for _ in range(3):
            ref.forward(shape, expr, pose)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            ref.forward(shape, expr, pose)
            times.append((time.perf_counter() - t0) * 1000)
        res['ms'][str(B)] = float(np.median(times))
    print(json.dumps(res))


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--bench', metavar='DIR')
    ap.add_argument('--batches', default='1,16')
    ap.add_argument('--repeat', type=int, default=30)
    a = ap.parse_args()
    if a.bench:
        bench(a.bench, [int(b) for b in a.batches.split(',')], a.repeat)
    else:
        generate()
