#!/usr/bin/python3
"""Golden fixtures for test/io: pickles, .npy/.npz, torch checkpoints and .safetensors written by the real
numpy / scipy / PyTorch (Debian packages), plus the values they hold as tagged JSON.

Regenerate (from the repository root, Debian's python, NOT the python3 on PATH):

    /usr/bin/python3 test/io/golden/make_fixtures.py

Written with numpy 1.24, scipy 1.10, torch 1.13 (Debian bookworm). Outputs go to test/io/fixtures/ (a few kB).

Tagged JSON (mirrored by test/io/helpers.ts):
  dict -> {"__map__": [[k, v], ...]}, list/tuple -> [...], set -> {"__set__": [...]}, bytes -> {"__bytes__": hex},
  int beyond +-2^53 -> {"__bigint__": "..."}, array -> {"__nd__": dtype, "shape", "order", "data": C-order flat list
  (int64/uint64 elements as strings, bool as 0/1)}, sparse -> {"__sparse__": fmt, "shape", "data", "indices", "indptr"}.
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import types

import numpy as np
import scipy.sparse as sp
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures')
os.makedirs(OUT, exist_ok=True)
SAFE = 2**53 - 1


def nd(a):
    a = np.asarray(a)
    k = a.dtype.kind
    name = {'U': 'str', 'O': 'object'}.get(k, a.dtype.name)
    order = 'F' if a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous else 'C'
    flat = a.ravel(order='C')
    if k == 'O':
        data = [tag(x) for x in flat]
    elif k in 'iu' and a.dtype.itemsize == 8:
        data = [str(int(x)) for x in flat]
    elif k in 'iu':
        data = [int(x) for x in flat]
    elif k == 'b':
        data = [int(x) for x in flat]
    elif k == 'f':
        data = [ftag(float(x)) for x in flat]
    else:
        data = [str(x) for x in flat]
    return {'__nd__': name, 'shape': list(a.shape), 'order': order, 'data': data}


def tt(t):
    t = t.detach()
    name = str(t.dtype).replace('torch.', '')
    flat = t.contiguous().reshape(-1)
    if t.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        data = [ftag(float(x)) for x in flat.double().tolist()]
    elif t.dtype == torch.int64:
        data = [str(int(x)) for x in flat.tolist()]
    else:
        data = [int(x) for x in flat.tolist()]
    return {'__nd__': name, 'shape': list(t.shape), 'order': 'C', 'data': data}


def ftag(x):
    if x != x:
        return {'__float__': 'nan'}
    if x in (float('inf'), float('-inf')):
        return {'__float__': 'inf' if x > 0 else '-inf'}
    return x


def tag(v):
    if isinstance(v, torch.Tensor):
        return tt(v)
    if isinstance(v, np.ndarray):
        return nd(v)
    if isinstance(v, np.generic):
        return tag(v.item())
    if sp.issparse(v):
        return {'__sparse__': v.format, 'shape': list(v.shape), 'data': nd(v.data), 'indices': nd(v.indices), 'indptr': nd(v.indptr)}
    if isinstance(v, dict):
        return {'__map__': [[tag(k), tag(x)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return [tag(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return {'__set__': [tag(x) for x in v]}
    if isinstance(v, (bytes, bytearray)):
        return {'__bytes__': bytes(v).hex()}
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if -SAFE <= v <= SAFE else {'__bigint__': str(v)}
    if isinstance(v, float):
        return ftag(v)
    raise TypeError(type(v))


def write(name, data):
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)


def write_json(name, obj):
    with open(os.path.join(OUT, name), 'w') as f:
        json.dump(obj, f, indent=None, separators=(',', ':'))
        f.write('\n')


# ---------------------------------------------------------------- pickles of numpy arrays
def numpy_payload():
    f64f = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4) / 8 - 0.5)
    return collections.OrderedDict([
        ('f32', (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.25)),
        ('f64', np.array([1.5, -0.1, 1e300, np.inf, -0.0], dtype=np.float64)),
        ('i64', np.array([0, -5, 2**40, 2**62 + 3, -2**63], dtype=np.int64)),
        ('f64_fortran', f64f),
        ('zero_d', np.array(3.25)),
        ('be_f4', np.array([1.0, -2.5, 3.75], dtype='>f4')),
        ('be_i8', np.array([[1, -2], [3, 2**50]], dtype='>i8')),
        ('bool', np.array([True, False, True])),
        ('u8', np.arange(250, 256, dtype=np.uint8)),
        ('i32', np.array([-2**31, 7, 2**31 - 1], dtype=np.int32)),
        ('f16', np.array([0.5, -1.25, 65504, 2**-24], dtype=np.float16)),
        ('u4', np.array([0, 2**32 - 1], dtype=np.uint32)),
        ('empty', np.zeros((0, 3), dtype=np.float32)),
        ('strs', np.array(['ab', 'héllo', ''])),
        ('scalar_f64', np.float64(2.5)),
        ('scalar_i64', np.int64(-7)),
        ('scalar_bool', np.bool_(True)),
    ])


payload = numpy_payload()
for proto in (0, 2, 4, 5):
    write(f'numpy_p{proto}.pkl', pickle.dumps(payload, protocol=proto))
write_json('numpy.json', tag(payload))

# ---------------------------------------------------------------- builtins / OrderedDict
py_payload = collections.OrderedDict([
    ('b', 1), ('a', [1, 2.5, None, True, False]), ('10', (3, 'x')), ('2', {'nested': {'k': -1}}),
    ('big', 2**70), ('neg_big', -2**64 - 1), ('mid', 2**40), ('neg', -123456), ('float', 0.1),
    ('uni', 'tête 頭 😀'), ('bytes', b'\x00\xff\n'), ('set', {3}), ('fset', frozenset({'q'})),
    ('empty_t', ()), ('t1', (1,)), ('t2', (1, 2)), ('t3', (1, 2, 3)), ('shared', None),
])
shared = [1, 2]
py_payload['shared'] = (shared, shared)  # memo GET of the same list
for proto in (0, 1, 2, 3, 4, 5):
    write(f'builtins_p{proto}.pkl', pickle.dumps(py_payload, protocol=proto))
write_json('builtins.json', tag(py_payload))


# ---------------------------------------------------------------- Python-2 style pickle (FLAME-like)
class Py2Pickler(pickle._Pickler):
    """Writes str/bytes the way Python 2's cPickle wrote `str`: (SHORT_)BINSTRING with raw bytes."""
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj):
        data = obj.encode('latin1') if isinstance(obj, str) else bytes(obj)
        n = len(data)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', n) + data)
        self.memoize(obj)

    dispatch[str] = save_py2str
    dispatch[bytes] = save_py2str


# stand-in for the chumpy package: pickles record the global 'chumpy.ch Ch' exactly as FLAME files do
chumpy = types.ModuleType('chumpy')
chumpy_ch = types.ModuleType('chumpy.ch')


class Ch(object):
    pass


Ch.__module__ = 'chumpy.ch'
Ch.__qualname__ = 'Ch'
chumpy_ch.Ch = Ch
chumpy.ch = chumpy_ch
sys.modules['chumpy'] = chumpy
sys.modules['chumpy.ch'] = chumpy_ch


def ch(a):
    c = Ch()
    c.__dict__.update({'x': a, '_dirty_vars': set(), 'terms': [], 'dterms': ['x']})
    return c


import scipy.sparse.csc  # noqa: E402  (the pre-1.8 module name FLAME 2020's file records)

jreg = sp.csc_matrix(np.array([[0.25, 0, 0.75, 0], [0, 0.5, 0, 0.5]], dtype=np.float64))
flame = {
    'v_template': ch(np.arange(12, dtype=np.float64).reshape(4, 3) / 4),
    'f': np.array([[0, 1, 2], [1, 2, 3]], dtype=np.uint32),
    'shapedirs': ch(np.arange(24, dtype=np.float64).reshape(4, 3, 2) / 16),
    'posedirs': ch(np.asfortranarray(np.arange(24, dtype=np.float64).reshape(4, 3, 2) / -8)),
    'J_regressor': jreg,
    'kintree_table': np.array([[4294967295, 0], [0, 1]], dtype=np.int64),
    'weights': ch(np.full((4, 2), 0.5)),
    'bs_style': 'lbs',
    'note': 'caf\xe9',
}
flame['weights_again'] = flame['weights']  # memo GET of a Ch: must see the BUILT value
orig_mod = sp.csc_matrix.__module__
sp.csc_matrix.__module__ = 'scipy.sparse.csc'
buf = io.BytesIO()
Py2Pickler(buf, protocol=2).dump(flame)
sp.csc_matrix.__module__ = orig_mod
write('flame_like_py2.pkl', buf.getvalue())
flame_expected = dict(flame)
for k in ('v_template', 'shapedirs', 'posedirs', 'weights', 'weights_again'):
    flame_expected[k] = flame[k].x
write_json('flame_like_py2.json', tag(flame_expected))

# modern scipy (scipy.sparse._csc / _csr) with protocol 4
sparse_payload = {'csc': jreg, 'csr': sp.csr_matrix(np.array([[0, 2.5], [1, 0], [0, -3]], dtype=np.float32))}
write('sparse_p4.pkl', pickle.dumps(sparse_payload, protocol=4))
write_json('sparse.json', {**tag(sparse_payload), 'dense': {k: nd(v.toarray()) for k, v in sparse_payload.items()}})


# ---------------------------------------------------------------- malicious pickles (never unpickled here)
MARKER = '/tmp/magicportrait-pickle-pwned'


class Evil:
    def __reduce__(self):
        return (os.system, ('touch ' + MARKER,))


write('evil_os_system_p0.pkl', b"cos\nsystem\n(S'touch " + MARKER.encode() + b"'\ntR.")
write('evil_posix_p4.pkl', pickle.dumps({'ok': np.zeros(2), 'bad': Evil()}, protocol=4))
write('evil_eval_p2.pkl', b'\x80\x02c__builtin__\neval\nq\x00X\x0b\x00\x00\x00print("hi")q\x01\x85q\x02Rq\x03.')

# ---------------------------------------------------------------- .npy / .npz
npy_cases = {
    'f32_c': np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5,
    'f64_f': np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3) - 0.75),
    'i64_be': np.array([1, -2, 2**60], dtype='>i8'),
    'bool': np.array([[True], [False]]),
    'u8_0d': np.array(200, dtype=np.uint8),
    'f16': np.array([1.5, -0.25], dtype=np.float16),
    'str': np.array(['ab', 'héllo']),
}
for k, v in npy_cases.items():
    np.save(os.path.join(OUT, f'{k}.npy'), v)
with open(os.path.join(OUT, 'f32_v2.npy'), 'wb') as f:
    np.lib.format.write_array(f, npy_cases['f32_c'], version=(2, 0))
with open(os.path.join(OUT, 'f32_v3.npy'), 'wb') as f:
    np.lib.format.write_array(f, npy_cases['f32_c'], version=(3, 0))
npy_expected = {k: nd(v) for k, v in npy_cases.items()}

# DECA landmark_embedding.npy: a dict (0-d object array) holding numpy arrays and torch tensors
lmk = {
    'static_lmk_faces_idx': torch.tensor([5, 7, 9], dtype=torch.int64),
    'static_lmk_bary_coords': torch.tensor([[0.25, 0.5, 0.25], [1, 0, 0], [0, 0.5, 0.5]], dtype=torch.float32),
    'dynamic_lmk_faces_idx': torch.arange(6, dtype=torch.int64).reshape(2, 3),
    'dynamic_lmk_bary_coords': torch.arange(18, dtype=torch.float32).reshape(2, 3, 3)[:, :, :] / 32,
    'full_lmk_faces_idx': np.array([[1, 2, 3]], dtype=np.int64),
    'full_lmk_bary_coords': np.full((1, 3, 3), 1 / 3, dtype=np.float64),
}
np.save(os.path.join(OUT, 'landmark_embedding.npy'), lmk, allow_pickle=True)
npy_expected['landmark_embedding'] = tag(lmk)
write_json('npy.json', npy_expected)

npz_arrays = {'mean': np.arange(12, dtype=np.float32).reshape(2, 2, 3), 'tex_dir': np.eye(3, dtype=np.float64), 'idx': np.array([3, 1], dtype=np.int64)}
np.savez(os.path.join(OUT, 'stored.npz'), **npz_arrays)
np.savez_compressed(os.path.join(OUT, 'deflated.npz'), **npz_arrays)
write_json('npz.json', {k: nd(v) for k, v in npz_arrays.items()})


# ---------------------------------------------------------------- torch checkpoints
def flat(prefix, v, out):
    if isinstance(v, torch.Tensor):
        out[prefix] = tt(v)
    elif isinstance(v, dict):
        for k, x in v.items():
            flat(f'{prefix}.{k}' if prefix else k, x, out)
    return out


base = (torch.arange(20, dtype=torch.float32) / 4 - 2).reshape(4, 5)
shared = torch.arange(10, dtype=torch.float64) / 2
enc = collections.OrderedDict([
    ('conv.weight', (torch.arange(24, dtype=torch.float32) / 8).reshape(2, 3, 2, 2)),
    ('conv.bias', torch.tensor([0.5, -1.0], dtype=torch.float16)),
    ('bf16', torch.tensor([1.0, -2.5, 0.0078125, 3e38], dtype=torch.bfloat16)),
    ('f64', torch.tensor([[1e-300, -3.5]], dtype=torch.float64)),
    ('i64', torch.tensor([2**62, -1, 0], dtype=torch.int64)),
    ('i32', torch.tensor([-7, 2**31 - 1], dtype=torch.int32)),
    ('u8', torch.tensor([0, 255, 17], dtype=torch.uint8)),
    ('mask', torch.tensor([[True, False], [False, True]])),
    ('view_offset', base[1:, 2:]),  # storage offset 7, strides (5, 1): non-contiguous
    ('transposed', base.t()),  # strides (1, 5)
    ('shared_a', shared[2:6]),  # two views of one storage
    ('shared_b', shared.view(2, 5)[:, ::2]),
    ('scalar', torch.tensor(3.25)),
    ('bn.num_batches_tracked', torch.tensor(11)),
    ('expanded', torch.tensor([1.5, 2.5]).expand(3, 2)),  # stride 0
])
ckpt = {
    'E_flame': enc,
    'E_detail': collections.OrderedDict([('fc.weight', torch.ones(2, 2) * 0.75)]),
    'param': torch.nn.Parameter(torch.tensor([0.125, 0.25])),
    'meta': {'epoch': 3, 'name': 'deca', 'lr': 1e-4},
}
torch.save(ckpt, os.path.join(OUT, 'ckpt_zip.pt'))
torch.save(ckpt, os.path.join(OUT, 'deca_like.tar'))
torch.save(ckpt, os.path.join(OUT, 'ckpt_legacy.pt'), _use_new_zipfile_serialization=False)
smirk = collections.OrderedDict([('smirk_encoder.fc.weight', torch.eye(2)), ('smirk_generator.b', torch.tensor([1, 2], dtype=torch.int32))])
torch.save(smirk, os.path.join(OUT, 'smirk_like.pt'))
torch.save({'state_dict': smirk, 'epoch': 9}, os.path.join(OUT, 'wrapped.pt'))
write_json('torch.json', {
    'ckpt': flat('', ckpt, {}),
    'meta': tag(ckpt['meta']),
    'smirk': flat('', smirk, {}),
})

# ---------------------------------------------------------------- safetensors (hand-rolled: header JSON + bytes)
st_tensors = collections.OrderedDict([
    ('w', (torch.arange(6, dtype=torch.float32) - 2.5).reshape(2, 3)),
    ('h', torch.tensor([0.5, -2.0, 65504], dtype=torch.float16)),
    ('bf', torch.tensor([1.0, -0.5], dtype=torch.bfloat16)),
    ('d', torch.tensor([[1e-200]], dtype=torch.float64)),
    ('i', torch.tensor([2**62, -3], dtype=torch.int64)),
    ('i32', torch.tensor([5, -6], dtype=torch.int32)),
    ('u8', torch.tensor([9, 250], dtype=torch.uint8)),
    ('b', torch.tensor([True, False, True])),
    ('empty', torch.zeros(0, 4)),
])
ST = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64', torch.int64: 'I64',
      torch.int32: 'I32', torch.uint8: 'U8', torch.bool: 'BOOL'}
header, blobs, off = collections.OrderedDict(), [], 0
header['__metadata__'] = {'format': 'pt'}
for k, t in st_tensors.items():
    raw = t.contiguous().view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.contiguous().numpy().tobytes()
    header[k] = {'dtype': ST[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
hjson = json.dumps(header).encode()
hjson += b' ' * (-len(hjson) % 8)
write('tensors.safetensors', struct.pack('<Q', len(hjson)) + hjson + b''.join(blobs))
write_json('safetensors.json', {k: tt(v) for k, v in st_tensors.items()})
print('fixtures written to', os.path.normpath(OUT))
