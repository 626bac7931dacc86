import json
import os
import subprocess
import sys

import pytest

from nnnum.cli import main


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
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["test_acc"][-1] > 0.7
    assert (tmp_path / "training.png").stat().st_size > 1000


def test_gradcheck_and_info(capsys):
    assert main(["gradcheck", "--batch-size", "20", "--hidden", "8"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "W1" in out
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numba" in out and "cupy" in out and "threads" in out


def test_bad_arguments():
    with pytest.raises(SystemExit, match="does not exist"):
        main(["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"])
    with pytest.raises(SystemExit, match="--data-dir"):
        main(["train", "--dataset", "mnist"])
    with pytest.raises(SystemExit, match="iters"):
        main(["train", "--iters", "0"])


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
