"""nerve.optim: gradient-descent optimizers and learning-rate schedulers (PyTorch's API).

Every optimizer updates ``p.data`` in place from ``p.grad`` with a chunked NumPy kernel
(see :mod:`nerve.optim.optimizer`); ``state_dict()`` has PyTorch's layout.
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler"]
