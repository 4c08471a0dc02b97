"""Every scheduler's lr (and momentum) sequence equals torch's, step by step."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import nerve
import nerve.optim as optim
import nerve.optim.lr_scheduler as nls
from nerve.optim import lr_scheduler as nls2

tls = torch.optim.lr_scheduler
STEPS = 30


def _pair(opt_name="SGD", groups=2, **kw):
    """Optimizers with ``groups`` param groups (lrs 0.1, 0.05, ...) in both frameworks."""
    nps = [nerve.tensor(np.ones(2, np.float32), requires_grad=True) for _ in range(groups)]
    tps = [torch.ones(2, requires_grad=True) for _ in range(groups)]
    ng = [{"params": [p], "lr": 0.1 / (i + 1)} for i, p in enumerate(nps)]
    tg = [{"params": [p], "lr": 0.1 / (i + 1)} for i, p in enumerate(tps)]
    return getattr(optim, opt_name)(ng, **kw), getattr(torch.optim, opt_name)(tg, **kw)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert float(x) == pytest.approx(float(y), rel=1e-12, abs=1e-15), (a, b)


def _run(nsched, tsched, nopt, topt, steps=STEPS, metrics=None, keys=("lr",)):
    _same(nsched.get_last_lr(), tsched.get_last_lr())
    for t in range(steps):
        nopt.step()
        topt.step()
        if metrics is None:
            nsched.step()
            tsched.step()
        else:
            nsched.step(metrics[t])
            tsched.step(metrics[t])
        _same(nsched.get_last_lr(), tsched.get_last_lr())
        for key in keys:
            for ng, tg in zip(nopt.param_groups, topt.param_groups):
                nv, tv = ng[key], tg[key]
                if key == "betas":
                    nv, tv = nv[0], tv[0]
                _same([nv], [tv])
        assert getattr(nsched, "last_epoch", None) == getattr(tsched, "last_epoch", None)


SCHEDULERS = [
    ("StepLR", lambda m, o: m.StepLR(o, step_size=7, gamma=0.5)),
    ("MultiStepLR", lambda m, o: m.MultiStepLR(o, milestones=[3, 8, 8, 20], gamma=0.3)),
    ("ExponentialLR", lambda m, o: m.ExponentialLR(o, gamma=0.9)),
    ("CosineAnnealingLR", lambda m, o: m.CosineAnnealingLR(o, T_max=10)),
    ("CosineAnnealingLR-eta_min", lambda m, o: m.CosineAnnealingLR(o, T_max=12, eta_min=0.01)),
    ("LambdaLR", lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 0.95 ** e)),
    ("LambdaLR-list", lambda m, o: m.LambdaLR(o, lr_lambda=[lambda e: 1 / (e + 1),
                                                             lambda e: 0.9 ** e])),
    ("MultiplicativeLR", lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.97)),
    ("LinearLR", lambda m, o: m.LinearLR(o, start_factor=0.25, total_iters=8)),
    ("LinearLR-down", lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                              total_iters=12)),
    ("ConstantLR", lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4)),
    ("PolynomialLR", lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0)),
    ("CosineAnnealingWarmRestarts", lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5,
                                                                                T_mult=2,
                                                                                eta_min=0.001)),
    ("OneCycleLR-cos", lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=STEPS)),
    ("OneCycleLR-linear-3phase", lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], epochs=3,
                                                           steps_per_epoch=10,
                                                           anneal_strategy="linear",
                                                           three_phase=True, pct_start=0.25)),
]


@pytest.mark.parametrize("name,make", SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_sequence_matches_torch(name, make):
    kw = {"momentum": 0.9} if name.startswith("OneCycle") else {}
    nopt, topt = _pair(**kw)
    nsched, tsched = make(nls, nopt), make(tls, topt)
    keys = ("lr", "momentum") if kw else ("lr",)
    _run(nsched, tsched, nopt, topt, keys=keys)


def test_onecycle_cycles_adam_beta1():
    nopt, topt = _pair("Adam")
    nsched = nls.OneCycleLR(nopt, max_lr=0.01, total_steps=STEPS, base_momentum=0.8,
                            max_momentum=0.92)
    tsched = tls.OneCycleLR(topt, max_lr=0.01, total_steps=STEPS, base_momentum=0.8,
                            max_momentum=0.92)
    _run(nsched, tsched, nopt, topt, keys=("lr", "betas"))
    with pytest.raises(ValueError, match="Tried to step 31 times"):
        nopt.step()
        nsched.step()


def test_onecycle_without_momentum_cycling_and_errors():
    nopt, topt = _pair("Adagrad")
    n = nls.OneCycleLR(nopt, max_lr=0.1, total_steps=STEPS, cycle_momentum=False)
    t = tls.OneCycleLR(topt, max_lr=0.1, total_steps=STEPS, cycle_momentum=False)
    _run(n, t, nopt, topt)
    nopt, _ = _pair("Adagrad")
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        nls.OneCycleLR(nopt, max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="total_steps OR"):
        nls.OneCycleLR(nopt, max_lr=0.1)


PLATEAU = [
    dict(mode="min", patience=2),
    dict(mode="min", patience=1, threshold=0.05, threshold_mode="abs", cooldown=2, factor=0.5),
    dict(mode="max", patience=0, threshold_mode="rel", min_lr=0.02, factor=0.5),
    dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs", min_lr=[0.03, 0.0],
         eps=1e-3),
]


@pytest.mark.parametrize("kw", PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_reduce_lr_on_plateau_matches_torch(kw):
    rng = np.random.default_rng(0)
    metrics = list(1.0 / np.arange(1, STEPS + 1) + 0.3 * rng.random(STEPS))
    metrics[5] = metrics[6] = metrics[4]  # exact ties: not an improvement
    nopt, topt = _pair()
    nsched, tsched = nls.ReduceLROnPlateau(nopt, **kw), tls.ReduceLROnPlateau(topt, **kw)
    _run(nsched, tsched, nopt, topt, metrics=[float(m) for m in metrics])
    assert nsched.num_bad_epochs == tsched.num_bad_epochs
    assert nsched.best == tsched.best
    # a 0-d tensor is a valid metric
    nsched.step(nerve.tensor(0.5))
    tsched.step(torch.tensor(0.5))
    _same(nsched.get_last_lr(), tsched.get_last_lr())


def test_reduce_lr_on_plateau_errors():
    nopt, _ = _pair()
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        nls.ReduceLROnPlateau(nopt, factor=1.0)
    with pytest.raises(ValueError, match="mode foo is unknown"):
        nls.ReduceLROnPlateau(nopt, mode="foo")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        nls.ReduceLROnPlateau(nopt, min_lr=[0.1])


def test_sequential_and_chained_match_torch():
    nopt, topt = _pair()
    mk = lambda m, o: m.SequentialLR(  # noqa: E731
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=20)],
        milestones=[5])
    _run(mk(nls, nopt), mk(tls, topt), nopt, topt)
    nopt, topt = _pair()
    mk = lambda m, o: m.ChainedScheduler(  # noqa: E731
        [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)])
    _run(mk(nls, nopt), mk(tls, topt), nopt, topt)


@pytest.mark.parametrize("name,make", SCHEDULERS[:4], ids=[s[0] for s in SCHEDULERS[:4]])
def test_step_with_epoch_uses_closed_form(name, make):
    nopt, topt = _pair()
    nsched, tsched = make(nls, nopt), make(tls, topt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in (3, 9, 4, 15):
            nopt.step()
            topt.step()
            nsched.step(e)
            tsched.step(e)
            _same(nsched.get_last_lr(), tsched.get_last_lr())


def test_state_dict_round_trip_resumes():
    def build(opt):
        return nls.CosineAnnealingLR(opt, T_max=9, eta_min=0.001)

    nopt, _ = _pair()
    sched = build(nopt)
    for _ in range(10):
        nopt.step()
        sched.step()
    osd, ssd = nopt.state_dict(), sched.state_dict()
    assert "optimizer" not in ssd and ssd["last_epoch"] == 10
    nopt2, _ = _pair()
    sched2 = build(nopt2)
    nopt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    for _ in range(10):
        nopt.step()
        sched.step()
        nopt2.step()
        sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
    assert nopt.param_groups[0]["initial_lr"] == nopt2.param_groups[0]["initial_lr"] == 0.1


def test_lambda_state_dict_skips_functions_keeps_callable_objects():
    class Factor:
        def __init__(self):
            self.k = 0.5

        def __call__(self, epoch):
            return self.k ** epoch

    nopt, _ = _pair()
    sched = nls.LambdaLR(nopt, [lambda e: 1.0, Factor()])
    sd = sched.state_dict()
    assert sd["lr_lambdas"][0] is None and sd["lr_lambdas"][1] == {"k": 0.5}
    sd["lr_lambdas"][1] = {"k": 0.25}
    sched.load_state_dict(sd)
    assert sched.lr_lambdas[1].k == 0.25
    assert "lr_lambdas" in sd  # the caller's dict is not modified


def test_initial_lr_resume_and_errors():
    nopt, _ = _pair()
    with pytest.raises(KeyError, match="initial_lr"):
        nls.StepLR(nopt, step_size=3, last_epoch=4)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        nls.StepLR(object(), step_size=3)
    sched = nls.StepLR(nopt, step_size=3, gamma=0.5)
    assert [g["initial_lr"] for g in nopt.param_groups] == [0.1, 0.05]
    assert sched.base_lrs == [0.1, 0.05]


def test_call_order_warning():
    nopt, _ = _pair()
    sched = nls.ExponentialLR(nopt, gamma=0.5)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    nopt, _ = _pair()
    sched = nls.ExponentialLR(nopt, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nopt.step()
        sched.step()
    assert math.isclose(nopt.param_groups[0]["lr"], 0.05)


def test_module_import_paths():
    assert nls is nls2 is optim.lr_scheduler
    assert issubclass(nls.StepLR, nls.LRScheduler)
