"""Keras optimizers follow Keras' own update formulas, step by step (NumPy references)."""
import math

import numpy as np
import pytest

import nerve
from nerve.keras import optimizers as O


def _run(opt, steps=5, seed=0):
    rng = np.random.default_rng(seed)
    w = nerve.nn.Parameter(nerve.tensor(rng.standard_normal((3, 4)).astype(np.float32)))
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(steps)]
    w0 = w.data.copy()
    for g in grads:
        opt.apply_gradients([(g, w)])
    return w0, grads, w.data


def test_adam_keras_epsilon_placement():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w0, grads, w = _run(O.Adam(lr))
    ref, m, v = w0.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(grads, 1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        ref = ref - alpha * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)
    assert w.dtype == np.float32


def test_positional_arguments_learning_rate_beta1():
    opt = O.Adam(0.0002, 0.5)
    assert opt.learning_rate == pytest.approx(0.0002) and opt.beta_1 == 0.5


def test_sgd_momentum_nesterov():
    for nesterov in (False, True):
        w0, grads, w = _run(O.SGD(0.1, momentum=0.9, nesterov=nesterov))
        ref, m = w0.astype(np.float64), 0.0
        for g in grads:
            m = 0.9 * m - 0.1 * g
            ref = ref + (0.9 * m - 0.1 * g if nesterov else m)
        np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)


def test_rmsprop_centered_momentum():
    w0, grads, w = _run(O.RMSprop(0.01, momentum=0.5, centered=True))
    ref, s, a, m = w0.astype(np.float64), 0.0, 0.0, 0.0
    for g in grads:
        s = 0.9 * s + 0.1 * g * g
        a = 0.9 * a + 0.1 * g
        inc = 0.01 * g / np.sqrt(s - a * a + 1e-7)
        m = 0.5 * m + inc
        ref = ref - m
    np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-6)


def test_adadelta_keras_defaults():
    opt = O.Adadelta()
    assert (opt.learning_rate, opt.rho, opt.epsilon) == (0.001, 0.95, 1e-7)
    w0, grads, w = _run(O.Adadelta(1.0))
    ref, ag, ad = w0.astype(np.float64), 0.0, 0.0
    for g in grads:
        ag = 0.95 * ag + 0.05 * g * g
        delta = -np.sqrt(ad + 1e-7) / np.sqrt(ag + 1e-7) * g
        ad = 0.95 * ad + 0.05 * delta * delta
        ref = ref + delta
    np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-7)


def test_adagrad_and_adamw():
    w0, grads, w = _run(O.Adagrad(0.1))
    ref, acc = w0.astype(np.float64), 0.1
    for g in grads:
        acc = acc + g * g
        ref = ref - 0.1 * g / np.sqrt(acc + 1e-7)
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)
    w0, grads, w = _run(O.AdamW(0.01, weight_decay=0.1))
    ref, m, v = w0.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(grads, 1):
        ref = ref - ref * 0.1 * 0.01
        m = m + (g - m) * 0.1
        v = v + (g * g - v) * 0.001
        ref = ref - 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)


def test_schedules():
    from nerve.keras.optimizers import schedules

    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(10) == pytest.approx(0.05)
    p = schedules.PiecewiseConstantDecay([5], [1.0, 0.1])
    assert p(5) == 1.0 and p(6) == 0.1
    c = schedules.CosineDecay(1.0, 10)
    assert c(0) == 1.0 and c(10) == pytest.approx(0.0)
    opt = O.SGD(s)
    assert opt.learning_rate == pytest.approx(0.1)
