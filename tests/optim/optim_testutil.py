"""Shared helpers for the nerve.optim tests: identical parameters and gradients in nerve
and torch, step both, compare."""
from __future__ import annotations

import numpy as np
import torch

import nerve

# Shapes cover a 0-d parameter, small ones (one kernel call) and one larger than the
# CPU engine's chunk (65536 elements, so the chunked path runs with a ragged last chunk).
SHAPES = [(5, 7), (7,), (), (3, 2, 4), (300, 230)]
RTOL, ATOL = 1e-5, 1e-6


def make_params(shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    nps = [nerve.tensor(a.copy(), requires_grad=True) for a in init]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return nps, tps


def grad_seq(shapes=SHAPES, steps=8, seed=1, skip=None):
    """Per step, one float32 gradient array per parameter (None where ``skip`` says)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        row = []
        for i, s in enumerate(shapes):
            g = rng.standard_normal(s).astype(np.float32)
            row.append(None if skip and (t, i) in skip else g)
        out.append(row)
    return out


def set_grads(nps, tps, row):
    for p, q, g in zip(nps, tps, row):
        if g is None:
            p.grad = None
            q.grad = None
        else:
            p.grad = nerve.tensor(g.copy())
            q.grad = torch.tensor(g.copy())


def assert_close(a, b, what="", scaled=False):
    """rtol 1e-5 / atol 1e-6. ``scaled=True`` (state buffers) multiplies atol by the
    array's largest magnitude: a momentum buffer is a running sum of terms as large as
    that, and an entry that cancels to near zero keeps the float32 rounding of those
    terms (PyTorch's fused addcmul/addcdiv round once where NumPy rounds twice)."""
    a = a.data if isinstance(a, nerve.Tensor) else a
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    a, b = np.asarray(a), np.asarray(b)
    atol = ATOL * max(1.0, float(np.abs(b).max(initial=0.0))) if scaled else ATOL
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=atol, err_msg=what)


def assert_params_close(nps, tps, what=""):
    for i, (p, q) in enumerate(zip(nps, tps)):
        assert p.data.dtype == np.float32, f"{what} param {i} dtype {p.data.dtype}"
        assert_close(p, q, f"{what} param {i}")


def assert_state_close(nopt, topt, nps, tps, what=""):
    for i, (p, q) in enumerate(zip(nps, tps)):
        ns, ts = nopt.state[p], topt.state[q]
        assert set(ns) == set(ts), f"{what} param {i}: state keys {set(ns)} vs {set(ts)}"
        for k, tv in ts.items():
            nv = ns[k]
            if k == "step":
                assert nv.data.dtype == np.float32 and nv.data.shape == ()
                assert float(nv) == float(tv), f"{what} param {i} step"
            else:
                assert nv.data.dtype == np.float32, f"{what} param {i} {k} dtype"
                assert nv.data.shape == tuple(tv.shape)
                assert_close(nv, tv, f"{what} param {i} state {k}", scaled=True)
