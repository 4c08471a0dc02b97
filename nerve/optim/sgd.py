"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from .optimizer import Optimizer, _check_common, _check_flags, _effective_grad

__all__ = ["SGD"]


def _sgd_kernel(xp, p, g, buf, s, s2, first, lr, momentum, dampening, nesterov, weight_decay,
                maximize):
    g, sign = _effective_grad(xp, p, g, s2, weight_decay, maximize)
    if momentum == 0:
        xp.multiply(g, -lr * sign, out=s)                 # p -= lr * g
        p += s
        return
    if first:                                             # b = g (no dampening at step 1)
        xp.multiply(g, sign, out=buf)
    else:                                                 # b = momentum * b + (1 - dampening) * g
        buf *= momentum
        c = sign * (1.0 - dampening)
        if c == 1.0:
            buf += g
        else:
            xp.multiply(g, c, out=s)
            buf += s
    if nesterov:                                          # p -= lr * (g + momentum * b)
        xp.multiply(buf, momentum, out=s)
        if sign < 0:
            s -= g
        else:
            s += g
        s *= -lr
    else:                                                 # p -= lr * b
        xp.multiply(buf, -lr, out=s)
    p += s


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum).

    .. math::
        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}
              \quad(- \text{ if maximize})\\
        b_t &= \begin{cases} g_t & t = 1\\ \mu b_{t-1} + (1-\tau) g_t & t > 1\end{cases}\\
        \theta_t &= \theta_{t-1} - \gamma\,(g_t + \mu b_t \text{ if nesterov else } b_t)

    (with momentum :math:`\mu = 0` the step is :math:`\theta_t = \theta_{t-1} - \gamma g_t`).

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): learning rate :math:`\gamma` (default: 1e-3).
        momentum (float): momentum factor :math:`\mu` (default: 0).
        dampening (float): dampening :math:`\tau` for momentum (default: 0).
        weight_decay (float): L2 penalty :math:`\lambda` (default: 0).
        nesterov (bool): Nesterov momentum (default: False).
        maximize (bool): maximize the objective instead of minimizing (default: False).
        foreach, fused: accepted for PyTorch compatibility; nerve always runs its own
            chunked in-place kernel.

    Example:
        >>> opt = nerve.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    _nscratch = 2

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        _check_common(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_flags("SGD", differentiable, fused, foreach)
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Perform a single optimization step (see the class docstring for the math)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            wd = float(group["weight_decay"])
            nesterov = bool(group["nesterov"])
            maximize = bool(group["maximize"])
            for p, g in self._params_with_grad(group):
                buf = None
                first = False
                if momentum != 0:
                    state = self.state[p]
                    bt = state.get("momentum_buffer")
                    if bt is None:
                        bt = state["momentum_buffer"] = self._zeros_like(p)
                        first = True
                    buf = bt.data
                self._update(_sgd_kernel, p.data, g, (buf,), first, lr, momentum, dampening,
                             nesterov, wd, maximize)
        return loss
