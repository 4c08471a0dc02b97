"""nerve._parallel: row-split passes and batch-split convolutions give the serial results."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from nerve import _parallel as P
from nerve.ops import conv as C


@pytest.fixture
def split_everything(monkeypatch):
    """Force splitting: 3 threads, no size thresholds."""
    monkeypatch.setattr(P, "_threads", 3)
    monkeypatch.setattr(P, "MIN_ELEMS", 0)
    monkeypatch.setattr(P, "MIN_FLOPS", 0)
    if P.blas_threads() is None:
        pytest.skip("no control over this NumPy's BLAS threads")


def _whole_and_split(monkeypatch, run, prepare=None):
    """``run()`` on one thread, then again with splitting forced (3 threads, no work
    threshold); ``prepare`` is called in between."""
    monkeypatch.setattr(P, "_threads", 1)
    whole = run()
    if P.blas_threads() is None:
        pytest.skip("no control over this NumPy's BLAS threads")
    monkeypatch.setattr(P, "_threads", 3)
    monkeypatch.setattr(P, "MIN_FLOPS", 0)
    if prepare is not None:
        prepare()
    return whole, run()


def test_split_rows_covers_every_row_once(split_everything):
    seen = []
    lock = threading.Lock()

    def fn(lo, hi):
        with lock:
            seen.extend(range(lo, hi))

    P.split_rows(fn, 10, 10)
    assert sorted(seen) == list(range(10))


def test_ufunc_matches_numpy(split_everything):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5, 3), dtype=np.float32)
    b = rng.standard_normal((5, 3), dtype=np.float32)
    row = rng.standard_normal((1, 5, 3), dtype=np.float32)
    out = np.empty_like(x)
    np.testing.assert_array_equal(P.ufunc(np.maximum, x, 0, out=out), np.maximum(x, 0))
    np.testing.assert_array_equal(P.ufunc(np.add, x, b, out=out), x + b)
    np.testing.assert_array_equal(P.ufunc(np.multiply, row, x, out=out), row * x)
    np.testing.assert_array_equal(P.ufunc(np.negative, x[:, ::-1], out=out), -x[:, ::-1])


def test_worker_exceptions_propagate(split_everything):
    def fn(lo, hi):
        if lo > 0:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        P.split_rows(fn, 6, 6)
    with pytest.raises(ValueError, match="boom"):
        P.batch_split(fn, 6, 1e9)


def test_blas_threads_restored(split_everything):
    before = P.blas_threads()
    P.batch_split(lambda lo, hi: P.blas_threads(), 4, 1e9)
    assert P.blas_threads() == before


@pytest.mark.parametrize("cfg", [
    dict(stride=1, padding=0, groups=1, cl=False),
    dict(stride=2, padding=1, groups=1, cl=False),
    dict(stride=1, padding=1, groups=2, cl=False),
    dict(stride=1, padding=0, groups=1, cl=True),
    dict(stride=2, padding=(1, 2), groups=1, cl=True),
])
@pytest.mark.parametrize("bias", [True, False])
def test_split_convolution_equals_whole_batch(monkeypatch, cfg, bias):
    rng = np.random.default_rng(1)
    n, c, o, h = 5, 4, 6, 9
    xs = (n, h, h, c) if cfg["cl"] else (n, c, h, h)
    x = rng.standard_normal(xs, dtype=np.float32)
    w = rng.standard_normal((o, c // cfg["groups"], 3, 3), dtype=np.float32)
    b = rng.standard_normal(o, dtype=np.float32) if bias else None

    import nerve

    gm = C._geometry("conv2d", x.shape, w.shape, cfg["stride"], cfg["padding"], 1,
                     cfg["groups"], cfg["cl"], 2, bias=nerve.tensor(b) if bias else None)
    g = rng.standard_normal(gm.y_shape(), dtype=np.float32)

    def run():
        return (C.conv_forward_array(x, w, b, gm, relu=True),
                C.conv_input_grad_array(g, w, gm),
                *C.conv_weight_grad_array(x, g, gm, w.shape, np.float32, True, bias))

    whole, split = _whole_and_split(monkeypatch, run)
    for a, s in zip(whole, split):
        if a is None:
            assert s is None
            continue
        assert s.dtype == np.float32 and s.shape == a.shape
        np.testing.assert_allclose(s, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("mask_kind", [None, "bool", "float", "causal"])
def test_split_attention_equals_whole_batch(monkeypatch, dropout, mask_kind):
    from nerve.ops import attention as A

    rng = np.random.default_rng(2)
    n, h, L, S, E = 4, 2, 5, 6, 3
    q = rng.standard_normal((n, h, L, E), dtype=np.float32)
    k = rng.standard_normal((n, h, S, E), dtype=np.float32)
    v = rng.standard_normal((n, h, S, E + 1), dtype=np.float32)
    g = rng.standard_normal((n, h, L, E + 1), dtype=np.float32)
    mask = None
    if mask_kind == "bool":
        mask = rng.random((n, 1, L, S)) > 0.3
        mask[..., 0] = True
    elif mask_kind == "float":
        mask = rng.standard_normal((L, S), dtype=np.float32)
    causal = mask_kind == "causal"

    def run():
        import nerve

        nerve.manual_seed(5)
        out, a, ad, drop, qs = A._attn_forward(q, k, v, mask, dropout, causal, 0.5)
        grads = A._attn_backward(g, None, a, ad, drop, qs, k, v, 0.5, True, True, True, True)
        return (out, a, ad) + grads

    whole, split = _whole_and_split(monkeypatch, run)
    for a, s in zip(whole, split):
        assert s.dtype == np.float32 and s.shape == a.shape
        np.testing.assert_allclose(s, a, rtol=1e-5, atol=1e-6)


def test_set_num_threads_round_trip():
    import nerve

    before_blas, before = P.blas_threads(), nerve.get_num_threads()
    try:
        nerve.set_num_threads(1)
        assert nerve.get_num_threads() == 1
        if before_blas is not None:
            assert P.blas_threads() == 1
    finally:
        nerve.set_num_threads(before)
        if before_blas is not None:
            P.set_blas_threads(before_blas)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("masks", ["none", "2d+kpm", "3d", "causal"])
def test_split_encoder_layer_inference_equals_whole(monkeypatch, batch_first, masks):
    import nerve
    from nerve import nn

    nerve.manual_seed(0)
    n, L, d, h = 5, 7, 8, 2
    layer = nn.TransformerEncoderLayer(d, h, 16, batch_first=batch_first).eval()
    rng = np.random.default_rng(3)
    shape = (n, L, d) if batch_first else (L, n, d)
    x = nerve.from_numpy(rng.standard_normal(shape, dtype=np.float32))
    kw = {}
    if masks == "2d+kpm":
        kw["src_mask"] = nerve.from_numpy(rng.standard_normal((L, L), dtype=np.float32))
        kpm = rng.random((n, L)) > 0.7
        kpm[:, 0] = False
        kw["src_key_padding_mask"] = nerve.from_numpy(kpm)
    elif masks == "3d":
        kw["src_mask"] = nerve.from_numpy(rng.standard_normal((n * h, L, L), dtype=np.float32))
    elif masks == "causal":
        kw["src_mask"] = nn.Transformer.generate_square_subsequent_mask(L)
        kw["is_causal"] = True

    def run():
        with nerve.no_grad():
            return layer(x, **kw).numpy()

    calls = []
    orig = layer._layer

    def count_calls():
        monkeypatch.setattr(layer, "_layer", lambda *a: calls.append(1) or orig(*a))

    whole, split = _whole_and_split(monkeypatch, run, count_calls)
    assert len(calls) == 3  # really split into three blocks
    assert split.dtype == np.float32
    np.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-6)


def test_small_batch_linear_is_column_major_and_exact():
    """Linear on a small batch computes yᵀ = W xᵀ (column-major y); values, gradients and
    contiguous() behave as for a row-major result."""
    import nerve

    rng = np.random.default_rng(4)
    lin = nerve.nn.Linear(6, 3)
    x = nerve.from_numpy(rng.standard_normal((5, 6), dtype=np.float32)).requires_grad_()
    y = lin(x)
    ref = x.data @ lin.weight.data.T + lin.bias.data
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-6, atol=1e-6)
    assert y.dtype == nerve.float32
    c = y.contiguous()
    assert c.is_contiguous() and c.data.flags["C_CONTIGUOUS"]
    (c * c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * ref @ lin.weight.data, rtol=1e-5, atol=1e-5)


def test_keep_freed_memory_is_applied_once_and_can_be_turned_off(monkeypatch):
    import platform

    from nerve import _memory

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        assert _memory.keep_freed_memory() is False
        return
    assert _memory.keep_freed_memory() is True  # idempotent (applied at import)
    monkeypatch.setattr(_memory, "applied", False)
    monkeypatch.setenv("NERVE_KEEP_MEMORY", "0")
    assert _memory.keep_freed_memory() is False


@pytest.mark.parametrize("overlap", [False, True])
def test_jobs_run_each_job_once_in_either_thread(monkeypatch, overlap):
    monkeypatch.setattr(P, "_threads", 2)
    done = []
    lock = threading.Lock()

    def fn(k, slot):
        with lock:
            done.append((k, slot))

    jobs = P.Jobs(fn, 6, overlap=overlap)
    assert jobs.overlapping == overlap
    for k in range(6):
        jobs.release(k)
    jobs.finish()
    assert sorted(k for k, _ in done) == list(range(6))
    if not overlap:
        assert {s for _, s in done} == {0}


def test_jobs_wait_for_release_and_abort_stops_the_helper(monkeypatch):
    monkeypatch.setattr(P, "_threads", 2)
    done = []
    jobs = P.Jobs(lambda k, slot: done.append(k), 3, overlap=True)
    time.sleep(0.05)
    assert done == []  # nothing released yet: the helper waits
    jobs.release(0)
    jobs.abort()  # returns (the helper stops) although jobs 1 and 2 never get released
    assert set(done) <= {0}
    jobs.finish()  # nothing left to run after an abort
    assert set(done) <= {0}


def test_jobs_helper_error_reaches_the_caller(monkeypatch):
    monkeypatch.setattr(P, "_threads", 2)

    def fn(k, slot):
        if slot == 1:
            raise ValueError("boom")

    jobs = P.Jobs(fn, 4, overlap=True)
    for k in range(4):
        jobs.release(k)
    time.sleep(0.05)  # the helper has taken (and failed) a job
    with pytest.raises(ValueError, match="boom"):
        jobs.finish()


def test_jobs_caller_may_split_while_the_helper_waits(monkeypatch):
    """A split pass in the caller (pool threads) must not queue behind the Jobs helper,
    which is waiting for that same caller to release a job."""
    monkeypatch.setattr(P, "_threads", 2)
    monkeypatch.setattr(P, "MIN_ELEMS", 0)
    done = []
    jobs = P.Jobs(lambda k, slot: done.append(k), 2, overlap=True)
    out = np.zeros(8)
    P.split_rows(lambda lo, hi: out.__setitem__(slice(lo, hi), 1.0), 8, 8)  # no deadlock
    assert out.sum() == 8
    jobs.release(0)
    jobs.release(1)
    jobs.finish()
    assert sorted(done) == [0, 1]


def _split_and_jobs_in_this_process(q=None) -> int:
    P.set_threads(2)
    P.MIN_ELEMS = 0
    out = np.zeros(8)
    P.split_rows(lambda lo, hi: out.__setitem__(slice(lo, hi), 1.0), 8, 8)
    done = []
    jobs = P.Jobs(lambda k, slot: done.append(k), 3, overlap=True)
    for k in range(3):
        jobs.release(k)
    jobs.finish()
    res = int(out.sum()) + len(done)
    if q is not None:
        q.put(res)
    return res


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_threads(monkeypatch):
    """After a fork the child has none of the parent's pool threads: its splits and Jobs
    must start fresh ones instead of waiting for ever."""
    import multiprocessing as mp

    monkeypatch.setattr(P, "MIN_ELEMS", 0)
    threads = P.get_threads()
    try:
        assert _split_and_jobs_in_this_process() == 11  # the parent's pools exist now
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        child = ctx.Process(target=_split_and_jobs_in_this_process, args=(q,))
        child.start()
        child.join(timeout=30)
        alive = child.is_alive()
        if alive:
            child.kill()
        assert not alive, "the forked child hung in a split"
        assert q.get(timeout=5) == 11
    finally:
        P.set_threads(threads)


def test_blas_core_names_numpys_openblas_kernel():
    """The kernel family of NumPy's OpenBLAS, lower-case (None without OpenBLAS)."""
    core = P.blas_core()
    assert core is None or (isinstance(core, str) and core == core.lower() and core)
    assert P.blas_core() is core  # asked once
