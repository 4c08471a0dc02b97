"""Keras optimizers: Keras names, defaults and update formulas (epsilon placement included).

State is kept per weight (keyed by the weight object), so one optimizer instance can
serve several compiled models, as in the classic Keras 2 GAN recipe; ``iterations``
counts every ``apply_gradients`` call of the instance, as in Keras.
Updates are in place on each weight's array.
"""
from __future__ import annotations

import math

from .. import _backend as B
from ..tensor import Tensor
from .schedules import LearningRateSchedule


class Optimizer:
    """Base class: ``apply_gradients([(grad, weight), ...])`` runs one update."""

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name: str | None = None, **kwargs) -> None:
        if "lr" in kwargs:  # Keras 2 spelling
            learning_rate = kwargs.pop("lr")
        kwargs.pop("decay", None)
        kwargs.pop("use_ema", None)
        kwargs.pop("jit_compile", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")
        self._learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations = 0
        self.name = name or type(self).__name__.lower()
        self._slots: dict = {}

    # learning rate: a float or a schedule of the iteration count
    @property
    def learning_rate(self) -> float:
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule) or callable(lr):
            return float(lr(self.iterations))
        return float(lr)

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._learning_rate = value

    lr = learning_rate

    def slot(self, weight, name: str, init: float = 0.0):
        """A per-weight state array, created on first use."""
        key = (id(weight), name)
        arr = self._slots.get(key)
        if arr is None:
            xp = B.xp_of(weight.data)
            arr = xp.full(weight.data.shape, init, dtype=weight.data.dtype)
            self._slots[key] = arr
        return arr

    def _clip(self, grads):
        if self.clipvalue is not None:
            c = float(self.clipvalue)
            grads = [B.xp_of(g).clip(g, -c, c) for g in grads]
        if self.clipnorm is not None:
            c = float(self.clipnorm)
            out = []
            for g in grads:
                n = math.sqrt(float((g * g).sum()))
                out.append(g * (c / n) if n > c else g)
            grads = out
        if self.global_clipnorm is not None:
            c = float(self.global_clipnorm)
            n = math.sqrt(sum(float((g * g).sum()) for g in grads))
            if n > c:
                grads = [g * (c / n) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars) -> None:
        pairs = [(g, w) for g, w in grads_and_vars if g is not None]
        grads = [g.data if isinstance(g, Tensor) else g for g, _ in pairs]
        weights = [w for _, w in pairs]
        grads = self._clip(grads)
        lr = self.learning_rate
        for g, w in zip(grads, weights):
            if self.weight_decay:
                w.data -= w.data * (float(self.weight_decay) * lr)  # decoupled: w -= wd·lr·w
            self.update_step(g, w, lr)
        self.iterations += 1

    def apply(self, grads, weights) -> None:
        self.apply_gradients(zip(grads, weights))

    def update_step(self, g, w, lr: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {"name": self.name, "learning_rate": lr.get_config() if hasattr(lr, "get_config")
                else float(lr), "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    def __repr__(self) -> str:
        return f"<keras.optimizers.{type(self).__name__} learning_rate={self._learning_rate}>"


class SGD(Optimizer):
    """v = momentum·v - lr·g;  w += v  (Nesterov: w += momentum·v - lr·g)."""

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def update_step(self, g, w, lr):
        if self.momentum:
            m = self.slot(w, "momentum")
            m *= self.momentum
            m -= g * lr
            if self.nesterov:
                w.data += m * self.momentum - g * lr
            else:
                w.data += m
        else:
            w.data -= g * lr


class Adam(Optimizer):
    """m += (g - m)(1-β₁); v += (g² - v)(1-β₂); w -= lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m / (√v + ε)."""

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = amsgrad

    def update_step(self, g, w, lr):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        m, v = self.slot(w, "m"), self.slot(w, "v")
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        if self.amsgrad:
            vh = self.slot(w, "vhat")
            B.xp_of(vh).maximum(vh, v, out=vh)
            v = vh
        w.data -= (m * alpha) / (B.xp_of(v).sqrt(v) + self.epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004, as Keras)."""

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 **kwargs) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """s = ρs + (1-ρ)g²; Δ = lr·g/√(s + ε) (centered: s - ḡ²); w -= Δ (or via momentum)."""

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = centered

    def update_step(self, g, w, lr):
        xp = B.xp_of(g)
        s = self.slot(w, "velocity")
        s *= self.rho
        s += (g * g) * (1 - self.rho)
        if self.centered:
            a = self.slot(w, "average_gradient")
            a *= self.rho
            a += g * (1 - self.rho)
            denom = s - a * a + self.epsilon
        else:
            denom = s + self.epsilon
        inc = (g * lr) / xp.sqrt(denom)
        if self.momentum:
            m = self.slot(w, "momentum")
            m *= self.momentum
            m += inc
            w.data -= m
        else:
            w.data -= inc


class Adadelta(Optimizer):
    """E[g²] = ρE[g²] + (1-ρ)g²;  Δ = -√(E[Δ²]+ε)/√(E[g²]+ε)·g;
    E[Δ²] = ρE[Δ²] + (1-ρ)Δ²;  w += lr·Δ."""

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update_step(self, g, w, lr):
        xp = B.xp_of(g)
        ag, ad = self.slot(w, "accumulated_grad"), self.slot(w, "accumulated_delta_var")
        ag *= self.rho
        ag += (g * g) * (1 - self.rho)
        delta = -(xp.sqrt(ad + self.epsilon) / xp.sqrt(ag + self.epsilon)) * g
        ad *= self.rho
        ad += (delta * delta) * (1 - self.rho)
        w.data += delta * lr


class Adagrad(Optimizer):
    """acc += g²;  w -= lr·g / √(acc + ε)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def update_step(self, g, w, lr):
        acc = self.slot(w, "accumulator", self.initial_accumulator_value)
        acc += g * g
        w.data -= (g * lr) / B.xp_of(acc).sqrt(acc + self.epsilon)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adadelta": Adadelta,
            "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """An optimizer from a name ('adam'), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; known: {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        name = identifier.get("class_name", identifier.get("name", "")).lower()
        cfg = dict(identifier.get("config", {}))
        cfg.pop("name", None)
        return _BY_NAME[name](**cfg)
    raise ValueError(f"could not interpret optimizer {identifier!r}")


def serialize(opt: Optimizer) -> dict:
    return {"class_name": type(opt).__name__, "config": opt.get_config()}


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adadelta", "Adagrad", "get"]
