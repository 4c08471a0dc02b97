"""Weight penalties added to the training loss: l1, l2, l1_l2."""
from __future__ import annotations


class Regularizer:
    def __call__(self, w):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))


class L1L2(Regularizer):
    """l1·Σ|w| + l2·Σw²."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w):
        out = 0.0
        if self.l1:
            out = w.abs().sum() * self.l1
        if self.l2:
            out = out + (w * w).sum() * self.l2
        return out


class L1(L1L2):
    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:  # noqa: E741
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:  # noqa: E741
    return L1L2(l1, l2)


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return {"l1": L1, "l2": L2, "l1_l2": L1L2}[identifier.lower()]()
    if isinstance(identifier, dict):
        cls = {"L1": L1, "L2": L2, "L1L2": L1L2}[identifier["class_name"]]
        return cls(**identifier.get("config", {}))
    raise ValueError(f"could not interpret regularizer {identifier!r}")


def serialize(r) -> dict | None:
    return None if r is None else {"class_name": type(r).__name__, "config": r.get_config()}
