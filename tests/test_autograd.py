"""The autograd engine: backward, grad modes, higher-order gradients, hooks, memory,
custom Functions, tensor creation and seeding."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch
from conftest import assert_close, to_torch

import nerve
from nerve.autograd import Function, once_differentiable


def _pair(shape, seed=0, requires_grad=True):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return nerve.tensor(a, requires_grad=requires_grad), torch.tensor(a,
                                                                     requires_grad=requires_grad)


# --- backward basics ------------------------------------------------------------------------

def test_long_chain_no_recursion_error():
    x = nerve.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0001 ** 10_000], rtol=1e-3)
    assert x.grad.dtype == nerve.float32


def test_grad_accumulates_across_backward_calls():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [3.0 + 2.0, 3.0 + 4.0]


def test_retain_graph_allows_second_backward():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.data.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * g1, rtol=1e-6)


def test_second_backward_without_retain_graph_raises():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"backward through the graph a second time.*"
                                           r"retain_graph=True"):
        y.backward()


def test_backward_non_scalar_needs_gradient():
    x = nerve.randn(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"(?s)scalar.*\(2, 3\).*(reduce|Reduce).*gradient"):
        (x * 2.0).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        nerve.randn(3).sum().backward()


def test_backward_with_gradient_on_non_scalar():
    nx, tx = _pair((2, 3))
    v = np.arange(6, dtype=np.float32).reshape(2, 3)
    (nx.sin() * 2.0).backward(nerve.tensor(v))
    (tx.sin() * 2.0).backward(torch.tensor(v))
    assert_close(nx.grad, tx.grad)
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2, 3\)"):
        (nx * 2.0).backward(nerve.ones(3))


def test_backward_of_leaf_and_root_gradient_not_aliased():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    v = nerve.tensor([1.0, 1.0])
    (x + 0.0).backward(v)
    x.grad.data *= 5
    assert v.tolist() == [1.0, 1.0]


# --- grad modes -----------------------------------------------------------------------------

def test_no_grad_context_and_decorator():
    x = nerve.ones(2, requires_grad=True)
    with nerve.no_grad():
        assert not nerve.is_grad_enabled()
        assert not (x * 2).requires_grad
        with nerve.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert nerve.is_grad_enabled() and (x * 2).requires_grad

    @nerve.no_grad()
    def f(t):
        return t * 2

    @nerve.enable_grad()
    def g(t):
        return t * 2

    assert not f(x).requires_grad
    with nerve.no_grad():
        assert g(x).requires_grad
    assert nerve.is_grad_enabled()


def test_set_grad_enabled_forms():
    x = nerve.ones(2, requires_grad=True)
    with nerve.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert nerve.is_grad_enabled()

    @nerve.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert nerve.is_grad_enabled(), "decorating must not change the mode"
    assert not f(x).requires_grad and nerve.is_grad_enabled()
    nerve.set_grad_enabled(False)  # a plain call switches at once, as in torch
    try:
        assert not nerve.is_grad_enabled()
    finally:
        nerve.set_grad_enabled(True)
    assert nerve.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with nerve.no_grad():
            raise ValueError
    assert nerve.is_grad_enabled()


# --- autograd.grad and higher order ---------------------------------------------------------

def test_grad_gradient_penalty_matches_torch():
    """‖∂L/∂x‖² through tanh, sigmoid and matmul; its gradient w.r.t. x and W."""
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((4, 3))
    wa = rng.standard_normal((3, 5))
    grads = {}
    for lib in (nerve, torch):
        x = lib.tensor(xa, requires_grad=True)
        w = lib.tensor(wa, requires_grad=True)
        out = ((x @ w).tanh().sigmoid() * 2.0).sum()
        (gx,) = lib.autograd.grad(out, [x], create_graph=True)
        penalty = (gx * gx).sum()
        penalty.backward()
        grads[lib.__name__] = (penalty, gx, x.grad, w.grad)
    for a, b in zip(grads["nerve"], grads["torch"]):
        assert_close(a, b)


def test_hessian_vector_product_matches_torch():
    xa = np.random.default_rng(1).standard_normal(5)
    va = np.random.default_rng(2).standard_normal(5)
    res = []
    for lib in (nerve, torch):
        x = lib.tensor(xa, requires_grad=True)
        f = (x.sin() * x.exp()).sum() + (x ** 3).sum()
        (g,) = lib.autograd.grad(f, [x], create_graph=True)
        (hv,) = lib.autograd.grad((g * lib.tensor(va)).sum(), [x])
        res.append(hv)
    assert_close(*res)


def test_grad_allow_unused_and_does_not_touch_grad():
    x = nerve.randn(3, requires_grad=True)
    y = nerve.randn(3, requires_grad=True)
    out = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        nerve.autograd.grad(out, [x, y], retain_graph=True)
    gx, gy = nerve.autograd.grad(out, [x, y], allow_unused=True)
    assert gy is None and gx.tolist() == [2.0, 2.0, 2.0]
    assert x.grad is None and y.grad is None


def test_grad_of_intermediate_and_grad_outputs():
    x = nerve.randn(3, requires_grad=True)
    h = x * 3.0
    out = h.exp()
    (gh,) = nerve.autograd.grad(out, [h], grad_outputs=[np.ones(3, np.float32)])
    np.testing.assert_allclose(gh.data, np.exp(h.data), rtol=1e-6)


def test_gradcheck_detects_wrong_backward():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3.0

    x = nerve.randn(3, dtype=nerve.float64, requires_grad=True)
    with pytest.raises(AssertionError, match="gradcheck failed"):
        nerve.autograd.gradcheck(Bad.apply, [x])
    assert not nerve.autograd.gradcheck(Bad.apply, [x], raise_exception=False)
    assert nerve.autograd.gradgradcheck(lambda t: (t * t).sin(), [x])


# --- tensor-level autograd API ----------------------------------------------------------------

def test_detach_and_requires_grad_():
    x = nerve.randn(3, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    d2 = x.detach()
    d2.data[0] = 42.0  # shares memory, as in torch
    assert x.data[0] == 42.0
    y = nerve.randn(3)
    assert y.requires_grad_() is y and y.requires_grad
    with pytest.raises(RuntimeError, match="floating"):
        nerve.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).requires_grad_(False)


def test_retain_grad_on_non_leaf_accumulates():
    nx, tx = _pair((3,))
    for x in (nx, tx):
        h = x * 2.0
        h.retain_grad()
        (h.sin().sum()).backward(retain_graph=True)
        (h * h).sum().backward()
    assert_close(nx.grad, tx.grad)
    nh, th = nx * 2.0, tx * 2.0
    nh.retain_grad()
    th.retain_grad()
    nh.exp().sum().backward()
    th.exp().sum().backward()
    assert_close(nh.grad, th.grad)


def test_register_hook_leaf_and_non_leaf():
    x = nerve.ones(3, requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()) or g * 2.0)
    h = x * 3.0
    h.register_hook(lambda g: g + 1.0)
    h.sum().backward()
    assert seen == [[6.0, 6.0, 6.0]]  # (1 + 1) * 3 reaches x's hook
    assert x.grad.tolist() == [12.0, 12.0, 12.0]  # which doubles it
    handle.remove()
    x.grad = None
    (x * 3.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]
    (gx,) = nerve.autograd.grad((x * 1.0).sum(), [x])  # hooks also run for autograd.grad
    with pytest.raises(RuntimeError, match="require"):
        nerve.ones(2).register_hook(lambda g: g)


def test_shared_leaves_and_no_aliasing():
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    (a + a).sum().backward()
    assert a.grad.tolist() == [2.0, 2.0]
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    b = nerve.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data += 10.0  # in place, like an optimizer
    assert b.grad.tolist() == [1.0, 1.0]
    # grads reached through views of one buffer, and broadcast grads, are writable copies
    a = nerve.randn(2, 3, requires_grad=True)
    b = nerve.randn(6, requires_grad=True)
    c = nerve.randn(3, requires_grad=True)
    (a + b.reshape(2, 3) + c).sum().backward()
    for t in (a, b, c):
        assert t.grad.data.flags.writeable
    a.grad.data[...] = 0.0
    assert b.grad.tolist() == [1.0] * 6 and c.grad.tolist() == [2.0] * 3


def test_multi_output_partially_used():
    nx, tx = _pair((4, 6))
    for x in (nx, tx):
        p, q, r = x.split(2, dim=1)
        (q.exp() * 2).sum().backward()
    assert_close(nx.grad, tx.grad)


def test_graph_freed_after_backward():
    x = nerve.randn(100, requires_grad=True)
    big = x.exp()
    node = big.grad_fn
    y = (big * x).sum()
    mul_node = y.grad_fn.next[0][0]
    ref = weakref.ref(big)
    del big
    y.backward()
    assert node.saved == () and mul_node.saved == ()
    assert node.freed and mul_node.freed
    gc.collect()
    assert ref() is None or ref().grad_fn.saved == ()
    with pytest.raises(RuntimeError, match="second time"):
        _ = node.saved_tensors


def test_no_graph_under_no_grad_and_for_constants():
    x = nerve.randn(3, requires_grad=True)
    with nerve.no_grad():
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad
    z = nerve.randn(3) * 2
    assert z.grad_fn is None
    assert (x > 0).grad_fn is None and not (x > 0).requires_grad
    assert not x.argmax().requires_grad


def test_setitem_records_gradient():
    h = nerve.randn(2, 3, requires_grad=True)
    th = to_torch(h, requires_grad=True)
    outs = []
    for lib, src in ((nerve, h), (torch, th)):
        out = lib.zeros(3, 3)
        out[1:] = src * 2.0
        out[0, 1] = 7.0
        outs.append(out)
        (out * out).sum().backward()
    assert_close(outs[0], outs[1])
    assert_close(h.grad, th.grad)
    leaf = nerve.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf[0] = 1.0
    with nerve.no_grad():
        leaf[0] = 1.0
    assert leaf.tolist() == [1.0, 0.0, 0.0]


def test_inplace_operators():
    a = nerve.ones(3)
    a += nerve.ones(3, dtype=nerve.float64)
    assert a.dtype == nerve.float32 and a.tolist() == [2.0] * 3
    with pytest.raises(RuntimeError, match="int64"):
        i = nerve.tensor([1, 2])
        i += 0.5
    w = nerve.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w += 1.0
    with pytest.raises(RuntimeError, match="no_grad"):
        w.mul_(2.0)
    with nerve.no_grad():
        w -= 0.5
        w.mul_(2.0)
    assert w.tolist() == [1.0] * 3


# --- custom Functions ------------------------------------------------------------------------

class Cube(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x.data ** 3 * scale

    @staticmethod
    def backward(ctx, g):  # d(s x³) = 3 s x² dx
        (x,) = ctx.saved_tensors
        return g * (x * x) * (3.0 * ctx.scale), None


class ArrayCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data ** 3

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.data * 3 * x.data ** 2


def test_custom_function():
    x = nerve.randn(4, dtype=nerve.float64, requires_grad=True)
    assert nerve.autograd.gradcheck(lambda t: Cube.apply(t, 2.0), [x])
    assert nerve.autograd.gradgradcheck(lambda t: Cube.apply(t, 2.0), [x])
    assert nerve.autograd.gradcheck(ArrayCube.apply, [x])
    y = ArrayCube.apply(x).sum()
    with pytest.raises(RuntimeError, match="once-differentiable"):
        nerve.autograd.grad(y, [x], create_graph=True)


def test_needs_input_grad_and_non_differentiable_outputs():
    seen = {}

    class TwoOut(Function):
        @staticmethod
        def forward(ctx, a, b):
            seen["needs"] = ctx.needs_input_grad
            ctx.mark_non_differentiable(1)
            return a.data + b.data, np.argmax(a.data).reshape(())

        @staticmethod
        def backward(ctx, g, g_idx):
            return g, g

    a = nerve.randn(3, requires_grad=True)
    b = nerve.randn(3)
    out, idx = TwoOut.apply(a, b)
    assert seen["needs"] == (True, False)
    assert out.requires_grad and not idx.requires_grad
    out.sum().backward()
    assert a.grad.tolist() == [1.0] * 3


def test_global_reduction_gives_ndarray():
    x = nerve.randn(3, requires_grad=True)
    s = x.sum()
    assert isinstance(s.data, np.ndarray) and s.shape == ()
    with nerve.no_grad():
        assert isinstance(x.sum().data, np.ndarray)


# --- creation and seeding ---------------------------------------------------------------------

def test_creation_dtypes():
    assert nerve.tensor([1.0]).dtype == nerve.float32
    assert nerve.tensor([1]).dtype == nerve.int64
    assert nerve.tensor([True]).dtype == nerve.bool
    assert nerve.tensor(2.5).dtype == nerve.float32 and nerve.tensor(2.5).shape == ()
    assert nerve.tensor(np.zeros(2)).dtype == nerve.float64  # NumPy dtype kept
    assert nerve.tensor([1, 2], dtype=nerve.float64).dtype == nerve.float64
    assert nerve.arange(5).dtype == nerve.int64 and nerve.arange(5).tolist() == list(range(5))
    assert nerve.arange(0, 1, 0.25).dtype == nerve.float32
    assert_close(nerve.arange(0, 1, 0.1), torch.arange(0, 1, 0.1))
    assert_close(nerve.arange(1.0, 4.0), torch.arange(1.0, 4.0))
    assert_close(nerve.linspace(0, 1, 7), torch.linspace(0, 1, 7))
    for fn in ("zeros", "ones", "rand", "randn", "empty"):
        assert getattr(nerve, fn)(2, 3).dtype == nerve.float32
        assert getattr(nerve, fn)((2, 3)).shape == (2, 3)
    assert nerve.full((2,), 3).dtype == nerve.int64
    assert nerve.full((2,), 3.0).dtype == nerve.float32
    assert nerve.eye(3).dtype == nerve.float32
    assert nerve.zeros_like(nerve.tensor([1, 2])).dtype == nerve.int64
    assert nerve.randint(0, 5, (3,)).dtype == nerve.int64


def test_tensor_copies_from_numpy_shares():
    a = np.zeros(3, dtype=np.float32)
    t = nerve.tensor(a)
    f = nerve.from_numpy(a)
    a[0] = 1.0
    assert t.tolist()[0] == 0.0 and f.tolist()[0] == 1.0
    f.data[1] = 2.0
    assert a[1] == 2.0
    assert f.numpy() is a or np.shares_memory(f.numpy(), a)
    with pytest.raises(TypeError, match="numpy"):
        nerve.from_numpy([1, 2])


@pytest.mark.parametrize("fn", [
    lambda: nerve.rand(5), lambda: nerve.randn(2, 3), lambda: nerve.randint(0, 10, (6,)),
    lambda: nerve.dropout(nerve.ones(20), 0.5), lambda: nerve.randperm(7),
    lambda: nerve.randn(3, dtype=nerve.float64)])
def test_manual_seed_reproducible(fn):
    nerve.manual_seed(123)
    a = fn()
    nerve.manual_seed(123)
    b = fn()
    c = fn()
    assert nerve.equal(a, b) and a.dtype == b.dtype
    assert not nerve.equal(b, c) or b.numel() == 1


def test_rng_state_roundtrip_and_generator():
    nerve.manual_seed(0)
    state = nerve.get_rng_state()
    a = nerve.randn(4)
    nerve.set_rng_state(state)
    assert nerve.equal(a, nerve.randn(4))
    g = nerve.Generator().manual_seed(5)
    x = nerve.rand(3, generator=g)
    assert nerve.equal(x, nerve.rand(3, generator=nerve.Generator().manual_seed(5)))


def test_to_and_casts_keep_graph():
    x = nerve.randn(3, requires_grad=True)
    for y in (x.double(), x.to(nerve.float64), x.to(np.float64), x.to("cpu", nerve.float64)):
        assert y.dtype == nerve.float64
    assert x.long().dtype == nerve.int64 and x.half().dtype == nerve.float16
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == nerve.float32 and x.grad.tolist() == [2.0] * 3


def test_misc_tensor_api():
    assert nerve.ones(2).type() == "nerve.FloatTensor"
    assert nerve.ones(2).long().type() == "nerve.LongTensor"
    assert nerve.randint(0, 5, 3).shape == (3,)
    s = nerve.seed()
    assert nerve.initial_seed() == s
    assert 7 % nerve.tensor(4) == 3


def test_grad_skips_work_not_leading_to_inputs():
    """autograd.grad runs only the backward steps that reach the requested inputs."""
    seen = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return x.data * w.data

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            seen.append(ctx.needs_input_grad)
            return g * w, g * x

    x = nerve.randn(3, requires_grad=True)
    w = nerve.randn(3, requires_grad=True)
    unrelated = nerve.randn(3, requires_grad=True)
    out = (Spy.apply(x, w) + unrelated.exp()).sum()
    (gx,) = nerve.autograd.grad(out, [x], retain_graph=True)
    assert seen == [(True, False)]
    np.testing.assert_allclose(gx.data, w.data)
    out.backward()  # the full backward afterwards still gets every gradient
    assert seen[-1] == (True, True)
    assert w.grad is not None and unrelated.grad is not None and x.grad is not None


def test_outputs_without_gradient_are_marked_per_run_on_a_retained_graph():
    """A multi-output node learns which outputs got no gradient (``ctx.zero_grads``) on
    every run: a retained graph run again from another output must not skip that one."""
    from nerve.ops.rnn import recurrent_layer

    rng = np.random.default_rng(0)
    x = nerve.tensor(rng.standard_normal((5, 3, 2)), requires_grad=True)
    ws = [nerve.tensor(rng.standard_normal(s) * 0.5, requires_grad=True)
          for s in [(8, 2), (8, 2), (8,), (8,)]]
    y, hn, cn = recurrent_layer("LSTM", x, None, None, ws)
    hn.sum().backward(retain_graph=True)  # y and c_n get no gradient
    x.grad = None
    y.sum().backward()  # now h_n and c_n get none, and y's gradient must count
    y2, _, _ = recurrent_layer("LSTM", x2 := nerve.tensor(x.numpy(), requires_grad=True),
                               None, None, ws)
    y2.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-12, atol=1e-14)
