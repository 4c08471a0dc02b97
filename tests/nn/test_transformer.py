"""nn.LayerNorm, nn.MultiheadAttention, the Transformer layers and positional encodings
against PyTorch, with identical weights (loaded from torch's state_dict), dropout off."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nerve
from nerve.autograd import gradcheck
from nerve.nn.attention import MultiheadAttention
from nerve.nn.normalization import LayerNorm
from nerve.nn.transformer import (
    LearnedPositionalEncoding,
    PositionalEncoding,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
)

torch.set_num_threads(1)
RT, AT = 1e-4, 1e-5


def close(a, b, rtol=RT, atol=AT, what=""):
    a = a.numpy() if isinstance(a, nerve.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def load_from_torch(m, tm):
    m.load_state_dict({k: nerve.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def nt(t):
    return nerve.tensor(t.detach().numpy(), requires_grad=t.requires_grad)


def mask_t(m):
    return None if m is None else nerve.tensor(m.numpy())


def check_grads(m, tm):
    tp = dict(tm.named_parameters())
    names = [n for n, _ in m.named_parameters()]
    assert sorted(names) == sorted(tp)
    for name, p in m.named_parameters():
        close(p.grad, tp[name].grad, what=f"grad of {name}")
        assert p.grad.data.dtype == np.float32


def backward_both(out, tout, seed=1):
    cot = torch.randn(tout.shape, generator=torch.Generator().manual_seed(seed))
    (tout * cot).sum().backward()
    (out * nerve.tensor(cot.numpy())).sum().backward()


# --- LayerNorm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"elementwise_affine": False}, {"bias": False},
                                {"eps": 1e-3}])
@pytest.mark.parametrize("ns", [6, (4, 6)])
def test_layernorm_matches_torch(ns, kw):
    torch.manual_seed(0)
    tm, m = torch.nn.LayerNorm(ns, **kw), LayerNorm(ns, **kw)
    if kw.get("elementwise_affine", True):
        with torch.no_grad():
            for p in tm.parameters():
                p.normal_()
        load_from_torch(m, tm)
    x = torch.randn(3, 4, 6, requires_grad=True)
    X = nt(x)
    out, tout = m(X), tm(x)
    close(out, tout)
    backward_both(out, tout)
    close(X.grad, x.grad)
    assert out.data.dtype == np.float32 and X.grad.data.dtype == np.float32
    check_grads(m, tm)


# --- MultiheadAttention ------------------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "bool", "float", "3d", "kpm_only"])
@pytest.mark.parametrize("average", [True, False])
def test_mha_self_attention_matches_torch(batch_first, masks, average):
    torch.manual_seed(0)
    E, h, L, N = 8, 2, 5, 3
    tm = torch.nn.MultiheadAttention(E, h, batch_first=batch_first)
    m = MultiheadAttention(E, h, batch_first=batch_first)
    load_from_torch(m, tm)
    x = torch.randn((N, L, E) if batch_first else (L, N, E), requires_grad=True)
    X = nt(x)
    kpm = am = None
    if masks in ("bool", "kpm_only", "3d"):
        kpm = torch.zeros(N, L, dtype=torch.bool)
        kpm[1, -2:] = True
    if masks == "bool":
        am = torch.rand(L, L) > 0.6
        am.fill_diagonal_(False)
    elif masks == "float":
        am = torch.randn(L, L)
        kpm = torch.zeros(N, L)
        kpm[2, 0] = -math.inf
    elif masks == "3d":
        am = torch.rand(N * h, L, L) > 0.6
        am[:, :, 0] = False
    out, w = m(X, X, X, key_padding_mask=mask_t(kpm), attn_mask=mask_t(am),
               average_attn_weights=average)
    tout, tw = tm(x, x, x, key_padding_mask=kpm, attn_mask=am, average_attn_weights=average)
    close(out, tout, what="output")
    close(w, tw, what="weights")
    (tout.sum() + (tw * tw).sum()).backward()
    (out.sum() + (w * w).sum()).backward()
    close(X.grad, x.grad, what="input grad")
    check_grads(m, tm)


@pytest.mark.parametrize("kdim", [None, 6])
def test_mha_cross_attention_and_no_weights(kdim):
    torch.manual_seed(0)
    E, h, L, S, N = 8, 4, 4, 6, 2
    tm = torch.nn.MultiheadAttention(E, h, kdim=kdim, vdim=kdim, batch_first=True)
    m = MultiheadAttention(E, h, kdim=kdim, vdim=kdim, batch_first=True)
    load_from_torch(m, tm)
    kd = kdim or E
    q = torch.randn(N, L, E, requires_grad=True)
    k = torch.randn(N, S, kd, requires_grad=True)
    v = torch.randn(N, S, kd, requires_grad=True)
    Q, K, V = nt(q), nt(k), nt(v)
    out, w = m(Q, K, V, need_weights=False)
    tout, _ = tm(q, k, v, need_weights=False)
    assert w is None
    close(out, tout)
    backward_both(out, tout)
    for a, b in ((Q, q), (K, k), (V, v)):
        close(a.grad, b.grad)
    check_grads(m, tm)


def test_mha_unbatched_and_gradcheck():
    torch.manual_seed(0)
    tm, m = torch.nn.MultiheadAttention(4, 2), MultiheadAttention(4, 2)
    load_from_torch(m, tm)
    x = torch.randn(3, 4)
    out, w = m(nt(x), nt(x), nt(x))
    tout, tw = tm(x, x, x)
    close(out, tout)
    close(w, tw)
    m.double()
    X = nerve.tensor(np.random.default_rng(0).standard_normal((3, 2, 4)), requires_grad=True)
    kpm = nerve.tensor(np.array([[False, False, True], [False, False, False]]))
    assert gradcheck(lambda x: m(x, x, x, key_padding_mask=kpm)[0], [X])


def test_mha_errors():
    m = MultiheadAttention(8, 2, batch_first=True)
    x = nerve.zeros(2, 5, 8)
    with pytest.raises(RuntimeError, match=r"attn_mask should have shape \(5, 5\).*\(5, 4\)"):
        m(x, x, x, attn_mask=nerve.zeros(5, 4, dtype=nerve.bool))
    with pytest.raises(RuntimeError, match=r"key_padding_mask should have shape \(2, 5\).*"
                                           r"\(5, 2\)"):
        m(x, x, x, key_padding_mask=nerve.zeros(5, 2, dtype=nerve.bool))
    with pytest.raises(RuntimeError, match=r"\(4, 5, 5\).*\(2, 5, 5\)"):
        m(x, x, x, attn_mask=nerve.zeros(2, 5, 5, dtype=nerve.bool))
    with pytest.raises(RuntimeError, match=r"embed_dim=8.*feature size 8.*\(2, 5, 7\)"):
        m(nerve.zeros(2, 5, 7), x, x)
    with pytest.raises(ValueError, match="divisible"):
        MultiheadAttention(10, 3)


# --- Transformer layers --------------------------------------------------------------------------

@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=32, dropout=0.0, activation=activation, batch_first=batch_first,
              norm_first=norm_first)
    tl, layer = torch.nn.TransformerEncoderLayer(16, 4, **kw), TransformerEncoderLayer(16, 4, **kw)
    load_from_torch(layer, tl)
    x = torch.randn((3, 7, 16) if batch_first else (7, 3, 16), requires_grad=True)
    X = nt(x)
    kpm = torch.zeros(3, 7, dtype=torch.bool)
    kpm[0, 5:] = True
    causal = torch.ones(7, 7, dtype=torch.bool).triu(1)  # True = may not attend
    out = layer(X, src_mask=mask_t(causal), src_key_padding_mask=mask_t(kpm))
    tout = tl(x, src_mask=causal, src_key_padding_mask=kpm)
    close(out, tout, what="output")
    backward_both(out, tout)
    close(X.grad, x.grad, what="input grad")
    check_grads(layer, tl)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(norm_first, activation):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=32, dropout=0.0, activation=activation, norm_first=norm_first)
    tl, layer = torch.nn.TransformerDecoderLayer(16, 4, **kw), TransformerDecoderLayer(16, 4, **kw)
    load_from_torch(layer, tl)
    t = torch.randn(6, 3, 16, requires_grad=True)
    mem = torch.randn(7, 3, 16, requires_grad=True)
    T_, M = nt(t), nt(mem)
    mkpm = torch.zeros(3, 7, dtype=torch.bool)
    mkpm[1, 4:] = True
    causal = torch.nn.Transformer.generate_square_subsequent_mask(6)
    out = layer(T_, M, tgt_mask=mask_t(causal), memory_key_padding_mask=mask_t(mkpm))
    tout = tl(t, mem, tgt_mask=causal, memory_key_padding_mask=mkpm)
    close(out, tout, what="output")
    backward_both(out, tout)
    close(T_.grad, t.grad, what="tgt grad")
    close(M.grad, mem.grad, what="memory grad")
    check_grads(layer, tl)


def test_stacks_and_full_transformer_match_torch():
    torch.manual_seed(0)
    tt = torch.nn.Transformer(16, 2, 2, 2, 24, dropout=0.0, batch_first=True)
    t = Transformer(16, 2, 2, 2, 24, dropout=0.0, batch_first=True)
    assert sorted(t.state_dict()) == sorted(tt.state_dict())
    load_from_torch(t, tt)
    src = torch.randn(2, 5, 16, requires_grad=True)
    tgt = torch.randn(2, 4, 16, requires_grad=True)
    S, Tg = nt(src), nt(tgt)
    cm = tt.generate_square_subsequent_mask(4)
    out = t(S, Tg, tgt_mask=mask_t(cm))
    tout = tt(src, tgt, tgt_mask=cm)
    close(out, tout, what="output")
    backward_both(out, tout)
    close(S.grad, src.grad, what="src grad")
    close(Tg.grad, tgt.grad, what="tgt grad")
    check_grads(t, tt)


def test_encoder_deep_copies_and_causal_flag():
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    enc = TransformerEncoder(layer, 3, norm=LayerNorm(8))
    ws = [lyr.linear1.weight for lyr in enc.layers]
    assert len({id(w) for w in ws}) == 3 and all(w is not layer.linear1.weight for w in ws)
    np.testing.assert_array_equal(ws[0].numpy(), ws[2].numpy())
    x = nerve.randn(5, 2, 8)
    a = enc(x, is_causal=True)
    b = enc(x, mask=generate_square_subsequent_mask(5))
    close(a, b.numpy(), 0, 0)
    dec = TransformerDecoder(TransformerDecoderLayer(8, 2, 16, dropout=0.0), 2)
    assert dec(x, x).shape == (5, 2, 8)


def test_layer_errors():
    layer = TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(RuntimeError, match=r"TransformerEncoderLayer.*d_model = 8.*\(2, 5, 6\)"):
        layer(nerve.zeros(2, 5, 6))
    with pytest.raises(RuntimeError, match="activation"):
        TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(RuntimeError, match=r"attn_mask should have shape \(5, 5\).*\(4, 4\)"):
        layer(nerve.zeros(2, 5, 8), src_mask=generate_square_subsequent_mask(4))


# --- positional encodings --------------------------------------------------------------------

def test_sinusoidal_positional_encoding():
    pe = PositionalEncoding(6, max_len=10, dropout=0.0, batch_first=True)
    x = nerve.zeros(2, 4, 6)
    out = pe(x).numpy()
    pos, i = 3, 1  # PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)
    assert out[1, pos, 2 * i] == pytest.approx(math.sin(pos / 10000 ** (2 * i / 6)), abs=1e-6)
    assert out[0, pos, 2 * i + 1] == pytest.approx(math.cos(pos / 10000 ** (2 * i / 6)),
                                                   abs=1e-6)
    assert out.dtype == np.float32 and "pe" not in pe.state_dict()
    seq_first = PositionalEncoding(6, max_len=10, dropout=0.0)(nerve.zeros(4, 2, 6)).numpy()
    np.testing.assert_array_equal(seq_first.transpose(1, 0, 2), out)
    with pytest.raises(RuntimeError, match="sequence length 11 exceeds max_len=10"):
        pe(nerve.zeros(1, 11, 6))
    odd = PositionalEncoding(5, max_len=4, dropout=0.0)(nerve.zeros(4, 1, 5))
    assert odd.shape == (4, 1, 5)


def test_learned_positional_encoding():
    pe = LearnedPositionalEncoding(10, 6, batch_first=True)
    x = nerve.randn(2, 4, 6, requires_grad=True)
    out = pe(x)
    np.testing.assert_allclose(out.numpy() - x.numpy(), np.broadcast_to(pe.weight.numpy()[:4],
                                                                         (2, 4, 6)), atol=1e-6)
    out.sum().backward()
    np.testing.assert_array_equal(pe.weight.grad.numpy()[:4], 2.0)
    np.testing.assert_array_equal(pe.weight.grad.numpy()[4:], 0.0)
    assert list(pe.state_dict()) == ["weight"]


def test_layernorm_inference_path_and_gradcheck_of_layers():
    ln = LayerNorm(6)
    x = nerve.randn(3, 6)
    with nerve.no_grad():
        a = ln(x)
    np.testing.assert_allclose(a.numpy(), ln(x).numpy(), rtol=1e-6, atol=1e-7)
    for norm_first in (False, True):
        layer = TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu",
                                        norm_first=norm_first).double()
        x = nerve.tensor(np.random.default_rng(0).standard_normal((3, 2, 4)), requires_grad=True)
        assert gradcheck(lambda x, layer=layer: layer(x, is_causal=True), [x])
    dec = TransformerDecoderLayer(4, 2, 6, dropout=0.0).double()
    mem = nerve.tensor(np.random.default_rng(1).standard_normal((2, 2, 4)), requires_grad=True)
    assert gradcheck(lambda x, m: dec(x, m), [x, mem])
