"""nerve.plot: curves, confusion matrices and image grids written as real PNG files."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nerve
from nerve import plot

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_shape(path) -> tuple:
    from matplotlib.image import imread

    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    return imread(path).shape


def test_plot_curves_dict_groups_loss_and_val(tmp_path):
    hist = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7],
            "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.4, 0.6, 0.7]}
    path = plot.plot_curves(hist, tmp_path / "sub" / "curves.png", title="fit")
    h, w, _ = _png_shape(path)
    assert w > h > 100                              # two panels side by side


def test_plot_curves_list_history_object_pairs_and_smoothing(tmp_path):
    plot.plot_curves([3.0, 2.0, 1.5], tmp_path / "a.png")
    plot.plot_curves(nerve.tensor([3.0, 2.0, 1.0]), tmp_path / "b.png")

    class History:                                  # Keras's fit() return value
        history = {"loss": [0.9, 0.5]}

    plot.plot_curves(History(), tmp_path / "c.png")
    steps = np.arange(0, 500, 5)
    noisy = {"D loss": (steps, np.random.default_rng(0).random(100)),
             "G loss": list(np.random.default_rng(1).random(100))}
    plot.plot_curves(noisy, tmp_path / "d.png", xlabel="step", groups=[["D loss", "G loss"]],
                     smooth=10, logy=True)
    for name in "abcd":
        assert _png_shape(tmp_path / f"{name}.png")[0] > 100


def test_plot_curves_errors(tmp_path):
    with pytest.raises(KeyError, match="nope"):
        plot.plot_curves({"loss": [1, 2]}, tmp_path / "x.png", groups=[["loss", "nope"]])
    with pytest.raises(ValueError, match="empty"):
        plot.plot_curves({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="3 x values for 2 y values"):
        plot.plot_curves({"loss": ([1, 2, 3], [1, 2])}, tmp_path / "x.png")
    with pytest.raises(TypeError, match="history"):
        plot.plot_curves(42, tmp_path / "x.png")


def test_smooth_is_a_trailing_mean():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(plot._smooth(y, 2), [1.0, 1.5, 2.5, 3.5])


def test_confusion_matrix_counts():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    cm = plot.confusion_matrix(t, p, 4)
    ref = np.zeros((4, 4), np.int64)
    for a, b in zip(t, p):
        ref[a, b] += 1
    assert cm.dtype == np.int64 and cm.shape == (4, 4)
    np.testing.assert_array_equal(cm, ref)
    np.testing.assert_array_equal(plot.confusion_matrix(nerve.tensor(t), p.tolist()), ref)
    assert plot.confusion_matrix([0, 1], [1, 1], 5).shape == (5, 5)  # n larger than seen
    assert plot.confusion_matrix([], [], 3).sum() == 0


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match="3 labels, y_pred 2"):
        plot.confusion_matrix([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="0..1"):
        plot.confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="integer class labels"):
        plot.confusion_matrix([0.5, 1.0], [0, 1])


def test_plot_confusion_matrix(tmp_path):
    cm = plot.confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], 3)
    path = plot.plot_confusion_matrix(cm, tmp_path / "cm.png", labels=["a", "b", "c"])
    assert _png_shape(path)[0] > 100
    plot.plot_confusion_matrix(cm, tmp_path / "cmn.png", normalize=True, title="rows sum to 1")
    assert (tmp_path / "cmn.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="2 labels for a 3x3"):
        plot.plot_confusion_matrix(cm, tmp_path / "x.png", labels=["a", "b"])
    with pytest.raises(ValueError, match="square"):
        plot.plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "x.png")


@pytest.mark.parametrize("shape, channels", [((10, 28, 28), 1), ((10, 28, 28, 1), 1),
                                             ((10, 1, 28, 28), 1), ((10, 3, 8, 8), 3),
                                             ((10, 8, 8, 3), 3)])
def test_image_grid_layouts(tmp_path, shape, channels):
    imgs = np.random.default_rng(0).random(shape).astype(np.float32)
    grid = plot.image_grid(imgs, tmp_path / "g.png", nrow=4, padding=2)
    h, w = (shape[2], shape[3]) if shape[1] in (1, 3) else (shape[1], shape[2])
    rows = 3                                         # 10 images, 4 per row
    expect = (rows * (h + 2) + 2, 4 * (w + 2) + 2)
    assert grid.shape == (expect if channels == 1 else expect + (3,))
    assert 0.0 <= grid.min() and grid.max() <= 1.0
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG_MAGIC


def test_image_grid_value_ranges_titles_and_tensors(tmp_path):
    u8 = np.full((2, 4, 4), 255, np.uint8)
    g = plot.image_grid(u8, tmp_path / "u8.png", padding=0)
    assert g.min() == 1.0                            # 255 -> white
    tanh = nerve.tensor(np.full((2, 1, 4, 4), -1.0, np.float32), requires_grad=True)
    g = plot.image_grid(tanh, tmp_path / "t.png", padding=0, value_range=(-1, 1))
    assert g.max() == 0.0                            # -1 -> black
    plot.image_grid(np.random.rand(6, 28, 28), tmp_path / "titled.png", nrow=3,
                    titles=[f"{i}->{i + 1}" for i in range(6)], title="misclassified")
    assert _png_shape(tmp_path / "titled.png")[0] > 100


def test_image_grid_errors(tmp_path):
    with pytest.raises(ValueError, match="got shape"):
        plot.image_grid(np.zeros((2, 2, 2, 2, 2)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        plot.image_grid(np.zeros((2, 5, 6, 7)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        plot.image_grid(np.zeros((3, 4, 4)), tmp_path / "x.png", titles=["a", "b"])


def test_matplotlib_is_imported_lazily():
    code = "import sys, nerve.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot.plot_curves([1.0, 0.5], tmp_path / "x.png")
