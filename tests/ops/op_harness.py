"""One harness for every op test, in the spirit of Chainer's ``FunctionTestCase``.

``check(fn, *specs)`` draws inputs from ``specs`` and, for each float dtype, runs the op in
nerve and in PyTorch (the oracle) and checks:

1. forward values, shapes and dtypes equal torch's (float32 stays float32);
2. with a random upstream gradient, every input's gradient equals torch's, in the
   input's dtype (unused inputs: None or zeros on both sides);
3. float64: ``nerve.autograd.gradcheck`` against central finite differences;
4. ``double=True``: second derivatives, built with ``create_graph=True``, equal torch's
   (the gradient of ``Σ wᵢ·gradᵢ`` for random ``wᵢ``), and ``gradgradcheck`` passes.

``fn`` takes the input tensors; if its first parameter is called ``lib`` it receives the
``nerve`` or ``torch`` module, so one lambda serves both (``lambda lib, x: lib.exp(x)``).
Otherwise pass ``torch_fn`` for the torch side. Constants (dims, index arrays) are
closed over by the lambdas.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import torch
from conftest import TOL, assert_close, dtype_name, to_np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import nerve

FLOATS = (np.float32, np.float64)


@dataclass
class T:
    """An input tensor: shape, value range and whether it is differentiated.

    ``away``: values have magnitude in [away, high] with a random sign (keeps divisors
    and kinks like |x| at 0 out of finite-difference reach). ``dtype``: fixed dtype
    (ints, bools); None means the float dtype under test. ``values``: explicit data.
    """

    shape: tuple = ()
    low: float = -2.0
    high: float = 2.0
    grad: bool = True
    away: float = 0.0
    dtype: object = None
    values: object = field(default=None, repr=False)

    def draw(self, rng: np.random.Generator, float_dtype) -> np.ndarray:
        if self.values is not None:
            a = np.asarray(self.values)
            return a.astype(float_dtype) if a.dtype.kind == "f" and self.dtype is None else a
        dt = np.dtype(float_dtype if self.dtype is None else self.dtype)
        shape = tuple(self.shape)
        if dt.kind == "b":
            return rng.random(shape) < 0.5
        if dt.kind in "iu":
            return rng.integers(int(self.low), int(self.high), size=shape).astype(dt)
        if self.away:
            mag = rng.uniform(self.away, self.high, size=shape)
            return (mag * rng.choice([-1.0, 1.0], size=shape)).astype(dt)
        return rng.uniform(self.low, self.high, size=shape).astype(dt)


def _as_spec(s) -> T:
    return s if isinstance(s, T) else T(tuple(s))


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res += _flat(o)
        return res
    return [out]


def _call(fn, lib, xs):
    return fn(lib, *xs) if _takes_lib(fn) else fn(*xs)


def _takes_lib(fn) -> bool:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] == "lib"


def _diff_outputs(outs):
    """Indices of outputs that carry a gradient (floating point)."""
    return [i for i, o in enumerate(outs) if o.dtype.is_floating_point]


def check(fn, *specs, torch_fn=None, dtypes=FLOATS, seed: int = 0, grad: bool = True,
          double: bool = False, gradcheck: bool = True, gradgrad: bool | None = None,
          rtol: float | None = None, atol: float | None = None,
          grad_rtol: float | None = None, grad_atol: float | None = None) -> None:
    """Check ``fn`` against torch on inputs drawn from ``specs``; see the module docstring.

    ``rtol``/``atol`` override the float32 forward tolerance, ``grad_rtol``/``grad_atol``
    the float32 gradient tolerance (float64 always uses the tight defaults).
    """
    specs = [_as_spec(s) for s in specs]
    tfn = fn if torch_fn is None else torch_fn
    if gradgrad is None:
        gradgrad = double
    for fdt in dtypes:
        fdt = np.dtype(fdt)
        f32 = fdt == np.float32
        rng = np.random.default_rng(seed)
        arrays = [s.draw(rng, fdt) for s in specs]
        wants = [s.grad and a.dtype.kind == "f" for s, a in zip(specs, arrays)]
        nx = [nerve.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
        tx = [torch.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
        tag = f"[{fdt.name}, shapes {[a.shape for a in arrays]}]"

        nout = _flat(_call(fn, nerve, nx))
        tout = _flat(_call(tfn, torch, tx))
        assert len(nout) == len(tout), f"{tag} {len(nout)} outputs, torch has {len(tout)}"
        for i, (n, t) in enumerate(zip(nout, tout)):
            r, a = (rtol, atol) if f32 else (None, None)
            assert_close(n, t, r, a, msg=f"{tag} forward output {i}")
        if not grad or not any(wants):
            continue

        # backward with a random upstream gradient through every float output
        idx = [i for i in _diff_outputs(nout) if tout[i].requires_grad]
        vs = [rng.standard_normal(tuple(nout[i].shape)).astype(fdt) for i in idx]
        nerve.autograd.backward([nout[i] for i in idx], [nerve.tensor(v) for v in vs])
        torch.autograd.backward([tout[i] for i in idx], [torch.tensor(v) for v in vs])
        gr, ga = (grad_rtol, grad_atol) if f32 else (None, None)
        for k, (n, t, w) in enumerate(zip(nx, tx, wants)):
            if not w:
                continue
            tg = t.grad if t.grad is not None else torch.zeros_like(t)
            assert n.grad is not None or not to_np(tg).any(), f"{tag} input {k}: no gradient"
            ng = n.grad if n.grad is not None else nerve.zeros_like(n)
            assert ng.shape == n.shape, f"{tag} input {k}: grad shape {ng.shape} != {n.shape}"
            assert_close(ng, tg, gr, ga, msg=f"{tag} gradient of input {k}")

        if fdt == np.float64:
            diff = [x for x, w in zip(nx, wants) if w]
            if gradcheck:
                nerve.autograd.gradcheck(lambda *xs: _call(fn, nerve, xs), nx)
            if double:
                _check_double(fn, tfn, arrays, wants, rng, tag)
            if gradgrad:
                nerve.autograd.gradgradcheck(lambda *xs: _first_float(_call(fn, nerve, xs)), nx)
            del diff


def _first_float(out):
    outs = _flat(out)
    return next(o for o in outs if o.dtype.is_floating_point)


def _check_double(fn, tfn, arrays, wants, rng, tag) -> None:
    """Second derivatives: grad of Σ wᵢ·(∂(v·f)/∂xᵢ) w.r.t. the inputs, nerve vs torch."""
    nx = [nerve.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    tx = [torch.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    no = _first_float(_call(fn, nerve, nx))
    to = _first_float(_call(tfn, torch, tx))
    v = rng.standard_normal(tuple(no.shape))
    nd = [x for x, w in zip(nx, wants) if w]
    td = [x for x, w in zip(tx, wants) if w]
    ng = nerve.autograd.grad(no, nd, nerve.tensor(v), create_graph=True, allow_unused=True)
    tg = torch.autograd.grad(to, td, torch.tensor(v), create_graph=True, allow_unused=True)
    ws = [rng.standard_normal(tuple(x.shape)) for x in nd]
    ns = sum(((g * nerve.tensor(w)).sum() for g, w in zip(ng, ws) if g is not None
              and g.requires_grad), nerve.zeros(()).double())
    ts = sum(((g * torch.tensor(w)).sum() for g, w in zip(tg, ws) if g is not None
              and g.requires_grad), torch.zeros((), dtype=torch.float64))
    n2 = nerve.autograd.grad(ns, nd, allow_unused=True) if ns.requires_grad else [None] * len(nd)
    t2 = torch.autograd.grad(ts, td, allow_unused=True) if ts.requires_grad else [None] * len(td)
    for k, (a, b, x) in enumerate(zip(n2, t2, nd)):
        a = np.zeros(x.shape) if a is None else to_np(a)
        b = np.zeros(x.shape) if b is None else to_np(b)
        np.testing.assert_allclose(a, b, *TOL[np.dtype(np.float64)],
                                   err_msg=f"{tag} second derivative, input {k}")


# --- Hypothesis strategies for shapes -----------------------------------------------------

def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """One shape, size-1 dims included."""
    return array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                        max_side=max_side)


def broadcast_pair(min_dims: int = 0, max_dims: int = 3, max_side: int = 4):
    """Two mutually broadcastable shapes (different ranks, size-1 dims)."""
    return mutually_broadcastable_shapes(num_shapes=2, min_dims=min_dims, max_dims=max_dims,
                                         min_side=1, max_side=max_side).map(
        lambda s: s.input_shapes)


def broadcast_triple(max_dims: int = 3, max_side: int = 4):
    return mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=max_dims,
                                         min_side=1, max_side=max_side).map(
        lambda s: s.input_shapes)


seeds = st.integers(0, 2**16)

__all__ = ["T", "check", "shapes", "broadcast_pair", "broadcast_triple", "seeds",
           "dtype_name", "FLOATS"]
