"""Every optimizer and option combination against torch.optim, step by step, float32."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from optim_testutil import assert_params_close, assert_state_close, grad_seq, make_params, set_grads

import nerve
import nerve.optim as optim


def _combos(**axes):
    keys = list(axes)
    for vals in itertools.product(*axes.values()):
        yield dict(zip(keys, vals))


def _sgd_cases():
    for kw in _combos(momentum=[0.0, 0.9], dampening=[0.0, 0.5], nesterov=[False, True],
                      weight_decay=[0.0, 0.1], maximize=[False, True]):
        if kw["momentum"] == 0 and (kw["dampening"] or kw["nesterov"]):
            continue
        if kw["nesterov"] and kw["dampening"]:
            continue
        yield "SGD", dict(lr=0.05, **kw)


def _adam_cases():
    for name in ("Adam", "AdamW"):
        for kw in _combos(amsgrad=[False, True], weight_decay=[0.0, 0.1], maximize=[False, True]):
            yield name, dict(lr=0.01, **kw)
    yield "Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, decoupled_weight_decay=True,
                       weight_decay=0.05)
    yield "AdamW", {}
    yield "Adam", {}


def _rmsprop_cases():
    for kw in _combos(centered=[False, True], momentum=[0.0, 0.9], weight_decay=[0.0, 0.1],
                      maximize=[False, True]):
        yield "RMSprop", dict(lr=0.01, **kw)
    yield "RMSprop", dict(alpha=0.9, eps=1e-6)


def _adagrad_cases():
    for kw in _combos(lr_decay=[0.0, 0.1], weight_decay=[0.0, 0.1],
                      initial_accumulator_value=[0.0, 0.1], maximize=[False, True]):
        yield "Adagrad", dict(lr=0.05, **kw)
    yield "Adagrad", dict(eps=1e-6)


def _adadelta_cases():
    for kw in _combos(weight_decay=[0.0, 0.1], maximize=[False, True]):
        yield "Adadelta", dict(**kw)
    yield "Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4)


CASES = [*_sgd_cases(), *_adam_cases(), *_rmsprop_cases(), *_adagrad_cases(),
         *_adadelta_cases()]


def _id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_torch(case):
    name, kw = case
    nps, tps = make_params()
    nopt = getattr(optim, name)(nps, **kw)
    topt = getattr(torch.optim, name)(tps, **kw)
    # parameter 1 gets no gradient at step 2 and parameter 3 none at steps 0-1: skipped
    grads = grad_seq(skip={(2, 1), (0, 3), (1, 3)})
    for t, row in enumerate(grads):
        set_grads(nps, tps, row)
        kept = [p.grad.data.copy() if p.grad is not None else None for p in nps]
        nopt.step()
        topt.step()
        assert_params_close(nps, tps, f"{name} step {t}")
        for p, k in zip(nps, kept):  # the optimizer never writes into a gradient
            if k is not None:
                np.testing.assert_array_equal(p.grad.data, k)
    assert_state_close(nopt, topt, nps, tps, name)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_param_groups_and_defaults(name):
    nps, tps = make_params([(4, 3), (3,), (2, 2)])
    extra = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    ngroups = [{"params": nps[:2]}, {"params": nps[2:], "lr": 0.3, **extra}]
    tgroups = [{"params": tps[:2]}, {"params": tps[2:], "lr": 0.3, **extra}]
    nopt = getattr(optim, name)(ngroups, weight_decay=0.01)
    topt = getattr(torch.optim, name)(tgroups, weight_decay=0.01)
    assert repr(nopt) == repr(topt)
    assert nopt.defaults == topt.defaults
    for t, row in enumerate(grad_seq([(4, 3), (3,), (2, 2)], steps=5)):
        set_grads(nps, tps, row)
        nopt.step()
        topt.step()
        assert_params_close(nps, tps, f"{name} step {t}")
    assert_state_close(nopt, topt, nps, tps, name)


def test_defaults_are_pytorchs():
    p = [nerve.tensor(np.zeros(2, np.float32), requires_grad=True)]
    q = [torch.zeros(2, requires_grad=True)]
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"]:
        n, t = getattr(optim, name)(p), getattr(torch.optim, name)(q)
        assert n.defaults == t.defaults, name
        assert n.state_dict()["param_groups"] == t.state_dict()["param_groups"], name


def test_small_mlp_training_matches_torch():
    """A 2-layer MLP with a quadratic loss, gradients from each framework's autograd."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    y = rng.standard_normal((16, 3)).astype(np.float32)
    init = [rng.standard_normal(s).astype(np.float32) * 0.3 for s in [(8, 12), (12,), (12, 3)]]
    nps = [nerve.tensor(a.copy(), requires_grad=True) for a in init]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    for name, kw in [("Adam", {"lr": 0.01}), ("SGD", {"lr": 0.05, "momentum": 0.9}),
                     ("RMSprop", {"lr": 0.005, "centered": True})]:
        nopt = getattr(optim, name)(nps, **kw)
        topt = getattr(torch.optim, name)(tps, **kw)
        for _ in range(6):
            nopt.zero_grad()
            topt.zero_grad()
            nx, tx = nerve.tensor(x), torch.tensor(x)
            nl = (((nx @ nps[0] + nps[1]).relu() @ nps[2] - nerve.tensor(y)) ** 2).mean()
            tl = (((tx @ tps[0] + tps[1]).relu() @ tps[2] - torch.tensor(y)) ** 2).mean()
            nl.backward()
            tl.backward()
            nopt.step()
            topt.step()
            np.testing.assert_allclose(float(nl), tl.item(), rtol=1e-5)
            assert_params_close(nps, tps, name)


def test_closure_returns_loss_and_runs_with_grad():
    p = nerve.tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
    q = torch.tensor([1.0, -2.0], requires_grad=True)
    nopt, topt = optim.SGD([p], lr=0.1), torch.optim.SGD([q], lr=0.1)

    def nclosure():
        nopt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = (q * q).sum()
        loss.backward()
        return loss

    with nerve.no_grad():
        nloss = nopt.step(nclosure)
    tloss = topt.step(tclosure)
    assert float(nloss) == pytest.approx(tloss.item())
    assert_params_close([p], [q])


def test_no_grad_means_no_state_and_no_move():
    p = nerve.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([p])
    opt.step()
    np.testing.assert_array_equal(p.data, np.ones(3, np.float32))
    assert len(opt.state[p]) == 0


def test_grad_shape_mismatch_is_a_clear_error():
    p = nerve.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    p.grad = nerve.tensor(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"Adam.step.*\(2, 3\).*\(3,\)"):
        optim.Adam([p]).step()


def test_float64_params_stay_float64():
    nps = [nerve.tensor(np.ones((4, 5)), dtype=nerve.float64, requires_grad=True)]
    tps = [torch.ones((4, 5), dtype=torch.float64, requires_grad=True)]
    nopt, topt = optim.Adam(nps, lr=0.1), torch.optim.Adam(tps, lr=0.1)
    for row in grad_seq([(4, 5)], steps=3):
        nps[0].grad = nerve.tensor(row[0].astype(np.float64))
        tps[0].grad = torch.tensor(row[0].astype(np.float64))
        nopt.step()
        topt.step()
    assert nps[0].data.dtype == np.float64
    assert nopt.state[nps[0]]["exp_avg"].data.dtype == np.float64
    np.testing.assert_allclose(nps[0].data, tps[0].detach().numpy(), rtol=1e-12)


def test_hyperparameters_can_change_between_steps():
    """Groups are read at every step (schedulers rely on it), e.g. Adam's beta1."""
    nps, tps = make_params([(6,), (3, 3)])
    nopt, topt = optim.Adam(nps, lr=0.01), torch.optim.Adam(tps, lr=0.01)
    for t, row in enumerate(grad_seq([(6,), (3, 3)], steps=5)):
        for g in (*nopt.param_groups, *topt.param_groups):
            g["lr"] = 0.01 * (t + 1)
            g["betas"] = (0.9 - 0.02 * t, 0.999)
        set_grads(nps, tps, row)
        nopt.step()
        topt.step()
        assert_params_close(nps, tps)


@pytest.mark.parametrize("shape", [(5, 7), (300, 230)])
def test_strided_param_takes_whole_array_path(shape):
    """A non-contiguous parameter array is updated in place too (no silent copy)."""
    base = np.random.default_rng(0).standard_normal(shape[::-1]).astype(np.float32)
    p = nerve.tensor(np.zeros(1, np.float32), requires_grad=True)
    p.data = base.T                        # Fortran-ordered view
    q = torch.tensor(base.T.copy(), requires_grad=True)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    p.grad, q.grad = nerve.tensor(g), torch.tensor(g)
    nopt, topt = optim.Adam([p], lr=0.1), torch.optim.Adam([q], lr=0.1)
    nopt.step()
    topt.step()
    assert p.data.base is base
    assert_params_close([p], [q])
