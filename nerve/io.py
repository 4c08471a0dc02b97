"""Save and load tensors, state dicts and whole checkpoints -- without pickle.

File format: one ordinary safetensors file. Every array (Tensor, NumPy array, NumPy
scalar, bytes) is stored once under a readable key derived from where it sits in the
object (``model.fc.weight``, ``optimizer.state.0.exp_avg``), so other safetensors
tools can read the weights. The structure around the arrays goes, as JSON, into the
safetensors metadata under ``"__nerve__"``::

    {"format": "nerve", "version": 1,
     "root": <node>,
     "arrays": {key: {"dtype": "float32", "crc32": 123456789}, ...}}

A node is a JSON ``null``/``true``/``false``/number/string for ``None``/``bool``/
``int``/``float``/``str``, or an object tagged by ``"t"``:

=============  ==============================================================
``tensor``     ``{"t", "k": array key, "rg": requires_grad, "dev"?: "cuda"}``
``parameter``  the same, restored as ``nerve.nn.Parameter``
``ndarray``    ``{"t", "k"}``; ``npscalar`` (a 0-d array), ``bytes`` (uint8)
``list``       ``{"t", "v": [node, ...]}``; also ``tuple`` and ``size`` (nerve.Size)
``dict``       ``{"t", "v": [[key node, value node], ...]}``; also ``odict``
``float``      ``{"t", "v": "nan" | "inf" | "-inf"}`` (JSON has no such numbers)
``dtype``      ``{"t", "v": "float32"}``; ``device`` ``{"t", "v": "cpu"}``
=============  ==============================================================

so tuples stay tuples, int dict keys stay ints and OrderedDicts stay ordered. Loading
never executes code: unknown tags, malformed nodes, missing or extra arrays, wrong
dtypes and CRC-32 mismatches (bit rot in an array or in the description, whose own
CRC-32 sits under ``"__nerve_crc32__"``) raise :class:`NerveLoadError`
(a ValueError) naming the file and the problem. The same object saved twice in a
checkpoint (tied weights) is stored once and loads as one object; distinct tensors that
merely share memory are stored separately.

Writes are atomic: the file is written beside the target under a temporary name,
flushed to disk and moved over the target with ``os.replace``, so a crash or an error
mid-write leaves any previous file intact.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import zlib
from collections import OrderedDict

import numpy as np
import safetensors
import safetensors.numpy as stnp

from . import _backend as B
from .tensor import Size, Tensor

FORMAT = "nerve"
VERSION = 1
_META_KEY = "__nerve__"
_CRC_KEY = "__nerve_crc32__"  # CRC-32 of the description itself
# dtypes safetensors stores and NumPy reads back (safetensors.numpy's table)
_ARRAY_DTYPES = frozenset(np.dtype(d) for d in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64, np.complex64))
_SUPPORTED = ("Tensor, numpy array or scalar, dict, OrderedDict, list, tuple, int, float, bool, "
              "str, bytes, None, nerve.dtype, nerve.device")
_TORCH_SAVE_OPTIONS = frozenset(("pickle_module", "pickle_protocol",
                                 "_use_new_zipfile_serialization", "_disable_byteorder_record"))
_TORCH_LOAD_OPTIONS = frozenset(("pickle_module", "mmap", "encoding"))


_TAGS = frozenset(("tensor", "parameter", "ndarray", "npscalar", "bytes", "list", "tuple", "size",
                   "dict", "odict", "float", "dtype", "device"))


class NerveLoadError(ValueError):
    """A file that nerve.load cannot read: not safetensors, truncated, damaged, or
    describing a structure this version of nerve does not know."""


# --- saving -----------------------------------------------------------------------------


def _type_name(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _key_part(k) -> str:
    return k if isinstance(k, str) else repr(k)


class _Encoder:
    """Walks the object once: JSON nodes out, arrays collected under unique keys."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.table: dict[str, dict] = {}
        self._by_id: dict[int, str] = {}
        self._on_path: set[int] = set()

    def _new_key(self, name: str) -> str:
        base = name or "tensor"
        if base == "__metadata__":  # reserved by safetensors
            base = "_metadata_"
        key, n = base, 1
        while key in self.arrays:
            n += 1
            key = f"{base}#{n}"
        return key

    def _array(self, obj, arr: np.ndarray, path: str, name: str) -> str:
        """Store ``arr`` (once per Python object) and return its key."""
        key = self._by_id.get(id(obj))
        if key is not None:
            return key
        if arr.dtype.byteorder == ">":  # stored little-endian; loads in native order
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        if arr.dtype not in _ARRAY_DTYPES:
            raise TypeError(f"nerve.save: cannot save an array of dtype {arr.dtype} at {path}: "
                            f"safetensors stores bool, int8-64, uint8-64, float16-64 and "
                            f"complex64")
        if not arr.flags.c_contiguous:  # safetensors copies raw memory: must be dense
            arr = np.array(arr, order="C")
        key = self._new_key(name)
        self.arrays[key] = arr
        self.table[key] = {"dtype": arr.dtype.name, "crc32": _crc32(arr)}
        self._by_id[id(obj)] = key
        return key

    def encode(self, obj, path: str, name: str):
        t = type(obj)
        if obj is None or t is bool or t is str:
            return obj
        if t is int:
            return obj
        if t is float:
            if math.isfinite(obj):
                return obj
            return {"t": "float", "v": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
        if isinstance(obj, Tensor):
            return self._tensor(obj, path, name)
        if t is np.ndarray:
            return {"t": "ndarray", "k": self._array(obj, obj, path, name)}
        if isinstance(obj, np.generic) and obj.dtype in _ARRAY_DTYPES:
            return {"t": "npscalar", "k": self._array(obj, np.asarray(obj), path, name)}
        if t is bytes:
            return {"t": "bytes", "k": self._array(obj, np.frombuffer(obj, np.uint8), path, name)}
        if t is B.dtype:
            return {"t": "dtype", "v": obj.name}
        if t is B.device:
            return {"t": "device", "v": str(obj)}
        if t in (list, tuple, Size, dict, OrderedDict):
            if id(obj) in self._on_path:
                raise ValueError(f"nerve.save: {path} contains itself (a reference cycle); "
                                 "a checkpoint must be a tree")
            self._on_path.add(id(obj))
            try:
                return self._container(obj, path, name)
            finally:
                self._on_path.discard(id(obj))
        hint = ""
        if isinstance(obj, dict):
            hint = " (convert it with dict(...))"
        elif isinstance(obj, tuple):
            hint = " (convert it with tuple(...))"
        elif isinstance(obj, np.ndarray):
            hint = " (convert it with np.asarray(...))"
        raise TypeError(f"nerve.save: cannot save an object of type {_type_name(t)} at "
                        f"{path}{hint}; supported types: {_SUPPORTED}")

    def _tensor(self, obj: Tensor, path: str, name: str) -> dict:
        t = type(obj)
        ours = t.__module__.startswith("nerve.")
        if t is Tensor or (ours and t.__name__ == "Buffer"):  # Buffer: only a marker class
            tag = "tensor"
        elif ours and t.__name__ == "Parameter":
            tag = "parameter"
        else:
            raise TypeError(f"nerve.save: cannot save a Tensor subclass {_type_name(t)} at "
                            f"{path}; save a plain tensor (x.detach()) instead")
        try:
            obj.dtype  # noqa: B018  (raises for array dtypes nerve has no name for)
        except TypeError as e:
            raise TypeError(f"nerve.save: {path}: {e}") from None
        node = {"t": tag, "k": self._array(obj, obj.numpy(), path, name),
                "rg": bool(obj.requires_grad)}
        if obj.device.type != "cpu":
            node["dev"] = obj.device.type
        return node

    def _container(self, obj, path: str, name: str) -> dict:
        def sub(n):
            return f"{name}.{n}" if name else n

        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                kp = f"{path}[{k!r}]"
                items.append([self._key(k, kp), self.encode(v, kp, sub(_key_part(k)))])
            return {"t": "odict" if type(obj) is OrderedDict else "dict", "v": items}
        tag = {list: "list", tuple: "tuple", Size: "size"}[type(obj)]
        return {"t": tag, "v": [self.encode(v, f"{path}[{i}]", sub(str(i)))
                                for i, v in enumerate(obj)]}

    def _key(self, k, path: str):
        t = type(k)
        if k is None or t in (bool, int, str):
            return k
        if t is float:
            return self.encode(k, path, "")
        if t is tuple:
            return {"t": "tuple", "v": [self._key(x, path) for x in k]}
        raise TypeError(f"nerve.save: cannot save a dict key of type {_type_name(t)} at "
                        f"{path}; dict keys must be str, int, float, bool, None or tuples of those")


def _crc32(arr: np.ndarray) -> int:
    return zlib.crc32(np.asarray(arr, order="C").reshape(-1).view(np.uint8)) if arr.size else 0


def _encode(obj) -> tuple[dict, dict]:
    enc = _Encoder()
    try:
        root = enc.encode(obj, "checkpoint", "")
    except RecursionError:
        raise ValueError("nerve.save: the object is nested too deeply to save") from None
    doc = {"format": FORMAT, "version": VERSION, "root": root, "arrays": enc.table}
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    meta = {_META_KEY: text, _CRC_KEY: str(zlib.crc32(text.encode()))}
    return enc.arrays, meta


def _atomic_write(path: str, write) -> None:
    """Call ``write(tmp_path)``, then move the finished file over ``path`` (all or nothing)."""
    path = os.path.realpath(path)  # through a symlink to the file it names, like open()
    if os.path.isdir(path):
        raise IsADirectoryError(f"nerve.save: {path!r} is a directory")
    folder, base = os.path.split(path)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); best effort elsewhere
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save(obj, f, **kwargs) -> None:
    """Save ``obj`` (a tensor, state dict or nested checkpoint) to ``f`` without pickle.

    ``f`` is a path (written atomically) or a binary file object. Supported values:
    Tensors, NumPy arrays and scalars, dict/OrderedDict (keys: str, int, float, bool,
    None, tuples of those), list, tuple, int, float, bool, str, bytes, None, nerve
    dtypes and devices. Anything else raises TypeError naming its place, e.g.
    ``checkpoint['model']['foo']``. PyTorch's pickle options are accepted and ignored.
    """
    unknown = set(kwargs) - _TORCH_SAVE_OPTIONS
    if unknown:
        raise TypeError(f"nerve.save: unexpected keyword argument(s) {sorted(unknown)}")
    arrays, meta = _encode(obj)
    if hasattr(f, "write"):
        f.write(stnp.save(arrays, metadata=meta))
        return
    _atomic_write(os.fspath(f), lambda tmp: stnp.save_file(arrays, tmp, metadata=meta))


# --- loading ----------------------------------------------------------------------------


class _Decoder:
    """JSON nodes -> Python objects, validating every node; arrays read on demand."""

    def __init__(self, name: str, get_array, table: dict, map_location) -> None:
        self.name = name
        self.get_array = get_array
        self.table = table
        self.map_location = map_location
        self._made: dict[tuple, object] = {}

    def fail(self, msg: str):
        raise NerveLoadError(f"nerve.load: {self.name}: {msg}")

    def array(self, node: dict, path: str) -> np.ndarray:
        key = node.get("k")
        if not isinstance(key, str) or key not in self.table:
            self.fail(f"{path} refers to array {key!r}, which the file does not list")
        arr = self.get_array(key)
        info = self.table[key]
        if arr.dtype.name != info["dtype"]:
            self.fail(f"array {key!r} has dtype {arr.dtype.name}, the description says "
                      f"{info['dtype']}")
        if _crc32(arr) != info["crc32"]:
            self.fail(f"array {key!r} is corrupted (CRC-32 mismatch)")
        return arr

    def decode(self, node, path: str):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            self.fail(f"malformed entry at {path}: expected a value or a tagged object, got "
                      f"{type(node).__name__}")
        tag = node["t"]
        if tag not in _TAGS:
            self.fail(f"unknown type tag {tag!r} at {path}")
        return getattr(self, "_d_" + tag)(node, path)

    def _items(self, node, path: str) -> list:
        v = node.get("v")
        if not isinstance(v, list):
            self.fail(f"malformed {node['t']} at {path}: 'v' must be a list")
        return v

    def _d_list(self, node, path):
        return [self.decode(x, f"{path}[{i}]") for i, x in enumerate(self._items(node, path))]

    def _d_tuple(self, node, path):
        return tuple(self._d_list(node, path))

    def _d_size(self, node, path):
        out = self._d_list(node, path)
        if not all(type(x) is int for x in out):
            self.fail(f"malformed size at {path}: expected integers")
        return Size(out)

    def _d_dict(self, node, path, cls=dict):
        out = cls()
        for pair in self._items(node, path):
            if not isinstance(pair, list) or len(pair) != 2:
                self.fail(f"malformed dict entry at {path}: expected [key, value]")
            k = self.decode(pair[0], f"{path}<key>")
            if not _valid_key(k):
                self.fail(f"malformed dict key at {path}: {type(k).__name__} is not allowed")
            out[k] = self.decode(pair[1], f"{path}[{k!r}]")
        return out

    def _d_odict(self, node, path):
        return self._d_dict(node, path, OrderedDict)

    def _d_float(self, node, path):
        v = node.get("v")
        if v not in ("nan", "inf", "-inf"):
            self.fail(f"malformed float at {path}: {v!r}")
        return float(v)

    def _d_dtype(self, node, path):
        d = getattr(B, "bool_" if node.get("v") == "bool" else str(node.get("v")), None)
        if not isinstance(d, B.dtype):
            self.fail(f"unknown dtype {node.get('v')!r} at {path}")
        return d

    def _d_device(self, node, path):
        try:
            return B.device(str(node.get("v")))
        except ValueError:
            self.fail(f"unknown device {node.get('v')!r} at {path}")

    def _cached(self, node, path, make):
        key = (node["t"], node.get("k"))
        if key not in self._made:
            self._made[key] = make(self.array(node, path))
        return self._made[key]

    def _d_ndarray(self, node, path):
        return self._cached(node, path, lambda a: a)

    def _d_npscalar(self, node, path):
        def make(a):
            if a.ndim != 0:
                self.fail(f"malformed numpy scalar at {path}: array has shape {a.shape}")
            return a[()]

        return self._cached(node, path, make)

    def _d_bytes(self, node, path):
        def make(a):
            if a.dtype != np.uint8 or a.ndim != 1:
                self.fail(f"malformed bytes at {path}")
            return a.tobytes()

        return self._cached(node, path, make)

    def _d_tensor(self, node, path):
        rg, dev = node.get("rg", False), node.get("dev", "cpu")
        if type(rg) is not bool or dev not in ("cpu", "cuda"):
            self.fail(f"malformed tensor at {path}")
        return self._cached(node, path, lambda a: self._make_tensor(a, rg, dev, node["t"], path))

    _d_parameter = _d_tensor

    def _make_tensor(self, arr: np.ndarray, rg: bool, dev: str, tag: str, path: str) -> Tensor:
        if arr.dtype not in B._BY_NP:
            self.fail(f"tensor at {path} has dtype {arr.dtype}, which nerve tensors do not use")
        if rg and arr.dtype.kind != "f":
            self.fail(f"tensor at {path} is {arr.dtype} but marked requires_grad")
        t = _place(Tensor._wrap(arr), dev, self.map_location)
        if tag == "parameter":
            try:
                from .nn import Parameter

                return Parameter(t, requires_grad=rg)
            except (ImportError, AttributeError, TypeError):
                pass  # no nerve.nn.Parameter to rebuild: a tensor with the same flag
        if rg:
            t.requires_grad_(True)
        return t


def _valid_key(k) -> bool:
    if k is None or type(k) in (bool, int, float, str):
        return True
    return type(k) is tuple and all(_valid_key(x) for x in k)


def _place(t: Tensor, saved: str, map_location) -> Tensor:
    """Move a freshly loaded (CPU) tensor where ``map_location`` says (PyTorch's rules)."""
    if callable(map_location):
        out = map_location(t, saved)
        return t if out is None else out
    if isinstance(map_location, dict):
        target = map_location.get(saved, saved)
    elif map_location is None:
        target = saved
    else:
        target = map_location
    target = B.device(target)
    if target.type == "cpu":
        return t
    if not B.cuda_is_available():
        raise RuntimeError("nerve.load: attempting to load a tensor onto a CUDA device but no GPU "
                           "is available; pass map_location='cpu' to load it on the CPU")
    return t.to(target)


def _describe_failure(name: str, err: Exception, head: bytes) -> NerveLoadError:
    text = str(err)
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        what = ("is a PyTorch/pickle file; nerve never unpickles (unpickling can run code). "
                "Re-save the weights as safetensors")
    elif "not fully covered" in text or "incomplete" in text or "header too small" in text \
            or "out of bounds" in text:
        what = "is truncated or damaged"
    else:
        what = "is not a valid safetensors file"
    return NerveLoadError(f"nerve.load: {name} {what} (safetensors: {text})")


def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(8)
    except OSError:
        return b""


def _decode_doc(name: str, meta: dict | None, keys: list, get_array, map_location):
    if not meta or _META_KEY not in meta:
        # a plain safetensors file (e.g. from another tool): a dict of named tensors
        return {k: _place(Tensor._wrap(get_array(k)), "cpu", map_location) for k in keys}
    if meta.get(_CRC_KEY) != str(zlib.crc32(meta[_META_KEY].encode())):
        raise NerveLoadError(f"nerve.load: {name}: the structure description is corrupted "
                             "(CRC-32 mismatch)")
    try:
        doc = json.loads(meta[_META_KEY])
    except (ValueError, RecursionError) as e:
        raise NerveLoadError(f"nerve.load: {name}: the structure description is not valid "
                             f"JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "root" not in doc:
        raise NerveLoadError(f"nerve.load: {name}: the structure description is malformed")
    version = doc.get("version")
    if type(version) is not int or version < 1:
        raise NerveLoadError(f"nerve.load: {name}: bad format version {version!r}")
    if version > VERSION:
        raise NerveLoadError(f"nerve.load: {name} was written by a newer nerve (format version "
                             f"{version}); this one reads versions up to {VERSION}")
    table = doc.get("arrays")
    if not isinstance(table, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("dtype"), str)
            and type(v.get("crc32")) is int for v in table.values()):
        raise NerveLoadError(f"nerve.load: {name}: the array table is malformed")
    if set(table) != set(keys):
        missing, extra = sorted(set(table) - set(keys)), sorted(set(keys) - set(table))
        raise NerveLoadError(f"nerve.load: {name}: arrays do not match the description "
                             f"(missing: {missing[:5]}, unexpected: {extra[:5]})")
    dec = _Decoder(name, get_array, table, map_location)
    try:
        return dec.decode(doc["root"], "checkpoint")
    except RecursionError:
        raise NerveLoadError(f"nerve.load: {name}: the structure is nested too deeply") from None


def load(f, map_location=None, weights_only: bool = True, **kwargs):
    """Load what :func:`save` wrote, restoring types exactly (tuples, int keys, dtypes).

    ``f`` is a path or a binary file object. ``map_location`` is PyTorch's: None (each
    tensor where it was saved), a device or name (``"cpu"``), a dict mapping saved
    device names to new ones, or ``fn(tensor, saved_device_name) -> tensor``.
    ``weights_only`` is accepted for compatibility: nerve files hold only data, so
    loading is always as safe as PyTorch's ``weights_only=True``. A plain safetensors
    file without nerve's description loads as a dict of name -> Tensor.
    """
    unknown = set(kwargs) - _TORCH_LOAD_OPTIONS
    if unknown:
        raise TypeError(f"nerve.load: unexpected keyword argument(s) {sorted(unknown)}")
    if hasattr(f, "read"):
        data = f.read()
        name = repr(getattr(f, "name", "<file object>"))
        try:
            arrays = stnp.load(data)
        except Exception as e:  # SafetensorError and friends: bad bytes, never a crash
            raise _describe_failure(name, e, bytes(data[:8])) from None
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8:8 + n]).get("__metadata__")  # validated by safetensors
        return _decode_doc(name, meta, sorted(arrays), arrays.__getitem__, map_location)

    path = os.fspath(f)
    name = repr(path)
    try:
        handle = safetensors.safe_open(path, framework="np")
    except OSError:
        raise
    except Exception as e:
        raise _describe_failure(name, e, _read_head(path)) from None
    with handle:
        def get_array(key):
            try:
                return handle.get_tensor(key)
            except Exception as e:
                raise NerveLoadError(f"nerve.load: {name}: cannot read array {key!r} "
                                     f"({e})") from None

        return _decode_doc(name, handle.metadata(), list(handle.keys()), get_array,
                           map_location)


def save_state_dict(state_dict, f) -> None:
    """Save a mapping of name -> Tensor (a model's ``state_dict()``); see :func:`save`."""
    if not isinstance(state_dict, dict):
        raise TypeError(f"save_state_dict: expected a dict of name -> Tensor, got "
                        f"{type(state_dict).__name__}")
    for k, v in state_dict.items():
        if not isinstance(k, str) or not isinstance(v, Tensor):
            raise TypeError(f"save_state_dict: entry {k!r} must map a str to a Tensor, got "
                            f"{type(k).__name__} -> {type(v).__name__}")
    save(state_dict, f)


def load_state_dict(f, map_location=None) -> dict:
    """Load a state dict saved by :func:`save_state_dict` (or any safetensors file)."""
    sd = load(f, map_location=map_location)
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise NerveLoadError(f"load_state_dict: {f!r} does not hold a dict of name -> Tensor")
    return sd


__all__ = ["save", "load", "save_state_dict", "load_state_dict", "NerveLoadError"]
