"""batch_norm against PyTorch: training/eval, running statistics over steps, layouts."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
from nerve.autograd import gradcheck
from nerve.ops.norm import batch_norm

TOL = 1e-5


def _close(a, b, what):
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=TOL, err_msg=what)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 7), (4, 3, 5, 6), (1, 3, 4, 4)])
def test_batch_norm_matches_torch(shape, channels_last, affine, training):
    if channels_last and len(shape) == 2:
        pytest.skip("2-D input has no layout choice")
    rng = np.random.default_rng(0)
    c = shape[1]
    perm = (0,) + tuple(range(2, len(shape))) + (1,) if channels_last else tuple(range(len(shape)))
    inv = tuple(np.argsort(perm))
    w = rng.standard_normal(c).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    rm = rng.standard_normal(c).astype(np.float32)
    rv = (rng.random(c) + 0.5).astype(np.float32)
    tw = torch.tensor(w, requires_grad=True) if affine else None
    tb = torch.tensor(b, requires_grad=True) if affine else None
    nw = nerve.tensor(w, requires_grad=True) if affine else None
    nb = nerve.tensor(b, requires_grad=True) if affine else None
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    nrm, nrv = nerve.tensor(rm.copy()), nerve.tensor(rv.copy())
    fmt = "channels_last" if channels_last else "channels_first"
    for step in range(3):  # running statistics must track torch's over several steps
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        ty = TF.batch_norm(tx, trm, trv, tw, tb, training, 0.1, 1e-5)
        ty.backward(torch.tensor(g))
        xn = nerve.tensor(np.ascontiguousarray(x.transpose(perm)), requires_grad=True)
        y = batch_norm(xn, nrm, nrv, nw, nb, training, 0.1, 1e-5, data_format=fmt)
        y.backward(nerve.tensor(np.ascontiguousarray(g.transpose(perm))))
        _close(y.data.transpose(inv), ty, f"output step {step}")
        _close(xn.grad.data.transpose(inv), tx.grad, f"input grad step {step}")
        _close(nrm.data, trm, "running_mean")
        _close(nrv.data, trv, "running_var")
        if affine:
            _close(nw.grad.data, tw.grad, "weight grad")
            _close(nb.grad.data, tb.grad, "bias grad")
        for t in (y, xn.grad, nrm, nrv):
            assert t.data.dtype == np.float32


def test_no_running_stats_uses_batch_statistics():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3, 4)).astype(np.float32)
    y = batch_norm(nerve.tensor(x), None, None, training=True)
    ty = TF.batch_norm(torch.tensor(x), None, None, training=True)
    _close(y.data, ty, "output")


def test_gradcheck():
    rng = np.random.default_rng(0)
    x = nerve.tensor(rng.standard_normal((4, 3, 2, 2)), requires_grad=True)
    w = nerve.tensor(rng.standard_normal(3), requires_grad=True)
    b = nerve.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, True), [x, w, b])
    rm = nerve.zeros(3, dtype=nerve.float64)
    rv = nerve.ones(3, dtype=nerve.float64)
    assert gradcheck(lambda x, w, b: batch_norm(x, rm, rv, w, b, False), [x, w, b])
    xl = nerve.tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
    assert gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, True,
                                                data_format="channels_last"), [xl, w, b])


def test_errors():
    with pytest.raises(RuntimeError, match=r"running_mean has shape \(4,\).*3 channels"):
        batch_norm(nerve.ones(2, 3), nerve.zeros(4), nerve.ones(4), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(nerve.ones(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="evaluation"):
        batch_norm(nerve.ones(2, 3), None, None, training=False)
