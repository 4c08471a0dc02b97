"""Fused recurrent kernels (nerve.ops.rnn) and the embedding op against PyTorch.

Every kernel runs one layer (one or both directions) over a whole sequence: outputs,
final states and the gradients of the input, the initial states and every weight must
equal torch's for identical weights; float64 gradcheck on tiny shapes; float32 in gives
float32 out (values and gradients).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import nerve
from nerve._memory import aligned_empty
from nerve.autograd import gradcheck
from nerve.ops.embedding import _segment_sum_rows, embedding
from nerve.ops.rnn import recurrent_layer

torch.set_num_threads(1)

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
TORCH = {"RNN_TANH": (torch.nn.RNN, {"nonlinearity": "tanh"}),
         "RNN_RELU": (torch.nn.RNN, {"nonlinearity": "relu"}),
         "LSTM": (torch.nn.LSTM, {}), "GRU": (torch.nn.GRU, {})}


def close(a, b, rtol, atol, what=""):
    a = a.numpy() if isinstance(a, nerve.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def run_both(mode, bidir, batch_first, lengths=None, states=True, bias=True,
             dtype=torch.float64, T=5, Bn=4, I=3, H=4, seed=0):
    """One layer in torch (packed when ``lengths``) and in nerve; returns both sides."""
    torch.manual_seed(seed)
    cls, kw = TORCH[mode]
    m = cls(I, H, bidirectional=bidir, batch_first=batch_first, bias=bias, **kw).to(dtype)
    D = 2 if bidir else 1
    x = torch.randn((Bn, T, I) if batch_first else (T, Bn, I), dtype=dtype, requires_grad=True)
    h0 = torch.randn(D, Bn, H, dtype=dtype, requires_grad=True)
    c0 = torch.randn(D, Bn, H, dtype=dtype, requires_grad=True)
    hx = ((h0, c0) if mode == "LSTM" else h0) if states else None
    if lengths is None:
        out, hn = m(x, hx)
    else:
        pk = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first,
                                                     enforce_sorted=False)
        out, hn = m(pk, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first, total_length=T)
    touts = [out] + (list(hn) if mode == "LSTM" else [hn])
    cots = [torch.randn_like(o) for o in touts]
    sum((o * c).sum() for o, c in zip(touts, cots)).backward()

    X = nerve.tensor(x.detach().numpy(), requires_grad=True)
    H0 = nerve.tensor(h0.detach().numpy(), requires_grad=True)
    C0 = nerve.tensor(c0.detach().numpy(), requires_grad=True)
    ps = [nerve.tensor(p.detach().numpy(), requires_grad=True) for p in m.parameters()]
    ws = []
    for d in range(D):
        ws += ps[4 * d:4 * d + 4] if bias else [ps[2 * d], ps[2 * d + 1], None, None]
    outs = recurrent_layer(mode, X, H0 if states else None,
                           (C0 if states else None) if mode == "LSTM" else None, ws,
                           batch_first=batch_first, lengths=lengths)
    loss = None
    for o, c in zip(outs, cots):
        term = (o * nerve.tensor(c.numpy())).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    tgrads = [x.grad] + ([h0.grad] + ([c0.grad] if mode == "LSTM" else []) if states else []) \
        + [p.grad for p in m.parameters()]
    ngrads = [X.grad] + ([H0.grad] + ([C0.grad] if mode == "LSTM" else []) if states else []) \
        + [p.grad for p in ps]
    return outs, touts, ngrads, tgrads


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths", [None, [3, 5, 1, 4]])
def test_matches_torch_float64(mode, bidir, batch_first, lengths):
    outs, touts, ng, tg = run_both(mode, bidir, batch_first, lengths)
    for i, (a, b) in enumerate(zip(outs, touts)):
        close(a, b, 1e-10, 1e-12, f"output {i}")
    for i, (a, b) in enumerate(zip(ng, tg)):
        close(a, b, 1e-9, 1e-11, f"grad {i}")


@pytest.mark.parametrize("mode", MODES)
def test_no_states_no_bias_sorted_lengths(mode):
    outs, touts, ng, tg = run_both(mode, True, False, [5, 5, 2, 2], states=False, bias=False)
    for a, b in zip(outs, touts):
        close(a, b, 1e-10, 1e-12)
    for a, b in zip(ng, tg):
        close(a, b, 1e-9, 1e-11)


@pytest.mark.parametrize("mode", MODES)
def test_float32_matches_and_keeps_dtype(mode):
    outs, touts, ng, tg = run_both(mode, True, True, [4, 6, 6, 2], dtype=torch.float32, T=6,
                                   I=5, H=7)
    for a, b in zip(outs, touts):
        assert a.data.dtype == np.float32
        close(a, b, 1e-4, 1e-5)
    for a, b in zip(ng, tg):
        assert a.data.dtype == np.float32
        close(a, b, 1e-4, 1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidir,lengths", [(False, None), (True, [3, 1])])
def test_gradcheck_float64(mode, bidir, lengths):
    rng = np.random.default_rng(1)
    T, Bn, I, H = 3, 2, 2, 2
    D = 2 if bidir else 1
    G = {"LSTM": 4, "GRU": 3}.get(mode, 1) * H

    def t(*shape):
        return nerve.tensor(rng.standard_normal(shape) * 0.7, requires_grad=True)

    x, h0, c0 = t(T, Bn, I), t(D, Bn, H), t(D, Bn, H)
    ws = []
    for _ in range(D):
        ws += [t(G, I), t(G, H), t(G), t(G)]

    def fn(x, h0, c0, *ws):
        return recurrent_layer(mode, x, h0, c0 if mode == "LSTM" else None, list(ws),
                               lengths=lengths)

    assert gradcheck(fn, [x, h0, c0, *ws], atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_batch_split_across_threads_matches_torch(monkeypatch, bidir, batch_first):
    """The LSTM's row blocks on parallel threads (several cores) give the same outputs,
    states and gradients; the inference path (no grad) too."""
    from nerve import _parallel as P

    monkeypatch.setattr(P, "_threads", 3)
    monkeypatch.setattr(P, "MIN_FLOPS", 0)
    monkeypatch.setattr("nerve.ops.rnn.MIN_SPLIT_ROWS", 1)
    outs, touts, ng, tg = run_both("LSTM", bidir, batch_first, Bn=7)
    for i, (a, b) in enumerate(zip(outs, touts)):
        close(a, b, 1e-10, 1e-12, f"output {i}")
    for i, (a, b) in enumerate(zip(ng, tg)):
        close(a, b, 1e-9, 1e-11, f"grad {i}")
    rng = np.random.default_rng(3)
    ws = [nerve.tensor(rng.standard_normal(sh).astype(np.float32) * 0.5)
          for sh in [(20, 3), (20, 5), (20,), (20,)] * (2 if bidir else 1)]
    x = nerve.tensor(rng.standard_normal((7, 6, 3)).astype(np.float32))
    with nerve.no_grad():
        split = recurrent_layer("LSTM", x, None, None, ws, batch_first=batch_first)
        monkeypatch.setattr(P, "_threads", 1)
        whole = recurrent_layer("LSTM", x, None, None, ws, batch_first=batch_first)
    for a, b in zip(split, whole):
        assert a.data.dtype == np.float32
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bidir,lengths", [(False, None), (True, None), (True, [3, 5, 1, 4])])
def test_lstm_loss_on_final_state_only(bidir, lengths):
    """A classifier reads h_n alone: ∂y is all zeros (the backward skips adding it)."""
    torch.manual_seed(0)
    m = torch.nn.LSTM(3, 4, bidirectional=bidir, batch_first=True).double()
    x = torch.randn(4, 5, 3, dtype=torch.float64, requires_grad=True)
    inp = x if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), True, enforce_sorted=False)
    _, (hn, cn) = m(inp)
    cot = torch.randn_like(hn)
    (hn * cot).sum().backward()
    X = nerve.tensor(x.detach().numpy(), requires_grad=True)
    ps = [nerve.tensor(p.detach().numpy(), requires_grad=True) for p in m.parameters()]
    _, hn_n, _ = recurrent_layer("LSTM", X, None, None, ps, batch_first=True, lengths=lengths)
    (hn_n * nerve.tensor(cot.numpy())).sum().backward()
    close(hn_n, hn, 1e-10, 1e-12, "h_n")
    close(X.grad, x.grad, 1e-9, 1e-11, "grad x")
    for i, (a, p) in enumerate(zip(ps, m.parameters())):
        close(a.grad, p.grad, 1e-9, 1e-11, f"grad param {i}")


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("lengths", [None, [5, 3, 5, 1]])
@pytest.mark.parametrize("chunks", [1, 3, 12])
def test_lstm_backward_chunks_beside_recurrence_match_torch(monkeypatch, bidir, lengths,
                                                             chunks):
    """∂x and ∂W computed per chunk of steps on a helper thread while the recurrence runs
    (uneven chunks, more chunks than steps, packed lengths): the gradients equal torch's."""
    from nerve import _parallel as P

    monkeypatch.setattr(P, "_threads", 2)
    monkeypatch.setattr(P, "MIN_FLOPS", 0)
    monkeypatch.setattr("nerve.ops.rnn.BWD_CHUNKS", chunks)
    outs, touts, ng, tg = run_both("LSTM", bidir, True, lengths=lengths)
    for i, (a, b) in enumerate(zip(outs, touts)):
        close(a, b, 1e-10, 1e-12, f"output {i}")
    for i, (a, b) in enumerate(zip(ng, tg)):
        close(a, b, 1e-9, 1e-11, f"grad {i}")


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("states,bias", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("threads,fill,blocks", [(1, 8, False), (3, 8, False), (3, 4, False),
                                                 (1, 8, True), (3, 4, True)])
def test_lstm_inference_kernel_equals_torch(bidir, batch_first, states, bias, threads, fill,
                                            blocks, monkeypatch):
    """Without a graph or lengths the LSTM runs its feature-major kernel (split across
    threads when allowed; inputs copied in chunks of ``fill`` steps, the last one short;
    the gate GEMM whole or in row blocks of W): outputs and final states equal torch's."""
    import nerve._parallel as P

    if blocks:
        monkeypatch.setattr("nerve.ops.rnn._gemm_blocks", lambda rows, n, k, xp, operand=None:
                            (rows // 4, n // 2 if n % 2 == 0 else n))
    monkeypatch.setattr(P, "_threads", threads)
    monkeypatch.setattr("nerve.ops.rnn.FILL_CHUNK", fill)
    monkeypatch.setattr(P, "MIN_FLOPS", 0)
    monkeypatch.setattr("nerve.ops.rnn.MIN_SPLIT_ROWS", 1)
    torch.manual_seed(1)
    D, T, Bn, I, H = (2 if bidir else 1), 6, 7, 3, 5
    m = torch.nn.LSTM(I, H, bidirectional=bidir, batch_first=batch_first, bias=bias).double()
    x = torch.randn((Bn, T, I) if batch_first else (T, Bn, I), dtype=torch.float64)
    hx = (torch.randn(D, Bn, H, dtype=torch.float64),
          torch.randn(D, Bn, H, dtype=torch.float64)) if states else None
    with torch.no_grad():
        out, (hn, cn) = m(x, hx)
    ps = [nerve.tensor(p.detach().numpy()) for p in m.parameters()]
    ws = []
    for d in range(D):
        ws += ps[4 * d:4 * d + 4] if bias else [ps[2 * d], ps[2 * d + 1], None, None]
    st = [nerve.tensor(h.numpy()) for h in hx] if states else [None, None]
    with nerve.no_grad():
        outs = recurrent_layer("LSTM", nerve.tensor(x.numpy()), *st, ws,
                               batch_first=batch_first)
    for a, b, what in zip(outs, (out, hn, cn), ("y", "h_n", "c_n")):
        close(a, b, 1e-10, 1e-12, what)


@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("lengths", [None, [5, 3, 5, 1]])
def test_lstm_training_forward_gemm_in_blocks_matches_torch(monkeypatch, bidir, lengths):
    """The training forward's gate GEMM in column blocks of Wᵀ (forced here on a small
    shape; packed batches keep one GEMM): outputs and gradients equal torch's."""
    monkeypatch.setattr("nerve.ops.rnn._gemm_blocks",
                        lambda rows, n, k, xp, operand=None: (rows // 4, n))
    outs, touts, ng, tg = run_both("LSTM", bidir, True, lengths=lengths)
    for i, (a, b) in enumerate(zip(outs, touts)):
        close(a, b, 1e-10, 1e-12, f"output {i}")
    for i, (a, b) in enumerate(zip(ng, tg)):
        close(a, b, 1e-9, 1e-11, f"grad {i}")


def test_lstm_float32_full_size_training_matches_torch(monkeypatch):
    """The benchmark's shape in float32 with two threads (32 rows each: the blocked gate
    GEMM on AVX-512 OpenBLAS, forward and backward): outputs and gradients equal torch's
    at rtol 1e-4."""
    from nerve import _parallel as P

    monkeypatch.setattr(P, "_threads", 2)
    outs, touts, ng, tg = run_both("LSTM", False, True, dtype=torch.float32, T=6, Bn=64,
                                   I=128, H=128, seed=4)
    for i, (a, b) in enumerate(zip(outs, touts)):
        close(a, b, 1e-4, 1e-5, f"output {i}")
    for i, (a, b) in enumerate(zip(ng, tg)):
        close(a, b, 1e-4, 1e-4, f"grad {i}")


def test_gemm_blocks_rule(monkeypatch):
    """Blocks only where OpenBLAS's small-matrix kernels exist, for 8/16/32 batch rows (or
    64/96 in groups of 32), when the whole product is over their limit; a block fits
    under SMALL_GEMM_BLOCK."""
    from nerve import _parallel as P
    from nerve.ops.rnn import _gemm_batch_blocks
    from nerve.ops.rnn import _gemm_blocks as blocks

    monkeypatch.setattr(P, "blas_core", lambda: "skylakex")
    assert blocks(512, 32, 257, np) == (64, 32)  # the LSTM classifier's step, half the batch
    assert blocks(512, 32, 129, np) == (128, 32)
    assert blocks(512, 16, 257, np) == (128, 16)
    assert blocks(512, 64, 257, np) == (64, 32)  # 64 columns: two groups of 32
    assert blocks(512, 96, 513, np) == (32, 32)
    assert blocks(512, 128, 257, np) == (512, 128)  # 128 columns: one GEMM is as fast
    assert blocks(512, 24, 257, np) == (512, 24)
    assert blocks(256, 16, 129, np) == (256, 16)  # already small
    assert blocks(512, 32, 4097, np) == (512, 32)  # no block small enough
    assert _gemm_batch_blocks(64, 128, 512, np) == 8  # the backward's ∂G Wₕₕ
    assert _gemm_batch_blocks(64, 128, 256, np) == 16
    assert _gemm_batch_blocks(64, 256, 512, np) == 64  # wide right-hand side: one GEMM
    assert _gemm_batch_blocks(64, 128, 1024, np) == 64  # no block small enough
    slot = aligned_empty((257, 64), np.float32)
    assert blocks(512, 32, 257, np, slot[:, 32:]) == (64, 32)  # rows start on cache lines
    assert blocks(512, 32, 257, np, slot[:, 4:36]) == (512, 32)  # 16 bytes in: one GEMM
    half = aligned_empty((257, 64), np.float16)
    assert blocks(512, 32, 257, np, half[:, 32:]) == (512, 32)  # not a BLAS type
    monkeypatch.setattr(P, "blas_core", lambda: "haswell")
    assert blocks(512, 32, 257, np) == (512, 32)


def test_aligned_empty():
    for shape, dt in [((3, 5), np.float32), ((7,), np.float64), ((2, 0), np.float32)]:
        a = aligned_empty(shape, dt)
        assert a.shape == shape and a.dtype == dt
        assert a.size == 0 or a.ctypes.data % 64 == 0
        assert a.flags.c_contiguous and a.flags.writeable


@pytest.mark.parametrize("threads,bidir", [(2, False), (1, False), (2, True)])
def test_lstm_inference_float32_full_size_matches_torch(monkeypatch, threads, bidir):
    """The benchmark's shape in float32 (on AVX-512 OpenBLAS: two threads of 32 columns
    each, blocked; one thread, or a direction per thread, in two groups of 32 columns):
    outputs and final states equal torch's at rtol 1e-4."""
    from nerve import _parallel as P

    monkeypatch.setattr(P, "_threads", threads)
    torch.manual_seed(3)
    m = torch.nn.LSTM(128, 128, batch_first=True, bidirectional=bidir)
    x = torch.randn(64, 12, 128)
    with torch.no_grad():
        out, (hn, cn) = m(x)
    ps = [nerve.tensor(p.detach().numpy()) for p in m.parameters()]
    with nerve.no_grad():
        outs = recurrent_layer("LSTM", nerve.tensor(x.numpy()), None, None, ps,
                               batch_first=True)
    for a, b, what in zip(outs, (out, hn, cn), ("y", "h_n", "c_n")):
        close(a, b, 1e-4, 1e-6, what)


@pytest.mark.parametrize("lengths", [None, [6, 2, 5, 6, 1]])
def test_bidirectional_directions_side_by_side_match_torch(monkeypatch, lengths):
    """With two threads the two directions run side by side (whole batch each), with or
    without a graph, with or without lengths: outputs and final states equal torch's."""
    from nerve import _parallel as P

    monkeypatch.setattr(P, "_threads", 2)
    monkeypatch.setattr(P, "MIN_FLOPS", 0)
    torch.manual_seed(2)
    m = torch.nn.LSTM(3, 4, bidirectional=True, batch_first=True).double()
    x = torch.randn(5, 6, 3, dtype=torch.float64)
    inp = x if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(lengths), True, enforce_sorted=False)
    with torch.no_grad():
        out, (hn, cn) = m(inp)
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, True, total_length=6)
    ws = [nerve.tensor(p.detach().numpy()) for p in m.parameters()]
    with nerve.no_grad():
        outs = recurrent_layer("LSTM", nerve.tensor(x.numpy()), None, None, ws,
                               batch_first=True, lengths=lengths)
    for a, b, what in zip(outs, (out, hn, cn), ("y", "h_n", "c_n")):
        close(a, b, 1e-10, 1e-12, what)


def test_inference_path_equals_training_path():
    rng = np.random.default_rng(2)
    for mode in MODES:
        G = {"LSTM": 4, "GRU": 3}.get(mode, 1) * 5
        ws = [nerve.tensor(rng.standard_normal(s).astype(np.float32) * 0.5, requires_grad=True)
              for s in [(G, 3), (G, 5), (G,), (G,)] * 2]
        x = nerve.tensor(rng.standard_normal((4, 6, 3)).astype(np.float32))
        train = recurrent_layer(mode, x, None, None, ws, batch_first=True, lengths=[6, 2, 5, 6])
        with nerve.no_grad():
            infer = recurrent_layer(mode, x, None, None, ws, batch_first=True,
                                    lengths=[6, 2, 5, 6])
        for a, b in zip(train, infer):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_padded_steps_do_not_leak():
    """Garbage in the padding changes neither valid outputs nor final states."""
    rng = np.random.default_rng(3)
    ws = [nerve.tensor(rng.standard_normal(s).astype(np.float32)) for s in
          [(16, 3), (16, 4), (16,), (16,)] * 2]
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    y = x.copy()
    y[3:, 1] = 1e3  # sequence 1 has length 3
    a = recurrent_layer("LSTM", nerve.tensor(x), None, None, ws, lengths=[5, 3])
    b = recurrent_layer("LSTM", nerve.tensor(y), None, None, ws, lengths=[5, 3])
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert not a[0].numpy()[3:, 1].any()  # outputs at padded steps are zero


def test_twice_differentiating_raises():
    x = nerve.tensor(np.ones((2, 1, 1)), requires_grad=True)
    ws = [nerve.tensor(np.full(s, 0.1), requires_grad=True) for s in [(4, 1), (4, 1), (4,),
                                                                       (4,)]]
    y, h, c = recurrent_layer("LSTM", x, None, None, ws)
    with pytest.raises(RuntimeError, match="once-differentiable"):
        nerve.autograd.grad(h.sum(), [x], create_graph=True)


def test_bad_lengths():
    x = nerve.zeros(4, 2, 3)
    ws = [nerve.zeros(*s) for s in [(3, 3), (3, 3), (3,), (3,)]]
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        recurrent_layer("RNN_TANH", x, None, None, ws, lengths=[5, 1])
    with pytest.raises(ValueError, match="one entry per sequence"):
        recurrent_layer("RNN_TANH", x, None, None, ws, lengths=[4, 1, 1])


# --- embedding ---------------------------------------------------------------------------------

def test_embedding_matches_torch():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((11, 4)).astype(np.float32)
    ids = rng.integers(0, 11, (3, 7))
    ids[0, :4] = 2  # repeats
    W = nerve.tensor(w, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    out = embedding(nerve.tensor(ids), W, padding_idx=2)
    tout = torch.nn.functional.embedding(torch.tensor(ids), tw, padding_idx=2)
    cot = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(nerve.tensor(cot))
    tout.backward(torch.tensor(cot))
    close(out, tout, 1e-6, 1e-7)
    close(W.grad, tw.grad, 1e-5, 1e-6)
    assert out.data.dtype == np.float32 and W.grad.data.dtype == np.float32
    assert not W.grad.numpy()[2].any()


def test_segment_sum_equals_add_at():
    rng = np.random.default_rng(4)
    for ids in (rng.integers(0, 50, (8, 30)),  # short segments only
                np.where(rng.random((8, 30)) < 0.4, 0, rng.integers(0, 50, (8, 30))),  # heavy
                np.array([], dtype=np.int64).reshape(0, 3)):
        g = rng.standard_normal(ids.shape + (6,))
        ref = np.zeros((50, 6))
        np.add.at(ref, ids.reshape(-1), g.reshape(-1, 6))
        strided = np.ascontiguousarray(g.transpose(1, 0, 2)).transpose(1, 0, 2)
        for gg in (g, strided):
            np.testing.assert_allclose(_segment_sum_rows(gg, ids, 50), ref, atol=1e-12)


def test_segment_sum_large_vocabulary():
    """Tables beyond 2¹⁶ rows sort the full ids (the 16-bit radix sort would wrap)."""
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 70_000, (4, 9))
    ids[0, :3] = 65_536 + 7  # would collide with id 7 if truncated to 16 bits
    ids[1, :2] = 7
    g = rng.standard_normal(ids.shape + (3,)).astype(np.float32)
    ref = np.zeros((70_000, 3), np.float32)
    np.add.at(ref, ids.reshape(-1), g.reshape(-1, 3))
    got = _segment_sum_rows(g, ids, 70_000)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_embedding_gradcheck_and_double_backward():
    rng = np.random.default_rng(5)
    W = nerve.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    ids = nerve.tensor(np.array([[0, 1, 1], [4, 0, 1]]))
    assert gradcheck(lambda w: embedding(ids, w), [W])  # (padding_idx drops a true gradient)
    # create_graph: the gradient is itself differentiable (here linear in the cotangent)
    v = nerve.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    (gw,) = nerve.autograd.grad(embedding(ids, W, padding_idx=4), [W], v, create_graph=True)
    (gv,) = nerve.autograd.grad(gw.sum(), [v])
    np.testing.assert_allclose(gv.numpy()[1, 0], 0.0)  # id 4 is padding: no path
    np.testing.assert_allclose(gv.numpy()[0, 0], 1.0)


def test_embedding_errors():
    W = nerve.zeros(10, 2)
    with pytest.raises(IndexError, match="index 12 is out of range .* 10 rows"):
        embedding(nerve.tensor([1, 12]), W)
    with pytest.raises(IndexError, match="index -1 is out of range"):
        embedding(nerve.tensor([-1]), W)
    with pytest.raises(TypeError, match="integer"):
        embedding(nerve.tensor([1.0]), W)
