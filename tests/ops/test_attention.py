"""Fused attention (scaled_dot_product_attention, multi-head core) and layer_norm vs PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nerve
from nerve.autograd import gradcheck, gradgradcheck
from nerve.ops.attention import multi_head_attention_forward, scaled_dot_product_attention
from nerve.ops.layernorm import layer_norm

torch.set_num_threads(1)


def close(a, b, rtol, atol, what=""):
    a = a.numpy() if isinstance(a, nerve.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def nt(t, grad=True):
    return nerve.tensor(t.detach().numpy(), requires_grad=grad)


def sdpa_both(qs, ks, mask=None, causal=False, dtype=torch.float64, scale=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*qs, dtype=dtype, generator=g, requires_grad=True)
    k = torch.randn(*ks, dtype=dtype, generator=g, requires_grad=True)
    v = torch.randn(*ks[:-1], 5, dtype=dtype, generator=g, requires_grad=True)
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)
    cot = torch.randn(o.shape, dtype=dtype, generator=g)
    (o * cot).sum().backward()
    Q, K, V = nt(q), nt(k), nt(v)
    M = None if mask is None else nerve.tensor(mask.numpy())
    O = scaled_dot_product_attention(Q, K, V, attn_mask=M, is_causal=causal, scale=scale)
    (O * nerve.tensor(cot.numpy())).sum().backward()
    return [O, Q.grad, K.grad, V.grad], [o, q.grad, k.grad, v.grad]


def bool_mask(L, S, seed=0):
    m = torch.rand(L, S, generator=torch.Generator().manual_seed(seed)) > 0.4
    m[:, 0] = True
    return m


@pytest.mark.parametrize("case", ["plain", "causal", "bool", "float", "bool4d", "scale"])
def test_sdpa_matches_torch(case):
    qs, ks = (2, 3, 6, 4), (2, 3, 7, 4)
    kw = {}
    if case == "causal":
        ks = (2, 3, 6, 4)
        kw["causal"] = True
    elif case == "bool":
        kw["mask"] = bool_mask(6, 7)
    elif case == "float":
        kw["mask"] = torch.randn(2, 1, 6, 7, dtype=torch.float64)
    elif case == "bool4d":
        m = torch.rand(2, 1, 1, 7) > 0.3
        m[..., 0] = True
        kw["mask"] = m
    elif case == "scale":
        kw["scale"] = 0.3
    ours, ref = sdpa_both(qs, ks, **kw)
    for i, (a, b) in enumerate(zip(ours, ref)):
        close(a, b, 1e-10, 1e-12, f"item {i}")


def test_sdpa_float32_dtype_and_unbatched():
    ours, ref = sdpa_both((6, 4), (7, 4), dtype=torch.float32)
    for a, b in zip(ours, ref):
        assert a.data.dtype == np.float32
        close(a, b, 1e-4, 1e-5)


def test_sdpa_fully_masked_row_gives_zeros():
    m = bool_mask(6, 7)
    m[2] = False
    ours, ref = sdpa_both((1, 2, 6, 4), (1, 2, 7, 4), mask=m)
    for a, b in zip(ours, ref):
        close(a, b, 1e-10, 1e-12)
    assert not ours[0].numpy()[:, :, 2].any()


def test_sdpa_gradcheck():
    rng = np.random.default_rng(0)
    q, k, v = (nerve.tensor(rng.standard_normal(s), requires_grad=True)
               for s in [(2, 3, 2), (2, 4, 2), (2, 4, 3)])
    m = nerve.tensor(np.array([[1, 1, 0, 1], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=bool))
    assert gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=m),
                     [q, k, v])
    fm = nerve.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda q, k, v, fm: scaled_dot_product_attention(q, k, v, attn_mask=fm),
                     [q, k, v, fm])


def test_sdpa_dropout():
    rng = np.random.default_rng(0)
    q, k, v = (nerve.tensor(rng.standard_normal((2, 8, 4)).astype(np.float32), requires_grad=True)
               for _ in range(3))
    nerve.manual_seed(0)
    a = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    nerve.manual_seed(0)
    b = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    c = scaled_dot_product_attention(q, k, v)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # seeded: reproducible
    assert not np.allclose(a.numpy(), c.numpy())
    a.sum().backward()
    assert q.grad.data.dtype == np.float32 and np.isfinite(q.grad.numpy()).all()


def test_sdpa_errors():
    q, k, v = nerve.zeros(2, 5, 4), nerve.zeros(2, 6, 4), nerve.zeros(2, 6, 3)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(5, 5\).*\(2, 5, 6\)"):
        scaled_dot_product_attention(q, k, v, attn_mask=nerve.ones(5, 5, dtype=nerve.bool))
    with pytest.raises(RuntimeError, match="same feature size"):
        scaled_dot_product_attention(q, nerve.zeros(2, 6, 3), v)
    with pytest.raises(RuntimeError, match="same sequence length"):
        scaled_dot_product_attention(q, k, nerve.zeros(2, 5, 3))


# --- functional multi-head attention -------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("same", [True, False])
def test_multi_head_attention_forward_matches_torch(same):
    torch.manual_seed(0)
    E, h, L, S, N = 8, 2, 5, 6, 3
    m = torch.nn.MultiheadAttention(E, h).double()
    q = torch.randn(L, N, E, dtype=torch.float64, requires_grad=True)
    kv = q if same else torch.randn(S, N, E, dtype=torch.float64, requires_grad=True)
    Sk = L if same else S
    kpm = torch.zeros(N, Sk, dtype=torch.bool)
    kpm[1, -2:] = True
    am = torch.randn(L, Sk, dtype=torch.float64)
    o, w = F.multi_head_attention_forward(q, kv, kv, E, h, m.in_proj_weight, m.in_proj_bias,
                                          None, None, False, 0.0, m.out_proj.weight,
                                          m.out_proj.bias, key_padding_mask=kpm, attn_mask=am)
    (o.sum() + (w * w).sum()).backward()
    Q = nt(q)
    KV = Q if same else nt(kv)
    Wi, Bi, Wo, Bo = (nt(p) for p in (m.in_proj_weight, m.in_proj_bias, m.out_proj.weight,
                                      m.out_proj.bias))
    O, Wt = multi_head_attention_forward(Q, KV, KV, E, h, Wi, Bi, None, None, False, 0.0, Wo, Bo,
                                         key_padding_mask=nerve.tensor(kpm.numpy()),
                                         attn_mask=nerve.tensor(am.numpy()))
    (O.sum() + (Wt * Wt).sum()).backward()
    close(O, o, 1e-10, 1e-12, "out")
    close(Wt, w, 1e-10, 1e-12, "weights")
    close(Q.grad, q.grad, 1e-9, 1e-11, "dq")
    if not same:
        close(KV.grad, kv.grad, 1e-9, 1e-11, "dkv")
    for a, b in ((Wi, m.in_proj_weight), (Bi, m.in_proj_bias), (Wo, m.out_proj.weight)):
        close(a.grad, b.grad, 1e-9, 1e-11)


# --- layer norm --------------------------------------------------------------------------------

@pytest.mark.parametrize("ns,affine", [((5,), "both"), ((3, 5), "both"), ((5,), "weight"),
                                       ((5,), "none")])
def test_layer_norm_matches_torch(ns, affine):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, dtype=torch.float32, requires_grad=True)
    w = torch.randn(*ns, requires_grad=True) if affine != "none" else None
    b = torch.randn(*ns, requires_grad=True) if affine == "both" else None
    y = F.layer_norm(x, ns, w, b, 1e-5)
    cot = torch.randn_like(y)
    (y * cot).sum().backward()
    X = nt(x)
    Wn = None if w is None else nt(w)
    Bn = None if b is None else nt(b)
    Y = layer_norm(X, ns, Wn, Bn, 1e-5)
    (Y * nerve.tensor(cot.numpy())).sum().backward()
    close(Y, y, 1e-4, 1e-5, "y")
    close(X.grad, x.grad, 1e-4, 1e-5, "dx")
    assert Y.data.dtype == np.float32 and X.grad.data.dtype == np.float32
    if w is not None:
        close(Wn.grad, w.grad, 1e-4, 1e-5, "dw")
        assert Wn.grad.data.dtype == np.float32
    if b is not None:
        close(Bn.grad, b.grad, 1e-4, 1e-5, "db")


def test_layer_norm_gradcheck_and_second_order():
    rng = np.random.default_rng(0)
    x = nerve.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = nerve.tensor(rng.standard_normal(4), requires_grad=True)
    b = nerve.tensor(rng.standard_normal(4), requires_grad=True)

    def fn(x, w, b):
        return layer_norm(x, (4,), w, b)

    assert gradcheck(fn, [x, w, b])
    assert gradgradcheck(fn, [x, w, b])


def test_layer_norm_errors():
    with pytest.raises(RuntimeError, match=r"expected input with shape \[\*, 4\].*\(2, 3\)"):
        layer_norm(nerve.zeros(2, 3), (4,))
    with pytest.raises(RuntimeError, match=r"weight must have shape \(3,\)"):
        layer_norm(nerve.zeros(2, 3), (3,), nerve.ones(4))
