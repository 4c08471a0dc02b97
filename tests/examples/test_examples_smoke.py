"""Smoke runs of the recommendation and GAN examples on the real shared data (--smoke):
exit status 0, finite figures printed, the PNG files written."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytest.importorskip("matplotlib")


def _run(script: str, tmp_path: Path, *args: str, needs: str) -> str:
    if not (DATA / needs).is_dir():
        pytest.skip(f"shared data {needs}/ not present")
    env = dict(os.environ, NERVE_DATA=str(DATA), NERVE_CACHE=str(tmp_path / "cache"),
               MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--smoke",
                        "--out", str(tmp_path / "runs"), *args],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_movielens_recommender_smoke(tmp_path):
    out = _run("movielens_recommender.py", tmp_path, needs="ml-100k")
    scores = [float(v) for v in re.findall(r"test RMSE (\S+)", out)]
    assert len(scores) == 2                                  # both models, fold u1
    assert all(math.isfinite(s) and 0.5 < s < 2.0 for s in scores), out
    assert "Top-10 for user 1" in out
    assert len(re.findall(r"^\s+\d+\. \d\.\d\d  \S", out, flags=re.M)) == 10, out
    _assert_png(tmp_path / "runs" / "movielens_curves.png")


@pytest.mark.parametrize("script, last", [("gan_mnist.py", 20), ("dcgan_mnist.py", 6)])
def test_gan_smoke(tmp_path, script, last):
    out = _run(script, tmp_path, needs="mnist")
    losses = [float(v) for v in re.findall(r"[DG] loss (\S+)", out)]
    assert len(losses) >= 4 and all(math.isfinite(v) for v in losses), out
    folder = tmp_path / "runs" / script[:-3]
    _assert_png(folder / f"samples_step{last:05d}.png")
    _assert_png(folder / "losses.png")
