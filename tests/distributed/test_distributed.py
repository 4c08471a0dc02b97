"""nerve.distributed: MPI jobs launched with ``mpiexec -n 2`` from the test, plus in-process
checks of the parts that need no MPI (sampler sharding, inert mode).

The MPI tests need mpi4py and an ``mpiexec`` (``pip install -e '.[mpi]'`` brings both,
through the ``mpich`` wheel); they are skipped, with the reason, when either is missing.
Each job runs its ranks single-threaded (2 processes on the 2 cores of the test machine).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nerve
import nerve.distributed as dist
from nerve.data import DataLoader, TensorDataset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
_LAUNCH_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK",
                "MV2_COMM_WORLD_SIZE", "PMI_FD", "NERVE_DISTRIBUTED")


def _mpiexec() -> str | None:
    local = Path(sys.executable).parent / "mpiexec"  # the mpich wheel installs it here
    if local.exists():
        return str(local)
    return shutil.which("mpiexec") or shutil.which("mpirun")


MPIEXEC = _mpiexec()
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    not (HAVE_MPI4PY and MPIEXEC),
    reason="needs mpi4py and mpiexec: pip install -e '.[mpi]' (mpi4py + the mpich wheel)")


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCH_VARS}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONUNBUFFERED="1")
    return env


def run(args: list[str], timeout: float = 60, **env) -> tuple[int, str, float]:
    """Run a command in its own process group; kill the whole group on timeout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env={**_env(), **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(args)} did not finish within {timeout} s; output:\n{out}")
    return proc.returncode, out, time.perf_counter() - t0


def mpirun(script: str, *args: str, n: int = 2, timeout: float = 60) -> tuple[int, str, float]:
    return run([MPIEXEC, "-n", str(n), sys.executable, str(HERE / script), *args], timeout)


def expect_ok(rc: int, out: str, lines: list[str]) -> None:
    assert rc == 0, f"job failed (exit {rc}):\n{out}"
    for line in lines:
        assert f"OK {line}" in out, f"missing 'OK {line}' in:\n{out}"


# --- MPI jobs ------------------------------------------------------------------------------

@needs_mpi
def test_ddp_equivalence_mlp_and_cnn_with_batchnorm():
    """2 ranks x batch B == 1 process x batch 2B (float64 rtol 1e-10, float32 1e-5)."""
    rc, out, _ = mpirun("mpi_ddp_equivalence.py")
    expect_ok(rc, out, ["mlp float64", "mlp float32", "cnn_bn float64", "cnn_bn float32"])


@needs_mpi
def test_collectives_buckets_and_ddp_plumbing():
    rc, out, _ = mpirun("mpi_collectives.py")
    expect_ok(rc, out, ["collectives", "buckets", "ddp_plumbing", "local_bn", "sync_batchnorm"])


@needs_mpi
def test_keras_fit_data_parallel(tmp_path):
    rc, out, _ = mpirun("mpi_keras_fit.py", str(tmp_path))
    expect_ok(rc, out, ["keras_fit", "keras_bn_consistent"])
    assert out.count("Epoch 1/2") == 1, f"progress must print on rank 0 only:\n{out}"


@needs_mpi
@pytest.mark.parametrize("where", ["main", "thread"])
def test_a_failing_rank_aborts_the_job(where):
    rc, out, secs = mpirun("mpi_abort.py", where, timeout=45)
    assert rc != 0, out
    assert "rank 1 failed on purpose: bad batch shape (3, 5)" in out
    assert "rank 1 of 2 raised ValueError" in out
    assert "did not work" not in out
    assert secs < 30, f"the abort took {secs:.1f} s"


@needs_mpi
def test_mnist_example_smoke():
    data = Path(os.environ.get("NERVE_DATA", ROOT.parent / "shared" / "data"))
    if not (data / "mnist").is_dir():
        pytest.skip(f"no MNIST under {data}")
    rc, out, _ = run([MPIEXEC, "-n", "2", sys.executable,
                      str(ROOT / "examples" / "mnist_distributed.py"), "--smoke"], timeout=90,
                     NERVE_DATA=str(data))
    assert rc == 0, out
    assert "ranks: 2" in out and out.count("epoch 1") == 1, out


# --- without MPI ---------------------------------------------------------------------------

@pytest.mark.parametrize("block", [False, True])
def test_inert_without_launcher(block):
    """No launcher: world of one, identity collectives, mpi4py never imported (even when
    it is not installed)."""
    rc, out, _ = run([sys.executable, str(HERE / "inert_check.py")] + (["block"] if block
                                                                        else []))
    assert rc == 0 and "OK inert" in out, out


def test_launched_but_no_mpi4py_is_a_clear_error():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "try:\n    import nerve.distributed as d\n    d.rank()\n"
            "except ImportError as e:\n    print('ERR', e)\n")
    env = _env()
    env["PMI_RANK"], env["PMI_SIZE"] = "0", "2"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert "ERR" in proc.stdout and "pip install 'nerve[mpi]'" in proc.stdout, proc
    env["PMI_SIZE"] = "1"  # a launched job of one (plain `srun -n 1`) needs no MPI
    code1 = code.replace("d.rank()", "assert d.world_size() == 1; print('ALONE')")
    proc = subprocess.run([sys.executable, "-c", code1], env=env, capture_output=True,
                          text=True, timeout=60)
    assert "ALONE" in proc.stdout, proc


def test_launch_detection(monkeypatch):
    for v in _LAUNCH_VARS:
        monkeypatch.delenv(v, raising=False)
    assert not dist.launched()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert dist.launched()
    monkeypatch.setenv("NERVE_DISTRIBUTED", "0")
    assert not dist.launched()
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    monkeypatch.setenv("NERVE_DISTRIBUTED", "1")
    assert dist.launched()


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (12, 4, False),
                                                  (5, 2, False), (2, 4, False)])
def test_sampler_shards_are_disjoint_equal_and_cover(n, replicas, drop_last):
    ds = TensorDataset(nerve.arange(n))
    shards = [list(dist.DistributedSampler(ds, replicas, r, seed=1, drop_last=drop_last))
              for r in range(replicas)]
    sizes = {len(s) for s in shards}
    assert len(sizes) == 1
    size = sizes.pop()
    assert size == (n // replicas if drop_last else -(-n // replicas))
    flat = [i for s in shards for i in s]
    assert all(0 <= i < n for i in flat)
    if drop_last:
        assert len(set(flat)) == len(flat)                      # disjoint
    else:
        assert set(flat) == set(range(n))                       # every sample seen
        if n % replicas == 0:
            assert len(set(flat)) == len(flat)                  # padding only when needed
        else:  # padding repeats indices from the start of the permuted list
            assert len(flat) - len(set(flat)) == replicas * size - n


def test_sampler_epochs_reshuffle_deterministically():
    ds = TensorDataset(nerve.arange(20))
    s0 = dist.DistributedSampler(ds, 2, 0, seed=7)
    s1 = dist.DistributedSampler(ds, 2, 1, seed=7)
    e0 = (list(s0), list(s1))
    assert sorted(e0[0] + e0[1]) == list(range(20))
    s0.set_epoch(1)
    s1.set_epoch(1)
    e1 = (list(s0), list(s1))
    assert e1 != e0 and sorted(e1[0] + e1[1]) == list(range(20))
    s0.set_epoch(0)
    assert list(s0) == e0[0]                                    # same epoch, same order
    assert list(dist.DistributedSampler(ds, 2, 0, seed=8)) != e0[0]
    plain = dist.DistributedSampler(ds, 2, 1, shuffle=False)
    assert list(plain) == list(range(1, 20, 2))


def test_sampler_with_dataloader_batches():
    ds = TensorDataset(nerve.arange(11), nerve.arange(11) * 10)
    seen = []
    for r in range(2):
        loader = DataLoader(ds, batch_size=4, sampler=dist.DistributedSampler(ds, 2, r, seed=0))
        batches = list(loader)
        assert [len(b[0]) for b in batches] == [4, 2]
        for x, y in batches:
            np.testing.assert_array_equal(y.numpy(), x.numpy() * 10)
            seen.extend(x.numpy().tolist())
    assert set(seen) == set(range(11)) and len(seen) == 12


def test_sampler_rejects_bad_arguments():
    ds = TensorDataset(nerve.arange(4))
    with pytest.raises(ValueError, match="rank"):
        dist.DistributedSampler(ds, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        dist.DistributedSampler(ds, num_replicas=0, rank=0)
