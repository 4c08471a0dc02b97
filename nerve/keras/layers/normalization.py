"""BatchNormalization and LayerNormalization with Keras' conventions.

Keras' BatchNormalization ``momentum`` is the weight of the *old* moving statistic
(moving = moving·momentum + batch·(1 - momentum), default 0.99; PyTorch's momentum is
1 - that), epsilon defaults to 1e-3, and the moving variance takes the biased batch
variance. Layers frozen with ``trainable = False`` run in inference mode (Keras 2.x+).
"""
from __future__ import annotations

from ... import ops
from .. import constraints as C
from .. import initializers as I
from .. import regularizers as R
from ..engine import Layer


class BatchNormalization(Layer):
    """y = γ (x - μ_B) / √(σ²_B + ε) + β in training; moving statistics in inference."""

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = center, scale
        self.inits = [I.get(gamma_initializer), I.get(beta_initializer),
                      I.get(moving_mean_initializer), I.get(moving_variance_initializer)]
        self.regs = [R.get(gamma_regularizer), R.get(beta_regularizer)]
        self.cons = [C.get(gamma_constraint), C.get(beta_constraint)]

    def build(self, input_shape) -> None:
        nd = len(input_shape)
        self._axis = self.axis % nd
        c = int(input_shape[self._axis])
        self.num_features = c
        if self.scale:
            self.add_weight("gamma", (c,), self.inits[0], self.regs[0], constraint=self.cons[0])
        if self.center:
            self.add_weight("beta", (c,), self.inits[1], self.regs[1], constraint=self.cons[1])
        self.add_weight("moving_mean", (c,), self.inits[2], trainable=False)
        self.add_weight("moving_variance", (c,), self.inits[3], trainable=False)
        self._reduce = tuple(i for i in range(nd) if i != self._axis)
        self._bshape = tuple(c if i == self._axis else 1 for i in range(nd))
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        if x.shape[self._axis] != self.num_features:
            raise ValueError(f"layer {self.name!r} (BatchNormalization) was built for "
                             f"{self.num_features} features on axis {self.axis}, got input of "
                             f"shape {tuple(x.shape)}")
        if training and self.trainable:
            mean = x.mean(self._reduce, keepdim=True)
            d = x - mean
            var = (d * d).mean(self._reduce, keepdim=True)
            m = self.momentum
            self.moving_mean.data *= m
            self.moving_mean.data += (1 - m) * mean.data.reshape(-1)
            self.moving_variance.data *= m
            self.moving_variance.data += (1 - m) * var.data.reshape(-1)
            y = d * ops.rsqrt(var + self.epsilon)
        else:
            mean = self.moving_mean.reshape(self._bshape)
            inv = ops.rsqrt(self.moving_variance.reshape(self._bshape) + self.epsilon)
            y = (x - mean) * inv
        if self.scale:
            y = y * self.gamma.reshape(self._bshape)
        if self.center:
            y = y + self.beta.reshape(self._bshape)
        return y

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


class LayerNormalization(Layer):
    """y = γ (x - μ) / √(σ² + ε) + β over the last axis (or ``axis``), per sample."""

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, **kwargs) -> None:
        kwargs.pop("rms_scaling", None)
        super().__init__(**kwargs)
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), center, scale
        self.inits = [I.get(gamma_initializer), I.get(beta_initializer)]
        self.regs = [R.get(gamma_regularizer), R.get(beta_regularizer)]

    def build(self, input_shape) -> None:
        nd = len(input_shape)
        axes = self.axis if isinstance(self.axis, (list, tuple)) else (self.axis,)
        self._axes = tuple(sorted(a % nd for a in axes))
        shape = tuple(int(input_shape[a]) for a in self._axes)
        self._bshape = tuple(input_shape[i] if i in self._axes else 1 for i in range(nd))
        if self.scale:
            self.add_weight("gamma", shape, self.inits[0], self.regs[0])
        if self.center:
            self.add_weight("beta", shape, self.inits[1], self.regs[1])
        self.built = True

    def call(self, inputs):
        x = inputs
        mean = x.mean(self._axes, keepdim=True)
        d = x - mean
        var = (d * d).mean(self._axes, keepdim=True)
        y = d * ops.rsqrt(var + self.epsilon)
        if self.scale:
            y = y * self.gamma.reshape(self._bshape)
        if self.center:
            y = y + self.beta.reshape(self._bshape)
        return y

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
