"""Keras-compatible API on nerve's engine: ``from nerve.keras.models import Sequential``.

A Keras program runs on nerve with its imports changed (``tensorflow.keras`` ->
``nerve.keras``); ``nerve.keras`` is also reachable as ``nerve.keras`` from
``import nerve as tf`` so ``tf.keras.utils.to_categorical`` keeps working.
"""
from __future__ import annotations

import sys

from . import (
    activations,
    callbacks,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    models,  # noqa: E402
    optimizers,
    regularizers,
    utils,
)
from .engine import Input, InputLayer, KerasTensor, Layer, clear_session
from .models import Model, Sequential
from .saving import load_model

optimizers.schedules = __import__("nerve.keras.schedules", fromlist=["x"])
sys.modules["nerve.keras.optimizers.schedules"] = optimizers.schedules


def __getattr__(name):
    if name == "datasets":
        from . import datasets

        return datasets
    if name == "backend":
        from . import backend

        return backend
    raise AttributeError(f"module 'nerve.keras' has no attribute {name!r}")


__all__ = ["Sequential", "Model", "Input", "InputLayer", "Layer", "layers", "models",
           "optimizers", "losses", "metrics", "callbacks", "utils", "initializers",
           "regularizers", "constraints", "activations", "load_model", "clear_session"]
