import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

import nnnum
from nnnum.cli import build_parser, main

from .conftest import write_mnist

train_module = importlib.import_module("nnnum.learn.train")

QUICK = ["--iters", "3", "--hidden", "4", "--batch-size", "10", "--quiet"]


def _error_line(err: str) -> str:
    """The one line a user error prints: no traceback, nothing else."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.jit_only
def test_train_digits_quick(tmp_path, capsys):
    rc = main(
        [
            "train",
            "--iters",
            "150",
            "--quiet",
            "--output-dir",
            str(tmp_path),
            "--lr",
            "2",
            "--weight-init-std",
            "0.1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "test acc" in out and "plot:" in out
    assert "train acc, test acc |" not in out  # --quiet: no per-epoch lines
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["test_acc"][-1] > 0.7
    assert hist["batch_size"] == 100 and hist["eval_iters"][-1] == 149
    assert (tmp_path / "training.png").stat().st_size > 1000
    # the writability probe left nothing behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "training.png"]


def test_train_prints_the_books_line_per_epoch_without_a_terminal(tmp_path, capsys):
    rc = main(["train", "--iters", "30", "--hidden", "8", "--output-dir", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out  # captured: not a terminal, no progress bar
    hist = json.loads((tmp_path / "history.json").read_text())
    lines = [ln for ln in out.splitlines() if ln.startswith("train acc, test acc | ")]
    assert lines == [
        "train acc, test acc | " + str(a) + ", " + str(b)
        for a, b in zip(hist["train_acc"], hist["test_acc"], strict=True)
    ]
    assert len(lines) == len(hist["eval_iters"]) == 4  # iterations 0, 14, 28, 29


def test_gradcheck_and_info(capsys):
    assert main(["gradcheck", "--batch-size", "20", "--hidden", "8"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "W1" in out and "strategy structured" in out
    for flag in ("--strategy", "--method"):  # --method: its name before 0.2.0
        assert main(["gradcheck", "--batch-size", "5", "--hidden", "3", flag, "brute"]) == 0
        assert "strategy brute" in capsys.readouterr().out
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numba" in out and "cupy" in out and "threads" in out


@pytest.mark.parametrize(
    "argv, option",
    [
        (["train", "--lr", "0"], "--lr"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--lr", "inf"], "--lr"),
        (["train", "--lr", "fast"], "--lr"),
        (["train", "--seed", "-1"], "--seed"),
        (["train", "--weight-init-std", "nan"], "--weight-init-std"),
        (["train", "--weight-init-std", "0"], "--weight-init-std"),
        (["train", "--weight-init-std", "-0.1"], "--weight-init-std"),
        (["train", "--iters", "0"], "--iters"),
        (["train", "--iters", "1.5"], "--iters"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--hidden", "0"], "--hidden"),
        (["train", "--dataset", "cifar"], "--dataset"),
        (["gradcheck", "--rtol", "-1"], "--rtol"),
        (["gradcheck", "--atol", "nan"], "--atol"),
        (["gradcheck", "--batch-size", "-3"], "--batch-size"),
        (["gradcheck", "--hidden", "0"], "--hidden"),
        (["download"], "DIR"),
        ([], "COMMAND"),
    ],
)
def test_bad_argument_values(argv, option, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    line = _error_line(capsys.readouterr().err)
    assert option in line and "--help" in line


def test_argument_values_are_parsed():
    args = build_parser().parse_args(
        ["train", "--lr", "1e-3", "--seed", "0", "--iters", "7", "--weight-init-std", "0.5"]
    )
    assert (args.lr, args.seed, args.iters, args.weight_init_std) == (1e-3, 0, 7, 0.5)
    args = build_parser().parse_args(["download", "d", "--mirror", "https://example.org/m"])
    assert args.mirror == "https://example.org/m/"


@pytest.mark.parametrize("command", ["train", "gradcheck"])
def test_missing_or_bad_data_is_one_error_line(tmp_path, capsys, command):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = write_mnist(tmp_path / "corrupt", 60, 20)
    (corrupt / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    cases = [
        (["--dataset", "mnist", "--data-dir", str(tmp_path / "nope")], "no such folder"),
        (["--dataset", "mnist"], "--dataset mnist needs --data-dir"),
        (["--data-dir", str(a_file)], "is a file, not a folder"),
        (["--data-dir", str(empty)], "no MNIST files in"),
        (["--data-dir", str(corrupt)], "cannot load MNIST from"),
        (["--dataset", "digits", "--data-dir", str(empty)], "--data-dir is for --dataset mnist"),
    ]
    for extra, message in cases:
        out = ["--output-dir", str(tmp_path / "out")] if command == "train" else []
        rc = main([command, *extra, *out])
        assert rc == 2, extra
        assert message in _error_line(capsys.readouterr().err), extra
    assert not (tmp_path / "out").exists()  # nothing prepared for a run that cannot start


def test_data_dir_implies_mnist_and_one_split_is_explained(tmp_path, capsys):
    both = write_mnist(tmp_path / "both", 60, 20)
    rc = main(["train", "--data-dir", str(both), *QUICK, "--output-dir", str(tmp_path / "o1")])
    out, err = capsys.readouterr()
    assert rc == 0 and "data: MNIST train/t10k: 60 train, 20 test, 784 inputs" in out
    assert err == ""
    only_train = write_mnist(tmp_path / "only_train", 60, 20, splits=("train",))
    rc = main(
        ["train", "--data-dir", str(only_train), *QUICK, "--output-dir", str(tmp_path / "o2")]
    )
    out, err = capsys.readouterr()
    assert rc == 0 and "48 train, 12 test" in out
    assert "note: only the training files are in" in err and "t10k-images-idx3-ubyte.gz" in err
    assert "None" not in err and "split" not in err


def test_batch_size_larger_than_the_training_set_is_said(tmp_path, capsys):
    data = write_mnist(tmp_path / "mnist", 30, 10)
    rc = main(
        ["train", "--data-dir", str(data), *QUICK, "--batch-size", "500"]
        + ["--output-dir", str(tmp_path / "out")]
    )
    out, err = capsys.readouterr()
    assert rc == 0
    assert "note: --batch-size 500 is more than the 30 training samples: using 30" in err
    assert "batch=30," in out
    assert json.loads((tmp_path / "out" / "history.json").read_text())["batch_size"] == 30
    assert main(["gradcheck", "--data-dir", str(data), "--hidden", "3", "--batch-size", "99"]) == 0
    out, err = capsys.readouterr()
    assert "using 30" in err and "batch 30," in out


def test_output_dir_is_checked_before_training(tmp_path, capsys, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("training started with an unusable --output-dir")

    monkeypatch.setattr(train_module, "train", must_not_run)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["train", *QUICK, "--output-dir", str(a_file)]) == 2
    assert "--output-dir" in _error_line(capsys.readouterr().err)
    assert main(["train", *QUICK, "--output-dir", str(a_file / "sub")]) == 2
    assert "cannot write there" in _error_line(capsys.readouterr().err)

    def read_only(*args, **kwargs):  # what a folder without write permission does (not as root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("nnnum.cli._commands.tempfile.TemporaryFile", read_only)
    assert main(["train", *QUICK, "--output-dir", str(tmp_path / "ro")]) == 2
    assert "cannot write there (Permission denied)" in _error_line(capsys.readouterr().err)


def test_diverging_training_says_so(tmp_path, capsys):
    rc = main(["train", *QUICK, "--iters", "10", "--lr", "1e300", "--output-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 1
    line = _error_line(err)
    assert line.startswith("error: training diverged at iteration 1 (W1 reaches ")
    assert "try a lower --lr than 1e+300" in line
    assert not (tmp_path / "history.json").exists()
    rc = main(["train", *QUICK, "--weight-init-std", "1e300", "--output-dir", str(tmp_path)])
    assert rc == 1
    assert "iteration 0" in _error_line(capsys.readouterr().err)
    rc = main(["train", *QUICK, "--weight-init-std", "1e308", "--output-dir", str(tmp_path)])
    assert rc == 2
    assert "--weight-init-std 1e+308 is too large" in _error_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", [["train", *QUICK], ["gradcheck", "--hidden", "3"]])
def test_unusable_backend_is_one_error_line(tmp_path, capsys, monkeypatch, command):
    argv = command + (["--output-dir", str(tmp_path)] if command[0] == "train" else [])
    monkeypatch.setattr("nnnum.backends._config._ENV_VALUE", "bogus")
    assert main(argv) == 2
    assert "NNNUM_BACKEND='bogus' is not a backend" in _error_line(capsys.readouterr().err)

    def no_cupy():
        raise nnnum.BackendUnavailableError("NNNUM_BACKEND=cupy needs CuPy (test)")

    monkeypatch.setattr("nnnum.backends._config._ENV_VALUE", "cupy")
    monkeypatch.setattr("nnnum.backends._gpu_imports.require_cupy", no_cupy)
    assert main(argv) == 2
    assert "needs CuPy" in _error_line(capsys.readouterr().err)
    assert main(["info"]) == 0  # info reports the backend instead of failing
    capsys.readouterr()


def test_download_without_network(tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["download", str(tmp_path / "mnist")]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "download from https://" in line and "name resolution" in line
    assert list((tmp_path / "mnist").iterdir()) == []  # no partial files
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["download", str(a_file)]) == 2
    assert "is a file, not a folder" in _error_line(capsys.readouterr().err)
    assert main(["download", str(a_file / "sub")]) == 2
    assert "cannot create" in _error_line(capsys.readouterr().err)


def _option_blocks(help_text: str) -> dict[str, str]:
    """Option -> its help text, from an argparse help listing (wrapped lines joined)."""
    blocks: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        m = re.match(r"^  (-[-\w]+(?:, --[-\w]+)?)(?: [A-Z_{},a-z]+)?(?:\s{2,}(.*))?$", line)
        if m and line.startswith("  -"):
            current = m.group(1).split(", ")[-1]
            blocks[current] = m.group(2) or ""
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in blocks.items()}


@pytest.mark.parametrize("command", ["train", "gradcheck", "download", "info"])
def test_every_option_has_help_and_shows_its_default(command):
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = commands.choices[command]
    blocks = _option_blocks(sub.format_help())
    # every option but the hidden deprecated aliases (gradcheck's --method)
    options = [a for a in sub._actions if a.option_strings and a.help != argparse.SUPPRESS]
    assert sorted(blocks) == sorted(a.option_strings[-1] for a in options)
    for action in options:
        text = blocks[action.option_strings[-1]]
        assert len(text) > 10, (command, action.option_strings, text)
        default = action.default
        if default is None or default is False or default == "==SUPPRESS==":
            assert "(default: None)" not in text and "(default: False)" not in text
        else:
            assert f"(default: {default})" in text, (command, action.option_strings, text)
    if command in ("train", "gradcheck"):
        assert "(default: digits, or mnist when --data-dir is given)" in blocks["--dataset"]
        assert "implies --dataset mnist" in blocks["--data-dir"]


def test_module_entry_point(tmp_path):
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "nnnum", "info"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0 and "nnnum" in out.stdout


def test_bad_backend_from_the_environment_without_traceback(tmp_path):
    env = dict(os.environ, NNNUM_BACKEND="gpu0")
    out = subprocess.run(
        [sys.executable, "-m", "nnnum", "train", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert "NNNUM_BACKEND='gpu0' is not a backend" in _error_line(out.stderr)


def test_python_dash_m_nnnum_runs_the_command_line(monkeypatch, capsys):
    import runpy

    monkeypatch.setattr(sys, "argv", ["nnnum", "--help"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("nnnum", run_name="__main__")
    assert info.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()


def test_importing_nnnum_main_runs_nothing(capsys):
    """`import nnnum.__main__` (not run as a script) exposes main without running it."""
    mod = importlib.import_module("nnnum.__main__")
    assert mod.main is main
    assert capsys.readouterr() == ("", "")


def test_ctrl_c_is_one_error_line_and_status_130(monkeypatch, capsys):
    """KeyboardInterrupt in a command: 'error: interrupted', exit status 130, no traceback."""

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr("nnnum.cli._commands._backend_name", interrupted)
    assert main(["info"]) == 130
    assert _error_line(capsys.readouterr().err) == "error: interrupted"


def test_empty_mirror_url_is_an_argument_error(capsys):
    """--mirror with nothing in it is refused by argparse (exit status 2)."""
    with pytest.raises(SystemExit) as info:
        main(["download", "d", "--mirror", "  "])
    assert info.value.code == 2
    assert "the mirror URL is empty" in _error_line(capsys.readouterr().err)


def test_info_reports_a_bad_backend_an_unstarted_layer_and_the_gpu(monkeypatch, capsys):
    """info never fails: an invalid backend and an unloaded threading layer are reported."""
    import numba

    def bad_backend():
        raise ValueError("NNNUM_BACKEND='gpu0' is not a backend")

    def not_started():
        raise ValueError("Threading layer is not initialized.")

    gpu = {"cupy": "13.3.0", "device": "Fake GPU 80GB", "memory_free_gib": 70.5}
    gpu["memory_total_gib"] = 79.1
    monkeypatch.setattr("nnnum.cli._commands._backend_name", bad_backend)
    monkeypatch.setattr(numba, "threading_layer", not_started)
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "safe")
    monkeypatch.setattr("nnnum.backends._gpu_imports.device_info", lambda: gpu)
    assert main(["info"]) == 0
    rows = {
        ln.split("  ", 1)[0]: ln.split("  ", 1)[1].strip()
        for ln in capsys.readouterr().out.splitlines()
    }
    assert rows["backend"].startswith("invalid (NNNUM_BACKEND='gpu0' is not a backend)")
    assert rows["threading layer"] == "not started yet (NUMBA_THREADING_LAYER=safe)"
    assert rows["cupy"] == "13.3.0"
    assert rows["gpu"] == "Fake GPU 80GB, 70.5 GiB free of 79.1 GiB"


def test_digits_without_scikit_learn_is_one_error_line(monkeypatch, capsys):
    """The default data set needs scikit-learn: without it, a user error saying what to install."""
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as uninstalled
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main(["gradcheck", "--hidden", "3"]) == 2
    assert "pip install nnnum[data]" in _error_line(capsys.readouterr().err)


def test_train_without_matplotlib_skips_the_plot(tmp_path, monkeypatch, capsys):
    """No matplotlib: the run succeeds and says the plot was skipped (backprop: no warm-up)."""
    from nnnum.nets import _warm

    def no_matplotlib(*args, **kwargs):
        raise ImportError("No module named 'matplotlib'")

    def must_not_start():
        raise AssertionError("the numerical-gradient helper started for a backprop run")

    monkeypatch.setattr(train_module, "plot_history", no_matplotlib)
    monkeypatch.setattr(_warm, "start", must_not_start)
    argv = ["train", *QUICK, "--gradient", "backprop", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "plot: skipped (matplotlib not installed: pip install nnnum[plot])" in out
    assert (tmp_path / "history.json").is_file() and not (tmp_path / "training.png").exists()


def test_warnings_while_loading_both_splits_become_notes(tmp_path, monkeypatch, capsys):
    """A warning from load_mnist when both splits load is passed on as a 'note:' line."""
    import warnings

    import nnnum.data

    real = nnnum.data.load_mnist

    def warning_load(*args, **kwargs):
        warnings.warn("labels file is older than its images", UserWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(nnnum.data, "load_mnist", warning_load)
    data = write_mnist(tmp_path / "mnist", 30, 10)
    assert main(["gradcheck", "--data-dir", str(data), "--hidden", "3", "--batch-size", "5"]) == 0
    out, err = capsys.readouterr()
    assert err == "note: labels file is older than its images\n"
    assert "gradcheck on MNIST train/t10k" in out


def test_train_in_process_leaves_the_callers_heap_collectable(tmp_path):
    """nnnum train freezes the GC's old objects for its run, and unfreezes them after."""
    import gc
    import weakref

    class Cycle:
        def __init__(self):
            self.me = self

    before = gc.get_freeze_count()
    obj = Cycle()
    ref = weakref.ref(obj)
    assert main(["train", *QUICK, "--output-dir", str(tmp_path)]) == 0
    assert gc.get_freeze_count() == before
    del obj
    gc.collect()
    assert ref() is None
