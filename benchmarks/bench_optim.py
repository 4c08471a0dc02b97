"""One Adam step on the MLP 784-512-512-10 parameter set (669,706 params), float32:
nerve.optim.Adam vs torch.optim.Adam(fused=True) and (foreach=True). Median of 200 steps,
rounds interleaved so machine noise hits all three alike."""
import time
import numpy as np
import torch
import nerve

shapes = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]
rng = np.random.default_rng(0)
init = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in shapes]
grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in shapes]

def make(kind):
    if kind == "nerve":
        ps = [nerve.tensor(a.copy(), requires_grad=True) for a in init]
        for p, g in zip(ps, grads): p.grad = nerve.tensor(g)
        return nerve.optim.Adam(ps, lr=1e-3).step
    ps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    for p, g in zip(ps, grads): p.grad = torch.tensor(g)
    return torch.optim.Adam(ps, lr=1e-3, **{kind: True}).step

def med(step, n=200):
    for _ in range(10): step()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3

import sys
if len(sys.argv) > 1: torch.set_num_threads(int(sys.argv[1]))
kinds = ["nerve", "fused", "foreach"]
res = {k: [] for k in kinds}
for _ in range(5):
    for k in kinds:
        res[k].append(med(make(k)))
print(f"torch threads {torch.get_num_threads()}, params {sum(a.size for a in init)}")
for k in kinds:
    r = res[k]
    print(f"{k:8s} median-of-rounds {np.median(r):.3f} ms  best round {min(r):.3f} ms  rounds {[round(x,3) for x in r]}")
print(f"nerve / fused   = {np.median(res['nerve'])/np.median(res['fused']):.2f}x")
print(f"nerve / foreach = {np.median(res['nerve'])/np.median(res['foreach']):.2f}x")
