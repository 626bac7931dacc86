"""Concurrency robustness (issue #8): Python threads on shared and on separate arrays.

numerical_gradient perturbs ``x`` in place (the book's idiom relies on it), so
two threads on the *same* ``x`` are the hostile case: each must still get the
right gradient and ``x`` must end bit-identical.  Fork after a parallel kernel
lives in ``test_crashes_in_subprocesses.py`` (it needs a fresh process).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import nnnum

from .robust_strategies import same_bits


def _run_threads(n, target):
    """Run ``target(i)`` in ``n`` threads released together; results or exceptions by index."""
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def work(i):
        barrier.wait()
        try:
            out[i] = ("ok", target(i))
        except BaseException as e:  # noqa: BLE001
            out[i] = ("error", e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
        assert not th.is_alive(), "thread hung"
    return out


def slow_sq(w):
    time.sleep(0.001)
    return float(np.sum(np.asarray(w, dtype=np.float64) ** 2))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("repeat", range(3))
def test_two_threads_same_x_python_f(repeat):
    W = np.array([1.0, 2.0, 3.0])
    snap = W.copy()
    res = _run_threads(2, lambda i: nnnum.numerical_gradient(slow_sq, W))
    for status, val in res:
        assert status == "ok", val
        assert np.allclose(val, [2.0, 4.0, 6.0], atol=1e-6), (
            f"thread on a shared x got {val}: the other thread's in-place perturbation leaked in"
        )
    assert same_bits(W, snap), (W, snap)


@pytest.mark.timeout(120)
def test_two_threads_same_2d_x_python_f():
    W = np.arange(1.0, 7.0).reshape(2, 3)
    Wf = np.asfortranarray(W.copy())
    for X in (W, Wf):
        snap = np.array(X, copy=True)
        res = _run_threads(2, lambda i: nnnum.numerical_gradient(slow_sq, X))
        for status, val in res:
            assert status == "ok", val
            assert np.allclose(val, 2 * snap, atol=1e-6), val
        assert same_bits(np.ascontiguousarray(X), np.ascontiguousarray(snap))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_two_threads_shared_net_brute(backend):
    net = nnnum.TwoLayerNet(3, 3, 2, weight_init_std=0.5, seed=1)
    x = np.random.default_rng(0).random((4, 3))
    t = np.array([0, 1, 1, 0])
    snaps = {k: v.copy() for k, v in net.params.items()}
    with nnnum.use_backend(backend):
        want = net.gradient(x, t)

    def call(i):
        with nnnum.use_backend(backend):
            return net.numerical_gradient(x, t, strategy="brute")

    res = _run_threads(2, call)
    for status, val in res:
        assert status == "ok", val
        for k in want:
            assert np.allclose(val[k], want[k], rtol=1e-5, atol=1e-7), (
                f"{k}: shared-net brute gradient from two threads is wrong: {val[k]} vs {want[k]}"
            )
    for k, v in net.params.items():
        assert same_bits(v, snaps[k]), k


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_threads_shared_net_structured_and_losses(backend):
    net = nnnum.TwoLayerNet(5, 6, 4, weight_init_std=0.5, seed=2)
    x = np.random.default_rng(1).random((30, 5))
    t = np.arange(30) % 4
    with nnnum.use_backend(backend):
        want = net.numerical_gradient(x, t, strategy="structured")
        want_loss = net.loss(x, t)

    def call(i):
        with nnnum.use_backend(backend):
            return net.numerical_gradient(x, t, strategy="structured"), net.loss(x, t)

    for status, val in _run_threads(4, call):
        assert status == "ok", val
        g, loss = val
        assert loss == want_loss
        for k in want:
            assert same_bits(g[k], want[k]), k


@pytest.mark.timeout(180)
def test_threads_separate_arrays_match_serial():
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((3, 4)) for _ in range(4)]
    serial = [nnnum.numerical_gradient(slow_sq, x.copy()) for x in xs]
    res = _run_threads(4, lambda i: nnnum.numerical_gradient(slow_sq, xs[i]))
    for i, (status, val) in enumerate(res):
        assert status == "ok", val
        assert same_bits(val, serial[i]), i


@numba.njit
def _jf(w):
    s = 0.0
    for v in w.ravel():
        s += v * v + np.sin(v)
    return s


@pytest.mark.jit_only
@pytest.mark.timeout(300)
@pytest.mark.parametrize("shared", [False, True], ids=["separate", "shared"])
def test_jitted_f_from_four_threads(shared):
    rng = np.random.default_rng(7)
    base = rng.standard_normal(3000)
    xs = [base if shared else base + i for i in range(4)]
    snaps = [x.copy() for x in xs]
    serial = [nnnum.numerical_gradient(_jf, x.copy()) for x in xs]
    res = _run_threads(4, lambda i: nnnum.numerical_gradient(_jf, xs[i]))
    for i, (status, val) in enumerate(res):
        assert status == "ok", val
        assert same_bits(val, serial[i]), i
    for x, s in zip(xs, snaps, strict=True):
        assert same_bits(x, s)


@pytest.mark.timeout(300)
def test_parallel_losses_from_threads_both_backends():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((20000, 10))  # above the parallel threshold
    t = np.arange(20000) % 10
    want = {}
    for be in ("numba", "numpy"):
        with nnnum.use_backend(be):
            want[be] = (
                float(nnnum.softmax_cross_entropy(z, t)),
                nnnum.softmax(z),
                nnnum.sigmoid(z),
            )

    def call(i):
        be = ("numba", "numpy")[i % 2]
        with nnnum.use_backend(be):
            return be, float(nnnum.softmax_cross_entropy(z, t)), nnnum.softmax(z), nnnum.sigmoid(z)

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(call, range(8)))
    for be, loss, sm, sg in results:
        w = want[be]
        assert loss == w[0] and same_bits(sm, w[1]) and same_bits(sg, w[2]), be


@pytest.mark.timeout(120)
def test_use_backend_is_thread_local():
    seen = {}

    def call(i):
        be = ("numba", "numpy")[i]
        with nnnum.use_backend(be):
            time.sleep(0.05)
            seen[i] = nnnum.get_backend()

    _run_threads(2, call)
    assert seen == {0: "numba", 1: "numpy"}


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
    ref = net.numerical_gradient(x, t, strategy="brute")
    got = _in_threads(lambda i: net.numerical_gradient(x, t, strategy="brute"), n=3)
    for g in got:
        for k in ref:
            np.testing.assert_array_equal(g[k], ref[k])
    for k in before:
        np.testing.assert_array_equal(net.params[k], before[k])


def test_jitted_f_from_four_threads_equals_the_serial_kernel():
    f = nnnum.jit(lambda v: np.sum(v**3))
    x = np.linspace(-1, 1, 500)
    ref = nnnum.numerical_gradient(f, x, parallel=False)
    for g in _in_threads(lambda i: nnnum.numerical_gradient(f, x), n=4):
        np.testing.assert_array_equal(g, ref)


def _layouts():
    a = np.zeros((4, 5))
    ro = np.zeros(4)
    ro.flags.writeable = False
    return [
        np.zeros(3),
        a[1:3],
        a[:, 1],
        a.T,
        np.zeros(7, dtype=">f4"),
        np.zeros(1),
        np.zeros((3, 4), order="F"),
        np.zeros(10)[::-1],
        np.frombuffer(bytearray(80)),
        np.zeros(5, np.float32)[2:],
        ro,
        np.lib.stride_tricks.sliding_window_view(np.zeros(6), 3),
    ]


@pytest.mark.parametrize("i", range(12))
def test_the_locked_span_is_numpys_byte_bounds(i):
    from nnnum._core.regions import _byte_bounds as byte_bounds  # NumPy's, either version
    from nnnum._core.regions import _span

    a = _layouts()[i]
    assert _span(a) == byte_bounds(a)
