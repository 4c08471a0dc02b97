"""Flatten and Unflatten: reshape a range of dims to one dim and back."""
from __future__ import annotations

from ..ops.shape import flatten, unflatten
from ..tensor import Tensor
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C·H·W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: (N, 50) -> (N, 2, 5, 5)."""

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        if not isinstance(dim, int):
            raise TypeError(f"Unflatten: invalid type of dim {type(dim).__name__}, expected int")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, int) for s in unflattened_size):
            raise TypeError("Unflatten: unflattened_size must be a tuple or list of ints, got "
                            f"{unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        size = tuple(self.unflattened_size)
        n = input.shape[self.dim]
        known = 1
        for s in size:
            if s != -1:
                known *= s
        if (-1 not in size and known != n) or (-1 in size and (known == 0 or n % known)):
            raise RuntimeError(f"Unflatten(dim={self.dim}, unflattened_size={self.unflattened_size}"
                               f"): dim {self.dim} of the input has size {n}, which can't be "
                               f"split into {size} (input shape {tuple(input.shape)})")
        if -1 in size:
            size = tuple(n // known if s == -1 else s for s in size)
        return unflatten(input, self.dim, size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
