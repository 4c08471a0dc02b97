"""Linear layers: Identity, Linear (y = xWᵀ + b, one fused GEMM) and Bilinear."""
from __future__ import annotations

import math

from .. import _backend as B
from ..ops.linalg import linear
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Identity", "Linear", "Bilinear"]


def _empty(shape, device, dtype):
    xp = B.get_xp(device if device is not None else "cpu")
    return xp.empty(shape, dtype=B.as_np_dtype(dtype))


class Identity(Module):
    """Returns its input unchanged (arguments are accepted and ignored)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input


class Linear(Module):
    """Fully connected layer: y = x Wᵀ + b.

    Args:
        in_features: size of each input sample (the input's last dimension).
        out_features: size of each output sample.
        bias: learn an additive bias (default True).

    Shape: input (*, in_features) -> output (*, out_features).

    Attributes:
        weight: (out_features, in_features), U(-1/√in_features, 1/√in_features)
            (``kaiming_uniform_`` with a=√5, as PyTorch).
        bias: (out_features,), U(-1/√in_features, 1/√in_features).

    Example::

        >>> m = nn.Linear(20, 30)
        >>> m(nerve.randn(128, 20)).shape
        nerve.Size([128, 30])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_empty((out_features, in_features), device, dtype))
        if bias:
            self.bias = Parameter(_empty((out_features,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        shape = input.data.shape
        if not shape or shape[-1] != self.in_features:
            raise RuntimeError(f"Linear(in_features={self.in_features}, "
                               f"out_features={self.out_features}): expected an input whose last "
                               f"dimension is in_features={self.in_features}, got input of shape "
                               f"{tuple(shape)}")
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """yₖ = x₁ᵀ Wₖ x₂ + bₖ.

    Shape: input1 (*, in1_features), input2 (*, in2_features) -> (*, out_features).
    Weight (out, in1, in2) and bias are U(-1/√in1_features, 1/√in1_features).
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(_empty((out_features, in1_features, in2_features), device, dtype))
        if bias:
            self.bias = Parameter(_empty((out_features,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
