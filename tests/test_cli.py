"""The `nerve` command: demo reaches >= 0.9 on the embedded digits; info prints the backend."""
import subprocess
import sys

from nerve import cli


def test_demo_accuracy():
    acc = cli.demo(quiet=True)
    assert acc >= 0.9


def test_embedded_sample_is_real_mnist():
    (xtr, ytr), (xte, yte) = cli.load_demo_digits()
    assert xtr.shape == (5000, 28, 28) and xtr.dtype.name == "uint8"
    assert ytr[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert yte[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_info_command():
    out = subprocess.run([sys.executable, "-m", "nerve.cli", "info"], capture_output=True,
                         text=True, check=True).stdout
    assert "nerve 0." in out and "BLAS" in out and "threads" in out
