"""Keras learning-rate schedules: functions of the optimizer's iteration count."""
from __future__ import annotations

import math


class LearningRateSchedule:
    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items()}


class ExponentialDecay(LearningRateSchedule):
    """lr₀ · rate^(step / decay_steps) (floored exponent when staircase)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name=None) -> None:
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.decay_rate, self.staircase = decay_steps, decay_rate, staircase

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] while step <= boundaries[i] (values has one more entry than boundaries)."""

    def __init__(self, boundaries, values, name=None) -> None:
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: values must have one more element than "
                             f"boundaries, got {len(values)} and {len(boundaries)}")
        self.boundaries, self.values = list(boundaries), list(values)

    def __call__(self, step: int) -> float:
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return float(v)
        return float(self.values[-1])


class CosineDecay(LearningRateSchedule):
    """lr₀ · ((1-α)·½(1 + cos(π·min(step, T)/T)) + α), with optional linear warmup."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name=None, warmup_target=None, warmup_steps: int = 0) -> None:
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.alpha = decay_steps, alpha
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def __call__(self, step: int) -> float:
        lr0 = self.initial_learning_rate
        if self.warmup_target is not None and step < self.warmup_steps:
            return lr0 + (self.warmup_target - lr0) * step / self.warmup_steps
        if self.warmup_target is not None:
            lr0 = self.warmup_target
            step -= self.warmup_steps
        s = min(step, self.decay_steps)
        cos = 0.5 * (1 + math.cos(math.pi * s / self.decay_steps))
        return lr0 * ((1 - self.alpha) * cos + self.alpha)


class InverseTimeDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None) -> None:
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps, self.decay_rate, self.staircase = decay_steps, decay_rate, staircase

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)
