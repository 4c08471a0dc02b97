"""nn.utils: gradient clipping and parameter/vector conversion against PyTorch."""
import math

import numpy as np
import pytest
import torch
from nn_testutil import close, copy_weights, nn_seed, randn, to_torch  # noqa: F401

import nerve
import nerve.nn
from nerve import nn
from nerve.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)


def _pair(scale: float):
    """The same MLP in nerve and torch with gradients of size ~``scale``."""
    m = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    t = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    copy_weights(m, t)
    x = randn(8, 5)
    (m(nerve.tensor(x)).sum() * scale).backward()
    (t(to_torch(x)).sum() * scale).backward()
    return m, t


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm,scale", [(1.0, 10.0), (1e3, 1.0)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, scale):
    m, t = _pair(scale)
    nt = float(norm_type)
    total = clip_grad_norm_(m.parameters(), max_norm, norm_type=nt)
    ttotal = torch.nn.utils.clip_grad_norm_(t.parameters(), max_norm, norm_type=nt)
    assert isinstance(total, nerve.Tensor) and total.dtype == nerve.float32
    close(total, ttotal, what="total norm")
    for (name, p), tp in zip(m.named_parameters(), t.parameters()):
        close(p.grad, tp.grad, what=name)
        assert p.grad.dtype == nerve.float32


def test_clip_grad_norm_single_tensor_empty_and_nonfinite():
    p = nn.Parameter(nerve.ones(4))
    p.grad = nerve.full((4,), 3.0)
    assert clip_grad_norm_(p, 1.0).item() == pytest.approx(6.0)
    np.testing.assert_allclose(p.grad.numpy(), 3.0 / (6.0 + 1e-6), rtol=1e-6)
    assert clip_grad_norm_([nn.Parameter(nerve.ones(2))], 1.0).item() == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((q for q in []), 1.0)
    p.grad = nerve.tensor([1.0, float("inf")])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_replaces_shared_grad_arrays_instead_of_scaling_twice():
    a, b = nn.Parameter(nerve.zeros(3)), nn.Parameter(nerve.zeros(3))
    arr = np.full(3, 4.0, np.float32)
    a.grad, b.grad = nerve.Tensor._wrap(arr), nerve.Tensor._wrap(arr)  # one shared array
    total = clip_grad_norm_([a, b], 1.0)
    assert total.item() == pytest.approx(math.sqrt(96))
    coef = 1.0 / (math.sqrt(96) + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), 4 * coef, rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), 4 * coef, rtol=1e-6)
    assert (arr == 4.0).all()  # the original array is untouched


def test_clip_grad_value_matches_torch():
    m, t = _pair(5.0)
    clip_grad_value_(m.parameters(), 0.7)
    torch.nn.utils.clip_grad_value_(t.parameters(), 0.7)
    for p, tp in zip(m.parameters(), t.parameters()):
        close(p.grad, tp.grad)
        assert p.grad.dtype == nerve.float32


def test_get_total_norm():
    gs = [nerve.tensor([3.0, 0.0]), nerve.tensor([[4.0]])]
    assert get_total_norm(gs).item() == pytest.approx(5.0)
    assert get_total_norm(gs, 1).item() == pytest.approx(7.0)
    assert get_total_norm(gs, math.inf).item() == pytest.approx(4.0)


def test_parameters_vector_roundtrip_matches_torch():
    m, t = _pair(1.0)
    v = parameters_to_vector(m.parameters())
    close(v, torch.nn.utils.parameters_to_vector(t.parameters()))
    assert v.shape == (sum(p.numel() for p in m.parameters()),)
    new = nerve.arange(v.numel(), dtype=nerve.float32)
    vector_to_parameters(new, m.parameters())
    torch.nn.utils.vector_to_parameters(to_torch(new), t.parameters())
    for p, tp in zip(m.parameters(), t.parameters()):
        close(p, tp)
    x = randn(2, 5)
    close(m(nerve.tensor(x)), t(to_torch(x)))
    with pytest.raises(TypeError, match="expected nerve.Tensor"):
        vector_to_parameters(np.zeros(3), m.parameters())
    with pytest.raises(ValueError, match="elements"):
        vector_to_parameters(nerve.zeros(3), m.parameters())
    w = nn.Parameter(nerve.ones(2, 2))  # parameters_to_vector is differentiable
    (parameters_to_vector([w]) * nerve.arange(4.0)).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 1], [2, 3]])
