"""Random state: one seeded NumPy generator (PCG64) behind every nerve random op."""
from __future__ import annotations

import numpy as np

_state = {"rng": np.random.default_rng(), "seed": None}


def manual_seed(seed: int):
    """Seed nerve's generator (and NumPy's legacy global one, for user code)."""
    seed = int(seed)
    _state["rng"] = np.random.default_rng(seed)
    _state["seed"] = seed
    np.random.seed(seed % (2**32))
    return Generator(seed)


def seed() -> int:
    """Seed the generator from OS entropy (non-deterministic) and return the seed."""
    s = int(np.random.SeedSequence().entropy % 2**63)
    manual_seed(s)
    return s



def initial_seed():
    return _state["seed"]


def _rng(generator: Generator | None = None) -> np.random.Generator:
    if generator is not None:
        return generator.rng
    return _state["rng"]


def get_rng_state() -> dict:
    """The generator's state as plain JSON-able data (for checkpoints)."""
    return _state["rng"].bit_generator.state


def set_rng_state(state: dict) -> None:
    _state["rng"].bit_generator.state = state


class Generator:
    """An independent random stream: ``g = nerve.Generator().manual_seed(0)``."""

    def __init__(self, seed: int | None = None, device=None) -> None:
        self.rng = np.random.default_rng(seed)
        self._seed = seed

    def manual_seed(self, seed: int) -> Generator:
        self.rng = np.random.default_rng(int(seed))
        self._seed = int(seed)
        return self

    def initial_seed(self):
        return self._seed

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
