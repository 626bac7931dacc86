"""workers=: results are matched to their tasks by identity, and a map or Executor that
misbehaves (too many or too few results, None, not iterable, shut down) is one clear error."""

from __future__ import annotations

import multiprocessing
import random
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import nnnum
from nnnum.diff.engines import executors
from nnnum.diff.engines.executors import Workers, check_workers

cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def g(w):
    return float(np.sum(np.sin(w) * np.arange(1.0, w.size + 1).reshape(w.shape)) + np.sum(w**3))


X = np.linspace(-1.5, 2.0, 12).reshape(3, 4)


def serial():
    return nnnum.numerical_gradient(g, X, order=4)


def run(workers):
    before = X.copy()
    try:
        return nnnum.numerical_gradient(g, X, order=4, workers=workers, progress=False)
    finally:
        assert np.array_equal(X, before)


# ------------------------------------------------------------- any order is right
def reversed_results(fn, items):
    return [fn(a) for a in items][::-1]


def shuffled_results(fn, items):
    out = [fn(a) for a in items]
    random.Random(7).shuffle(out)
    return out


@pytest.mark.parametrize("chunk", [1, 5, None])
@pytest.mark.parametrize("fmap", [reversed_results, shuffled_results])
def test_a_map_returning_results_in_another_order(fmap, chunk):
    ref = serial()
    got = run(Workers(fmap, chunk=chunk))
    assert np.array_equal(got, ref)
    assert np.abs(ref).max() > 1  # not a trivial gradient


@pytest.mark.parametrize("chunk", [1, None])
def test_imap_unordered_of_a_process_pool(chunk):
    ref = serial()
    ctx = multiprocessing.get_context(executors.mp_context().get_start_method())
    with ctx.Pool(2) as pool:
        got = run(Workers(pool.imap_unordered, chunk=chunk))
    assert np.array_equal(got, ref)


# ------------------------------------------------------------- maps that misbehave
def one_too_many(fn, items):
    out = [fn(a) for a in items]
    return out + out[:1]


def one_too_few(fn, items):
    return [fn(a) for a in items][:-1]


def nothing(fn, items):
    [fn(a) for a in items]


def a_number(fn, items):
    return 42


def the_items(fn, items):
    return list(items)


def values_only(fn, items):
    return [fn(a)[3] for a in items]


@pytest.mark.parametrize(
    "fmap, match",
    [
        (one_too_many, r"twice.*more results than tasks"),
        (one_too_few, r"returned 2 results for 3 tasks; 1 never came back \(the blocks x\["),
        (nothing, r"returned NoneType None, not an iterable"),
        (a_number, r"returned int 42, not an iterable"),
        (the_items, r"returned tuple .* not the result of one of this call's tasks"),
        (values_only, r"returned ndarray .* not the result of one of this call's tasks"),
    ],
    ids=["too-many", "too-few", "None", "not-iterable", "the-items", "values-only"],
)
def test_a_map_that_misbehaves_is_one_clear_error(fmap, match):
    with pytest.raises(RuntimeError, match=r"^workers: the map " + fmap.__name__) as info:
        run(Workers(fmap, chunk=4))
    assert info.match(match)


def test_a_map_that_raises_itself():
    def broken(fn, items):
        raise ValueError("Pool not running")

    with pytest.raises(RuntimeError, match="workers: the map .* ValueError: Pool not running"):
        run(broken)


def test_a_closed_process_pool_map():
    ctx = multiprocessing.get_context(executors.mp_context().get_start_method())
    pool = ctx.Pool(1)
    pool.close()
    pool.join()
    with pytest.raises(RuntimeError, match="workers: .*Pool not running") as info:
        run(pool.map)
    assert isinstance(info.value.__cause__, ValueError)


def test_a_shut_down_executor():
    ex = ThreadPoolExecutor(2)
    ex.shutdown()
    with pytest.raises(RuntimeError, match="workers: the ThreadPoolExecutor .*shut down") as info:
        run(ex)
    assert "cannot schedule new futures" in str(info.value.__cause__)
    with pytest.raises(RuntimeError, match="workers: the map .*cannot schedule new futures"):
        run(ex.map)


class SwappingExecutor(ThreadPoolExecutor):
    """Runs each task for the block of the task submitted before it."""

    def __init__(self) -> None:
        super().__init__(1)
        self.last = None

    def submit(self, fn, *args, **kwargs):
        args, self.last = (self.last or args), args
        return super().submit(fn, *args, **kwargs)


def test_an_executor_whose_future_holds_another_tasks_result():
    with SwappingExecutor() as ex:
        with pytest.raises(RuntimeError, match=r"workers: the SwappingExecutor returned the"):
            run(Workers(ex, chunk=3))


# ------------------------------------------------------------- the option check
@pytest.mark.parametrize("bad", ["bogus", 1.5, [2], object()])
def test_check_workers_refuses_what_is_no_target(bad):
    with pytest.raises(TypeError, match="^workers must be an int"):
        check_workers(bad)


@pytest.mark.parametrize("bad", ["bogus", 1, 0.0, "False"])
def test_check_workers_refuses_a_bad_progress(bad):
    for workers in (None, 2):
        with pytest.raises(TypeError, match="^progress must be True, False or None"):
            check_workers(workers, bad)


def test_check_workers_returns_the_options():
    assert check_workers(None) is None and check_workers(None, True) is None
    w = Workers(map, chunk=3)
    assert check_workers(w, False) is w
    assert check_workers(3) == Workers(3)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        check_workers(0)
