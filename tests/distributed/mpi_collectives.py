"""Run under ``mpiexec -n 2``: collectives, buckets and the DDP/optimizer plumbing.

Prints ``OK <check>`` per check on rank 0; any failure raises (and aborts the job).
"""
from __future__ import annotations

import warnings

import numpy as np

import nerve
import nerve.distributed as dist
import nerve.nn.functional as F
from nerve import nn


def ok(name: str) -> None:
    dist.barrier()
    if dist.is_main():
        print(f"OK {name}", flush=True)


def check_collectives(r: int, n: int) -> None:
    for dt in (np.float32, np.float64, np.int64, np.int32):
        t = nerve.from_numpy(np.arange(6, dtype=dt).reshape(2, 3) * (r + 1))
        out = dist.all_reduce(t, "sum")
        assert out is t and t.dtype == nerve.from_numpy(np.zeros(1, dt)).dtype
        np.testing.assert_array_equal(t.numpy(), np.arange(6).reshape(2, 3) * 3)
    t = nerve.tensor([1.0, 4.0]) * (r + 1)           # a fresh non-leaf result
    dist.all_reduce(t, dist.ReduceOp.MEAN)
    np.testing.assert_allclose(t.numpy(), [1.5, 6.0])
    assert t.dtype == nerve.float32
    m = dist.all_reduce(nerve.tensor([float(r), -float(r)]), "max")
    np.testing.assert_array_equal(m.numpy(), [1.0, 0.0])
    # non-contiguous: reduced into the same tensor
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    v = nerve.from_numpy(base[:, ::2])
    dist.all_reduce(v, "sum")
    np.testing.assert_array_equal(v.numpy(), 2 * np.arange(12, dtype=np.float32).reshape(3, 4)
                                  [:, ::2])
    # float16 and bool go through a wider type
    h = nerve.from_numpy(np.array([0.5, 1.5], dtype=np.float16))
    dist.all_reduce(h, "sum")
    assert h.numpy().dtype == np.float16 and h.numpy().tolist() == [1.0, 3.0]
    b = nerve.from_numpy(np.array([r == 0, True]))
    dist.all_reduce(b, "min")
    assert b.numpy().tolist() == [False, True]
    # python objects
    assert dist.all_reduce(r + 1) == 3
    assert dist.all_reduce({"a": float(r), "b": 2.0}, "mean") == {"a": 0.5, "b": 2.0}
    assert dist.all_reduce([1, 2], "sum") == [2, 4]
    assert dist.broadcast({"from": r}, src=1) == {"from": 1}
    assert dist.all_gather(f"rank{r}") == ["rank0", "rank1"]
    # broadcast in place
    w = nerve.from_numpy(np.full((2, 2), float(r), dtype=np.float64))
    assert dist.broadcast(w, src=1) is w and w.numpy().tolist() == [[1, 1], [1, 1]]
    # all_gather with different first dims
    parts = dist.all_gather(nerve.ones(r + 1, 3) * (r + 1))
    assert [tuple(p.shape) for p in parts] == [(1, 3), (2, 3)]
    assert parts[1].numpy().sum() == 12 and parts[0].dtype == nerve.float32
    # mismatched shapes are reported, not garbled
    try:
        dist.broadcast(nerve.zeros(2 + r), src=0)
        raised = False
    except ValueError as e:
        raised = True
        assert "shape" in str(e)
    assert raised == (r == 1)
    try:
        dist.all_gather(nerve.zeros(2, 2 + r))
    except ValueError as e:
        assert "first dimension" in str(e)
    else:
        raise AssertionError("all_gather accepted mismatched trailing dims")
    try:
        dist.all_reduce(nerve.zeros(2), "median")
    except ValueError as e:
        assert "median" in str(e)
    ok("collectives")


def check_buckets(r: int, n: int) -> None:
    bk = dist.Bucketer(cap_bytes=64)  # tiny buckets: several calls
    metas = [((3, 4), np.float32), ((5,), np.float32), ((2,), np.float64), ((40,), np.float32),
             ((1,), np.float32)]
    arrays = [np.full(s, r + 1, dtype=d) for s, d in metas]
    arrays[4] = None                          # absent everywhere -> None
    if r == 1:
        arrays[1] = None                      # absent on rank 1 only -> zeros there
    out = bk.all_reduce_mean(arrays, metas)
    assert bk.num_buckets >= 3, bk.num_buckets
    np.testing.assert_array_equal(out[0], np.full((3, 4), 1.5, np.float32))
    np.testing.assert_array_equal(out[1], np.full((5,), 0.5, np.float32))
    assert out[2].dtype == np.float64 and out[3].shape == (40,) and out[4] is None
    assert out[0].dtype == np.float32
    ok("buckets")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 2)
        self.unused = nn.Linear(2, 2)          # never gets a gradient

    def forward(self, x):
        return self.b(self.a(x).relu())


def check_ddp_plumbing(r: int, n: int) -> None:
    nerve.manual_seed(r)
    model = dist.DistributedDataParallel(Net())
    assert model.module.a.weight.numpy().tobytes() == \
        dist.broadcast(model.module.a.weight.numpy().copy(), 0).tobytes()
    sd = model.state_dict()
    assert "a.weight" in sd and not any(k.startswith("module.") for k in sd)
    plain = Net()
    plain.load_state_dict(sd)
    model.load_state_dict({"module." + k: v for k, v in sd.items()})
    assert any(k.startswith("module.") for k, _ in model.named_parameters())
    opt = dist.DistributedOptimizer(nerve.optim.SGD(model.parameters(), lr=0.1), model)
    assert isinstance(opt, nerve.optim.SGD)
    sched = nerve.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x = nerve.randn(3, 4) + r
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):                     # accumulation under no_sync: no warning
            with model.no_sync():
                F.mse_loss(model(x), nerve.zeros(3, 2)).backward()
        opt.step()
        sched.step()
    assert model.module.unused.weight.grad is None
    g = model.module.a.weight.grad.numpy()
    assert np.array_equal(g, dist.broadcast(g.copy(), src=0))
    # forgetting to average is reported
    opt.zero_grad()
    F.mse_loss(model(x), nerve.zeros(3, 2)).backward()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        model(x)
    assert any("not averaged" in str(w.message) for w in rec), [str(w.message) for w in rec]
    model.sync_gradients()
    # DistributedOptimizer without a model, and with a closure (LBFGS-style)
    net = nn.Linear(3, 1)
    dist.broadcast_module(net)
    o2 = dist.DistributedOptimizer(nerve.optim.SGD(net.parameters(), lr=0.1))
    xs = nerve.randn(5, 3) * (r + 1)

    def closure():
        o2.zero_grad()
        loss = net(xs).pow(2).mean()
        loss.backward()
        return loss

    loss = o2.step(closure)
    lv = float(loss.item())
    assert lv == dist.broadcast(lv, 0)
    w = net.weight.numpy()
    assert np.array_equal(w, dist.broadcast(w.copy(), src=1))
    ok("ddp_plumbing")


def check_local_bn(r: int, n: int) -> None:
    """sync_batchnorm=False: local statistics, running stats averaged at each sync."""
    nerve.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), _bn1d()(4))
    model = dist.DistributedDataParallel(net, sync_batchnorm=False)
    assert type(model.module[1]).__name__ == "BatchNorm1d"
    x = nerve.randn(6, 3) + 3 * r
    model(x).sum().backward()
    model.sync_gradients()
    rm = model.module[1].running_mean.numpy()
    assert np.array_equal(rm, dist.broadcast(rm.copy(), src=1))
    conv = dist.DistributedDataParallel(nn.Sequential(nn.Linear(3, 4), _bn1d()(4)))
    assert isinstance(conv.module[1], dist.SyncBatchNorm)
    conv.eval()
    y_eval = conv(x)                        # eval: running statistics, no communication
    assert y_eval.shape == (6, 4)
    ok("local_bn")


def check_sync_batchnorm(r: int, n: int) -> None:
    """SyncBatchNorm on each rank's rows == BatchNorm1d on all rows (values, dx, dγ, dβ,
    running statistics), float64."""
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3 + k, 4, 2)) * (k + 1) + k for k in range(n)]
    ws = [rng.standard_normal((3 + k, 4, 2)) for k in range(n)]
    ref = _bn1d()(4, momentum=None).double()
    xa = nerve.from_numpy(np.concatenate(xs)).requires_grad_()
    ya = ref(xa)
    (ya * nerve.from_numpy(np.concatenate(ws))).sum().backward()
    sbn = dist.SyncBatchNorm(4, momentum=None).double()
    x = nerve.from_numpy(xs[r].copy()).requires_grad_()
    y = sbn(x)
    (y * nerve.from_numpy(ws[r])).sum().backward()
    lo = sum(len(a) for a in xs[:r])
    sl = slice(lo, lo + len(xs[r]))
    np.testing.assert_allclose(y.numpy(), ya.numpy()[sl], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xa.grad.numpy()[sl], rtol=1e-10, atol=1e-12)
    for p_sync, p_ref in ((sbn.weight, ref.weight), (sbn.bias, ref.bias)):
        total = dist.all_reduce(p_sync.grad.numpy().copy(), "sum")
        np.testing.assert_allclose(total, p_ref.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(sbn, name).numpy(), getattr(ref, name).numpy(),
                                   rtol=1e-12)
    assert int(sbn.num_batches_tracked.numpy()) == 1
    sbn.eval()
    np.testing.assert_allclose(sbn(nerve.from_numpy(xs[0])).numpy(),
                               ref.eval()(nerve.from_numpy(xs[0])).numpy(), rtol=1e-12)
    ok("sync_batchnorm")


def _bn1d():
    return getattr(nn, "BatchNorm1d", None) or __import__(
        "nerve.nn.batchnorm", fromlist=["BatchNorm1d"]).BatchNorm1d


def main() -> None:
    r, n = dist.rank(), dist.world_size()
    assert n == 2 and dist.launched() and dist.is_initialized()
    assert dist.local_rank() == r
    check_collectives(r, n)
    check_buckets(r, n)
    check_ddp_plumbing(r, n)
    check_local_bn(r, n)
    check_sync_batchnorm(r, n)


if __name__ == "__main__":
    main()
