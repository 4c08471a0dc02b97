"""Every seed program runs on nerve with only its imports changed (smoke runs).

Full acceptance runs (real epochs, accuracy figures) are marked slow; their figures are
recorded in docs/seed_programs.md.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SEEDS = HERE.parents[1].parent / "shared" / "seed_programs"
DATA = HERE.parents[1].parent / "shared" / "data"

pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seed_programs not found")


def run_seed(name: str, tmp_path, smoke: bool = True, timeout: int = 300, env_extra=None,
             source: str | None = None):
    env = dict(os.environ, NERVE_DATA=str(DATA), MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    if smoke:
        env["NERVE_SMOKE"] = "1"
    env.update(env_extra or {})
    prog = SEEDS / name
    if source is not None:
        prog = tmp_path / name
        prog.write_text(source)
    proc = subprocess.run([sys.executable, str(HERE / "run_seed.py"), str(prog)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=timeout)
    return proc


def test_rewrite_rule():
    sys.path.insert(0, str(HERE))
    from run_seed import rewrite_imports

    src = ("import torch\nimport torch.nn as nn\nimport torchvision\n"
           "from tensorflow.keras.layers import Dense\nimport tensorflow as tf\n"
           "x = torch.tensor([1])  # import torch stays\n")
    out = rewrite_imports(src).splitlines()
    assert out == ["import nerve as torch", "import nerve.nn as nn",
                   "import nerve.vision as torchvision", "from nerve.keras.layers import Dense",
                   "import nerve as tf", "x = torch.tensor([1])  # import torch stays"]


def test_keras_fnn_summary(tmp_path):
    p = run_seed("keras_fnn_summary.py", tmp_path)
    assert p.returncode == 0, p.stderr
    for s in ("704", "4,160", "65", "Total params: 4,929"):
        assert s in p.stdout


def test_keras_lstm_timeseries_summary(tmp_path):
    p = run_seed("keras_lstm_timeseries.py", tmp_path)
    assert p.returncode == 0, p.stderr
    assert "10,400" in p.stdout and "51" in p.stdout and "Total params: 10,451" in p.stdout


def test_keras_simple_rnn_hello(tmp_path):
    p = run_seed("keras_simple_rnn_hello.py", tmp_path, smoke=False)
    assert p.returncode == 0, p.stderr
    last = p.stdout.strip().splitlines()[-1]
    assert len(last) == 11 and last.startswith("h")
    losses = [float(line.split("loss: ")[1].split()[0]) for line in p.stdout.splitlines()
              if "loss: " in line]
    assert len(losses) == 100 and losses[-1] < losses[0]


@pytest.mark.parametrize("name", ["keras_mnist_cnn_adam.py", "keras_mnist_cnn_b200.py",
                                  "keras_mnist_cnn_adadelta.py"])
def test_keras_mnist_cnns_smoke(name, tmp_path):
    p = run_seed(name, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "Test accuracy" in p.stdout or "Test loss" in p.stdout


def test_keras_gan_smoke(tmp_path):
    p = run_seed("keras_gan_mnist.py", tmp_path)
    assert p.returncode == 0, p.stderr
    assert "[D loss:" in p.stdout and "nan" not in p.stdout.lower()


def test_torch_rating_predictor(tmp_path):
    p = run_seed("torch_rating_predictor.py", tmp_path, smoke=False)
    assert p.returncode == 0, p.stderr
    assert "Loss:" in p.stdout and "Predicted rating of user 0 for item 2:" in p.stdout
    loss = float(p.stdout.split("Loss: ")[1].split()[0])
    assert loss == loss  # finite


def test_torch_cnn_3conv_28x28_fails_clearly(tmp_path):
    p = run_seed("torch_cnn_3conv.py", tmp_path)
    assert p.returncode != 0
    err = p.stderr.strip().splitlines()[-1]
    assert "36" in err and "64" in err, err


def test_torch_cnn_3conv_trains_on_32x32(tmp_path):
    src = (SEEDS / "torch_cnn_3conv.py").read_text()
    src = src.replace("transform=torchvision.transforms.ToTensor()",
                      "transform=torchvision.transforms.Compose([torchvision.transforms.Pad(2), "
                      "torchvision.transforms.ToTensor()])")
    p = run_seed("torch_cnn_3conv.py", tmp_path, source=src, env_extra={"SEED_MAX_LOOP": "2"})
    assert p.returncode == 0, p.stderr
    losses = [float(line.split("Loss: ")[1]) for line in p.stdout.splitlines() if "Loss:" in line]
    assert len(losses) == 2 and all(x == x for x in losses)
