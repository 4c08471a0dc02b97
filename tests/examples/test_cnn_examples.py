"""Smoke runs of the CNN examples (the full MNIST run is an acceptance run: -m slow)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"


def _run(args, tmp_path, env_extra=None, timeout=600):
    env = dict(os.environ, NERVE_DATA=str(DATA), MPLBACKEND="Agg", NERVE_CACHE=str(tmp_path))
    env.update(env_extra or {})
    return subprocess.run([sys.executable] + args, cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason="../shared/data/mnist not found")
def test_mnist_cnn_smoke(tmp_path):
    p = _run([str(ROOT / "examples/mnist_cnn.py"), "--smoke", "--out", str(tmp_path)], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "final test accuracy" in p.stdout
    assert (tmp_path / "mnist_cnn.safetensors").exists()
    assert (tmp_path / "mnist_cnn_confusion.png").exists()


def _fake_cifar(folder: Path) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in names:
        n = 10000  # the parser insists on full batches
        rec = np.empty((n, 3073), np.uint8)
        rec[:, 0] = rng.integers(0, 10, n)
        rec[:, 1:] = rng.integers(0, 256, (n, 3072))
        (folder / name).write_bytes(rec.tobytes())


def test_cifar10_cnn_smoke_on_small_generated_batches(tmp_path):
    _fake_cifar(tmp_path / "cifar10")
    p = _run([str(ROOT / "examples/cifar10_cnn.py"), "--smoke", "--data", str(tmp_path),
              "--no-download", "--no-verify"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "test accuracy" in p.stdout


def test_cifar10_cnn_without_data_says_where_to_put_files(tmp_path):
    p = _run([str(ROOT / "examples/cifar10_cnn.py"), "--no-download", "--data",
              str(tmp_path / "none")], tmp_path, {"NERVE_DATA": str(tmp_path / "none")})
    assert p.returncode == 0
    assert "--data" in p.stdout and "cifar10" in p.stdout


@pytest.mark.slow
def test_mnist_cnn_full_run_reaches_99(tmp_path):
    p = _run([str(ROOT / "examples/mnist_cnn.py"), "--out", str(tmp_path)], tmp_path,
             timeout=5400)
    assert p.returncode == 0, p.stderr
    acc = float(p.stdout.split("final test accuracy ")[1].split()[0])
    assert acc >= 0.99
