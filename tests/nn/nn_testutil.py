"""Helpers for comparing nerve.nn against PyTorch (the oracle) with identical weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import nerve
import nerve.nn  # noqa: F401  (binds nerve.nn: see the note in the report on nerve.ops.nn)

torch.set_num_threads(1)  # the machine's cores are shared

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(autouse=True)
def nn_seed():
    """Seed nerve and torch before every test (import this name into each test module)."""
    nerve.manual_seed(0)
    torch.manual_seed(0)


def to_torch(t, requires_grad: bool = False) -> torch.Tensor:
    """A torch copy of a nerve tensor (or array)."""
    arr = np.array(t.numpy() if isinstance(t, nerve.Tensor) else t)
    out = torch.from_numpy(arr)
    return out.requires_grad_(requires_grad) if requires_grad else out


def copy_weights(nmod, tmod) -> None:
    """Load the nerve module's state_dict into the torch module (names must match)."""
    sd = {k: torch.from_numpy(np.array(v.numpy())) for k, v in nmod.state_dict().items()}
    tmod.load_state_dict(sd, strict=True)


def close(a, b, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> None:
    """Assert nerve tensor/array ``a`` equals torch tensor/array ``b``."""
    a = a.numpy() if isinstance(a, nerve.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def randn(*shape, dtype=np.float32, scale: float = 1.0, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def compare_module(nmod, tmod, *arrays, rtol: float = RTOL, atol: float = ATOL,
                   dtype=np.float32, check_input_grad: bool = True) -> None:
    """Forward and backward of ``nmod`` and ``tmod`` on the same inputs and cotangent.

    Compares outputs, input gradients and parameter gradients, and checks that the
    output and every gradient keep the input dtype (no float64 leak).
    """
    copy_weights(nmod, tmod)
    xs = [nerve.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    txs = [to_torch(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = nmod(*xs)
    tout = tmod(*txs)
    close(out, tout, rtol, atol, "output")
    assert out.data.dtype == dtype, f"output dtype {out.data.dtype}, expected {dtype}"
    v = randn(*out.shape, dtype=out.data.dtype, seed=123)
    out.backward(nerve.tensor(v))
    tout.backward(torch.from_numpy(v))
    if check_input_grad:
        for i, (x, tx) in enumerate(zip(xs, txs)):
            if x.requires_grad:
                close(x.grad, tx.grad, rtol, atol, f"input {i} grad")
                assert x.grad.data.dtype == dtype
    tparams = dict(tmod.named_parameters())
    for name, p in nmod.named_parameters():
        close(p.grad, tparams[name].grad, rtol, atol, f"grad of {name}")
        assert p.grad.data.dtype == dtype, f"grad of {name} is {p.grad.data.dtype}"
