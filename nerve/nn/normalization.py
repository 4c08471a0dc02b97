"""LayerNorm: normalise each sample over its trailing dims, then scale and shift.

    y = (x - mean(x)) / √(var(x) + ε) · γ + β      (over the last len(normalized_shape) dims)

One fused op (``nerve.ops.layernorm``) with a hand-written backward.
"""
from __future__ import annotations

from .. import _backend as B
from ..ops.layernorm import layer_norm
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Layer normalisation (Ba et al., 2016) over the trailing ``normalized_shape`` dims.

    Args:
        normalized_shape: int or tuple: the trailing shape normalised over.
        eps: added to the variance (default 1e-5).
        elementwise_affine: learn γ (ones) and β (zeros) of that shape (default True).
        bias: learn β (default True).

    Shape: input (*, *normalized_shape) -> output of the same shape.

    Example::

        >>> ln = nn.LayerNorm(64)
        >>> ln(nerve.randn(8, 10, 64)).shape
        nerve.Size([8, 10, 64])
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        xp = B.get_xp(device if device is not None else "cpu")
        dt = B.as_np_dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(xp.empty(self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(xp.empty(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
