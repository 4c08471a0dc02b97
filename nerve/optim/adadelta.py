"""Adadelta (Zeiler, 2012)."""
from __future__ import annotations

from .optimizer import (
    Optimizer,
    _bump_step,
    _check_common,
    _check_flags,
    _effective_grad,
    _step_tensor,
)

__all__ = ["Adadelta"]


def _adadelta_kernel(xp, p, g, sq, acc, s, s2, s3, lr, rho, eps, weight_decay, maximize):
    g, sign = _effective_grad(xp, p, g, s3, weight_decay, maximize)
    sq *= rho                                         # v = rho v + (1 - rho) g^2
    xp.square(g, out=s)
    s *= 1.0 - rho
    sq += s
    xp.add(sq, eps, out=s)                            # std = sqrt(v + eps)
    xp.sqrt(s, out=s)
    xp.add(acc, eps, out=s2)                          # delta = sqrt(u + eps) / std * g
    xp.sqrt(s2, out=s2)
    xp.divide(s2, s, out=s2)
    xp.multiply(s2, g, out=s2)
    acc *= rho                                        # u = rho u + (1 - rho) delta^2
    xp.square(s2, out=s)
    s *= 1.0 - rho
    acc += s
    s2 *= -lr * sign                                  # p -= lr * delta
    p += s2


class Adadelta(Optimizer):
    r"""Adadelta: step sizes from running averages of squared gradients and squared steps.

    .. math::
        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}\\
        v_t &= \rho v_{t-1} + (1-\rho) g_t^2\\
        \Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t, \qquad
        u_t = \rho u_{t-1} + (1-\rho)\Delta_t^2\\
        \theta_t &= \theta_{t-1} - \gamma\Delta_t

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): coefficient :math:`\gamma` scaling the step (default: 1.0).
        rho (float): decay :math:`\rho` of the running averages (default: 0.9).
        eps (float): :math:`\epsilon` (default: 1e-6).
        weight_decay (float): L2 penalty :math:`\lambda` (default: 0).
        maximize (bool): maximize the objective (default: False).

    State: ``step``, ``square_avg`` (:math:`v`), ``acc_delta`` (:math:`u`).
    """

    _nscratch = 3

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check_common(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_flags("Adadelta", differentiable)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable, "foreach": foreach,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Perform a single optimization step (see the class docstring for the math)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            rho = float(group["rho"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            maximize = bool(group["maximize"])
            for p, g in self._params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor(0.0)
                    state["square_avg"] = self._zeros_like(p)
                    state["acc_delta"] = self._zeros_like(p)
                _bump_step(state)
                self._update(_adadelta_kernel, p.data, g,
                             (state["square_avg"].data, state["acc_delta"].data),
                             lr, rho, eps, wd, maximize)
        return loss
