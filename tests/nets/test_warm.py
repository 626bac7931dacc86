"""The cold start's helper process (nets/_warm.py): its signatures, best effort, no leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nnnum.nets import _warm

from ..fresh_python import ROOT, run_python

pytestmark = pytest.mark.jit_only

_CALLS = """
import json, numpy as np, nnnum
from nnnum.nets import _warm
rng = np.random.default_rng(0)
# nnnum train's images, float64 after the network's checks: the 8x8 digits (half zeros:
# BLAS's products), then MNIST's (81% zeros: the sparse ones)
x, t = rng.random((30, 20)), rng.integers(0, 4, 30)
net = nnnum.TwoLayerNet(20, 9, 4, seed=0)
net.numerical_gradient(x, t)
net.loss(x, t)
net.accuracy(x, t)
net.gradient(x, t)
x[x < 0.8] = 0.0
net.numerical_gradient(x, t)
net.loss(x, t)
out = {}
for module, name, sig in _warm.SIGNATURES:
    k = _warm._kernel(module, name)
    out[name] = [str(s) for s in k.signatures] + ["table: " + str(tuple(sig))]
print(json.dumps({"sigs": out, "helper": _warm._helper is not None}))
"""


def _json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_table_is_what_real_calls_compile(tmp_path):
    """A numerical gradient, loss, accuracy and backprop compile the table's signatures, no more."""
    res = _json(run_python(_CALLS, env={"NUMBA_CACHE_DIR": str(tmp_path), "NNNUM_WARM": "0"}))
    assert not res["helper"]
    for name, sigs in res["sigs"].items():
        *compiled, table = sigs
        assert compiled == [table.removeprefix("table: ")], name


def test_cold_cache_starts_one_helper_and_a_warm_one_none(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    code = """
    import json, time
    from nnnum.nets import _warm
    started = _warm.start(); again = _warm.start()
    with _warm._changed:  # until the helper has exited and its reports are read
        _warm._changed.wait_for(lambda: _warm._finished or _warm._helper is None, 300)
    helper = _warm._helper
    print(json.dumps({"started": started, "again": again, "done": sorted(_warm._done),
                      "cached": [_warm._cached(m, n, s) for m, n, s in _warm.SIGNATURES]}))
    """
    cold = _json(run_python(code, env=env, timeout=400))
    assert cold["started"] and cold["again"]
    assert cold["done"] == sorted(name for _, name, _ in _warm.SIGNATURES)
    assert cold["cached"] == [True] * len(_warm.SIGNATURES)
    warm = _json(run_python(code, env=env, timeout=400))
    assert not warm["started"] and warm["done"] == []


def test_a_kernel_the_caller_takes_is_skipped_by_the_helper(tmp_path):
    """Kernels the caller needs before the helper has begun them are the caller's alone."""
    code = """
    import json
    from nnnum.nets import _warm
    _warm.start()
    names = [name for _, name, _ in _warm.SIGNATURES]
    for name in names[-2:]:  # long before the helper gets there
        _warm.ready(name)
    with _warm._changed:
        _warm._changed.wait_for(lambda: _warm._finished, 300)
    print(json.dumps({"done": sorted(_warm._done), "skipped": sorted(_warm._skipped),
                      "taken": sorted(_warm._taken)}))
    """
    res = _json(run_python(code, env={"NUMBA_CACHE_DIR": str(tmp_path)}, timeout=400))
    names = [name for _, name, _ in _warm.SIGNATURES]
    assert res["taken"] == res["skipped"] == sorted(names[-2:])
    assert res["done"] == sorted(names[:-2])


@pytest.mark.parametrize("enabled", [True, False])
def test_a_taken_kernel_compiles_here_with_the_collector_off(monkeypatch, enabled):
    """The caller compiles what it takes at once, for the table's signature, the GC off."""
    import gc
    import io

    class Fake:
        seen: list = []

        def compile(self, sig):
            self.seen.append((sig, gc.isenabled()))

    class Helper:
        stdin = io.BytesIO()

    monkeypatch.setattr(_warm, "_helper", Helper())
    monkeypatch.setattr(_warm, "_pid", os.getpid())
    for name, empty in (
        ("_done", set()),
        ("_taken", set()),
        ("_finished", False),
        ("_current", ""),
    ):
        monkeypatch.setattr(_warm, name, empty)
    monkeypatch.setattr(_warm, "_kernel", lambda module, name: Fake())
    module, name, sig = _warm.SIGNATURES[-1]
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        _warm.ready(name, timeout=0.1)
        _warm.ready(name, timeout=0.1)  # taken already: nothing more
        after = gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
    assert Fake.seen == [(sig, False)]
    assert after is enabled
    assert Helper.stdin.getvalue() == f"take {name}\n".encode()
    assert _warm._taken == {name}


def test_switched_off_and_without_jit(tmp_path):
    code = "from nnnum.nets import _warm; print(_warm.start())"
    for env in ({"NNNUM_WARM": "0"}, {"NUMBA_DISABLE_JIT": "1"}):
        proc = run_python(code, env={"NUMBA_CACHE_DIR": str(tmp_path), **env})
        assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def test_a_failing_helper_costs_no_wait(monkeypatch):
    helper = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('start x'); print('done x'); sys.exit(3)"],
        stdout=subprocess.PIPE,
    )
    monkeypatch.setattr(_warm, "_helper", helper)
    monkeypatch.setattr(_warm, "_pid", __import__("os").getpid())
    monkeypatch.setattr(_warm, "_done", set())
    monkeypatch.setattr(_warm, "_finished", False)
    _warm._read(helper)  # the reader thread's loop, here: returns at the helper's end
    _warm.ready("grad_hidden", timeout=60)  # returns at once: the helper is gone
    assert _warm._finished and _warm._done == {"x"}
    helper.wait()


def test_a_helper_still_running_at_exit_is_stopped(tmp_path):
    code = """
    import subprocess, sys, atexit
    from nnnum.nets import _warm
    _warm._helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    _warm._pid = __import__("os").getpid()
    atexit.register(_warm._stop)
    print(_warm._helper.pid, flush=True)
    """
    proc = run_python(code, timeout=60)
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.strip())
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone (the reaped child of an exited process)


def test_the_helper_compiles_this_nnnum_whatever_the_working_directory(tmp_path):
    """A working directory holding another ``nnnum`` (a checkout) or numba does not capture it."""
    fake = tmp_path / "cwd" / "nnnum"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise SystemExit('the helper imported the wrong nnnum')\n")
    (fake.parent / "numba").mkdir()  # nor a folder holding another numba
    (fake.parent / "numba" / "__init__.py").write_text("raise SystemExit('a wrong numba')\n")
    script = tmp_path / "run.py"  # a script elsewhere: its own folder, not the cwd, is path[0]
    script.write_text(
        "import json\n"
        "from nnnum.nets import _warm\n"
        "started = _warm.start()\n"
        "with _warm._changed:\n"
        "    _warm._changed.wait_for(lambda: _warm._finished, 300)\n"
        "print(json.dumps({'started': started, 'done': sorted(_warm._done)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [ROOT, env.get("PYTHONPATH", "")] if p)
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        cwd=fake.parent,
    )
    res = _json(proc)
    assert res["started"]
    assert res["done"] == sorted(name for _, name, _ in _warm.SIGNATURES)
