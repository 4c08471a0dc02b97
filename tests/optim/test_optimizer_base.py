"""Optimizer base class: groups, zero_grad, state_dict round trips (nerve and torch
format), load errors, repr and argument checks."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from optim_testutil import assert_params_close, assert_state_close, grad_seq, make_params, set_grads

import nerve
import nerve.optim as optim

SHAPES = [(4, 5), (5,), (300, 230)]
CONFIGS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.1, "initial_accumulator_value": 0.2}),
    ("Adadelta", {"weight_decay": 0.1}),
]
IDS = [c[0] + ("-" + "-".join(c[1]) if c[1] else "") for c in CONFIGS]


def _nparams(values):
    return [nerve.tensor(v.copy(), requires_grad=True) for v in values]


def _step_with(opt, params, row):
    for p, g in zip(params, row):
        p.grad = nerve.tensor(g.copy())
    opt.step()


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_state_dict_round_trip_resumes_exactly(name, kw):
    cls = getattr(optim, name)
    grads = grad_seq(SHAPES, steps=8)
    full, _ = make_params(SHAPES)
    half, _ = make_params(SHAPES)
    opt_full = cls(full, **kw)
    opt_half = cls(half, **kw)
    for row in grads[:4]:
        _step_with(opt_full, full, row)
        _step_with(opt_half, half, row)
    sd = opt_half.state_dict()
    resumed = _nparams([p.data for p in half])
    opt_res = cls(resumed, **kw)
    opt_res.load_state_dict(sd)
    del opt_half, half  # the loaded state must not alias the old optimizer's
    for row in grads[4:]:
        _step_with(opt_full, full, row)
        _step_with(opt_res, resumed, row)
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a.data, b.data)
    for a, b in zip(full, resumed):
        for k, v in opt_full.state[a].items():
            w = opt_res.state[b][k]
            assert isinstance(w, nerve.Tensor) and w.data.dtype == np.float32
            np.testing.assert_array_equal(v.data, w.data)


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_load_torch_state_dict_and_continue(name, kw):
    """torch's state_dict (tensors converted through __array__) loads into nerve, and nerve's
    loads into torch; both continue like the other framework."""
    grads = grad_seq(SHAPES, steps=6)
    nps, tps = make_params(SHAPES)
    topt = getattr(torch.optim, name)(tps, **kw)
    for row in grads[:3]:
        set_grads(nps, tps, row)
        topt.step()
    # nerve params take torch's current values, optimizer state from torch's state_dict
    nps = _nparams([q.detach().numpy() for q in tps])
    nopt = getattr(optim, name)(nps, **kw)
    nopt.load_state_dict(topt.state_dict())
    for row in grads[3:5]:
        set_grads(nps, tps, row)
        nopt.step()
        topt.step()
        assert_params_close(nps, tps, name)
    assert_state_close(nopt, topt, nps, tps, name)
    # and back: nerve's state_dict into a fresh torch optimizer
    sd = nopt.state_dict()
    tsd = {"state": {i: {k: torch.from_numpy(np.array(v.data)) for k, v in s.items()}
                     for i, s in sd["state"].items()},
           "param_groups": copy.deepcopy(sd["param_groups"])}
    tps2 = [torch.tensor(p.data.copy(), requires_grad=True) for p in nps]
    topt2 = getattr(torch.optim, name)(tps2, **kw)
    topt2.load_state_dict(tsd)
    set_grads(nps, tps2, grads[5])
    nopt.step()
    topt2.step()
    assert_params_close(nps, tps2, name)


def test_state_dict_format_matches_torch():
    nps, tps = make_params([(2, 3), (3,)])
    ngroups = [{"params": [nps[0]], "lr": 0.1}, {"params": [nps[1]]}]
    tgroups = [{"params": [tps[0]], "lr": 0.1}, {"params": [tps[1]]}]
    nopt, topt = optim.Adam(ngroups, lr=0.01), torch.optim.Adam(tgroups, lr=0.01)
    set_grads(nps, tps, grad_seq([(2, 3), (3,)], steps=1)[0])
    nopt.step()
    topt.step()
    nsd, tsd = nopt.state_dict(), topt.state_dict()
    assert nsd["param_groups"] == tsd["param_groups"]
    assert list(nsd["state"]) == list(tsd["state"]) == [0, 1]
    for i in (0, 1):
        assert list(nsd["state"][i]) == list(tsd["state"][i])
        assert nsd["state"][i]["step"].data.shape == ()
        assert float(nsd["state"][i]["step"]) == 1.0


def test_step_given_as_python_number_loads_as_float32_tensor():
    p = nerve.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([p])
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    sd = {"state": {0: {"step": 5, "exp_avg": np.zeros(3), "exp_avg_sq": np.zeros(3)}},
          "param_groups": [{**group, "params": [0]}]}
    opt.load_state_dict(sd)
    st = opt.state[p]
    assert isinstance(st["step"], nerve.Tensor) and st["step"].data.dtype == np.float32
    assert float(st["step"]) == 5.0
    assert st["exp_avg"].data.dtype == np.float32  # cast to the parameter's dtype
    p.grad = nerve.tensor(np.ones(3, np.float32))
    opt.step()
    assert float(opt.state[p]["step"]) == 6.0


def test_load_state_dict_mismatch_errors():
    nps, tps = make_params([(2, 3), (3,), (4,)])
    topt = torch.optim.SGD([{"params": tps[:2]}, {"params": tps[2:], "lr": 1.0}], lr=0.1)
    one_group = optim.SGD(nps, lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        one_group.load_state_dict(topt.state_dict())
    wrong_sizes = optim.SGD([{"params": nps[:1]}, {"params": nps[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict and 1"):
        wrong_sizes.load_state_dict(topt.state_dict())
    with pytest.raises(ValueError, match="expected a dict with keys 'state' and 'param_groups'"):
        one_group.load_state_dict({"state": {}})
    # state with the wrong shape for its parameter
    p = nerve.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sd = opt.state_dict()
    sd["state"] = {0: {"momentum_buffer": np.zeros(3, np.float32)}}
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(3,\), "
                                         r"but the parameter has shape \(2, 3\)"):
        opt.load_state_dict(sd)


def test_load_state_dict_keeps_hyperparameters_from_the_dict():
    p = nerve.tensor(np.ones(2, np.float32), requires_grad=True)
    a = optim.Adam([p], lr=0.5, betas=(0.5, 0.6))
    b = optim.Adam([p])
    b.load_state_dict(a.state_dict())
    assert b.param_groups[0]["lr"] == 0.5 and tuple(b.param_groups[0]["betas"]) == (0.5, 0.6)
    assert b.param_groups[0]["params"][0] is p
    w = optim.AdamW([p])
    sd = a.state_dict()
    w.load_state_dict(sd)
    assert w.param_groups[0]["decoupled_weight_decay"] is True


def test_deepcopy_state_dict_is_a_snapshot():
    p = nerve.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = nerve.tensor(np.ones(4, np.float32))
    opt.step()
    snap = copy.deepcopy(opt.state_dict())
    opt.step()
    assert float(snap["state"][0]["step"]) == 1.0
    assert float(opt.state_dict()["state"][0]["step"]) == 2.0
    np.testing.assert_allclose(snap["state"][0]["exp_avg"].data, 0.1, rtol=1e-6)


def test_add_param_group():
    nps, tps = make_params([(3, 2), (4,)])
    nopt, topt = optim.SGD([nps[0]], lr=0.1, momentum=0.9), \
        torch.optim.SGD([tps[0]], lr=0.1, momentum=0.9)
    nopt.add_param_group({"params": nps[1], "lr": 0.01})
    topt.add_param_group({"params": tps[1], "lr": 0.01})
    assert len(nopt.param_groups) == 2
    assert nopt.param_groups[1]["momentum"] == 0.9 and nopt.param_groups[1]["lr"] == 0.01
    assert len(nopt.param_groups[1]["params"]) == 1 and nopt.param_groups[1]["params"][0] is nps[1]
    for row in grad_seq([(3, 2), (4,)], steps=3):
        set_grads(nps, tps, row)
        nopt.step()
        topt.step()
    assert_params_close(nps, tps)
    with pytest.raises(ValueError, match="more than one parameter group"):
        nopt.add_param_group({"params": [nps[0]]})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        nopt.add_param_group([nps[0]])
    with pytest.raises(TypeError, match="ordered collections"):
        nopt.add_param_group({"params": {nerve.tensor([1.0], requires_grad=True)}})


def test_adagrad_state_is_created_at_construction_like_torch():
    nps, tps = make_params([(2, 2)])
    n, t = optim.Adagrad(nps, initial_accumulator_value=0.3), \
        torch.optim.Adagrad(tps, initial_accumulator_value=0.3)
    assert list(n.state_dict()["state"][0]) == list(t.state_dict()["state"][0])
    np.testing.assert_allclose(n.state[nps[0]]["sum"].data, 0.3)
    assert n.state[nps[0]]["sum"].data.dtype == np.float32


def test_zero_grad():
    p = nerve.tensor(np.ones(3, np.float32), requires_grad=True)
    q = nerve.tensor(np.ones(2, np.float32), requires_grad=True)
    opt = optim.SGD([p, q], lr=0.1)
    shared = np.full(3, 7.0, np.float32)
    p.grad = nerve.tensor(shared)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, np.zeros(3, np.float32))
    assert p.grad.data.dtype == np.float32
    np.testing.assert_array_equal(shared, 7.0)  # never zeroed in place: it may be shared
    assert q.grad is None
    opt.zero_grad()
    assert p.grad is None and q.grad is None


def test_constructor_errors_and_named_params():
    p = nerve.tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(2)])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], nesterov=True)
    with pytest.raises(ValueError, match="Invalid rho value"):
        optim.Adadelta([p], rho=1.5)
    with pytest.raises(ValueError, match="Invalid momentum value"):
        optim.RMSprop([p], momentum=-0.1)
    with pytest.raises(ValueError, match="Invalid initial_accumulator_value"):
        optim.Adagrad([p], initial_accumulator_value=-1)
    opt = optim.SGD([("w", p)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        optim.SGD([p, p])
    assert any("duplicate" in str(w.message) for w in rec)


def test_repr_matches_torch():
    p = [nerve.tensor(np.ones(2, np.float32), requires_grad=True)]
    q = [torch.ones(2, requires_grad=True)]
    for name, kw in CONFIGS:
        assert repr(getattr(optim, name)(p, **kw)) == repr(getattr(torch.optim, name)(q, **kw))


def test_adagrad_added_group_uses_default_initial_accumulator_like_torch():
    nps, tps = make_params([(2, 2), (3,)])
    n = optim.Adagrad([nps[0]], initial_accumulator_value=0.3)
    t = torch.optim.Adagrad([tps[0]], initial_accumulator_value=0.3)
    n.add_param_group({"params": [nps[1]], "initial_accumulator_value": 5.0})
    t.add_param_group({"params": [tps[1]], "initial_accumulator_value": 5.0})
    for row in grad_seq([(2, 2), (3,)], steps=3):
        set_grads(nps, tps, row)
        n.step()
        t.step()
    assert_params_close(nps, tps)
    assert_state_close(n, t, nps, tps)
