"""Adagrad (Duchi, Hazan & Singer, 2011)."""
from __future__ import annotations

from .optimizer import (
    Optimizer,
    _bump_step,
    _check_common,
    _check_flags,
    _effective_grad,
    _step_tensor,
)

__all__ = ["Adagrad"]


def _adagrad_kernel(xp, p, g, ssum, s, s2, clr, eps, weight_decay, maximize):
    g, sign = _effective_grad(xp, p, g, s2, weight_decay, maximize)
    xp.square(g, out=s)                               # G = G + g^2
    ssum += s
    xp.sqrt(ssum, out=s)                              # p -= clr * g / (sqrt(G) + eps)
    s += eps
    xp.divide(g, s, out=s)
    s *= -clr * sign
    p += s


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate learning rates from the accumulated squared gradients.

    .. math::
        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}, \qquad
        \tilde\gamma_t = \frac{\gamma}{1 + (t-1)\eta}\\
        G_t &= G_{t-1} + g_t^2, \qquad
        \theta_t = \theta_{t-1} - \tilde\gamma_t\,\frac{g_t}{\sqrt{G_t} + \epsilon}

    with :math:`G_0` = ``initial_accumulator_value``.

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): learning rate :math:`\gamma` (default: 1e-2).
        lr_decay (float): learning-rate decay :math:`\eta` (default: 0).
        weight_decay (float): L2 penalty :math:`\lambda` (default: 0).
        initial_accumulator_value (float): starting value of :math:`G` (default: 0).
        eps (float): :math:`\epsilon` (default: 1e-10).
        maximize (bool): maximize the objective (default: False).

    As in PyTorch, the state (``step``, ``sum``) of the parameters given to the
    constructor is created right away.
    """

    _nscratch = 2

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check_common(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_flags("Adagrad", differentiable, fused, foreach)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group["initial_accumulator_value"])

    def _init_state(self, p, init: float) -> None:
        state = self.state[p]
        state["step"] = _step_tensor(0.0)
        state["sum"] = self._zeros_like(p, float(init))

    def step(self, closure=None):
        """Perform a single optimization step (see the class docstring for the math)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            lr_decay = float(group["lr_decay"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            maximize = bool(group["maximize"])
            for p, g in self._params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:  # PyTorch uses the optimizer default here, not the group's
                    self._init_state(p, self.defaults["initial_accumulator_value"])
                step = _bump_step(state)
                clr = lr / (1 + (step - 1) * lr_decay)
                self._update(_adagrad_kernel, p.data, g, (state["sum"].data,), clr, eps, wd,
                             maximize)
        return loss
