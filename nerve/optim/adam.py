"""Adam (and, with ``decoupled_weight_decay=True``, AdamW)."""
from __future__ import annotations

import math

from .optimizer import (
    Optimizer,
    _bump_step,
    _check_common,
    _check_flags,
    _effective_grad,
    _step_tensor,
)

__all__ = ["Adam"]


def _adam_kernel(xp, p, g, m, v, vmax, s, s2, decay, weight_decay, maximize, b1, b2, c_eps,
                 c_step):
    """One Adam update in place; ``c_step = -lr * sqrt(bc2) / bc1``, ``c_eps = eps * sqrt(bc2)``.

    ``p - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)`` is rewritten as
    ``p + c_step * m / (sqrt(v) + c_eps)``: the same value with two passes fewer.
    """
    if decay != 1.0:                                  # AdamW: p *= 1 - lr * wd
        p *= decay
    g, sign = _effective_grad(xp, p, g, s2, weight_decay, maximize)
    m *= b1                                           # m = b1 m + (1 - b1) g
    xp.multiply(g, sign * (1.0 - b1), out=s)
    m += s
    v *= b2                                           # v = b2 v + (1 - b2) g^2
    xp.square(g, out=s)
    s *= 1.0 - b2
    v += s
    if vmax is not None:                              # AMSGrad: v_max = max(v_max, v)
        xp.maximum(vmax, v, out=vmax)
        v = vmax
    xp.sqrt(v, out=s)                                 # p += c_step * m / (sqrt(v) + c_eps)
    s += c_eps
    xp.divide(m, s, out=s)
    s *= c_step
    p += s


class Adam(Optimizer):
    r"""Adam: adaptive moment estimation (Kingma & Ba, 2014).

    .. math::
        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}
               \quad(\text{the } \lambda \text{ term only without decoupled decay})\\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2\\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ if amsgrad else } v_t\\
        \theta_t &= \theta_{t-1} - \gamma\,\frac{m_t / (1-\beta_1^t)}
                    {\sqrt{\hat v_t / (1-\beta_2^t)} + \epsilon}

    With ``decoupled_weight_decay=True`` (AdamW) the decay is applied to the parameter
    directly, :math:`\theta_{t-1} \leftarrow \theta_{t-1}(1-\gamma\lambda)`, and not to
    :math:`g_t`.

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): learning rate :math:`\gamma` (default: 1e-3).
        betas (tuple[float, float]): :math:`(\beta_1, \beta_2)` (default: (0.9, 0.999)).
        eps (float): :math:`\epsilon` added to the denominator (default: 1e-8).
        weight_decay (float): :math:`\lambda` (default: 0).
        amsgrad (bool): use the AMSGrad variant (default: False).
        maximize (bool): maximize the objective (default: False).
        decoupled_weight_decay (bool): AdamW's decoupled decay (default: False).
        foreach, fused, capturable: accepted for PyTorch compatibility; nerve always runs
            its own chunked in-place kernel.

    State per parameter: ``step`` (0-d float32), ``exp_avg`` (:math:`m`), ``exp_avg_sq``
    (:math:`v`), and ``max_exp_avg_sq`` with amsgrad.

    Example:
        >>> opt = nerve.optim.Adam(model.parameters(), lr=1e-3)
    """

    _nscratch = 2

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        _check_common(lr, eps)
        betas = tuple(float(b) for b in betas)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_flags(type(self).__name__, differentiable, fused, foreach)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Perform a single optimization step (see the class docstring for the math)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            b1, b2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            amsgrad = bool(group["amsgrad"])
            maximize = bool(group["maximize"])
            decoupled = bool(group.get("decoupled_weight_decay", False))
            decay = 1.0 - lr * wd if decoupled else 1.0
            coupled_wd = 0.0 if decoupled else wd
            for p, g in self._params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor(0.0)
                    state["exp_avg"] = self._zeros_like(p)
                    state["exp_avg_sq"] = self._zeros_like(p)
                if amsgrad and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = self._zeros_like(p)
                step = _bump_step(state)
                bc1 = 1.0 - b1 ** step
                bc2_sqrt = math.sqrt(1.0 - b2 ** step)
                vmax = state["max_exp_avg_sq"].data if amsgrad else None
                self._update(_adam_kernel, p.data, g,
                             (state["exp_avg"].data, state["exp_avg_sq"].data, vmax),
                             decay, coupled_wd, maximize, b1, b2, eps * bc2_sqrt,
                             -lr * bc2_sqrt / bc1)
        return loss
