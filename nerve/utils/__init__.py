"""Utilities under PyTorch's names: ``nerve.utils.data`` is ``torch.utils.data``."""
from . import data

__all__ = ["data"]
