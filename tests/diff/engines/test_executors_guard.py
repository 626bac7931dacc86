"""workers=: the start method, and the ``__main__`` guard a script needs (in this process)."""

from __future__ import annotations

import sys
import types
from concurrent.futures import BrokenExecutor, Executor
from pathlib import Path

import numpy as np
import pytest

import nnnum
from nnnum.diff.engines.executors import guard, transports

pytest.importorskip("cloudpickle")


def as_main(monkeypatch: pytest.MonkeyPatch, path: Path | None) -> types.ModuleType:
    """A module standing for the main script at ``path`` (``None``: no file, as ``python -c``)."""
    mod = types.ModuleType("__main__")
    mod.__spec__ = None  # a script run as ``python script.py``
    if path is not None:
        mod.__file__ = str(path)
    monkeypatch.setitem(sys.modules, "__main__", mod)
    return mod


def run_main(monkeypatch: pytest.MonkeyPatch, path: Path, source: str) -> dict:
    """Run ``source`` as the main script's top-level code (saved at ``path``); its namespace."""
    path.write_text(source)
    mod = as_main(monkeypatch, path)
    exec(compile(source, str(path), "exec"), vars(mod))
    return vars(mod)


SCRIPT = """\
from nnnum.diff.engines.executors.guard import unguarded_main

top = unguarded_main()
if __name__ == "__main__":
    guarded = unguarded_main()
if True:
    in_other_if = unguarded_main()


def called():
    return unguarded_main()


from_function = called()
"""


def test_unguarded_top_level_code_is_found_with_its_line(monkeypatch, tmp_path):
    """Top-level code outside ``if __name__`` is named by file and line, also through a call;
    inside that ``if`` (and only that kind of ``if``) it is not."""
    path = tmp_path / "script.py"
    ns = run_main(monkeypatch, path, SCRIPT)
    assert ns["top"] == (str(path), 3)
    assert ns["guarded"] is None
    assert ns["in_other_if"] == (str(path), 7)
    assert ns["from_function"] == (str(path), 14)


def test_no_guard_needed_when_the_main_module_is_not_running_or_not_a_file(monkeypatch, tmp_path):
    """A main module without a file (``-c``, a notebook), or whose top level is not running the
    call, needs no guard."""
    as_main(monkeypatch, None)
    assert guard.unguarded_main() is None
    as_main(monkeypatch, tmp_path / "script.py")
    assert guard.unguarded_main() is None  # called from here, not from the script's top level


def test_main_file_gone_or_unparsable_gives_no_guard_error(monkeypatch, tmp_path):
    """The main module's file deleted or no longer Python since it started: nothing to say."""
    path = tmp_path / "script.py"
    gone = "import os\nos.remove(__file__)\nfrom nnnum.diff.engines.executors import guard\n"
    gone += "where = guard.unguarded_main()\n"
    assert run_main(monkeypatch, path, gone)["where"] is None
    assert not path.exists()
    broken = "import pathlib\npathlib.Path(__file__).write_text('def (:')\n"
    broken += "from nnnum.diff.engines.executors import guard\nwhere = guard.unguarded_main()\n"
    assert run_main(monkeypatch, path, broken)["where"] is None


def test_a_pool_from_unguarded_code_is_refused_before_any_process_starts(monkeypatch, tmp_path):
    """workers=<int> from the main script's unguarded top level: a RuntimeError naming the
    line and the guard, and no pool is started."""
    started = []
    monkeypatch.setattr(transports, "mp_context", lambda: started.append(1))
    source = (
        "import numpy as np, nnnum\n"
        "x = np.ones(3)\n"
        "nnnum.numerical_gradient(lambda w: float(w @ w), x, workers=2, progress=False)\n"
    )
    with pytest.raises(RuntimeError) as info:
        run_main(monkeypatch, tmp_path / "script.py", source)
    msg = str(info.value)
    assert msg.startswith("workers=2: the new worker processes import the main module ")
    assert f"{tmp_path / 'script.py'} again" in msg
    assert '(line 3) outside an `if __name__ == "__main__":` block' in msg
    assert started == []


class BrokenOnSubmit(Executor):
    """A user's Executor that broke before this call (as a process pool whose worker died)."""

    def submit(self, fn, /, *args, **kwargs):
        raise BrokenExecutor("A child process terminated abruptly")


def test_a_broken_executor_from_unguarded_code_is_told_about_the_guard(monkeypatch, tmp_path):
    """An Executor that breaks under the main script's unguarded code: the BrokenExecutor
    itself, its notes saying that nnnum does not restart it and that the script needs the
    guard."""
    source = (
        "import numpy as np, nnnum\n"
        "nnnum.numerical_gradient(lambda w: float(w @ w), np.ones(3), workers=ex,\n"
        "                         progress=False)\n"
    )
    path = tmp_path / "script.py"
    path.write_text(source)
    mod = as_main(monkeypatch, path)
    mod.ex = BrokenOnSubmit()
    with pytest.raises(BrokenExecutor, match="terminated abruptly") as info:
        exec(compile(source, str(path), "exec"), vars(mod))
    notes = "\n".join(info.value.__notes__)
    assert "nnnum restarts only the pools it owns" in notes
    assert "the Executor's processes import the main module" in notes
    assert "(line 2) outside an `if __name__" in notes


def test_a_broken_executor_from_guarded_code_is_not_told_about_the_guard():
    """The same broken Executor called from anywhere else: no note about the guard."""
    with pytest.raises(BrokenExecutor) as info:
        nnnum.numerical_gradient(
            lambda w: float(w @ w), np.ones(3), workers=BrokenOnSubmit(), progress=False
        )
    notes = "\n".join(info.value.__notes__)
    assert "nnnum restarts only the pools it owns" in notes
    assert "__main__" not in notes


def test_start_method(monkeypatch):
    """forkserver on Linux (nnnum preloaded), spawn on any other platform; never fork."""
    if sys.platform.startswith("linux"):
        ctx = guard.mp_context()
        assert ctx.get_start_method() == "forkserver"
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(sys, "platform", platform)
        assert guard.mp_context().get_start_method() == "spawn"
