"""The default call with a jitted ``f`` (one fused kernel): the general path's bits and errors.

``numerical_gradient(f, x)`` with a Numba-compiled ``f`` and nothing else set
takes a shortcut (``prange.central2``): a kernel that computes the book's
central difference directly. Everything here compares it with the general
path (``parallel=False`` forces that one) and with the book's formula, and
checks that every unusual input still gets the general path's error or warning.
"""

from __future__ import annotations

import threading
import time

import numba
import numpy as np
import pytest

import nnnum
from nnnum._core.regions import REGIONS
from nnnum.diff import StepRoundingWarning
from nnnum.diff.engines import prange

from ..naive import rosen_jit as rosen
from ..robust_strategies import same_bits

pytestmark = pytest.mark.jit_only


@numba.njit
def logsum(x):
    return np.log(np.sum(np.exp(x)))


@numba.njit
def returns_bool(x):
    return x.sum() > 0


@numba.njit
def returns_array(x):
    return x * 2.0


@numba.njit
def nan_at_3(x):
    v = x.reshape(-1)
    return np.nan if v.size > 3 and v[3] > 0.49 else np.sum(v * v)  # only x[3] + h


@numba.njit
def raises(x):
    if x.reshape(-1)[0] > 0.0:
        raise ValueError("f refuses")
    return 1.0


@numba.njit(parallel=True)
def parallel_f(x):
    s = 0.0
    v = x.reshape(-1)
    for i in numba.prange(v.size):
        s += v[i] * v[i]
    return s


def book(f, x, h=1e-4):
    """The book's formula with the step actually taken, element by element, in NumPy."""
    flat = x.reshape(-1).copy()
    out = np.empty(flat.size)
    hh = x.dtype.type(h)
    for i in range(flat.size):
        xi = flat[i]
        xp, xm = xi + hh, xi - hh
        flat[i] = xp
        fp = float(f(flat.reshape(x.shape)))
        flat[i] = xm
        fm = float(f(flat.reshape(x.shape)))
        flat[i] = xi
        out[i] = (fp - fm) / (np.float64(xp) - np.float64(xm))
    return out.reshape(x.shape).astype(x.dtype)


SHAPES = [(1,), (2,), (7,), (100,), (3, 5), (2, 3, 4), (1, 1, 1, 9)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("f", [rosen, logsum], ids=["rosen", "logsum"])
def test_same_bits_as_general_path_and_book(f, shape, dtype):
    x = np.random.default_rng(sum(shape)).uniform(-1.5, 1.5, shape).astype(dtype)
    snap = x.copy()
    fast = nnnum.numerical_gradient(f, x)
    general = nnnum.numerical_gradient(f, x, parallel=False)
    assert fast.dtype == x.dtype and fast.shape == x.shape
    assert same_bits(fast, general)
    assert same_bits(fast, book(f, x))
    assert same_bits(x, snap)


@pytest.mark.parametrize("layout", ["strided", "fortran", "reversed"])
def test_any_layout_takes_the_kernel_with_the_same_bits(layout):
    rng = np.random.default_rng(5)
    x = {
        "strided": rng.uniform(-1.5, 1.5, 2 * 37)[::2],
        "fortran": np.asfortranarray(rng.uniform(-1.5, 1.5, (5, 7))),
        "reversed": rng.uniform(-1.5, 1.5, 40)[::-1],
    }[layout]
    snap = x.copy()
    got = prange.central2(rosen, x, 1e-4)  # the default call's kernel, on a snapshot of x
    assert got is not None and got.shape == x.shape
    assert same_bits(got, nnnum.numerical_gradient(rosen, x, parallel=False))
    assert same_bits(nnnum.numerical_gradient(rosen, x), got)
    assert same_bits(x, snap)


@pytest.mark.parametrize("lanes", [1, 2, 3, 7, 64, 1000])
def test_lanes_give_the_same_bits_and_restore_x(lanes):
    """Lane 0 perturbs x in place, the others a copy each: all restore what they set."""
    x = np.random.default_rng(6).uniform(-2, 2, (4, 16))
    base = x.copy()
    want = nnnum.numerical_gradient(rosen, x, parallel=False)
    entry = prange._entry(rosen)
    for kernel in entry.central2:
        df, state = np.full_like(base, np.nan), np.array([0.0, 7.0, 0.0])
        done = np.zeros(prange._MAX_CHUNKS, dtype=np.bool_)
        kernel(base, base.dtype.type(1e-4), 1e-4, df, state, lanes, done)
        assert done.all() and state[0] == 0.0 and state[1] == -1.0
        assert same_bits(df, want)
        assert same_bits(base, x)


MIB = 1 << 20


@pytest.mark.parametrize(
    "nbytes, in_place, budget, want",
    [
        (76 * MIB, True, 64 * MIB, 2),  # x itself and one copy: 2x x
        (76 * MIB, False, 64 * MIB, 1),  # the snapshot is the one copy
        (30 * MIB, True, 64 * MIB, 4),  # one copy, and two more within the budget
        (30 * MIB, False, 64 * MIB, 3),
        (800, False, 64 * MIB, 1 + 64 * MIB // 800),  # small: one per thread in practice
        (2 * MIB, True, 0, 2),
        (800, False, 0, 1),
        (0, False, 0, 1),
        (1, False, 2**62, 2**30),
    ],
)
def test_lanes_hold_one_copy_of_x_and_the_budget(monkeypatch, nbytes, in_place, budget, want):
    monkeypatch.setattr(prange, "COPY_BUDGET_BYTES", budget)
    assert prange.max_lanes(nbytes, in_place) == want


@pytest.mark.parametrize("text, mib", [("64", 64), ("0", 0), ("0.5", 0.5), ("1e3", 1000)])
def test_the_copy_budget_is_read_from_the_environment(monkeypatch, text, mib):
    monkeypatch.setenv("NNNUM_COPY_BUDGET_MIB", text)
    assert prange._copy_budget() == int(mib * MIB)


@pytest.mark.parametrize("text", ["-1", "lots", "nan", "inf"])
def test_a_bad_copy_budget_is_a_clear_error(monkeypatch, text):
    monkeypatch.setenv("NNNUM_COPY_BUDGET_MIB", text)
    with pytest.raises(ValueError, match="NNNUM_COPY_BUDGET_MIB must be a number of MiB"):
        prange._copy_budget()


@pytest.mark.parametrize("layout", ["in_place", "strided"])
def test_a_large_x_runs_in_the_lanes_its_budget_allows_with_the_same_bits(
    monkeypatch, num_threads, layout
):
    n = prange.IN_PLACE_MIN_BYTES // 8 + 11
    rng = np.random.default_rng(13)
    x = rng.uniform(-1, 1, n) if layout == "in_place" else rng.uniform(-1, 1, 2 * n)[::2]
    snap = x.copy()
    want = nnnum.numerical_gradient(ends, x, parallel=False)
    seen: list[int] = []
    real = prange._central2
    monkeypatch.setattr(
        prange, "_central2", lambda e, b, h, lanes: seen.append(lanes) or real(e, b, h, lanes)
    )
    monkeypatch.setattr(prange, "COPY_BUDGET_BYTES", 0)
    with num_threads(2):
        got = nnnum.numerical_gradient(ends, x)
    assert seen == [2 if layout == "in_place" else 1]  # the gradient and one copy of x
    assert same_bits(got, want) and same_bits(x, snap)


@numba.njit
def ends(x):
    return x[0] * x[-1] + np.sin(x[x.size // 2])  # cheap: a million elements in a blink


@pytest.mark.timeout(120)
def test_nnnum_readers_never_see_a_jitted_call_perturbing_x_in_place():
    W = np.random.default_rng(8).uniform(-1, 1, prange.IN_PLACE_MIN_BYTES // 8)  # in place
    keep = W.copy()
    want = nnnum.numerical_gradient(rosen, W, parallel=False)
    stop, seen, grads = threading.Event(), [], []

    def writer():
        while not stop.is_set():
            grads.append(nnnum.numerical_gradient(rosen, W))  # in place, holding W's region

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for th in threads:
        th.start()
    try:
        for _ in range(300):
            seen.append(REGIONS.snapshot(W[:10]))
            seen.append(REGIONS.snapshot(W[1000:1010]))
    finally:
        stop.set()
        for th in threads:
            th.join(60)
    assert grads and all(same_bits(g, want) for g in grads)
    assert all(same_bits(s, keep[:10]) for s in seen[::2])
    assert all(same_bits(s, keep[1000:1010]) for s in seen[1::2])
    assert same_bits(W, keep)


@pytest.mark.parametrize("h", [1e-4, 1e-3, 0.5, 1e-6])
def test_same_bits_for_any_thread_count_and_h(h, num_threads):
    x = np.random.default_rng(3).uniform(-2, 2, 257)
    want = nnnum.numerical_gradient(rosen, x, h=h, parallel=False)
    for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        with num_threads(threads):
            assert same_bits(nnnum.numerical_gradient(rosen, x, h=h), want), threads


def test_errors_and_warnings_are_the_general_paths():
    x = np.linspace(0.1, 1.0, 8)
    bad = x.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match=r"x\[5\]"):
        nnnum.numerical_gradient(rosen, bad)
    near = x.copy()
    near[3] = 0.48995
    with pytest.raises(FloatingPointError, match=r"x\[3\] \+ h"):
        nnnum.numerical_gradient(nan_at_3, near)
    for _ in range(2):  # the return type is checked on the first call and remembered
        with pytest.raises(TypeError, match="bool"):
            nnnum.numerical_gradient(returns_bool, x)
    with pytest.raises(ValueError, match="scalar"):
        nnnum.numerical_gradient(returns_array, x)
    big = np.full(4, 3e4, dtype=np.float32)  # float32 rounds x + 1e-4 to x + 0 or + 2**-9
    with pytest.raises(ValueError, match="resolution"):
        nnnum.numerical_gradient(rosen, big)
    mid = np.full(4, 1.0, dtype=np.float32)  # at 1 the step rounds by <0.1%; at 300 by 8%
    mid[2] = 300.0
    with pytest.warns(StepRoundingWarning, match=r"x\[2\]"):
        g = nnnum.numerical_gradient(rosen, mid)
    with pytest.warns(StepRoundingWarning):
        assert same_bits(g, nnnum.numerical_gradient(rosen, mid, parallel=False))
    with pytest.raises(ValueError, match="h must be"):
        nnnum.numerical_gradient(rosen, x, h=-1.0)
    with pytest.raises(ValueError, match="h must be"):
        nnnum.numerical_gradient(rosen, x, h=float("nan"))


def test_f_raising_leaves_x_and_comes_back_as_itself():
    x = np.linspace(0.0, 1.0, 50)  # f raises at x[0] + h
    snap = x.copy()
    with pytest.raises(ValueError, match="f refuses"):
        nnnum.numerical_gradient(raises, x)
    assert same_bits(x, snap)


@numba.njit
def raises_past(w):
    for v in w.reshape(-1):
        if v > 2.5:
            raise ValueError("boom from jitted f")
    return np.sum(w * w)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("n", [2, 50, 5000])
@pytest.mark.parametrize("options", [{}, {"parallel": True}, {"order": 4}], ids=str)
def test_f_raising_in_any_thread_is_never_lost(n, where, options):
    # Numba loses an exception raised in a worker thread of a parallel loop (the kernel just
    # returns, with that chunk unfinished): once, that was a silently wrong gradient
    k = {"first": 0, "middle": n // 2, "last": n - 1}[where]
    x = np.linspace(1.0, 2.0, n)
    x[k] = 2.49995  # only x[k] + h (and + 2h) cross 2.5
    snap = x.copy()
    for _ in range(3):
        with pytest.raises(ValueError, match="boom"):
            nnnum.numerical_gradient(raises_past, x, **options)
    assert same_bits(x, snap)


@numba.njit
def raises_at_three(w):
    v = w.reshape(-1)
    for k in (0, v.size // 2, v.size - 1):
        if v[k] > 2.5:
            raise ValueError("boom from jitted f")
    return v[0] * v[0] + v[v.size // 2] + v[v.size - 1]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("parallel", [None, True, False])
def test_f_raising_while_x_is_perturbed_in_place_restores_x(where, parallel):
    n = prange.IN_PLACE_MIN_BYTES // 8 + 3  # perturbed in place by the kernel's first lane
    k = {"first": 0, "middle": n // 2, "last": n - 1}[where]
    x = np.linspace(1.0, 2.0, n).reshape(-1, 1)
    x[k] = 2.49995  # only x[k] + h crosses 2.5
    snap = x.copy()
    for _ in range(3):
        with pytest.raises(ValueError, match="boom"):
            nnnum.numerical_gradient(raises_at_three, x, parallel=parallel)
        assert same_bits(x, snap)
    x[k] = 1.5
    want = nnnum.numerical_gradient(raises_at_three, x.copy(), parallel=False)
    assert same_bits(prange.central2(raises_at_three, x, 1e-4), want)


@numba.njit
def nan_then_raises(w):
    v = w.reshape(-1)
    if v[v.size // 2 - 1] > 2.5:
        return np.nan  # the first lane's last element: it stops there (general path)
    if v[v.size - 1] > 2.5:
        raise ValueError("boom last")  # the last lane's, in a worker thread: lost, rerun
    return v[0] * v[0] + v[v.size - 1]


@pytest.mark.parametrize(
    "n", [2**15, prange.IN_PLACE_MIN_BYTES // 8 + 5], ids=["snapshot", "in_place"]
)
def test_a_lane_stopping_and_a_lost_exception_give_fs_exception(n):
    # the serial rerun (one lane) would stop at the NaN before the element where f raises
    x = np.linspace(1.0, 2.0, n)
    x[n // 2 - 1] = x[-1] = 2.49995
    snap = x.copy()
    for _ in range(3):
        with pytest.raises(ValueError, match="boom last"):
            nnnum.numerical_gradient(nan_then_raises, x)
        assert same_bits(x, snap)
    with pytest.raises(ValueError, match="boom last"):
        nnnum.numerical_gradient(nan_then_raises, x, parallel=False)


def test_unusual_inputs_take_the_general_path():
    x = np.random.default_rng(0).uniform(-1, 1, (6, 4))
    want = nnnum.numerical_gradient(rosen, x, parallel=False)
    f_order = np.asfortranarray(x)
    g = nnnum.numerical_gradient(rosen, f_order)  # on a C-ordered snapshot inside
    assert same_bits(np.ascontiguousarray(g), want)
    readonly = x.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        nnnum.numerical_gradient(rosen, readonly)
    assert same_bits(nnnum.numerical_gradient(rosen, x.tolist()), want)
    # an f with its own parallel regions runs from the serial kernel (its own reduction order)
    assert np.allclose(nnnum.numerical_gradient(parallel_f, x), 2 * x, rtol=1e-6)
    with pytest.raises(TypeError, match="integer"):
        nnnum.numerical_gradient(rosen, np.arange(5))


def test_snapshot_waits_for_a_writer_and_sees_x_restored():
    x = np.arange(6.0)
    entered, release = threading.Event(), threading.Event()

    def writer():
        with REGIONS.hold(x[2:4]):
            x[3] += 100.0  # an in-place perturbation, as the loop engine makes
            entered.set()
            release.wait(10)
            x[3] -= 100.0

    th = threading.Thread(target=writer)
    th.start()
    entered.wait(10)
    got: list = []
    reader = threading.Thread(target=lambda: got.append(REGIONS.snapshot(x)))
    reader.start()
    time.sleep(0.05)
    assert not got, "the snapshot did not wait for the writer"
    release.set()
    th.join(10)
    reader.join(10)
    assert same_bits(got[0], np.arange(6.0))


@pytest.mark.timeout(120)
def test_jitted_readers_never_see_a_python_writers_perturbation():
    W = np.random.default_rng(2).uniform(-1, 1, 40)
    want = nnnum.numerical_gradient(rosen, W.copy())
    stop = threading.Event()
    seen: list = []

    def slow_rosen(w):
        time.sleep(1e-4)  # releases the GIL mid-perturbation
        return rosen(w)

    def writer():
        while not stop.is_set():
            nnnum.numerical_gradient(slow_rosen, W)

    th = threading.Thread(target=writer)
    th.start()
    try:
        for _ in range(300):
            seen.append(nnnum.numerical_gradient(rosen, W))
    finally:
        stop.set()
        th.join(60)
    assert all(same_bits(g, want) for g in seen)


def test_kernel_cache_still_bounded_and_shared():
    @numba.njit
    def g(x):
        return np.sum(x * x)

    x = np.ones(5)
    nnnum.numerical_gradient(g, x)
    assert prange.cached_functions()[-1] is g
    par, ser = prange.kernels(g)
    assert prange.kernels(g) == (par, ser)


@numba.njit(parallel=True)
def _par(x):
    return np.sum(np.sin(x))


@numba.njit(cache=True)
def _calls_par(x):  # from the disk cache on a second run: its compiled code cannot be inspected
    return _par(x)


@numba.njit
def _calls_calls_par(x):
    return _calls_par(x) + 1.0


def _closure_over(fn):
    @numba.njit
    def inner(x):
        return fn(x)

    return inner


def test_functions_with_parallel_regions_of_their_own_are_seen():
    from nnnum.diff.engines.prange import runs_parallel_regions

    assert runs_parallel_regions(_par)
    assert runs_parallel_regions(_calls_par)
    assert runs_parallel_regions(_calls_calls_par)
    assert runs_parallel_regions(_closure_over(_par))
    assert not runs_parallel_regions(rosen)
    assert not runs_parallel_regions(_closure_over(rosen))
    x = np.linspace(-1.0, 1.0, 33)
    for f in (_calls_par, _calls_calls_par):  # run from the serial kernel, right
        assert np.allclose(nnnum.numerical_gradient(f, x), np.cos(x), atol=1e-7)
        assert np.allclose(nnnum.numerical_gradient(f, x, method="complex"), np.cos(x))


def test_the_fused_kernel_answers_the_plain_cases_itself():
    # the shortcut must not quietly hand every call to the general path (same bits, 2x the cost)
    from nnnum.diff.engines import prange

    x = np.random.default_rng(4).uniform(-1.5, 1.5, 64)
    got = prange.central2(rosen, x.copy(), 1e-4)
    assert got is not None and same_bits(got, nnnum.numerical_gradient(rosen, x, parallel=False))
    assert prange.central2(rosen, np.full(4, 300.0, dtype=np.float32), 1e-4) is None  # rounds
    near = np.linspace(0.1, 1.0, 8)
    near[3] = 0.48995
    assert prange.central2(nan_at_3, near, 1e-4) is None  # f is NaN at x[3] + h
