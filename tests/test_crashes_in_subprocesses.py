"""Robustness cases that could crash the interpreter run in a child process (issue #8).

* TwoLayerNet with malformed parameters (wrong shapes, 1-D W1, F-ordered,
  integer, read-only, NaN, missing) under both CPU backends, every method:
  these reach the Numba kernels of the structured gradient, which do no
  bounds checking.  One child per backend runs every case and reports each
  outcome as a JSON line *before* and after the call, so a segfault names
  the case that caused it and fails the test instead of killing the run.
* A jitted f that raises inside the parallel prange kernel.
* fork() after a parallel kernel, under the default threading layer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .fresh_python import run_python

ROOT = Path(__file__).resolve().parents[1]

MALFORMED = {
    # name: (python statement mutating P = net.params of TwoLayerNet(3, 4, 3), params named)
    "W2 (5,3) for hidden 4": ("P['W2'] = np.ones((5, 3))", "W2"),
    "W2 (3,3) for hidden 4": ("P['W2'] = np.ones((3, 3))", "W2"),
    "W2 (4,5) for 3 classes": ("P['W2'] = np.ones((4, 5))", "W2"),
    "W1 1-D": ("P['W1'] = np.ones(3)", "W1"),
    "W1 (3,7)": ("P['W1'] = np.ones((3, 7))", "W1"),
    "W1 (2,4)": (
        "P['W1'] = np.ones((2, 4))",
        "W1 x",
    ),  # a valid 2-input net: x (5, 3) no longer fits
    "W1 3-D": ("P['W1'] = np.ones((3, 4, 1))", "W1"),
    "b1 length 2": ("P['b1'] = np.ones(2)", "b1"),
    "b1 length 9": ("P['b1'] = np.ones(9)", "b1"),
    "b1 2-D": ("P['b1'] = np.ones((1, 4))", "b1"),
    "b2 length 2": ("P['b2'] = np.ones(2)", "b2"),
    "b2 length 7": ("P['b2'] = np.ones(7)", "b2"),
    "b2 2-D": ("P['b2'] = np.ones((1, 3))", "b2"),
    "b2 0-d": ("P['b2'] = np.array(0.5)", "b2"),
    "W2 list": ("P['W2'] = P['W2'].tolist()", "W2"),
    "W1 complex": ("P['W1'] = P['W1'] + 0j", "W1"),
    "W1 object": ("P['W1'] = P['W1'].astype(object)", "W1"),
    # NaN/inf values: the float64 reference answer (NaN in, NaN out) or a clear error
    "W2 NaN": ("P['W2'][0, 0] = np.nan", "W1 b1 W2 b2"),
    "b1 inf": ("P['b1'][0] = np.inf", "W1 b1 W2 b2"),
    "b2 missing": ("del P['b2']", "b2"),
    "W1 None": ("P['W1'] = None", "W1"),
    # valid-but-unusual: the right answer (same as float64 C-ordered params) is expected
    "F-ordered": ("for k in list(P): P[k] = np.asfortranarray(P[k])", None),
    "negative strides": (
        "for k in list(P): "
        "P[k] = P[k][::-1][::-1] if P[k].ndim == 1 else P[k][::-1, ::-1][::-1, ::-1]",
        None,
    ),
    "float32": ("for k in list(P): P[k] = P[k].astype(np.float32)", None),
    "int": ("for k in list(P): P[k] = np.round(P[k] * 4).astype(np.int64)", "W1 b1 W2 b2"),
    "read-only": ("[P[k].setflags(write=False) for k in P]", "W1 b1 W2 b2"),
    "strided views": (
        "for k in list(P): big = np.zeros(tuple(2 * s for s in P[k].shape)); "
        "v = big[tuple(slice(None, None, 2) for _ in P[k].shape)]; v[...] = P[k]; P[k] = v",
        None,
    ),
}
METHODS = ("predict", "loss", "accuracy", "gradient", "structured", "brute", "gradcheck")

CHILD = r"""
import json, sys, warnings
sys.path.insert(0, ROOT)
import numpy as np
import nnnum
from tests.robust_strategies import run_call, is_clear_error, stray_warnings

def emit(**kw):
    print(json.dumps(kw), flush=True)

backend = BACKEND
cases = CASES
methods = METHODS
rng = np.random.default_rng(0)
x = rng.random((5, 3))
t = np.array([0, 1, 2, 1, 0])
for name, (stmt, names) in cases.items():
    for method in methods:
        emit(event="start", case=name, method=method)
        net = nnnum.TwoLayerNet(3, 4, 3, weight_init_std=0.5, seed=0)
        ref_net = nnnum.TwoLayerNet(3, 4, 3, weight_init_std=0.5, seed=0)
        P = net.params
        exec(stmt)
        usable = names is None or names.startswith("W1 b1")
        ref_net.params = {k: np.array(v, np.float64) for k, v in P.items()} if usable else None
        call = {
            "predict": lambda n: n.predict(x),
            "loss": lambda n: n.loss(x, t),
            "accuracy": lambda n: n.accuracy(x, t),
            "gradient": lambda n: n.gradient(x, t),
            "structured": lambda n: n.numerical_gradient(x, t, strategy="structured"),
            "brute": lambda n: n.numerical_gradient(x, t, strategy="brute"),
            "gradcheck": lambda n: bool(nnnum.gradcheck(n, x, t)),
        }[method]
        with nnnum.use_backend(backend):
            arrays = [v for v in P.values() if isinstance(v, np.ndarray)]
            out = run_call(lambda: call(net), x, t, arrays)
            status, detail = "ok", ""
            if out.modified:
                status, detail = "modified", str(out.modified)
            elif stray_warnings(out):
                status, detail = "warning", str(stray_warnings(out))
            elif out.error is not None:
                why = is_clear_error(out.error, tuple((names or "params").split()) + ("params",))
                status, detail = ("clear-error", str(out.error)) if why is None else (
                    "bad-error", why
                )
            elif ref_net.params is None:
                status = "silent"
                detail = "returned a result for malformed parameters: " + repr(out.result)[:200]
            else:
                try:
                    want = call(ref_net)
                    if isinstance(want, dict):
                        same = all(
                            np.shape(out.result[k]) == np.shape(want[k])
                            and np.allclose(
                                out.result[k], want[k], rtol=1e-6, atol=1e-9, equal_nan=True
                            )
                            for k in want
                        )
                    else:
                        same = np.allclose(out.result, want, rtol=1e-9, equal_nan=True)
                except Exception as e:
                    same, want = False, f"(reference failed: {e!r})"
                if not same:
                    status = "wrong"
                    detail = f"got {repr(out.result)[:200]} want {repr(want)[:200]}"
        emit(event="end", case=name, method=method, status=status, detail=detail[:500])
"""


def _child_ok(args: list[str], marker: str, timeout: float, env: dict | None = None) -> None:
    """Run ``python *args`` in the checkout: it must exit with 0 and print ``marker``."""
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )
    assert proc.returncode == 0 and marker in proc.stdout, (
        f"rc={proc.returncode}\nstdout={proc.stdout[-1500:]}\nstderr={proc.stderr[-3000:]}"
    )


def _run_child(backend: str) -> tuple[dict, int, str]:
    code = (
        CHILD.replace("ROOT", repr(str(ROOT)))
        .replace("BACKEND", repr(backend))
        .replace("CASES", repr(MALFORMED))
        .replace("METHODS", repr(METHODS))
    )
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=env, cwd=ROOT
    )
    results: dict = {}
    started = None
    for line in proc.stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        key = (rec["case"], rec["method"])
        if rec["event"] == "start":
            started = key
        else:
            results[key] = rec
            started = None
    crash = ""
    if proc.returncode != 0:
        crash = (
            f"child exited with {proc.returncode} during {started}; stderr: {proc.stderr[-1500:]}"
        )
    return results, proc.returncode, crash


@pytest.fixture(scope="module")
def child_results():
    return {be: _run_child(be) for be in ("numba", "numpy")}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_params_no_crash_clear_error(child_results, case, backend):
    results, rc, crash = child_results[backend]
    for method in METHODS:
        rec = results.get((case, method))
        assert rec is not None, f"{case}/{method}: no result: {crash or 'not reached'}"
    bad = {
        m: f"{results[(case, m)]['status']}: {results[(case, m)]['detail']}"
        for m in METHODS
        if results[(case, m)]["status"] not in ("ok", "clear-error")
    }
    assert not bad, f"{backend} {case}: " + json.dumps(bad, indent=1)


def test_malformed_params_child_exited_cleanly(child_results):
    for be, (_results, rc, crash) in child_results.items():
        assert rc == 0, f"{be}: {crash}"


JIT_RAISE = r"""
import sys, numpy as np, numba
sys.path.insert(0, ROOT)
import nnnum

@numba.njit
def f(w):
    if w[0] > 1.00001:
        raise ValueError("boom from jitted f")
    return np.sum(w * w)

for par in (None, False):
    x = np.linspace(1.0, 2.0, 5000)
    snap = x.copy()
    try:
        nnnum.numerical_gradient(f, x, parallel=par)
    except ValueError as e:
        assert "boom" in str(e), e
    else:
        raise SystemExit("no error from a raising jitted f (parallel=%r)" % (par,))
    assert (x.tobytes() == snap.tobytes()), "x modified"
print("OK")
"""


@pytest.mark.timeout(300)
def test_jitted_f_raising_inside_prange_kernel():
    _child_ok(["-c", JIT_RAISE.replace("ROOT", repr(str(ROOT)))], "OK", timeout=240)


NESTED = r"""
import sys, numpy as np, numba
sys.path.insert(0, ROOT)
import nnnum

@numba.njit(parallel=True)
def g(x):
    return np.sum(np.sin(x))

@numba.njit
def f(x):  # not parallel itself, but calls a parallel function
    return g(x)

x = np.linspace(-1, 1, 37)
for opts in ({}, {"order": 4}, {"method": "complex"}):
    d = nnnum.numerical_gradient(f, x, **opts)
    assert np.allclose(d, np.cos(x), rtol=1e-6, atol=1e-7), (opts, d)
print("OK", numba.threading_layer())
"""


@pytest.mark.jit_only
@pytest.mark.timeout(300)
def test_jitted_f_calling_a_parallel_function_under_workqueue():
    # nested parallel regions abort the process under workqueue: f must run from the serial kernel
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="4")
    _child_ok(["-c", NESTED.replace("ROOT", repr(str(ROOT)))], "OK workqueue", 240, env)


FORK = r"""
import multiprocessing as mp, sys, numpy as np, numba
sys.path.insert(0, ROOT)
import nnnum

@numba.njit
def f(w):
    return np.sum(w * w)

def child(i):
    z = np.random.default_rng(i).standard_normal((20000, 10))
    t = np.arange(20000) % 10
    a = float(nnnum.softmax_cross_entropy(z, t))                   # parallel kernel (>= 2**16)
    g = nnnum.numerical_gradient(f, np.linspace(-1, 1, 2000))      # prange kernel
    s = nnnum.softmax(z)                                           # parallel softmax
    return a, float(g.sum()), float(s.sum())

if __name__ == "__main__":
    g = nnnum.numerical_gradient(f, np.linspace(-1, 1, 10_000))
    assert np.allclose(g, 2 * np.linspace(-1, 1, 10_000), atol=1e-6)
    big = np.random.default_rng(0).standard_normal((1_000_000, 10))
    loss = float(nnnum.softmax_cross_entropy(big, np.arange(1_000_000) % 10))
    assert np.isfinite(loss)
    print("layer", numba.threading_layer(), flush=True)
    serial = [child(i) for i in range(3)]
    with mp.get_context("fork").Pool(2) as pool:
        res = pool.map_async(child, range(3)).get(timeout=30)
    assert np.allclose(res, serial, rtol=1e-12), (res, serial)
    print("OK", flush=True)
"""


@pytest.mark.jit_only
@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_fork_after_parallel_kernel_default_threading_layer(tmp_path):
    script = tmp_path / "fork_check.py"
    script.write_text(FORK.replace("ROOT", repr(str(ROOT))))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"  # fork() in a threaded process (3.12+)
    _child_ok([str(script)], "OK", 360, env)


@pytest.mark.jit_only
@pytest.mark.timeout(400)
@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_fork_after_parallel_kernel_threadsafe_layer(tmp_path):
    """The CI configuration (NUMBA_THREADING_LAYER=threadsafe) survives fork too."""
    script = tmp_path / "fork_check.py"
    script.write_text(FORK.replace("ROOT", repr(str(ROOT))).replace("1_000_000", "100_000"))
    env = dict(os.environ, NUMBA_THREADING_LAYER="threadsafe")
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    _child_ok([str(script)], "OK", 360, env)


_ = textwrap  # kept for readers extending the child scripts


@pytest.mark.jit_only
def test_fork_after_parallel_kernels_in_the_default_configuration():
    # NUMBA_THREADING_LAYER is removed from the child's environment: nnnum's own default
    out = run_python(
        """
        import multiprocessing as mp, numpy as np, numba, nnnum
        f = nnnum.jit(lambda v: np.sum(v ** 2))
        g = nnnum.numerical_gradient(f, np.ones(10_000))
        z = np.random.default_rng(0).standard_normal((200_000, 10))
        nnnum.softmax_cross_entropy(z, np.zeros(200_000, dtype=np.int64))
        def work(i):
            return float(nnnum.numerical_gradient(f, np.full(2000, float(i))).sum())
        with mp.get_context("fork").Pool(2) as pool:
            print(pool.map(work, [1, 2, 3]), numba.threading_layer())
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "[4000" in out.stdout


# ------------------------------------------------------------ 8. no writable cache
@pytest.mark.jit_only
def test_import_and_work_without_any_cache_location():
    out = run_python(
        """
        import warnings
        from numba.core import caching
        caching.CacheImpl._locator_classes = []  # as on a read-only install with no home
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import nnnum
            import numpy as np
            print(float(nnnum.cross_entropy_error(np.array([0.1, 0.9]), 1)))
            print(nnnum.numerical_gradient(nnnum.jit(lambda v: np.sum(v**2)), np.ones(3)).tolist())
        cache_warnings = [w for w in caught if "cache" in str(w.message)]
        print("warned", len(cache_warnings))
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "0.10536" in out.stdout and "[2.0" in out.stdout
    assert "warned 1" in out.stdout  # said once, not once per kernel


# ------------------------------------------------- 10. parallel f, object-mode f
@pytest.mark.jit_only
def test_parallel_jitted_f_under_workqueue_layer():
    out = run_python(
        """
        import numpy as np, numba, nnnum
        @numba.njit(parallel=True)
        def f(x):
            s = 0.0
            for i in numba.prange(x.size):
                s += x[i] ** 2
            return s
        x = np.linspace(0.0, 1.0, 2000)
        g = nnnum.numerical_gradient(f, x)
        print(np.allclose(g, 2 * x, atol=1e-6), numba.threading_layer())
        """,
        env={"NUMBA_THREADING_LAYER": "workqueue"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "workqueue"]
