"""The examples gallery: one runnable program per application, behind ``nerve examples``
and ``nerve run NAME [--epochs N] [--data DIR] [--smoke]``.

Each entry names an application (regression, CNN, GAN, ...), the file in ``examples/``
that shows it and a one-line description. ``run_example`` runs the file as a fresh
Python process (``python examples/<file> ...``), so an example behaves exactly as when
run by hand, and passes through only the flags the program declares (a program without
``--epochs`` gets no ``--epochs``; the caller is told the flag was ignored).

The examples live next to the package in a source checkout (``<repo>/examples``);
``$NERVE_EXAMPLES`` points elsewhere.
"""
from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Example", "EXAMPLES", "examples_dir", "list_examples", "find_example",
           "format_examples", "print_examples", "run_example", "add_subcommands", "cli_run"]


@dataclass(frozen=True)
class Example:
    """One gallery entry. ``files`` are candidate file names in ``examples/``; the first
    that exists is run."""

    name: str
    application: str
    files: tuple[str, ...]
    description: str

    @property
    def path(self) -> Path | None:
        """The example's file, or None when none of its candidates exists yet."""
        d = examples_dir()
        for f in self.files:
            p = d / f
            if p.is_file():
                return p
        return None

    @property
    def available(self) -> bool:
        return self.path is not None

    @property
    def file(self) -> str:
        p = self.path
        return p.name if p is not None else " or ".join(self.files)


EXAMPLES: tuple[Example, ...] = (
    Example("regression", "regression", ("linear_regression.py",),
            "y = 2x + 1 fitted by gradient descent, autograd doing the calculus"),
    Example("perceptron", "perceptron", ("perceptron.py",),
            "Rosenblatt's perceptron rule; XOR needs a 2-4-1 MLP"),
    Example("mlp", "MLP", ("house_price_mlp.py",),
            "house prices from size and age, 2-4-1 sigmoid network"),
    Example("mnist-cnn", "MNIST CNN", ("mnist_cnn.py",),
            "conv-conv-pool-dense CNN on MNIST, curves + confusion matrix"),
    Example("cifar10-cnn", "CIFAR-10 CNN", ("cifar10_cnn.py",),
            "three conv blocks on CIFAR-10 colour images"),
    Example("sentiment-rnn", "sentiment classification", ("sentiment_rnn.py",),
            "IMDB reviews: Embedding -> bidirectional LSTM/GRU -> Linear"),
    Example("char-rnn", "text generation", ("char_rnn.py",),
            "character-level LSTM language model on tiny-shakespeare"),
    Example("timeseries-lstm", "time-series forecasting", ("timeseries_lstm.py",),
            "LSTM forecasting monthly airline passengers"),
    Example("recommender", "recommendation", ("movielens_recommender.py",),
            "MovieLens-100k: biased MF and embedding+MLP, 5-fold RMSE, top-10"),
    Example("gan", "GAN", ("gan_mnist.py",),
            "MLP generator/discriminator (BatchNorm, LeakyReLU) on MNIST"),
    Example("dcgan", "GAN", ("dcgan_mnist.py",),
            "DCGAN: ConvTranspose2d generator, conv discriminator, MNIST"),
    Example("transformer", "Transformer", ("sentiment_transformer.py", "char_transformer.py"),
            "Transformer encoder classifying IMDB review sentiment"),
    Example("char-transformer", "Transformer", ("char_transformer.py",),
            "causal Transformer (a minimal GPT) writing Shakespeare"),
)


def examples_dir() -> Path:
    """Where the example programs are: ``$NERVE_EXAMPLES`` or ``<repo>/examples``."""
    env = os.environ.get("NERVE_EXAMPLES")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "examples"


def list_examples() -> list[Example]:
    """The gallery, in the order it is shown."""
    return list(EXAMPLES)


def find_example(name: str) -> Example:
    """The entry called ``name`` (also accepted: the file name, with or without ``.py``,
    and ``_`` for ``-``). Raises KeyError listing the names, with the closest match."""
    key = name.strip().lower().replace("_", "-")
    key = key[:-3] if key.endswith(".py") else key
    for ex in EXAMPLES:
        stems = {f[:-3].replace("_", "-") for f in ex.files}
        if key == ex.name or key in stems:
            return ex
    names = [ex.name for ex in EXAMPLES]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise KeyError(f"no example called {name!r}.{hint} The examples are: {', '.join(names)} "
                   "(`nerve examples` describes them)")


def format_examples() -> str:
    """The listing printed by ``nerve examples``: one line per example."""
    rows = list_examples()
    w_name = max(len(ex.name) for ex in rows)
    w_app = max(len(ex.application) for ex in rows)
    lines = [f"nerve examples ({examples_dir()}); run one with: nerve run NAME "
             "[--epochs N] [--data DIR] [--smoke]", ""]
    for ex in rows:
        state = ex.file if ex.available else f"{ex.file}: not yet available"
        lines.append(f"  {ex.name:<{w_name}}  {ex.application:<{w_app}}  "
                     f"{ex.description}  [{state}]")
    return "\n".join(lines)


def print_examples() -> int:
    print(format_examples())
    return 0


def _declares(source: str, flag: str) -> bool:
    """Whether the program defines the command-line option ``flag`` (quoted in its source)."""
    return f'"{flag}"' in source or f"'{flag}'" in source


def example_command(name: str, epochs: int | None = None, data: str | os.PathLike | None = None,
                    smoke: bool = False, args: Sequence[str] = ()) -> tuple[list[str], dict]:
    """The command line and environment that :func:`run_example` uses, and the notes
    about flags the example does not take: ``(argv, {"env": ..., "ignored": [...]})``."""
    ex = find_example(name)
    path = ex.path
    if path is None:
        raise FileNotFoundError(f"example {ex.name!r} ({ex.application}) is not yet available: "
                                f"{' or '.join(ex.files)} is not in {examples_dir()}")
    source = path.read_text(encoding="utf-8", errors="replace")
    argv = [sys.executable, str(path)]
    env = dict(os.environ)
    ignored = []
    wanted = [("--epochs", None if epochs is None else str(int(epochs))),
              ("--data", None if data is None else os.fspath(data)),
              ("--smoke", "" if smoke else None)]
    for flag, value in wanted:
        if value is None:
            continue
        if _declares(source, flag):
            argv += [flag] if value == "" else [flag, value]
        elif flag == "--data":
            env["NERVE_DATA"] = value      # the loaders look there for <name>/ folders
        else:
            ignored.append(flag)
    argv += list(args)
    return argv, {"env": env, "ignored": ignored}


def run_example(name: str, epochs: int | None = None, data: str | os.PathLike | None = None,
                smoke: bool = False, args: Sequence[str] = ()) -> int:
    """Run one gallery example in a new Python process; returns its exit status.

    Args:
        name: the example's gallery name (``nerve examples``) or file name.
        epochs: passed as ``--epochs N`` when the program takes it.
        data: passed as ``--data DIR`` when the program takes it, else as ``$NERVE_DATA``.
        smoke: passed as ``--smoke`` (a tiny run, as CI does) when the program takes it.
        args: further command-line arguments for the program, passed unchanged.
    """
    argv, extra = example_command(name, epochs, data, smoke, args)
    for flag in extra["ignored"]:
        print(f"nerve run: {Path(argv[1]).name} takes no {flag}; ignored", file=sys.stderr)
    sys.stdout.flush()
    return subprocess.run(argv, env=extra["env"], check=False).returncode


# --- the `nerve` command ---------------------------------------------------------------------

def add_subcommands(sub) -> None:
    """Add ``examples`` and ``run`` to the ``nerve`` command's subparsers; the parsed
    namespace's ``gallery_main(args)`` then runs the chosen one and returns the exit code."""
    p_ex = sub.add_parser("examples", help="list the examples gallery, one line each")
    p_ex.set_defaults(gallery_main=lambda args: print_examples())
    p_run = sub.add_parser("run", help="run one example: nerve run NAME [--epochs N] "
                                       "[--data DIR] [--smoke] [more flags for the example]")
    p_run.add_argument("name", help="an example's name (see `nerve examples`)")
    p_run.add_argument("--epochs", type=int, default=None, help="epochs to train")
    p_run.add_argument("--data", default=None, help="directory holding the dataset")
    p_run.add_argument("--smoke", action="store_true", help="a tiny run, as CI does")
    p_run.add_argument("args", nargs=argparse.REMAINDER, help="further flags for the example")
    p_run.set_defaults(gallery_main=cli_run)


def cli_run(args: argparse.Namespace) -> int:
    """``nerve run``: run the example, or say clearly why not (exit status 2)."""
    # flags written after NAME land in args.args (argparse's REMAINDER): pick ours out
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--epochs", type=int, default=None)
    own.add_argument("--data", default=None)
    own.add_argument("--smoke", action="store_true")
    late, rest = own.parse_known_args(list(getattr(args, "args", None) or []))
    try:
        return run_example(args.name,
                           epochs=args.epochs if args.epochs is not None else late.epochs,
                           data=args.data if args.data is not None else late.data,
                           smoke=bool(args.smoke or late.smoke), args=rest)
    except (KeyError, FileNotFoundError) as e:
        print(f"nerve run: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
