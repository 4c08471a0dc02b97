"""nn.RNN / LSTM / GRU, the cells, nn.Embedding and nn.utils.rnn against PyTorch.

Weights go from torch's state_dict into nerve's (the names must match), then outputs,
final states and every gradient (input, initial states, parameters) must agree.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import nerve
from nerve.nn.embedding import Embedding
from nerve.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from nerve.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)

torch.set_num_threads(1)
RT, AT = 1e-4, 1e-5  # float32


def close(a, b, rtol=RT, atol=AT, what=""):
    a = a.numpy() if isinstance(a, nerve.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def load_from_torch(m, tm):
    m.load_state_dict({k: nerve.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def nt(t):
    return nerve.tensor(t.detach().numpy(), requires_grad=t.requires_grad)


KINDS = {"RNN": (RNN, torch.nn.RNN), "LSTM": (LSTM, torch.nn.LSTM), "GRU": (GRU, torch.nn.GRU)}


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidir", [(1, False), (2, True), (2, False)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("states", [False, True])
@pytest.mark.parametrize("packed", [False, True])
def test_layer_matches_torch(kind, layers, bidir, batch_first, states, packed):
    torch.manual_seed(0)
    cls, tcls = KINDS[kind]
    T, Bn, I, H = 6, 4, 3, 5
    D = 2 if bidir else 1
    tm = tcls(I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    m = cls(I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    load_from_torch(m, tm)
    x = torch.randn((Bn, T, I) if batch_first else (T, Bn, I), requires_grad=True)
    h0 = torch.randn(layers * D, Bn, H, requires_grad=True)
    c0 = torch.randn(layers * D, Bn, H, requires_grad=True)
    X, H0, C0 = nt(x), nt(h0), nt(c0)
    thx = ((h0, c0) if kind == "LSTM" else h0) if states else None
    hx = ((H0, C0) if kind == "LSTM" else H0) if states else None
    lengths = [6, 2, 4, 3]
    if packed:
        tin = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first,
                                                      enforce_sorted=False)
        nin = pack_padded_sequence(X, lengths, batch_first, enforce_sorted=False)
        close(nin.data, tin.data, what="packed data")
    else:
        tin, nin = x, X
    tout, th = tm(tin, thx)
    out, hn = m(nin, hx)
    if packed:
        assert isinstance(out, PackedSequence)
        close(out.data, tout.data, what="packed output")
        tout, _ = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first)
        out, lens = pad_packed_sequence(out, batch_first)
        assert lens.tolist() == lengths
    tfin = list(th) if kind == "LSTM" else [th]
    fin = list(hn) if kind == "LSTM" else [hn]
    close(out, tout, what="output")
    assert out.data.dtype == np.float32
    for a, b in zip(fin, tfin):
        close(a, b, what="final state")
    g = torch.Generator().manual_seed(1)
    cots = [torch.randn(t.shape, generator=g) for t in [tout] + tfin]
    sum((t * c).sum() for t, c in zip([tout] + tfin, cots)).backward()
    loss = (out * nerve.tensor(cots[0].numpy())).sum()
    for f, c in zip(fin, cots[1:]):
        loss = loss + (f * nerve.tensor(c.numpy())).sum()
    loss.backward()
    close(X.grad, x.grad, what="input grad")
    if states:
        close(H0.grad, h0.grad, what="h0 grad")
        if kind == "LSTM":
            close(C0.grad, c0.grad, what="c0 grad")
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        close(p.grad, tparams[name].grad, what=f"grad of {name}")
        assert p.grad.data.dtype == np.float32


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_and_relu(kind):
    torch.manual_seed(0)
    cls, tcls = KINDS[kind]
    kw = {"nonlinearity": "relu"} if kind == "RNN" else {}
    tm, m = tcls(3, 4, num_layers=2, **kw), cls(3, 4, num_layers=2, **kw)
    load_from_torch(m, tm)
    x = torch.randn(5, 3)
    h = torch.randn(2, 4)
    thx = (h, h * 0.5) if kind == "LSTM" else h
    hx = (nt(h), nt(h * 0.5)) if kind == "LSTM" else nt(h)
    tout, th = tm(x, thx)
    out, hn = m(nt(x), hx)
    close(out, tout)
    for a, b in zip(hn if kind == "LSTM" else [hn], th if kind == "LSTM" else [th]):
        close(a, b)


def test_state_dict_names_and_init():
    for cls, tcls in KINDS.values():
        m = cls(3, 8, num_layers=2, bidirectional=True)
        tm = tcls(3, 8, num_layers=2, bidirectional=True)
        assert list(m.state_dict()) == list(tm.state_dict())
        for k, v in tm.state_dict().items():
            p = m.state_dict()[k]
            assert tuple(p.shape) == tuple(v.shape) and p.data.dtype == np.float32
            assert np.abs(p.numpy()).max() <= 1 / np.sqrt(8)
        tm.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in m.state_dict().items()})


def test_dropout_between_layers():
    m = LSTM(3, 4, num_layers=3, dropout=0.5)
    x = nerve.randn(5, 2, 3)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    m.train()
    c, _ = m(x)
    assert not np.allclose(a.numpy(), c.numpy())
    c.sum().backward()
    assert m.weight_ih_l2.grad is not None


def test_layer_errors():
    m = LSTM(3, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"LSTM\(input_size=3, hidden_size=4\).*feature size.*"
                                         r"\(2, 5, 7\)"):
        m(nerve.zeros(2, 5, 7))
    with pytest.raises(ValueError, match=r"3 dims.*got shape \(2, 5, 3, 1\)"):
        m(nerve.zeros(2, 5, 3, 1))
    with pytest.raises(ValueError, match=r"h_0 of shape \(1, 2, 4\).*got \(1, 3, 4\)"):
        m(nerve.zeros(2, 5, 3), (nerve.zeros(1, 3, 4), nerve.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match="dtype"):
        m(nerve.zeros(2, 5, 3, dtype=nerve.float64))
    with pytest.raises(TypeError, match="tuple"):
        m(nerve.zeros(2, 5, 3), nerve.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")


# --- cells -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_cells_match_torch(kind, batched, with_state):
    torch.manual_seed(0)
    cls = {"RNNCell": RNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}[kind]
    tm, m = getattr(torch.nn, kind)(3, 4), cls(3, 4)
    load_from_torch(m, tm)
    shape = (2, 3) if batched else (3,)
    hshape = (2, 4) if batched else (4,)
    x = torch.randn(*shape, requires_grad=True)
    h = torch.randn(*hshape, requires_grad=True)
    c = torch.randn(*hshape, requires_grad=True)
    X, Hn, Cn = nt(x), nt(h), nt(c)
    if kind == "LSTMCell":
        t_out = tm(x, (h, c) if with_state else None)
        out = m(X, (Hn, Cn) if with_state else None)
    else:
        t_out = (tm(x, h if with_state else None),)
        out = (m(X, Hn if with_state else None),)
    sum((o * (i + 1)).sum() for i, o in enumerate(t_out)).backward()
    loss = None
    for i, o in enumerate(out):
        close(o, t_out[i])
        term = (o * (i + 1)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    close(X.grad, x.grad)
    if with_state:
        close(Hn.grad, h.grad)
    tp = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        close(p.grad, tp[name].grad, what=name)


def test_cell_errors():
    with pytest.raises(ValueError, match=r"LSTMCell\(input_size=3, hidden_size=4\).*\(2, 5\)"):
        LSTMCell(3, 4)(nerve.zeros(2, 5))
    with pytest.raises(ValueError, match=r"hx of shape \(2, 4\)"):
        GRUCell(3, 4)(nerve.zeros(2, 3), nerve.zeros(3, 4))


# --- embedding ---------------------------------------------------------------------------------

def test_embedding_matches_torch():
    torch.manual_seed(0)
    tm = torch.nn.Embedding(20, 6, padding_idx=0)
    m = Embedding(20, 6, padding_idx=0)
    assert not m.weight.numpy()[0].any()
    load_from_torch(m, tm)
    ids = np.random.default_rng(0).integers(0, 20, (4, 9))
    ids[:, -3:] = 0
    tout = tm(torch.tensor(ids))
    out = m(nerve.tensor(ids))
    close(out, tout)
    cot = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    tout.backward(torch.tensor(cot))
    out.backward(nerve.tensor(cot))
    close(m.weight.grad, tm.weight.grad)
    assert m.weight.grad.data.dtype == np.float32 and m.weight.grad.shape == (20, 6)


def test_embedding_from_pretrained():
    w = nerve.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    e = Embedding.from_pretrained(w, padding_idx=1)
    assert not e.weight.requires_grad
    np.testing.assert_array_equal(e(nerve.tensor([1, 3])).numpy(), w.numpy()[[1, 3]])
    e2 = Embedding.from_pretrained(w, freeze=False, padding_idx=1)
    e2(nerve.tensor([[1, 2, 2]])).sum().backward()
    np.testing.assert_array_equal(e2.weight.grad.numpy()[:, 0], [0, 0, 2, 0])


def test_embedding_errors():
    e = Embedding(10, 3)
    with pytest.raises(IndexError, match="index 10 is out of range for an embedding table of 10"):
        e(nerve.tensor([[1, 10]]))
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(10, 3, padding_idx=10)


# --- nn.utils.rnn ------------------------------------------------------------------------------

def test_pack_pad_utilities_match_torch():
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((n, 2)).astype(np.float32) for n in (3, 5, 1, 4)]
    tseqs = [torch.tensor(s) for s in seqs]
    nseqs = [nerve.tensor(s) for s in seqs]
    for bf in (False, True):
        tp = torch.nn.utils.rnn.pad_sequence(tseqs, batch_first=bf, padding_value=-1.0)
        p = pad_sequence(nseqs, batch_first=bf, padding_value=-1.0)
        close(p, tp, 0, 0)
        tpk = torch.nn.utils.rnn.pack_padded_sequence(tp, [3, 5, 1, 4], bf, enforce_sorted=False)
        pk = pack_padded_sequence(p, [3, 5, 1, 4], bf, enforce_sorted=False)
        close(pk.data, tpk.data, 0, 0)
        assert pk.batch_sizes.tolist() == tpk.batch_sizes.tolist()
        assert pk.sorted_indices.tolist() == tpk.sorted_indices.tolist()
        assert pk.unsorted_indices.tolist() == tpk.unsorted_indices.tolist()
        tu, tl = torch.nn.utils.rnn.pad_packed_sequence(tpk, bf, padding_value=7.0,
                                                        total_length=6)
        u, lens = pad_packed_sequence(pk, bf, padding_value=7.0, total_length=6)
        close(u, tu, 0, 0)
        assert lens.tolist() == tl.tolist()
    left = pad_sequence(nseqs, batch_first=True, padding_side="left")
    tleft = torch.nn.utils.rnn.pad_sequence(tseqs, batch_first=True, padding_side="left")
    close(left, tleft, 0, 0)
    sorted_seqs = sorted(nseqs, key=lambda s: -s.shape[0])
    pk = pack_sequence(sorted_seqs)
    assert pk.sorted_indices is None
    for a, b in zip(unpack_sequence(pk), sorted_seqs):
        close(a, b.numpy(), 0, 0)
    for a, b in zip(unpad_sequence(pad_sequence(nseqs), [3, 5, 1, 4]), nseqs):
        close(a, b.numpy(), 0, 0)


def test_pack_gradients_flow():
    x = nerve.tensor(np.arange(12, dtype=np.float32).reshape(3, 2, 2), requires_grad=True)
    pk = pack_padded_sequence(x, [3, 1])
    out, _ = pad_packed_sequence(pk)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 1, 0], [1, 0, 0])


def test_pack_errors():
    x = nerve.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        pack_padded_sequence(x, [5, 4, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match="3 sequences"):
        pack_padded_sequence(x, [4, 1])


def test_gradcheck_modules_float64():
    from nerve.autograd import gradcheck

    rng = np.random.default_rng(0)
    for cls in (RNN, LSTM, GRU):
        m = cls(2, 3, num_layers=2, bidirectional=True, batch_first=True).double()
        x = nerve.tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
        assert gradcheck(lambda x, m=m: m(x)[0], [x])

        def packed(x, m=m):
            out, _ = m(pack_padded_sequence(x, [3, 1], batch_first=True))
            return pad_packed_sequence(out, batch_first=True)[0]

        assert gradcheck(packed, [x])


def test_no_denormals_in_long_backward():
    """Gradients fading over a long sequence are flushed to zero, never left denormal."""
    m = LSTM(2, 4)
    x = nerve.randn(400, 1, 2, requires_grad=True)
    _, (h, _) = m(x)
    h.sum().backward()
    g = np.abs(x.grad.numpy())
    assert not ((g > 0) & (g < np.finfo(np.float32).tiny)).any()
    for p in m.parameters():
        a = np.abs(p.grad.numpy())
        assert not ((a > 0) & (a < np.finfo(np.float32).tiny)).any()
