"""Shared test helpers: PyTorch as the oracle, tolerances, Hypothesis settings.

Use from any test file (tests/ has no ``__init__.py``, so this module is importable)::

    from conftest import HYP, assert_close, to_torch
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

import nerve

torch.set_num_threads(1)  # the test machine's cores are shared

# Hypothesis profile for op tests: few, reproducible examples (the suite must stay fast)
HYP = settings(max_examples=12, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# (rtol, atol) per dtype: float32 per the project contract; float64 near machine precision
TOL = {np.dtype(np.float32): (1e-5, 1e-6), np.dtype(np.float64): (1e-9, 1e-11)}


def to_np(x) -> np.ndarray:
    """A nerve Tensor, torch tensor, array or scalar as a NumPy array."""
    if isinstance(x, nerve.Tensor):
        return np.asarray(x.data)
    if isinstance(x, torch.Tensor):
        if x._is_zerotensor():  # torch's symbolic zeros (e.g. in double backward)
            return np.zeros(tuple(x.shape), dtype=str(x.dtype).replace("torch.", ""))
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_torch(x, requires_grad: bool | None = None) -> torch.Tensor:
    """A copy of a nerve Tensor (or array) as a torch tensor (same dtype and values)."""
    t = torch.from_numpy(np.array(to_np(x), copy=True))
    rg = (x.requires_grad if isinstance(x, nerve.Tensor) else False) if requires_grad is None \
        else requires_grad
    return t.requires_grad_(rg) if rg else t


def dtype_name(x) -> str:
    """'float32', 'int64', 'bool', ... for nerve and torch tensors alike."""
    if isinstance(x, torch.Tensor):
        return str(x.dtype).replace("torch.", "")
    if isinstance(x, nerve.Tensor):
        return x.dtype.name
    return np.asarray(x).dtype.name


def assert_close(actual, expected, rtol: float | None = None, atol: float | None = None,
                 msg: str = "", check_dtype: bool = True) -> None:
    """Values, shape and (by default) dtype equal within the dtype's tolerance (NaNs equal)."""
    a, e = to_np(actual), to_np(expected)
    if check_dtype:
        assert dtype_name(actual) == dtype_name(expected), \
            f"{msg} dtype {dtype_name(actual)} != expected {dtype_name(expected)}"
    assert a.shape == e.shape, f"{msg} shape {a.shape} != expected {e.shape}"
    r, t = TOL.get(a.dtype, (0.0, 0.0))
    np.testing.assert_allclose(a, e, rtol=r if rtol is None else rtol,
                               atol=t if atol is None else atol, equal_nan=True, err_msg=msg)


@pytest.fixture
def seeded():
    """Seed nerve, NumPy and torch with 0; yields a NumPy Generator."""
    nerve.manual_seed(0)
    torch.manual_seed(0)
    return np.random.default_rng(0)
