"""Run a seed program from ../shared/seed_programs with only its import lines rewritten.

The rewrite rule is the seed folder's README: module prefix tensorflow -> nerve,
keras -> nerve.keras, torch -> nerve, torchvision -> nerve.vision. Nothing else of the
program changes. With NERVE_SMOKE=1, nerve itself limits fit/evaluate/predict and
DataLoader passes to a few batches, and this runner caps the program's own Python
``range`` loops at a few iterations (SEED_MAX_LOOP, default 3).

Usage: python run_seed.py PROGRAM.py [--show]   (--show prints the rewritten source)
"""
from __future__ import annotations

import builtins
import os
import re
import runpy
import sys
import tempfile

_RULES = [
    (r"^(\s*)import torchvision\s*$", r"\1import nerve.vision as torchvision"),
    (r"^(\s*)import torch\s*$", r"\1import nerve as torch"),
    (r"^(\s*)import tensorflow\s*$", r"\1import nerve as tensorflow"),
    (r"^(\s*)import keras\s*$", r"\1import nerve.keras as keras"),
    (r"^(\s*)(from|import) torchvision\b", r"\1\2 nerve.vision"),
    (r"^(\s*)(from|import) tensorflow\b", r"\1\2 nerve"),
    (r"^(\s*)(from|import) keras\b", r"\1\2 nerve.keras"),
    (r"^(\s*)(from|import) torch\b", r"\1\2 nerve"),
]


def rewrite_imports(source: str) -> str:
    """Apply the README's import rule to import lines only."""
    out = []
    for line in source.splitlines():
        if re.match(r"^\s*(import|from)\s", line):
            for pat, rep in _RULES:
                new = re.sub(pat, rep, line)
                if new != line:
                    line = new
                    break
        out.append(line)
    return "\n".join(out) + "\n"


def main() -> None:
    path = sys.argv[1]
    src = rewrite_imports(open(path, encoding="utf-8").read())
    if "--show" in sys.argv:
        print(src)
        return
    init = {}
    if os.environ.get("NERVE_SMOKE", "") not in ("", "0"):
        cap = int(os.environ.get("SEED_MAX_LOOP", "3"))
        real_range = builtins.range

        def capped_range(*args):
            r = real_range(*args)
            return r[:cap]

        init["range"] = capped_range
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(src)
    try:
        env = runpy.run_path(f.name, init_globals=init, run_name="__main__")
    finally:
        os.unlink(f.name)
    grid = os.environ.get("SEED_GAN_GRID")
    if grid and "generator" in env:  # look at what the GAN learned: 25 samples as a PNG
        import numpy as np

        from nerve import plot

        noise = np.random.default_rng(0).normal(0, 1, (25, 100))
        images = env["generator"].predict(noise)[..., 0] * 0.5 + 0.5
        plot.image_grid(images, grid, nrow=5)
        print(f"samples saved to {grid}")


if __name__ == "__main__":
    main()
