"""Misuse that once gave a silently wrong answer, a crash or an unclear error (issue 8).

Each test names the class of defect it keeps fixed. Cases that could crash the
interpreter (kernels fed malformed shapes, fork after a parallel region) run in
a subprocess, so a segfault fails the test instead of killing the run.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import weakref

import numba
import numpy as np
import pytest

import nnnum
from nnnum import _jit
from nnnum._regions import has_internal_overlap
from nnnum.diff.engines import prange as _kernels_diff

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(
    code: str, *, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the repo on its path); never raises on failure."""
    full_env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )


# ------------------------------------------------------------------ 1. concurrency
def _slow_sq(w):
    time.sleep(0.001)
    return float(np.sum(w**2))


def _in_threads(fn, n=2):
    results, errors = [None] * n, []

    def work(i):
        try:
            results[i] = fn(i)
        except BaseException as exc:  # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_threads_on_the_same_array_take_turns():
    w = np.array([1.0, 2.0, 3.0])
    for _ in range(3):
        grads = _in_threads(lambda i: nnnum.numerical_gradient(_slow_sq, w))
        for g in grads:
            np.testing.assert_allclose(g, [2.0, 4.0, 6.0], atol=1e-6)
        np.testing.assert_array_equal(w, [1.0, 2.0, 3.0])


def test_threads_on_overlapping_views_take_turns():
    base = np.arange(1.0, 7.0)
    views = [base[:4], base[2:]]  # share base[2:4]

    def f(i):
        return nnnum.numerical_gradient(lambda w: _slow_sq(base), views[i])

    g0, g1 = _in_threads(f)
    np.testing.assert_allclose(g0, 2 * base[:4], atol=1e-6)
    np.testing.assert_allclose(g1, 2 * base[2:], atol=1e-6)
    np.testing.assert_array_equal(base, np.arange(1.0, 7.0))


def test_threads_on_separate_arrays_run_concurrently_and_agree():
    arrays = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]
    g = _in_threads(lambda i: nnnum.numerical_gradient(_slow_sq, arrays[i]))
    np.testing.assert_allclose(g[0], [2.0, 4.0], atol=1e-6)
    np.testing.assert_allclose(g[1], [6.0, 8.0], atol=1e-6)


def test_brute_network_gradient_from_two_threads_on_one_net():
    net = nnnum.TwoLayerNet(4, 3, 2, weight_init_std=0.5, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 4)), np.array([0, 1, 1, 0, 1])
    before = {k: v.copy() for k, v in net.params.items()}
    ref = net.numerical_gradient(x, t, method="brute")
    got = _in_threads(lambda i: net.numerical_gradient(x, t, method="brute"), n=3)
    for g in got:
        for k in ref:
            np.testing.assert_array_equal(g[k], ref[k])
    for k in before:
        np.testing.assert_array_equal(net.params[k], before[k])


def test_jitted_f_from_four_threads():
    f = nnnum.jit(lambda v: np.sum(v**3))
    x = np.linspace(-1, 1, 500)
    ref = nnnum.numerical_gradient(f, x, parallel=False)
    for g in _in_threads(lambda i: nnnum.numerical_gradient(f, x), n=4):
        np.testing.assert_array_equal(g, ref)


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


# ---------------------------------------------------------- 2. overlapping memory
def test_overlapping_writable_view_is_rejected():
    base = np.arange(5.0)
    x = np.lib.stride_tricks.sliding_window_view(base, 3, writeable=True)
    with pytest.raises(ValueError, match="share memory"):
        nnnum.numerical_gradient(lambda w: float(np.sum(w)), x)
    np.testing.assert_array_equal(base, np.arange(5.0))


@pytest.mark.parametrize(
    "make, overlap",
    [
        (lambda: np.zeros((3, 4)), False),
        (lambda: np.zeros((3, 4))[:, ::2], False),
        (lambda: np.zeros((3, 4))[::-1, ::-2], False),
        (lambda: np.zeros((4, 3)).T, False),
        (lambda: np.lib.stride_tricks.as_strided(np.zeros(8), (2, 2), (16, 24)), False),
        (lambda: np.lib.stride_tricks.as_strided(np.zeros(8), (3, 3), (8, 16)), True),
        (lambda: np.lib.stride_tricks.sliding_window_view(np.zeros(6), 2), True),
        (lambda: np.zeros(0), False),
        (lambda: np.zeros(()), False),
    ],
)
def test_internal_overlap_detection(make, overlap):
    assert has_internal_overlap(make()) is overlap


def test_broadcast_view_gets_the_broadcast_message_not_read_only():
    with pytest.raises(ValueError, match="broadcast"):
        nnnum.numerical_gradient(lambda w: float(w.sum()), np.broadcast_to(np.ones(1), (3,)))


# ----------------------------------------------------------------- 3-4. one h check
BAD_H = [
    (True, TypeError),
    ("1e-4", TypeError),
    (-1e-4, ValueError),
    (0, ValueError),
    (np.nan, ValueError),
    (np.inf, ValueError),
]


@pytest.mark.parametrize("h, exc", BAD_H)
@pytest.mark.parametrize("method", ["structured", "brute"])
def test_network_gradient_checks_h(h, exc, method, backend):
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    with pytest.raises(exc, match="h"):
        net.numerical_gradient(np.ones((2, 3)), np.array([0, 1]), method=method, h=h)


@pytest.mark.parametrize("h, exc", BAD_H)
def test_every_entry_point_checks_h_alike(h, exc):
    f = lambda w: float(np.sum(w**2))  # noqa: E731
    for call in (
        lambda: nnnum.numerical_gradient(f, np.ones(2), h=h),
        lambda: nnnum.numerical_diff(lambda v: v**2, 1.0, h=h),
        lambda: nnnum.batched_numerical_gradient(lambda X: (X**2).sum(axis=1), np.ones(2), h=h),
        lambda: nnnum.gradient_descent(f, np.ones(2), h=h),
    ):
        with pytest.raises(exc, match="h"):
            call()


def test_h_none_is_the_default_step_everywhere():
    f = lambda w: float(np.sum(w**3))  # noqa: E731
    x = np.array([0.5, 1.5, -2.0])
    for call in (
        lambda h: nnnum.numerical_gradient(f, x, h=h),
        lambda h: nnnum.numerical_diff(lambda v: v**3, x, h=h),
        lambda h: nnnum.batched_numerical_gradient(lambda X: (X**3).sum(axis=1), x, h=h),
        lambda h: nnnum.gradient_descent(f, x, step_num=3, h=h),
    ):
        assert np.array_equal(call(None), call(1e-4))
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    xs, t = np.ones((2, 3)), np.array([0, 1])
    for method in ("structured", "brute"):
        a = net.numerical_gradient(xs, t, method=method, h=None)
        b = net.numerical_gradient(xs, t, method=method, h=1e-4)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_gradcheck_never_swallows_errors():
    net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((4, 5)), np.array([0, 1, 2, 0])
    with pytest.raises(TypeError, match="h"):
        nnnum.gradcheck(net, x, t, h="1e-3")
    with pytest.raises(TypeError, match="h"):
        nnnum.gradcheck(net, x, t, method="brute", h="1e-3")
    with pytest.raises(ValueError, match="method"):
        nnnum.gradcheck(net, x, t, method="fast")


def test_gradcheck_on_a_net_without_options():
    class Plain(nnnum.TwoLayerNet):
        def numerical_gradient(self, x, t):  # the book's signature
            return super().numerical_gradient(x, t, method="brute")

    net = Plain(5, 4, 3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((4, 5)), np.array([0, 1, 2, 0])
    assert nnnum.gradcheck(net, x, t)
    with pytest.raises(TypeError, match="'h'"):
        nnnum.gradcheck(net, x, t, h=1e-3)


# ------------------------------------------------------------------- 5. complex input
def test_complex_input_is_a_type_error_everywhere(backend):
    net = nnnum.TwoLayerNet(2, 2, 2, seed=0)
    xc = np.array([[1 + 1j, 2.0]])
    calls = {
        "numerical_diff": lambda: nnnum.numerical_diff(lambda v: v**2, 1 + 1j),
        "numerical_gradient": lambda: nnnum.numerical_gradient(lambda v: 0.0, np.ones(2, complex)),
        "batched": lambda: nnnum.batched_numerical_gradient(lambda X: X.sum(axis=1), [1 + 1j]),
        "loss": lambda: net.loss(xc, [0]),
        "predict": lambda: net.predict(xc),
        "gradient": lambda: net.gradient(xc, [0]),
        "accuracy": lambda: net.accuracy(xc, [0]),
        "numerical": lambda: net.numerical_gradient(xc, [0]),
        "softmax": lambda: nnnum.softmax(np.ones(3, complex)),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match="complex|real"):
            call()
        del name


def test_object_and_complex_x_messages_say_what_is_wrong():
    with pytest.raises(TypeError, match="complex"):
        nnnum.numerical_gradient(lambda v: 0.0, np.ones(2, complex))
    with pytest.raises(TypeError, match="object") as info:
        nnnum.numerical_gradient(lambda v: 0.0, np.array([1.0, "a"], dtype=object))
    assert "integer" not in str(info.value)
    with pytest.raises(TypeError, match="None"):
        nnnum.numerical_gradient(lambda v: 0.0, None)


# ---------------------------------------------------------- 7. inconsistent params
def test_inconsistent_params_are_rejected_before_any_kernel():
    # in a subprocess: before the fix this corrupted the heap in half the runs
    out = run_python(
        """
        import numpy as np, nnnum
        rng = np.random.default_rng(0)
        x, t = rng.standard_normal((6, 5)), np.array([0, 1, 2, 0, 1, 2])
        cases = {
            "W2 rows": ("W2", np.ones((5, 3))),
            "W2 1-D": ("W2", np.ones(4)),
            "b1 length": ("b1", np.zeros(7)),
            "b2 length": ("b2", np.zeros(2)),
            "W1 1-D": ("W1", np.ones(5)),
            "W1 rows": ("W1", np.ones((9, 4))),
            "b2 2-D": ("b2", np.zeros((3, 1))),
            "W2 list": ("W2", [[1.0] * 3] * 4),
            "W1 complex": ("W1", np.ones((5, 4), complex)),
        }
        for backend in ("numba", "numpy"):
            with nnnum.use_backend(backend):
                for name, (key, value) in cases.items():
                    for method in ("predict", "loss", "gradient", "structured", "brute", "accuracy"):
                        net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
                        net.params[key] = value
                        try:
                            if method == "predict":
                                net.predict(x)
                            elif method in ("loss", "gradient", "accuracy"):
                                getattr(net, method)(x, t)
                            else:
                                net.numerical_gradient(x, t, method=method)
                        except (ValueError, TypeError) as exc:
                            ok = key in str(exc) or (key == "W1" and "inputs per sample" in str(exc))
                            assert ok, (name, method, str(exc))
                        else:
                            raise SystemExit(f"no error for {name} / {method} / {backend}")
        print("all rejected")
        """
    )
    assert out.returncode == 0, out.stdout[-1000:] + out.stderr[-2000:]
    assert "all rejected" in out.stdout


def test_float_params_of_any_layout_still_work():
    net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    ref_net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    net.params["W1"] = np.asfortranarray(net.params["W1"])
    net.params["W2"] = net.params["W2"].astype(np.float32).astype(np.float64)
    ref_net.params["W2"] = net.params["W2"].copy()
    x, t = np.random.default_rng(1).standard_normal((6, 5)), np.arange(6) % 3
    a, b = net.numerical_gradient(x, t), ref_net.numerical_gradient(x, t)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


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


def test_object_mode_f_runs_as_python():
    f = numba.jit(forceobj=True)(lambda v: float(np.sum(v**2)))
    np.testing.assert_allclose(nnnum.numerical_gradient(f, np.array([1.0, 2.0])), [2, 4], atol=1e-6)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_matrix_x_is_perturbed_in_place_and_f_sees_a_matrix():
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    seen = []

    def f(w):
        seen.append(type(w))
        return float(np.sum(np.asarray(w) ** 2))

    g = nnnum.numerical_gradient(f, m)
    np.testing.assert_allclose(g, 2 * np.asarray(m), atol=1e-6)
    assert set(seen) == {np.matrix}
    np.testing.assert_array_equal(m, [[1.0, 2.0], [3.0, 4.0]])


# ------------------------------------------------------------ 13. wide softmax CE
def test_softmax_ce_with_a_million_classes_needs_little_memory():
    out = run_python(
        """
        import resource, numpy as np, nnnum
        z = np.random.default_rng(0).standard_normal((1, 1_000_000))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        got = nnnum.softmax_cross_entropy(z, np.array([3]))
        extra_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        with nnnum.use_backend("numpy"):
            ref = nnnum.softmax_cross_entropy(z, np.array([3]))
        print(abs(got - ref) <= 1e-12 * abs(ref), extra_mib < 200, round(extra_mib))
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    ok_value, ok_memory, _ = out.stdout.split()
    assert ok_value == "True" and ok_memory == "True", out.stdout


@pytest.mark.parametrize("shape", [(3, 513), (700, 600), (2, 5000)])
def test_wide_softmax_ce_matches_the_reference(shape):
    rng = np.random.default_rng(1)
    z = 30 * rng.standard_normal(shape)
    labels = rng.integers(0, shape[1], shape[0])
    dense = rng.random(shape)
    for t in (labels, dense):
        got = nnnum.softmax_cross_entropy(z, t, reduction="none")
        with nnnum.use_backend("numpy"):
            ref = nnnum.softmax_cross_entropy(z, t, reduction="none")
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-14)


# ------------------------------------------------------------- 14. kernel cache
@pytest.mark.jit_only
def test_kernels_of_dropped_functions_are_freed():
    refs = []
    for k in range(_kernels_diff.CACHE_SIZE + 5):
        f = nnnum.jit(lambda v, k=k: np.sum(v**2) + k)
        nnnum.numerical_gradient(f, np.ones(3))
        refs.append(weakref.ref(f))
    del f
    gc.collect()
    assert len(_kernels_diff.cached_functions()) == _kernels_diff.CACHE_SIZE
    assert refs[0]() is None  # the oldest function (and its kernels) are gone
    g = nnnum.jit(lambda v: np.sum(v**3))
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(nnnum.numerical_gradient(g, x), nnnum.numerical_gradient(g, x))


# ------------------------------------------------------------------ 16. lazy loop
def test_strided_loop_builds_no_index_list():
    x = np.zeros((4000, 5000))[:, ::2]  # 10^7 elements, not contiguous

    def f(w):
        raise KeyError("stop")

    tracemalloc.start()
    try:
        with pytest.raises(KeyError):
            nnnum.numerical_gradient(f, x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # x + h, x - h and the steps (80 MB each) are needed; a list of 10^7 index tuples
    # would add more than 1 GB
    assert peak < 700e6, peak


# ---------------------------------------------------- 17. exceptions as themselves
def test_exception_in_a_jitted_f_inside_the_parallel_kernel():
    @numba.njit
    def f(x):
        if x[3] > 3.00005:
            raise ValueError("boom")
        return np.sum(x**2)

    x = np.arange(100.0)
    for parallel in (None, False):
        with pytest.raises(ValueError, match="boom"):
            nnnum.numerical_gradient(f, x, parallel=parallel)
    np.testing.assert_array_equal(x, np.arange(100.0))


def test_call_kernel_unwraps_an_interrupt():
    def fake_kernel():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("returned a result with an exception set") from exc

    with pytest.raises(KeyboardInterrupt):
        _jit.call_kernel(fake_kernel)


# ------------------------------------------------------------------- 18. float16
@pytest.mark.parametrize(
    "fn",
    [
        nnnum.sigmoid,
        nnnum.relu,
        nnnum.step_function,
        nnnum.softmax,
        lambda y: nnnum.cross_entropy_error(nnnum.softmax(y), np.array([1, 0])),
        lambda y: nnnum.mean_squared_error(y, np.array([1, 0])),
        lambda y: nnnum.softmax_cross_entropy(y, np.array([1, 0])),
    ],
)
def test_float16_computes_like_the_reference(fn):
    y = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -0.5]], dtype=np.float16)
    got = fn(y)
    with nnnum.use_backend("numpy"):
        ref = fn(y)
    assert np.asarray(got).dtype == np.asarray(ref).dtype
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(ref, float), rtol=1e-6)


# --------------------------------------------------------------- 22. messages
def test_batched_nan_x_says_not_finite():
    with pytest.raises(ValueError, match="not finite"):
        nnnum.batched_numerical_gradient(lambda X: X.sum(axis=1), np.array([1.0, np.nan]))


def test_t_none_is_named(backend):
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    for call in (
        lambda: nnnum.cross_entropy_error(np.array([0.5, 0.5]), None),
        lambda: net.loss(np.ones(3), None),
        lambda: nnnum.softmax_cross_entropy(np.ones((2, 2)), None),
    ):
        with pytest.raises(TypeError, match="t is None"):
            call()


def test_f_returning_one_value_per_row_points_to_numerical_gradient_2d():
    with pytest.raises(ValueError, match="numerical_gradient_2d"):
        nnnum.numerical_gradient(lambda X: np.sum(X**2, axis=1), np.ones((2, 3)))


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_every_non_finite_value_of_f_names_the_element(value):
    def f(w):
        return value if w[1] > 2.00001 else float(np.sum(w))

    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(FloatingPointError, match=r"x\[1\]"):
        nnnum.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_list_x_that_f_never_reads_warns():
    W = [[1.0, 2.0], [3.0, 4.0]]
    holder = {"W": W}

    def f(_):
        return float(np.sum(np.asarray(holder["W"]) ** 2))  # reads the list, not its argument

    with pytest.warns(RuntimeWarning, match="never sees that copy"):
        g = nnnum.numerical_gradient(f, holder["W"])
    np.testing.assert_array_equal(g, 0.0)
    # a list for an f that uses its argument: no warning
    np.testing.assert_allclose(
        nnnum.numerical_gradient(lambda v: float(np.sum(v**2)), [3.0, 4.0]), [6, 8], atol=1e-6
    )
