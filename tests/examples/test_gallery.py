"""The examples gallery (nerve.gallery): listing, lookup, flag pass-through, running."""
from __future__ import annotations

import sys
import textwrap

import pytest

from nerve import gallery

APPLICATIONS = {"regression", "perceptron", "MLP", "MNIST CNN", "CIFAR-10 CNN",
                "sentiment classification", "text generation", "time-series forecasting",
                "recommendation", "GAN", "Transformer"}


def test_every_application_has_an_entry():
    rows = gallery.list_examples()
    assert {ex.application for ex in rows} == APPLICATIONS
    names = [ex.name for ex in rows]
    assert len(names) == len(set(names))
    assert all(ex.description and ex.files for ex in rows)


def test_listing_one_line_each_and_missing_files_marked(tmp_path, monkeypatch):
    (tmp_path / "gan_mnist.py").write_text("print('hi')\n")
    monkeypatch.setenv("NERVE_EXAMPLES", str(tmp_path))
    text = gallery.format_examples()
    lines = [line for line in text.splitlines() if line.startswith("  ")]
    assert len(lines) == len(gallery.list_examples())
    gan = next(line for line in lines if line.split()[0] == "gan")
    assert "[gan_mnist.py]" in gan
    mlp = next(line for line in lines if line.split()[0] == "mlp")
    assert "not yet available" in mlp
    assert gallery.find_example("transformer").file == \
        "sentiment_transformer.py or char_transformer.py"


def test_real_gallery_lists_its_own_examples():
    for name in ("regression", "recommender", "gan", "dcgan"):
        assert gallery.find_example(name).available, name


def test_find_example_aliases_and_suggestions():
    assert gallery.find_example("movielens_recommender").name == "recommender"
    assert gallery.find_example("dcgan_mnist.py").name == "dcgan"
    assert gallery.find_example("MNIST-CNN").name == "mnist-cnn"
    with pytest.raises(KeyError, match="Did you mean 'recommender'"):
        gallery.find_example("recommendr")


def test_unavailable_example_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("NERVE_EXAMPLES", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not yet available"):
        gallery.run_example("gan")


def _fake(tmp_path, monkeypatch, flags: bool):
    parse = textwrap.dedent("""
        import argparse, os
        ap = argparse.ArgumentParser()
        ap.add_argument("--epochs", type=int)
        ap.add_argument("--data")
        ap.add_argument("--smoke", action="store_true")
        a = ap.parse_args()
        print("ARGS", a.epochs, a.data, a.smoke, os.environ.get("NERVE_DATA"))
    """)
    plain = "import os, sys\nprint('ARGS', sys.argv[1:], os.environ.get('NERVE_DATA'))\n"
    (tmp_path / "gan_mnist.py").write_text(parse if flags else plain)
    monkeypatch.setenv("NERVE_EXAMPLES", str(tmp_path))
    monkeypatch.delenv("NERVE_DATA", raising=False)


def test_flags_pass_through_when_declared(tmp_path, monkeypatch):
    _fake(tmp_path, monkeypatch, flags=True)
    argv, extra = gallery.example_command("gan", epochs=3, data="/d", smoke=True)
    assert argv[0] == sys.executable and argv[2:] == ["--epochs", "3", "--data", "/d", "--smoke"]
    assert extra["ignored"] == [] and "NERVE_DATA" not in extra["env"]


def test_undeclared_flags_are_dropped_and_data_goes_to_env(tmp_path, monkeypatch, capfd):
    _fake(tmp_path, monkeypatch, flags=False)
    argv, extra = gallery.example_command("gan", epochs=3, data="/d", smoke=True)
    assert argv[2:] == []
    assert extra["ignored"] == ["--epochs", "--smoke"]
    assert extra["env"]["NERVE_DATA"] == "/d"
    assert gallery.run_example("gan", epochs=3, data="/d") == 0
    out, err = capfd.readouterr()
    assert "ARGS [] /d" in out
    assert "takes no --epochs; ignored" in err


def test_run_example_returns_exit_status(tmp_path, monkeypatch, capfd):
    _fake(tmp_path, monkeypatch, flags=True)
    assert gallery.run_example("gan", epochs=2, smoke=True) == 0
    assert "ARGS 2 None True" in capfd.readouterr().out
    (tmp_path / "gan_mnist.py").write_text("raise SystemExit(3)\n")
    assert gallery.run_example("gan") == 3


def _cli_parser():
    """The subcommands exactly as nerve/cli.py adds them."""
    import argparse

    parser = argparse.ArgumentParser(prog="nerve")
    gallery.add_subcommands(parser.add_subparsers(dest="cmd"))
    return parser


def test_cli_examples_and_run(tmp_path, monkeypatch, capfd):
    parser = _cli_parser()
    args = parser.parse_args(["examples"])
    assert args.gallery_main(args) == 0
    assert "recommender" in capfd.readouterr().out
    _fake(tmp_path, monkeypatch, flags=True)
    for argv in (["run", "--epochs", "2", "--smoke", "gan"], ["run", "gan", "--epochs", "2",
                                                               "--smoke"]):
        args = parser.parse_args(argv)
        assert args.gallery_main(args) == 0
        assert "ARGS 2 None True" in capfd.readouterr().out
    args = parser.parse_args(["run", "nonesuch"])
    assert args.gallery_main(args) == 2
    assert "no example called 'nonesuch'" in capfd.readouterr().err


def test_nerve_cli_wires_the_gallery(capsys):
    import inspect

    from nerve import cli

    if "gallery" not in inspect.getsource(cli):
        pytest.skip("nerve/cli.py does not have the examples/run subcommands yet")
    assert cli.main(["examples"]) == 0
    assert "recommender" in capsys.readouterr().out
