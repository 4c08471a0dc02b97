"""RMSprop (Hinton's lecture 6e), optionally centered and with momentum."""
from __future__ import annotations

from .optimizer import (
    Optimizer,
    _bump_step,
    _check_common,
    _check_flags,
    _effective_grad,
    _step_tensor,
)

__all__ = ["RMSprop"]


def _rmsprop_kernel(xp, p, g, sq, buf, gavg, s, s2, lr, alpha, eps, weight_decay, momentum,
                    maximize):
    g, sign = _effective_grad(xp, p, g, s2, weight_decay, maximize)
    sq *= alpha                                       # v = alpha v + (1 - alpha) g^2
    xp.square(g, out=s)
    s *= 1.0 - alpha
    sq += s
    if gavg is not None:                              # centered: a = alpha a + (1 - alpha) g
        gavg *= alpha
        xp.multiply(g, sign * (1.0 - alpha), out=s)
        gavg += s
        xp.square(gavg, out=s)                        # denom = sqrt(v - a^2) + eps
        xp.subtract(sq, s, out=s)
        xp.sqrt(s, out=s)
    else:
        xp.sqrt(sq, out=s)                            # denom = sqrt(v) + eps
    s += eps
    xp.divide(g, s, out=s)                            # g / denom (sign applied below)
    if buf is not None:                               # b = momentum b + g / denom; p -= lr b
        buf *= momentum
        if sign < 0:
            buf -= s
        else:
            buf += s
        xp.multiply(buf, -lr, out=s)
    else:                                             # p -= lr g / denom
        s *= -lr * sign
    p += s


class RMSprop(Optimizer):
    r"""RMSprop: divide the gradient by a running root-mean-square of its recent values.

    .. math::
        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}\\
        v_t &= \alpha v_{t-1} + (1-\alpha) g_t^2\\
        \tilde v_t &= v_t - a_t^2 \text{ with } a_t = \alpha a_{t-1} + (1-\alpha) g_t
              \text{ if centered, else } v_t\\
        b_t &= \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon), \qquad
        \theta_t = \theta_{t-1} - \gamma b_t

    (without momentum, :math:`\theta_t = \theta_{t-1} - \gamma g_t/(\sqrt{\tilde v_t}+\epsilon)`).

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): learning rate :math:`\gamma` (default: 1e-2).
        alpha (float): smoothing constant :math:`\alpha` (default: 0.99).
        eps (float): :math:`\epsilon` (default: 1e-8).
        weight_decay (float): L2 penalty :math:`\lambda` (default: 0).
        momentum (float): momentum factor :math:`\mu` (default: 0).
        centered (bool): normalise by the estimated variance instead of the raw second
            moment (default: False).
        maximize (bool): maximize the objective (default: False).

    State: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg``
    (centered).
    """

    _nscratch = 2

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check_common(lr, eps)
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        _check_flags("RMSprop", differentiable)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay, "capturable": capturable,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Perform a single optimization step (see the class docstring for the math)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            alpha = float(group["alpha"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            momentum = float(group["momentum"])
            centered = bool(group["centered"])
            maximize = bool(group["maximize"])
            for p, g in self._params_with_grad(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_tensor(0.0)
                    state["square_avg"] = self._zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = self._zeros_like(p)
                    if centered:
                        state["grad_avg"] = self._zeros_like(p)
                _bump_step(state)
                buf = state["momentum_buffer"].data if momentum > 0 else None
                gavg = state["grad_avg"].data if centered else None
                self._update(_rmsprop_kernel, p.data, g, (state["square_avg"].data, buf, gavg),
                             lr, alpha, eps, wd, momentum, maximize)
        return loss
