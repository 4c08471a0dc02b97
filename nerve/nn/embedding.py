"""Embedding: a lookup table of learnable vectors, one row per token id.

``out[..., :] = weight[ids[...], :]``. The backward pass sums the output gradient per
id with a sort and a segment sum (no ``np.add.at``) into a dense (V, E) gradient; the
row at ``padding_idx`` never receives gradient.
"""
from __future__ import annotations

from .. import _backend as B
from ..ops.embedding import embedding
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, indexed by token id.

    Args:
        num_embeddings: size of the vocabulary V.
        embedding_dim: size E of each vector.
        padding_idx: this id's row starts at zero and gets no gradient (it stays what it is).
        _weight: an initial (V, E) table (shared, not copied); _freeze: no gradient.

    Shape: input (*) integer ids in [0, V) -> output (*, E).

    Attributes:
        weight: (V, E), drawn from N(0, 1) as in PyTorch.

    Example::

        >>> emb = nn.Embedding(10, 3, padding_idx=0)
        >>> emb(nerve.tensor([[1, 2, 0]])).shape
        nerve.Size([1, 3, 3])
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are "
                                      "not supported")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"[{-num_embeddings}, {num_embeddings - 1}] for "
                                 f"num_embeddings={num_embeddings}")
            padding_idx = padding_idx % num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = None
        self.norm_type = norm_type
        self.scale_grad_by_freq = False
        self.sparse = False
        if _weight is None:
            xp = B.get_xp(device if device is not None else "cpu")
            arr = xp.empty((num_embeddings, embedding_dim), dtype=B.as_np_dtype(dtype))
            self.weight = Parameter(arr, requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape ({num_embeddings}, "
                                 f"{embedding_dim}), got {tuple(_weight.shape)}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False) -> Embedding:
        """An Embedding whose table is ``embeddings`` (V, E) (shared, not copied).

        ``freeze=True`` (the default) keeps it fixed (no gradient). The row at
        ``padding_idx`` keeps its given values but gets no gradient.
        """
        if not isinstance(embeddings, Tensor):
            from ..creation import tensor

            embeddings = tensor(embeddings)
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (V, E), got "
                             f"shape {tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings,
                   _freeze=freeze)
