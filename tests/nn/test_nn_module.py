"""Module, Parameter, containers, state_dict, hooks and printouts (PyTorch semantics)."""
import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch
from nn_testutil import close, copy_weights, nn_seed, randn, to_torch  # noqa: F401

import nerve
import nerve.nn
import nerve.nn.functional as F
from nerve import nn

# --- Parameter ----------------------------------------------------------------------------


def test_parameter_basics():
    arr = np.ones((2, 3), np.float32)
    p = nn.Parameter(arr)
    assert isinstance(p, nerve.Tensor) and p.requires_grad and p.is_leaf
    assert p.data is arr  # shares memory
    t = nerve.randn(3)
    assert nn.Parameter(t).data is t.data
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert nn.Parameter([1.0, 2.0]).dtype == nerve.float32
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert "requires_grad=True" in repr(p)
    y = (p * 2 + nerve.ones(2, 3)) @ nerve.ones(3, 1)  # usable by every op
    assert type(y) is nerve.Tensor
    y.sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), 2 * np.ones((2, 3)))
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.data is not p.data and q.requires_grad
    np.testing.assert_array_equal(q.grad.numpy(), p.grad.numpy())
    with pytest.raises(RuntimeError, match="floating-point"):
        nn.Parameter(nerve.tensor([1, 2]))


# --- registration and traversal -----------------------------------------------------------


def _classes(lib):
    """The same two-level model written against nerve.nn or torch.nn."""
    tlib = nerve if lib is nn else torch

    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.Linear(3, 4)
            self.act = lib.ReLU()
            self.register_buffer("running", tlib.zeros(4))
            self.register_buffer("scratch", tlib.ones(2), persistent=False)

        def forward(self, x):
            return self.act(self.fc(x)) + self.running

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.heads = lib.ModuleList([lib.Linear(4, 2), lib.Linear(4, 2)])
            self.scale = lib.Parameter(tlib.ones(2))

        def forward(self, x):
            h = self.block(x)
            return (self.heads[0](h) + self.heads[1](h)) * self.scale

    return Block, Net


Block, Net = _classes(nn)
TorchBlock, TorchNet = _classes(torch.nn)


def test_names_match_torch_for_nested_modules():
    n, t = Net(), TorchNet()
    for attr in ("named_parameters", "named_buffers", "named_modules", "named_children"):
        assert [k for k, _ in getattr(n, attr)()] == [k for k, _ in getattr(t, attr)()], attr
    assert list(n.state_dict()) == list(t.state_dict())
    assert [k for k, _ in n.named_parameters(prefix="m", recurse=True)] == \
        [k for k, _ in t.named_parameters(prefix="m")]
    assert [k for k, _ in n.named_parameters(recurse=False)] == ["scale"]
    assert len(list(n.parameters())) == 7 and len(list(n.buffers())) == 2
    assert len(list(n.children())) == 2 and len(list(n.modules())) == 7
    assert repr(n) == repr(t)
    copy_weights(n, t)
    x = randn(5, 3)
    close(n(nerve.tensor(x)), t(to_torch(x)))


def test_attribute_protocol():
    m = Block()
    assert isinstance(m.fc, nn.Linear) and m.running.shape == (4,)
    assert "fc" in dir(m) and "running" in dir(m) and "weight" in dir(m.fc)
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'nope'"):
        _ = m.nope
    with pytest.raises(TypeError, match="cannot assign"):
        m.fc.weight = nerve.randn(4, 3)  # a plain tensor where a Parameter is registered
    m.fc.bias = None
    assert [k for k, _ in m.fc.named_parameters()] == ["weight"]
    assert "fc.bias" not in m.state_dict()
    m.fc.bias = nn.Parameter(nerve.zeros(4))
    m.running = nerve.ones(4)  # reassigning a buffer keeps it a buffer
    assert "running" in dict(m.named_buffers())
    m.extra = nn.Buffer(nerve.zeros(1), persistent=False)
    assert "extra" in dict(m.named_buffers()) and "extra" not in m.state_dict()
    del m.act
    assert "act" not in dict(m.named_children())
    m.act = nn.Tanh()
    assert list(dict(m.named_children())) == ["fc", "act"]
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("fc", nerve.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="not a Module subclass"):
        m.add_module("x", 3)


def test_module_init_errors_and_missing_forward():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(nerve.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)


def test_shared_parameters_are_listed_once():
    a = nn.Linear(3, 3)
    m = nn.Sequential(a, nn.ReLU(), a)
    t = torch.nn.Sequential(*(lambda x: [x, torch.nn.ReLU(), x])(torch.nn.Linear(3, 3)))
    assert [k for k, _ in m.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 4
    assert list(m.state_dict()) == list(t.state_dict())


def test_get_submodule_parameter_buffer():
    n = Net()
    assert n.get_submodule("heads.1") is n.heads[1]
    assert n.get_submodule("") is n
    assert n.get_parameter("block.fc.weight") is n.block.fc.weight
    assert n.get_buffer("block.running") is n.block.running
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        n.get_submodule("block.nope")


def test_train_eval_apply_requires_grad_zero_grad():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.5)))
    assert all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    x = nerve.randn(3, 4)
    np.testing.assert_array_equal(m(x).numpy(), m(x).numpy())  # dropout off
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError, match="boolean"):
        m.train("yes")
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Dropout", "Dropout", "Sequential", "Sequential"]
    m.apply(lambda mod: nn.init.zeros_(mod.weight) if isinstance(mod, nn.Linear) else None)
    assert (m[0].weight.numpy() == 0).all()
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    m.eval()(x).sum().backward()
    g = m[0].bias.grad
    m.zero_grad(set_to_none=False)
    assert (m[0].bias.grad.numpy() == 0).all() and m[0].bias.grad is not g
    assert g.numpy().any()  # the old gradient array was replaced, not zeroed in place
    m.zero_grad()
    assert m[0].bias.grad is None


def test_to_and_casts_in_place():
    m = Block()
    m.register_buffer("count", nerve.tensor(3))
    w = m.fc.weight
    m(nerve.randn(2, 3)).sum().backward()
    assert m.double() is m
    assert m.fc.weight is w and w.dtype == nerve.float64 and w.grad.dtype == nerve.float64
    assert m.running.dtype == nerve.float64 and m.count.dtype == nerve.int64
    assert m(nerve.randn(2, 3, dtype=nerve.float64)).dtype == nerve.float64
    m.to(nerve.float32)
    assert w.dtype == nerve.float32 and m.count.dtype == nerve.int64
    m.to("cpu", dtype=nerve.float64)
    assert w.dtype == nerve.float64
    m.to(nerve.zeros(1))
    assert w.dtype == nerve.float32
    m.float()
    with pytest.raises(TypeError, match="floating point"):
        m.to(nerve.int64)


def test_forward_hooks():
    m = nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    y = m(nerve.randn(4, 3))
    np.testing.assert_allclose(y.numpy(), np.broadcast_to(m.bias.numpy() + 1, (4, 2)),
                               rtol=1e-6)
    assert calls == [(4, 2)]
    h1.remove()
    h2.remove()
    x = nerve.randn(4, 3)
    close(m(x), F.linear(x, m.weight, m.bias).numpy())
    order = []
    m.register_forward_hook(lambda *a: order.append("a"))
    m.register_forward_hook(lambda *a: order.append("b"), prepend=True)
    with m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 2,), kwargs),
                                     with_kwargs=True):
        m(x)
    assert order == ["b", "a"]


# --- state_dict ---------------------------------------------------------------------------


def _mlp(lib):
    return lib.Sequential(lib.Linear(6, 8), lib.ReLU(), lib.Linear(8, 8), lib.Tanh(),
                          lib.Linear(8, 3))


def test_state_dict_roundtrip_and_into_torch():
    m = _mlp(nn)
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert list(sd) == list(_mlp(torch.nn).state_dict())
    v = sd["0.weight"]
    assert type(v) is nerve.Tensor and not v.requires_grad and v.data is m[0].weight.data
    assert m.state_dict(keep_vars=True)["0.weight"] is m[0].weight

    m2 = _mlp(nn)
    ret = m2.load_state_dict(sd)
    assert ret.missing_keys == [] and ret.unexpected_keys == []
    assert repr(ret) == "<All keys matched successfully>"
    assert m2[0].weight.data is not m[0].weight.data  # copied, not aliased
    x = nerve.randn(5, 6)
    np.testing.assert_array_equal(m(x).numpy(), m2(x).numpy())

    t = _mlp(torch.nn)
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sd.items()})
    close(m(x), t(to_torch(x)))

    t2 = _mlp(torch.nn)  # and back: torch tensors load into nerve directly
    m.load_state_dict(t2.state_dict())
    close(m(x), t2(to_torch(x)))
    m.load_state_dict({k: v.numpy() for k, v in sd.items()})  # numpy arrays too


def test_load_state_dict_errors():
    m = _mlp(nn)
    sd = m.state_dict()
    missing = OrderedDict((k, v) for k, v in sd.items() if k != "2.bias")
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(missing)
    assert 'Error(s) in loading state_dict for Sequential' in str(e.value)
    assert 'Missing key(s) in state_dict: "2.bias"' in str(e.value)
    extra = OrderedDict(sd, **{"5.weight": nerve.zeros(1), "foo": nerve.zeros(1)})
    with pytest.raises(RuntimeError,
                       match='Unexpected key\\(s\\) in state_dict: "5.weight", "foo"'):
        m.load_state_dict(extra)
    ret = m.load_state_dict(missing, strict=False)
    assert ret.missing_keys == ["2.bias"] and ret.unexpected_keys == []
    ret = m.load_state_dict(extra, strict=False)
    assert ret.unexpected_keys == ["5.weight", "foo"]
    bad = OrderedDict(sd)
    bad["4.weight"] = nerve.zeros(3, 7)
    for strict in (True, False):  # size mismatches raise even when not strict, like torch
        with pytest.raises(RuntimeError) as e:
            m.load_state_dict(bad, strict=strict)
        assert "size mismatch for 4.weight" in str(e.value)
        assert "[3, 7]" in str(e.value) and "[3, 8]" in str(e.value)
    with pytest.raises(TypeError, match="dict-like"):
        m.load_state_dict([1, 2])
    with pytest.raises(RuntimeError, match='"0.bias".*received'):
        m.load_state_dict(OrderedDict(sd, **{"0.bias": "x"}))
    # torch raises the same kinds of error for the same dicts
    t = _mlp(torch.nn)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "2.bias"'):
        t.load_state_dict({k: to_torch(v) for k, v in missing.items()})


def test_buffers_in_state_dict_and_load():
    b = Block()
    assert list(b.state_dict()) == ["running", "fc.weight", "fc.bias"]
    assert list(b.state_dict()) == list(TorchBlock().state_dict())
    sd = b.state_dict()
    sd = OrderedDict((k, nerve.ones(*v.shape) * 3) for k, v in sd.items())
    b.load_state_dict(sd)
    assert (b.running.numpy() == 3).all() and (b.scratch.numpy() == 1).all()
    b.double()
    b.load_state_dict(sd)  # float32 values cast into float64 parameters
    assert b.fc.weight.dtype == nerve.float64


def test_state_dict_hooks_and_assign():
    m = nn.Linear(2, 2)
    seen = []
    m.register_load_state_dict_post_hook(lambda mod, keys: seen.append(tuple(keys)))
    m.load_state_dict(m.state_dict())
    assert seen == [([], [])]
    new = {"weight": nerve.ones(2, 2), "bias": nerve.zeros(2)}
    m.load_state_dict(new, assign=True)
    assert m.weight.data is new["weight"].data and isinstance(m.weight, nn.Parameter)


# --- containers ---------------------------------------------------------------------------


def test_sequential_container_ops():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    s = nn.Sequential(*layers)
    assert len(s) == 3 and s[0] is layers[0] and s[-1] is layers[2]
    assert list(s) == layers
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub._modules) == ["1", "2"]
    with pytest.raises(IndexError, match="out of range"):
        s[3]
    s.append(nn.Sigmoid())
    s.insert(1, nn.Dropout())
    assert [type(m).__name__ for m in s] == ["Linear", "Dropout", "ReLU", "Linear", "Sigmoid"]
    s.extend([nn.Identity()])
    del s[1]
    assert list(s._modules) == [str(i) for i in range(5)]
    assert [type(m).__name__ for m in s] == ["Linear", "ReLU", "Linear", "Sigmoid", "Identity"]
    s[4] = nn.Tanh()
    assert isinstance(s.pop(4), nn.Tanh) and len(s) == 4
    assert len(s + nn.Sequential(nn.ReLU())) == 5 and len(s * 2) == 8
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.act is named[1]
    assert "0" not in dir(s)


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    ml.append(nn.Tanh())
    ml.extend([nn.Sigmoid()])
    ml.insert(0, nn.Identity())
    ml += [nn.ReLU()]
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "ReLU", "Tanh", "Sigmoid",
                                              "ReLU"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2", "3", "4"] and isinstance(ml[0], nn.Linear)
    assert len(list(ml.parameters())) == 2
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(3)
    md = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md.keys()) == ["b", "a", "c"] and "a" in md and len(md) == 3
    assert isinstance(md.pop("c"), nn.Tanh)
    md.update([("z", nn.Identity())])
    assert list(md) == ["b", "a", "z"]
    assert list(md.state_dict()) == ["b.weight", "b.bias"]


def test_parameter_list_and_dict():
    pl = nn.ParameterList([nn.Parameter(nerve.zeros(2)), nerve.ones(3)])
    assert isinstance(pl[1], nn.Parameter) and pl[1].requires_grad and len(pl) == 2
    pl.append(nerve.ones(1))
    assert [k for k, _ in pl.named_parameters()] == ["0", "1", "2"]
    tpl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2)), torch.ones(3),
                                  torch.ones(1)])
    assert repr(pl).replace("nerve.", "torch.") == repr(tpl)
    with pytest.raises(RuntimeError, match="should not be called"):
        pl(1)
    pd = nn.ParameterDict({"b": nerve.ones(2), "a": nn.Parameter(nerve.zeros(1))})
    assert list(pd) == ["a", "b"]  # plain dicts are sorted, like torch
    pd["c"] = nerve.zeros(3)
    assert isinstance(pd["c"], nn.Parameter) and "c" in pd and len(pd) == 3
    assert [k for k, _ in pd.named_parameters()] == ["a", "b", "c"]
    assert isinstance(pd.pop("c"), nn.Parameter) and len(pd) == 2
    assert pd.get("zz") is None


# --- printouts ----------------------------------------------------------------------------


def test_repr_matches_torch():
    def build(lib):
        return lib.Sequential(
            lib.Linear(784, 512), lib.ReLU(), lib.Dropout(0.2), lib.Linear(512, 10, bias=False),
            lib.Sequential(lib.Flatten(), lib.LeakyReLU(0.1), lib.Softmax(dim=1)),
            lib.ModuleList([lib.Linear(4, 4) for _ in range(3)] + [lib.GELU()]),
            lib.ModuleDict({"act": lib.ELU(), "drop": lib.Dropout(p=0.1, inplace=True)}),
            lib.ModuleList(),
        )

    assert repr(build(nn)) == repr(build(torch.nn))
    assert str(nn.Sequential()) == str(torch.nn.Sequential())


def test_custom_extra_repr():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(1, 1)

        def extra_repr(self):
            return "factor=2\nmode=fast"

    assert repr(Scale()) == ("Scale(\n  factor=2\n  mode=fast\n  (inner): Linear(in_features=1, "
                             "out_features=1, bias=True)\n)")


def test_deepcopy_module():
    m = _mlp(nn)
    c = copy.deepcopy(m)
    assert c[0].weight is not m[0].weight
    np.testing.assert_array_equal(c[0].weight.numpy(), m[0].weight.numpy())
    with nerve.no_grad():
        c[0].weight.fill_(0)
    assert m[0].weight.numpy().any()
    assert isinstance(c[0].weight, nn.Parameter)


def test_end_to_end_training_reduces_loss():
    x = nerve.randn(256, 2)
    y = ((x[:, 0] * x[:, 1]) > 0).long()  # XOR of signs: needs the hidden layer
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(300):
        loss = loss_fn(model(x), y)
        first = loss.item() if first is None else first
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        with nerve.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    assert loss.item() < 0.3 * first
    acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9
