"""Smoke runs of the sequence examples (issue 4): each runs a few batches on a small subset
of its real dataset and must exit cleanly and print finite figures.

Full runs (accuracy / loss targets) are recorded in docs/sequence_results.md.
"""
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

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not found")

NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"


def run_example(name: str, tmp_path: Path) -> str:
    env = dict(os.environ, NERVE_DATA=str(DATA), MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--smoke", "--out",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def figures(pattern: str, out: str) -> list[float]:
    """Every number that ``pattern`` (with one ``{num}`` group) captures in ``out``."""
    vals = [float(m) for m in re.findall(pattern.format(num=NUMBER), out)]
    assert vals, f"no line matching {pattern!r} in:\n{out}"
    assert all(math.isfinite(v) for v in vals), f"non-finite figure in:\n{out}"
    return vals


@pytest.mark.parametrize("name", ["sentiment_rnn.py", "sentiment_transformer.py"])
def test_sentiment_examples(name, tmp_path):
    out = run_example(name, tmp_path)
    assert all(v >= 0 for v in figures(r"epoch \d+/\d+  loss {num}", out))
    (acc,) = figures(r"final test accuracy {num}", out)
    assert 0.0 <= acc <= 1.0
    assert (tmp_path / name.replace(".py", ".safetensors")).is_file()


@pytest.mark.parametrize("name", ["char_rnn.py", "char_transformer.py"])
def test_char_examples(name, tmp_path):
    out = run_example(name, tmp_path)
    figures(r"train loss {num}", out)
    (loss,) = figures(r"final held-out loss {num} nats/char", out)
    assert 0 < loss < 10                     # ln 65 = 4.17 for an untrained model
    sample = out.split("--- sample, temperature")[1].split("\n---")[0]
    assert "ROMEO:" in sample
    assert (tmp_path / name.replace(".py", ".safetensors")).is_file()


def test_timeseries_example(tmp_path):
    out = run_example("timeseries_lstm.py", tmp_path)
    figures(r"loss {num} \(scaled\)", out)
    (rmse,) = figures(r"final test RMSE {num}", out)
    (naive,) = figures(r"vs seasonal-naive {num}", out)
    assert rmse > 0 and naive == pytest.approx(49.99, abs=0.01)   # the baseline is fixed
    assert (tmp_path / "timeseries_lstm.safetensors").is_file()
