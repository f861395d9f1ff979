"""Weight files: a small safetensors reader/writer, safe `torch.load`, atomic writes.

safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__"},
then the raw little-endian tensor bytes. Reading maps the file and copies each tensor out.

`load_torch` always loads with `weights_only=True` (PyTorch ≥ 1.13 has the flag; 2.6 made it the default): a model
file is never allowed to run code. Our own training-state files hold only tensors, numbers, strings, lists and dicts,
so they load the same way.
"""
import json
import mmap
import os
import struct
import tempfile

import torch

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}
_CODES = {v: k for k, v in _DTYPES.items()}


class WeightFileError(Exception):
    """A weight file that cannot be used; the message names the file (and key)."""


def read_safetensors(path):
    """All tensors of a .safetensors file as a dict name → CPU tensor (copies, independent of the file)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if size < 8:
                raise WeightFileError(f"{path}: {size} bytes, too short for a safetensors file")
            (n,) = struct.unpack("<Q", f.read(8))
            if n <= 0 or 8 + n > size:
                raise WeightFileError(f"{path}: header length {n} does not fit the file ({size} bytes): not a safetensors file or truncated")
            header = json.loads(f.read(n).decode("utf-8"))
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise WeightFileError(f"{path}: not a readable safetensors file ({e})") from e
    out = {}
    try:
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dt = _DTYPES.get(info.get("dtype"))
            if dt is None:
                raise WeightFileError(f"{path}: '{name}' has unsupported dtype {info.get('dtype')}")
            a, b = info["data_offsets"]
            shape = list(info["shape"])
            count = 1
            for d in shape:
                count *= d
            if base + b > size or b - a != count * torch.empty((), dtype=dt).element_size():
                raise WeightFileError(f"{path}: '{name}' data offsets {a}..{b} do not match shape {shape} / the file size (truncated?)")
            t = torch.frombuffer(mm, dtype=dt, count=count, offset=base + a) if count else torch.empty(0, dtype=dt)
            out[name] = t.reshape(shape).clone()
    finally:
        mm.close()
    return out


class LazyTensor:
    """A tensor made only when it is written (`make()` must return `dtype` / `shape`)."""

    def __init__(self, dtype, shape, make):
        self.dtype, self.shape, self.make = dtype, list(shape), make


def write_safetensors(state, path, metadata=None):
    """Writes tensors (or LazyTensors) to `path` atomically, keys in the given order, one tensor in memory at a time."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    off = 0
    items = list(state.items())
    for name, t in items:
        if t.dtype not in _CODES:
            raise ValueError(f"safetensors: '{name}' has unsupported dtype {t.dtype}")
        n = torch.empty((), dtype=t.dtype).element_size()
        for d in t.shape:
            n *= d
        header[name] = {"dtype": _CODES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)

    def write(f):
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, t in items:
            t = (t.make() if isinstance(t, LazyTensor) else t).detach().cpu().contiguous()
            if t.numel():
                f.write(t.reshape(-1).view(torch.uint8).numpy().tobytes())

    atomic_write(path, write)


def atomic_write(path, writer):
    """Writes through `writer(fileobj)` to a temporary file in the same folder, fsyncs, renames over `path`."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".partial", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions a plain open() would
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_torch(obj, path):
    atomic_write(path, lambda f: torch.save(obj, f))


def pack_state(obj):
    """Training state → {'json': str, 'tensors': {name: tensor}}: only tensors and one string reach the pickle, which
    every PyTorch's weights-only loader accepts (1.13's rejects even plain floats)."""
    tensors = {}

    def enc(o):
        if isinstance(o, torch.Tensor):
            k = f"t{len(tensors)}"
            tensors[k] = o
            return {"__tensor__": k}
        if isinstance(o, dict):
            if all(isinstance(k, str) for k in o):
                return {"__dict__": {k: enc(v) for k, v in o.items()}}
            return {"__items__": [[enc(k), enc(v)] for k, v in o.items()]}
        if isinstance(o, (list, tuple)):
            return {"__tuple__" if isinstance(o, tuple) else "__list__": [enc(v) for v in o]}
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        raise TypeError(f"training state: cannot store a {type(o).__name__}")

    return {"json": json.dumps(enc(obj)), "tensors": tensors}


def unpack_state(packed):
    tensors = packed["tensors"]

    def dec(o):
        if isinstance(o, dict):
            if "__tensor__" in o:
                return tensors[o["__tensor__"]]
            if "__dict__" in o:
                return {k: dec(v) for k, v in o["__dict__"].items()}
            if "__items__" in o:
                return {dec(k): dec(v) for k, v in o["__items__"]}
            if "__tuple__" in o:
                return tuple(dec(v) for v in o["__tuple__"])
            if "__list__" in o:
                return [dec(v) for v in o["__list__"]]
        return o

    return dec(json.loads(packed["json"]))


def load_torch(path):
    """torch.load with weights_only=True on CPU; clear errors for missing / truncated / non-checkpoint files."""
    if not os.path.exists(path):
        raise WeightFileError(f"{path} does not exist")
    if os.path.getsize(path) == 0:
        raise WeightFileError(f"{path} is empty (interrupted download or save?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle / zip errors differ between PyTorch versions
        raise WeightFileError(f"{path}: cannot be read as a PyTorch weights file ({type(e).__name__}: {e})") from e


def load_weights(path):
    """A state dict from .safetensors / .pth / .bin / .ckpt, unwrapping {'state_dict': …} and a 'module.' prefix."""
    sd = read_safetensors(path) if path.endswith(".safetensors") else load_torch(path)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightFileError(f"{path}: not a state dict of tensors")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def diffusers_weights(folder, what):
    """The weights file of a diffusers model folder: safetensors preferred, else .bin (as from_pretrained)."""
    for n in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin",
              "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.fp16.bin",
              "model.safetensors", "pytorch_model.bin"):
        p = os.path.join(folder, n)
        if os.path.exists(p):
            return p
    raise WeightFileError(f"{what}: {folder} has no diffusion_pytorch_model.safetensors / .bin")


def load_into(module, sd, what, ignore=(), allow_missing=()):
    """Loads `sd` into `module` with full key accounting: every module key must be in `sd` with the same shape (unless
    it matches `allow_missing`), every `sd` key must be used (unless it matches `ignore`). Returns the list of ignored
    file keys. Raises WeightFileError naming the first problems."""
    import re

    own = module.state_dict()
    miss = [k for k in own if k not in sd and not any(re.search(p, k) for p in allow_missing)]
    bad = [f"{k} {list(sd[k].shape)} (needs {list(own[k].shape)})" for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    extra = [k for k in sd if k not in own and not any(re.search(p, k) for p in ignore)]
    if miss or bad or extra:
        parts = []
        if miss:
            parts.append(f"{len(miss)} missing key(s), e.g. {', '.join(miss[:4])}")
        if bad:
            parts.append(f"{len(bad)} wrong shape(s): {', '.join(bad[:3])}")
        if extra:
            parts.append(f"{len(extra)} unexpected key(s), e.g. {', '.join(extra[:4])}")
        raise WeightFileError(f"{what}: " + "; ".join(parts))
    with torch.no_grad():
        for k, v in own.items():
            if k in sd:
                v.copy_(sd[k].to(v.dtype))
    return [k for k in sd if k not in own]
