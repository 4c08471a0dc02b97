"""``nerve.utils.data``: the PyTorch spelling of :mod:`nerve.data` (same objects).

``import nerve.utils.data``, ``from nerve.utils.data import DataLoader`` and the
submodule paths PyTorch users write (``nerve.utils.data.dataloader``,
``nerve.utils.data.sampler``, ...) all resolve to the modules of ``nerve.data``.
"""
import sys

import nerve.data as _data
from nerve.data import *  # noqa: F401,F403
from nerve.data import collate, dataloader, dataset, sampler  # noqa: F401

__all__ = list(_data.__all__)

# submodule aliases, so `from nerve.utils.data.dataloader import default_collate` finds the
# very same module objects instead of importing second copies
for _name in ("collate", "dataloader", "dataset", "sampler"):
    sys.modules[f"{__name__}.{_name}"] = getattr(_data, _name)
del _name
