"""Array backend: one array-module handle per device, and the dtype table.

Every op calls ``xp = x.xp`` (or :func:`get_xp`) and computes with that module, so a
CuPy backend slots in by registering ``"cuda"`` here without touching the ops.
"""
from __future__ import annotations

import builtins
import math
import os

import numpy as np

# --- dtypes -----------------------------------------------------------------------------


class dtype:  # noqa: N801  (mirrors torch.dtype)
    """A nerve dtype: a thin name over a NumPy dtype (``nerve.float32.np``)."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize")

    def __init__(self, name: str, np_dtype) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"nerve.{self.name}"

    def __eq__(self, other) -> bool:
        try:
            return self.np == as_np_dtype(other)
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.np)


float16 = half = dtype("float16", np.float16)
float32 = float = dtype("float32", np.float32)
float64 = double = dtype("float64", np.float64)
int8 = dtype("int8", np.int8)
uint8 = dtype("uint8", np.uint8)
int16 = short = dtype("int16", np.int16)
int32 = int = dtype("int32", np.int32)
int64 = long = dtype("int64", np.int64)
bool_ = dtype("bool", np.bool_)

_BY_NP = {d.np: d for d in (float16, float32, float64, int8, uint8, int16, int32, int64, bool_)}


def as_np_dtype(d) -> np.dtype:
    """Turn a nerve dtype, NumPy dtype, Python type or name into a NumPy dtype."""
    if isinstance(d, dtype):
        return d.np
    if d is None:
        return _default_dtype
    if d is bool:
        return np.dtype(np.bool_)
    return np.dtype(d)


def from_np_dtype(d) -> dtype:
    d = np.dtype(d)
    try:
        return _BY_NP[d]
    except KeyError:
        raise TypeError(f"nerve has no dtype for NumPy dtype {d}") from None


_default_dtype = np.dtype(np.float32)


def get_default_dtype() -> dtype:
    return from_np_dtype(_default_dtype)


def set_default_dtype(d) -> None:
    """Set the floating dtype used for new tensors from Python floats (float32 or float64)."""
    global _default_dtype
    nd = as_np_dtype(d)
    if nd.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_dtype = nd


def default_np_dtype() -> np.dtype:
    return _default_dtype


# --- devices ----------------------------------------------------------------------------


class device:  # noqa: N801  (mirrors torch.device)
    """A device name: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy, when installed)."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None) -> None:
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        spec = str(spec)
        if ":" in spec:
            spec, idx = spec.split(":", 1)
            index = int(idx)
        if spec not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {spec!r}")
        self.type = spec
        self.index = index

    def __repr__(self) -> str:
        idx = f", index={self.index})" if self.index is not None else ")"
        return f"device(type='{self.type}'" + idx

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        try:
            return device(other).type == self.type
        except (ValueError, TypeError):
            return False

    def __hash__(self) -> int:
        return hash(self.type)


def _cupy():
    try:
        import cupy  # type: ignore

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # ImportError, or CUDA present but unusable
        return None


_XP = {"cpu": np}


def get_xp(dev="cpu"):
    """The array module (numpy or cupy) that computes on ``dev``."""
    kind = dev.type if isinstance(dev, device) else str(dev).split(":")[0]
    xp = _XP.get(kind)
    if xp is None:
        if kind == "cuda":
            cp = _cupy()
            if cp is None:
                raise RuntimeError("device 'cuda' needs CuPy and a GPU: pip install 'nerve[gpu]'")
            _XP["cuda"] = xp = cp
        else:
            raise ValueError(f"unknown device {dev!r}")
    return xp


def xp_of(arr):
    """The array module an array belongs to."""
    if isinstance(arr, np.ndarray) or np.isscalar(arr):
        return np
    mod = type(arr).__module__
    if mod.startswith("cupy"):
        return get_xp("cuda")
    return np


def device_of(arr) -> device:
    return device("cpu") if xp_of(arr) is np else device("cuda")


def cuda_is_available() -> bool:
    return _cupy() is not None


def threads() -> int:
    """BLAS thread count, best effort (OpenBLAS itself, threadpoolctl, else env/cpu count)."""
    from . import _parallel

    n = _parallel.blas_threads()
    if n is not None:
        return n
    try:
        from threadpoolctl import threadpool_info  # type: ignore

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            return builtins.int(info[0]["num_threads"])
    except Exception:
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return builtins.int(os.environ[var])
    return os.cpu_count() or 1


def blas_name() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown"


__all__ = ["dtype", "device", "get_xp", "xp_of", "math"]
