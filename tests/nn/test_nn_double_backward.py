"""Second derivatives through nn layers (create_graph=True) against PyTorch."""
import numpy as np
import pytest
import torch
from nn_testutil import close, copy_weights, nn_seed, randn, to_torch  # noqa: F401

import nerve
import nerve.nn
import nerve.nn.functional as F
from nerve import nn
from nerve.autograd import grad, gradgradcheck

ACTS = {
    "tanh": (nn.Tanh, torch.nn.Tanh),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    "relu": (nn.ReLU, torch.nn.ReLU),
    "sigmoid": (nn.Sigmoid, torch.nn.Sigmoid),
    "gelu": (nn.GELU, torch.nn.GELU),
    "silu": (nn.SiLU, torch.nn.SiLU),
    "elu": (nn.ELU, torch.nn.ELU),
    "softplus": (nn.Softplus, torch.nn.Softplus),
}


def _mlp(lib, act, depth=2):
    layers = [lib.Linear(4, 8), act()]
    for _ in range(depth - 1):
        layers += [lib.Linear(8, 8), act()]
    return lib.Sequential(*layers, lib.Linear(8, 1))


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("name", list(ACTS))
def test_input_gradient_penalty_matches_torch(name, depth):
    """WGAN-GP style: loss + λ·mean((‖∂f/∂x‖ - 1)²), differentiated w.r.t. the weights."""
    m, t = _mlp(nn, ACTS[name][0], depth), _mlp(torch.nn, ACTS[name][1], depth)
    copy_weights(m, t)
    xa, ya = randn(6, 4), randn(6, 1, seed=1)

    x = nerve.tensor(xa, requires_grad=True)
    out = m(x)
    (gx,) = grad(out.sum(), [x], create_graph=True)
    penalty = ((gx.norm(2, dim=1) - 1.0) ** 2).mean()
    total = F.mse_loss(out, nerve.tensor(ya)) + penalty * 10.0
    total.backward()

    tx = to_torch(xa, True)
    tout = t(tx)
    (tgx,) = torch.autograd.grad(tout.sum(), [tx], create_graph=True)
    tpen = ((tgx.norm(2, dim=1) - 1.0) ** 2).mean()
    ttotal = torch.nn.functional.mse_loss(tout, to_torch(ya)) + tpen * 10.0
    ttotal.backward()

    close(gx, tgx, what="d out / d x")
    close(total, ttotal, what="total")
    close(x.grad, tx.grad, rtol=1e-4, atol=1e-5, what="d total / d x")
    for (n, p), tp in zip(m.named_parameters(), t.parameters()):
        close(p.grad, tp.grad, rtol=1e-4, atol=1e-5, what=n)
        assert p.grad.dtype == nerve.float32


@pytest.mark.parametrize("name", ["tanh", "leaky_relu"])
def test_parameter_gradient_penalty_matches_torch(name):
    """Penalise ‖∂loss/∂θ‖² and differentiate again (Hessian-vector products in θ)."""
    m, t = _mlp(nn, ACTS[name][0]), _mlp(torch.nn, ACTS[name][1])
    copy_weights(m, t)
    xa, ya = randn(5, 4), randn(5, 1, seed=2)
    params = list(m.parameters())
    gs = grad(F.mse_loss(m(nerve.tensor(xa)), nerve.tensor(ya)), params, create_graph=True)
    sum(((g * g).sum() for g in gs[1:]), (gs[0] * gs[0]).sum()).backward()
    tparams = list(t.parameters())
    tgs = torch.autograd.grad(torch.nn.functional.mse_loss(t(to_torch(xa)), to_torch(ya)),
                              tparams, create_graph=True)
    sum((g * g).sum() for g in tgs).backward()
    for p, tp, g, tg in zip(params, tparams, gs, tgs):
        close(g, tg, what="first")
        close(p.grad, tp.grad, rtol=1e-4, atol=1e-5, what="second")


@pytest.mark.parametrize("name", ["tanh", "leaky_relu", "gelu"])
def test_mlp_gradgradcheck_float64(name):
    m = nn.Sequential(nn.Linear(3, 4), ACTS[name][0](), nn.Linear(4, 2)).double()
    x = nerve.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    assert gradgradcheck(lambda x: m(x), [x])
    w = m[0].weight
    assert gradgradcheck(lambda w: F.linear(F.tanh(F.linear(x, w)), m[2].weight), [w])
