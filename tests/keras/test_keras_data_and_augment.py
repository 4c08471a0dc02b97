"""keras.datasets shapes, augmentation layers (training only), plot_history."""
import os
from pathlib import Path

import numpy as np
import pytest

from nerve.keras import layers
from nerve.keras.callbacks import History
from nerve.keras.utils import plot_history

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture
def nerve_data(monkeypatch):
    if not DATA.is_dir():
        pytest.skip("../shared/data not found")
    monkeypatch.setenv("NERVE_DATA", str(DATA))


def test_keras_mnist_and_imdb_shapes(nerve_data):
    from nerve.keras.datasets import imdb, mnist

    (x, y), (xt, yt) = mnist.load_data()
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8 and y.shape == (60000,)
    assert xt.shape == (10000, 28, 28)
    (a, b), (c, d) = imdb.load_data(num_words=5000)
    assert len(a) == 25000 and len(c) == 25000 and set(np.unique(b)) == {0, 1}
    assert max(max(s) for s in a[:100]) < 5000 and a[0][0] == 1  # start_char


@pytest.mark.parametrize("layer", [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                                   layers.RandomZoom(0.2), layers.RandomTranslation(0.1, 0.1)])
def test_augmentation_only_in_training(layer):
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), x)  # inference: identity
    out = layer(x, training=True).numpy()
    assert out.shape == x.shape and out.dtype == np.float32
    assert not np.array_equal(out, x) or isinstance(layer, layers.RandomFlip)


def test_plot_history(tmp_path):
    os.environ.setdefault("MPLBACKEND", "Agg")
    h = History()
    for e, (loss, val) in enumerate([(1.0, 1.1), (0.5, 0.7)]):
        h.on_epoch_end(e, {"loss": loss, "val_loss": val, "accuracy": 0.5 + e / 4})
    path = tmp_path / "h.png"
    plot_history(h, str(path))
    assert path.stat().st_size > 1000
