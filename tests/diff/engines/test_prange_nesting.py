"""A jitted f reaching a parallel function by any route: safe under every threading layer.

Under ``workqueue`` a parallel region started inside another aborts the
interpreter, and no scan of ``f``'s source sees every route to a parallel
function (a module attribute, a container, an argument): there every user
``f`` runs from the serial kernels (the same bits). TBB and OpenMP nest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import nnnum

ROOT = Path(__file__).resolve().parents[3]

HELPER = """
import numba, numpy as np

@numba.njit(parallel=True)
def psum(x):
    s = 0.0
    for i in numba.prange(x.size):
        s += np.sin(x.reshape(-1)[i])
    return s
"""

CHILD = r"""
import sys, numpy as np, numba
sys.path[:0] = [ROOT, TMP]
import nnnum
import helper_mod
from nnnum._core import threads as _threading
from nnnum.diff.engines import prange

@numba.njit
def by_attribute(x):  # helper_mod.psum: a module attribute, invisible to the source scan
    return helper_mod.psum(x)

FUNCS = (helper_mod.psum,)

@numba.njit
def by_container(x):  # a parallel function inside a tuple
    return FUNCS[0](x)

assert not prange.runs_parallel_regions(by_attribute)  # the scan cannot see these routes
assert not prange.runs_parallel_regions(by_container)
x = np.linspace(-1.0, 1.0, 37)
for f in (by_attribute, by_container):
    for opts in ({}, {"order": 4}, {"h": "auto"}, {"method": "complex"}):
        d = nnnum.numerical_gradient(f, x, **opts)
        assert np.allclose(d, np.cos(x), rtol=1e-6, atol=1e-7), (f, opts, d)
    assert np.allclose(nnnum.gradient_descent(f, x, 0.01, 1), x - 0.01 * np.cos(x), atol=1e-6)
print("OK", numba.threading_layer(), _threading.nests())
"""


def _child(tmp_path: Path, layer: str) -> str:
    (tmp_path / "helper_mod.py").write_text(textwrap.dedent(HELPER))
    code = CHILD.replace("ROOT", repr(str(ROOT))).replace("TMP", repr(str(tmp_path)))
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, NUMBA_NUM_THREADS="4")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=ROOT, env=env
    )
    assert proc.returncode == 0, (
        f"rc={proc.returncode}\nstdout={proc.stdout[-1500:]}\nstderr={proc.stderr[-3000:]}"
    )
    return proc.stdout


@pytest.mark.jit_only  # a compiled parallel function nesting
@pytest.mark.timeout(300)
def test_a_parallel_function_by_module_attribute_under_workqueue(tmp_path):
    # the issue: rc -6, "Numba workqueue threading layer is terminating"
    assert "OK workqueue False" in _child(tmp_path, "workqueue")


@pytest.mark.jit_only
@pytest.mark.timeout(300)
def test_the_same_f_under_tbb_nests(tmp_path):
    pytest.importorskip("numba.np.ufunc.tbbpool")
    assert "OK tbb True" in _child(tmp_path, "tbb")


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="no kernels without the JIT")
def test_without_nesting_every_path_runs_the_serial_kernels(kernel_calls, monkeypatch):
    from nnnum.diff.engines import prange

    monkeypatch.setattr(prange, "nests", lambda: False)

    @numba.njit
    def f(x):
        return np.sum(np.sin(x))

    entry = prange._entry(f)
    x = np.linspace(-1.0, 1.0, 40)
    want = {
        "book": nnnum.numerical_gradient(f, x, parallel=False),
        "order4": nnnum.numerical_gradient(f, x, order=4, parallel=False),
        "complex": nnnum.numerical_gradient(f, x, method="complex", parallel=False),
    }
    kernel_calls.clear()
    got = {
        "book": nnnum.numerical_gradient(f, x),
        "order4": nnnum.numerical_gradient(f, x, order=4),
        "complex": nnnum.numerical_gradient(f, x, method="complex"),
    }
    assert kernel_calls == [entry.central2[1], entry.serial, entry.complex[1]]
    for k in want:  # the same bits as the serial kernels asked for by name
        assert np.array_equal(got[k], want[k]), k


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="no kernels without the JIT")
def test_with_nesting_the_parallel_kernels_run(kernel_calls):
    from nnnum._core import threads as _threading
    from nnnum.diff.engines import prange

    if not _threading.nests():
        pytest.skip(f"this process runs {_threading.active_layer()}")

    @numba.njit
    def f(x):
        return np.sum(np.cos(x))

    entry = prange._entry(f)
    x = np.linspace(-1.0, 1.0, 40)
    nnnum.numerical_gradient(f, x)
    nnnum.numerical_gradient(f, x, order=4)
    nnnum.numerical_gradient(f, x, method="complex")
    assert kernel_calls == [entry.central2[0], entry.parallel, entry.complex[0]]


def test_the_active_layer_is_one_numba_knows():
    from nnnum._core import threads as _threading

    assert _threading.active_layer() in {"tbb", "omp", "workqueue"}
    assert _threading.nests() == (_threading.active_layer() != "workqueue")
