"""Losses of nerve.nn against PyTorch: values, gradients, dtypes, gradcheck, errors."""
import numpy as np
import pytest
import torch
from nn_testutil import close, nn_seed, randn, to_torch  # noqa: F401

import nerve
import nerve.nn
import nerve.nn.functional as F
from nerve import nn
from nerve.autograd import gradcheck, gradgradcheck

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
REDUCTIONS = ["mean", "sum", "none"]


def _probs(*shape, seed=0, dtype=np.float32):
    return (1 / (1 + np.exp(-randn(*shape, dtype=np.float64, seed=seed)))).astype(dtype)


def _w(*shape, seed=5, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape).astype(dtype)


# name, nerve module factory, torch module factory, input maker, target maker
def _cases():
    x, y = (lambda: randn(4, 5)), (lambda: randn(4, 5, seed=1))
    p, t01 = (lambda: _probs(4, 5)), (lambda: _probs(4, 5, seed=1))
    logp = lambda: torch.log_softmax(torch.from_numpy(randn(4, 5)), 1).numpy()  # noqa: E731
    tgt_p = lambda: torch.softmax(torch.from_numpy(randn(4, 5, seed=1)), 1).numpy()  # noqa: E731
    w = nerve.tensor(_w(5))
    return [
        ("mse", lambda r: nn.MSELoss(reduction=r), lambda r: torch.nn.MSELoss(reduction=r), x, y),
        ("l1", lambda r: nn.L1Loss(reduction=r), lambda r: torch.nn.L1Loss(reduction=r), x, y),
        ("huber", lambda r: nn.HuberLoss(r), lambda r: torch.nn.HuberLoss(r), x, y),
        ("huber_d0.5", lambda r: nn.HuberLoss(r, 0.5), lambda r: torch.nn.HuberLoss(r, 0.5), x,
         y),
        ("smoothl1", lambda r: nn.SmoothL1Loss(reduction=r),
         lambda r: torch.nn.SmoothL1Loss(reduction=r), x, y),
        ("smoothl1_b0.3", lambda r: nn.SmoothL1Loss(reduction=r, beta=0.3),
         lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.3), x, y),
        ("smoothl1_b0", lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0),
         lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.0), x, y),
        ("bce", lambda r: nn.BCELoss(reduction=r), lambda r: torch.nn.BCELoss(reduction=r), p,
         t01),
        ("bce_w", lambda r: nn.BCELoss(w, reduction=r),
         lambda r: torch.nn.BCELoss(to_torch(w), reduction=r), p, t01),
        ("bcelogits", lambda r: nn.BCEWithLogitsLoss(reduction=r),
         lambda r: torch.nn.BCEWithLogitsLoss(reduction=r), lambda: randn(4, 5, scale=5.0),
         t01),
        ("bcelogits_w_pw", lambda r: nn.BCEWithLogitsLoss(w, reduction=r, pos_weight=w * 2),
         lambda r: torch.nn.BCEWithLogitsLoss(to_torch(w), reduction=r,
                                              pos_weight=to_torch(w) * 2),
         lambda: randn(4, 5, scale=5.0), t01),
        ("kldiv", lambda r: nn.KLDivLoss(reduction=r), lambda r: torch.nn.KLDivLoss(reduction=r),
         logp, tgt_p),
        ("kldiv_log", lambda r: nn.KLDivLoss(reduction=r, log_target=True),
         lambda r: torch.nn.KLDivLoss(reduction=r, log_target=True), logp,
         lambda: np.log(tgt_p())),
        ("ce", lambda r: nn.CrossEntropyLoss(reduction=r),
         lambda r: torch.nn.CrossEntropyLoss(reduction=r), x, lambda: np.array([0, 4, 2, 1])),
        ("nll", lambda r: nn.NLLLoss(reduction=r), lambda r: torch.nn.NLLLoss(reduction=r), logp,
         lambda: np.array([0, 4, 2, 1])),
    ]


CASES = _cases()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_torch(case, reduction):
    _, nf, tf, make_x, make_y = case
    xa, ya = make_x(), make_y()
    x = nerve.tensor(xa, requires_grad=True)
    y = nerve.tensor(ya, requires_grad=ya.dtype.kind == "f")
    tx, ty = to_torch(xa, True), to_torch(ya, ya.dtype.kind == "f")
    out, tout = nf(reduction)(x, y), tf(reduction)(tx, ty)
    close(out, tout, what="loss")
    assert out.dtype == nerve.float32
    v = randn(*out.shape, seed=9)
    out.backward(nerve.tensor(v))
    tout.backward(to_torch(v))
    close(x.grad, tx.grad, what="input grad")
    assert x.grad.dtype == nerve.float32
    if y.requires_grad and ty.grad is not None:
        close(y.grad, ty.grad, what="target grad")


# twice-differentiable losses (cross-entropy is a fused once-differentiable kernel)
SMOOTH = [c for c in CASES if c[0] != "ce"]


def _f64_inputs(case, target_grad: bool):
    xa, ya = case[3]()[:2], case[4]()[:2]
    x = nerve.tensor(xa.astype(np.float64), requires_grad=True)
    if ya.dtype.kind == "f":
        y = nerve.tensor(ya.astype(np.float64), requires_grad=target_grad)
    else:
        y = nerve.tensor(ya)
    return x, y


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_gradcheck_float64(case, reduction):
    m = case[1](reduction).double()
    x, y = _f64_inputs(case, target_grad=True)
    out = m(x, y)
    assert out.dtype == nerve.float64
    assert gradcheck(lambda x, y: m(x, y), [x, y])


@pytest.mark.parametrize("case", SMOOTH, ids=[c[0] for c in SMOOTH])
def test_loss_gradgradcheck_float64(case):
    m = case[1]("sum").double()
    x, y = _f64_inputs(case, target_grad=False)
    assert gradgradcheck(lambda x: m(x, y), [x])


def test_loss_second_derivative_matches_torch():
    # d²/dx² of BCE-with-logits is σ(x)(1-σ(x)) w; compare the Hessian diagonal with torch
    xa, ya = randn(3, 4, scale=4.0), _probs(3, 4, seed=2)
    w = nerve.tensor(_w(4))
    x = nerve.tensor(xa, requires_grad=True)
    (g,) = nerve.autograd.grad(F.binary_cross_entropy_with_logits(x, nerve.tensor(ya), w,
                                                                  pos_weight=w, reduction="sum"),
                               [x], create_graph=True)
    g.sum().backward()
    tx = to_torch(xa, True)
    (tg,) = torch.autograd.grad(TF.binary_cross_entropy_with_logits(
        tx, to_torch(ya), to_torch(w), pos_weight=to_torch(w), reduction="sum"), [tx],
        create_graph=True)
    tg.sum().backward()
    close(g, tg, what="grad")
    close(x.grad, tx.grad, what="second derivative")


# --- cross-entropy ------------------------------------------------------------------------

CE_CASES = [
    dict(),
    dict(ignore_index=1),
    dict(label_smoothing=0.1),
    dict(weight=True),
    dict(weight=True, ignore_index=2, label_smoothing=0.2),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kw", CE_CASES, ids=[str(k) for k in CE_CASES])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (2, 4, 3, 2)])
def test_cross_entropy_indices_matches_torch(shape, kw, reduction):
    kw = dict(kw)
    c = shape[1]
    xa = randn(*shape)
    t = np.random.default_rng(1).integers(0, c, (shape[0],) + shape[2:])
    t.reshape(-1)[0] = 1  # at least one ignored label when ignore_index=1
    if kw.pop("weight", False):
        kw["weight"] = _w(c)
    nkw = {k: (nerve.tensor(v) if k == "weight" else v) for k, v in kw.items()}
    tkw = {k: (to_torch(v) if k == "weight" else v) for k, v in kw.items()}
    x, tx = nerve.tensor(xa, requires_grad=True), to_torch(xa, True)
    out = nn.CrossEntropyLoss(reduction=reduction, **nkw)(x, nerve.tensor(t))
    tout = torch.nn.CrossEntropyLoss(reduction=reduction, **tkw)(tx, torch.from_numpy(t))
    close(out, tout, what="loss")
    v = randn(*out.shape, seed=3)
    out.backward(nerve.tensor(v))
    tout.backward(to_torch(v))
    close(x.grad, tx.grad, what="grad")
    assert out.dtype == nerve.float32 and x.grad.dtype == nerve.float32


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.15), dict(weight=True)])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)])
def test_cross_entropy_probabilities_matches_torch(shape, kw):
    kw = dict(kw)
    xa = randn(*shape)
    pa = torch.softmax(torch.from_numpy(randn(*shape, seed=2)), 1).numpy()
    if kw.pop("weight", False):
        kw["weight"] = _w(shape[1])
    x, tx = nerve.tensor(xa, requires_grad=True), to_torch(xa, True)
    nkw = {k: (nerve.tensor(v) if k == "weight" else v) for k, v in kw.items()}
    tkw = {k: (to_torch(v) if k == "weight" else v) for k, v in kw.items()}
    out = F.cross_entropy(x, nerve.tensor(pa), **nkw)
    tout = TF.cross_entropy(tx, to_torch(pa), **tkw)
    close(out, tout, what="loss")
    out.backward()
    tout.backward()
    close(x.grad, tx.grad, what="grad")


def test_nll_loss_variants_match_torch():
    xa = torch.log_softmax(torch.from_numpy(randn(3, 4, 5)), 1).numpy()
    t = np.random.default_rng(0).integers(0, 4, (3, 5))
    w = _w(4)
    for kw in (dict(), dict(ignore_index=2), dict(weight=True, reduction="sum"),
               dict(weight=True, reduction="none")):
        kw = dict(kw)
        wt = kw.pop("weight", False)
        x, tx = nerve.tensor(xa, requires_grad=True), to_torch(xa, True)
        out = nn.NLLLoss(nerve.tensor(w) if wt else None, **kw)(x, nerve.tensor(t))
        tout = torch.nn.NLLLoss(to_torch(w) if wt else None, **kw)(tx, torch.from_numpy(t))
        close(out, tout, what=str(kw))
        out.sum().backward()
        tout.sum().backward()
        close(x.grad, tx.grad, what=str(kw))


def test_logsoftmax_nll_equals_cross_entropy():
    x = nerve.randn(6, 5)
    t = nerve.tensor([0, 1, 2, 3, 4, 0])
    close(F.nll_loss(F.log_softmax(x, 1), t), F.cross_entropy(x, t).numpy())


def test_loss_weight_buffers_in_state_dict_like_torch():
    w = _w(3)
    for n, t in [(nn.CrossEntropyLoss(nerve.tensor(w)), torch.nn.CrossEntropyLoss(to_torch(w))),
                 (nn.BCEWithLogitsLoss(pos_weight=nerve.tensor(w)),
                  torch.nn.BCEWithLogitsLoss(pos_weight=to_torch(w))),
                 (nn.MSELoss(), torch.nn.MSELoss())]:
        assert list(n.state_dict()) == list(t.state_dict())
        assert repr(n) == repr(t)
    m = nn.CrossEntropyLoss(nerve.tensor(w)).double()
    assert m.weight.dtype == nerve.float64


def test_weighted_elementwise_losses_match_torch():
    xa, ya, wa = randn(3, 4), randn(3, 4, seed=1), _w(3, 4)
    for name in ("mse_loss", "l1_loss", "huber_loss"):
        for r in REDUCTIONS:
            out = getattr(F, name)(nerve.tensor(xa), nerve.tensor(ya), reduction=r,
                                   weight=nerve.tensor(wa))
            tout = getattr(TF, name)(to_torch(xa), to_torch(ya), reduction=r, weight=to_torch(wa))
            close(out, tout, what=f"{name} {r}")


def test_kl_div_batchmean_and_zero_targets():
    xa = torch.log_softmax(torch.from_numpy(randn(4, 3)), 1).numpy()
    ya = np.array([[0.5, 0.5, 0], [1, 0, 0], [0.2, 0.3, 0.5], [0, 0, 1]], np.float32)
    x, tx = nerve.tensor(xa, requires_grad=True), to_torch(xa, True)
    out = F.kl_div(x, nerve.tensor(ya), reduction="batchmean")
    tout = TF.kl_div(tx, to_torch(ya), reduction="batchmean")
    close(out, tout)
    out.backward()
    tout.backward()
    close(x.grad, tx.grad)


def test_bce_extremes_are_clamped_like_torch():
    p = np.array([0.0, 1.0, 1e-30, 1 - 1e-7, 0.5], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.3], np.float32)
    x, tx = nerve.tensor(p, requires_grad=True), to_torch(p, True)
    out = F.binary_cross_entropy(x, nerve.tensor(y), reduction="none")
    tout = TF.binary_cross_entropy(tx, to_torch(y), reduction="none")
    close(out, tout)
    out.sum().backward()
    tout.sum().backward()
    close(x.grad, tx.grad)  # (x - y) / max(x(1-x), 1e-12): finite at 0 and 1
    s = F.binary_cross_entropy(nerve.tensor(0.25), nerve.tensor(1.0))
    close(s, TF.binary_cross_entropy(torch.tensor(0.25), torch.tensor(1.0)))


def test_legacy_size_average_and_reduce():
    xa, ya = randn(3, 4), randn(3, 4, seed=1)
    for sa, rd in [(False, None), (None, False), (True, True)]:
        with pytest.warns(UserWarning):
            t = TF.mse_loss(to_torch(xa), to_torch(ya), size_average=sa, reduce=rd)
        close(F.mse_loss(nerve.tensor(xa), nerve.tensor(ya), size_average=sa, reduce=rd), t)
        close(nn.L1Loss(sa, rd)(nerve.tensor(xa), nerve.tensor(ya)),
              TF.l1_loss(to_torch(xa), to_torch(ya), reduction=nn.L1Loss(sa, rd).reduction))


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.huber_loss, F.smooth_l1_loss,
                                F.binary_cross_entropy, F.binary_cross_entropy_with_logits,
                                F.kl_div])
def test_shape_mismatch_names_both_shapes(fn):
    x = nerve.rand(8, 1)
    y = nerve.rand(8)
    with pytest.raises(ValueError) as e:
        fn(x, y)
    msg = str(e.value)
    assert "(8, 1)" in msg and "(8,)" in msg and fn.__name__ in msg


def test_other_loss_errors():
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(nerve.rand(2), nerve.rand(2), reduction="avg")
    with pytest.raises(ValueError, match="input should be between 0 and 1, got 1.5"):
        F.binary_cross_entropy(nerve.tensor([0.5, 1.5]), nerve.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="target should be between 0 and 1, got -1"):
        nn.BCELoss()(nerve.tensor([0.5, 0.5]), nerve.tensor([0.0, -1.0]))
    with pytest.raises(IndexError) as e:
        nn.CrossEntropyLoss()(nerve.randn(4, 10), nerve.tensor([1, 2, 10, 3]))
    assert "10" in str(e.value) and "10 classes" in str(e.value)
    with pytest.raises(TypeError, match="floating-point"):
        F.mse_loss(nerve.tensor([1, 2]), nerve.tensor([1, 2]))


def test_losses_accept_array_targets_and_keep_float32():
    x = nerve.randn(3, 2, requires_grad=True)
    out = F.mse_loss(x, np.zeros((3, 2)))  # a float64 array target does not upcast
    assert out.dtype == nerve.float32
    out.backward()
    assert x.grad.dtype == nerve.float32


def test_classification_losses_take_torch_positional_and_legacy_arguments():
    xa, t = randn(4, 3), np.array([0, 2, 1, 2])
    for kw in (dict(size_average=False), dict(reduce=False)):
        with pytest.warns(UserWarning):
            ref = TF.cross_entropy(to_torch(xa), torch.from_numpy(t), None, **kw)
        close(F.cross_entropy(nerve.tensor(xa), nerve.tensor(t), None, **kw), ref)
    # positional: (input, target, weight, size_average, ignore_index)
    close(F.nll_loss(nerve.tensor(xa), nerve.tensor(t), None, None, 2),
          TF.nll_loss(to_torch(xa), torch.from_numpy(t), None, None, 2))
    close(F.cross_entropy(nerve.tensor(xa), nerve.tensor(t), None, None, 2),
          TF.cross_entropy(to_torch(xa), torch.from_numpy(t), None, None, 2))
