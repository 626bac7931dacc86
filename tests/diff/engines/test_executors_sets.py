"""workers= for the Jacobian and the Hessian: the executors' job of perturbation sets.

The gradient's tasks are blocks of elements (``test_executors.py``); the Jacobian's
colours and the Hessian's pairs are sets of perturbations, sent in blocks of sets to
the same four transports. Every result must equal the serial one bit for bit.
"""

from __future__ import annotations

import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import nnnum
from nnnum.diff.engines import executors
from nnnum.diff.engines.loop import evaluate_sets as loop
from nnnum.diff.perturb import Perturbations

from .conftest import kill_once

cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

X = np.linspace(-1.0, 1.0, 14)


def broyden(x):
    y = (3.0 - 2.0 * x) * x
    y[1:] -= x[:-1]
    y[:-1] -= 2.0 * x[1:]
    return y + 1.0


def exp_sin(x):
    return np.sum(np.exp(np.sin(x[:-1]) * x[1:]))


def matrix_out(x):
    """An output of shape (2, 3) from an x of shape (3, 2)."""
    return np.stack([np.sin(x[:, 0]) * x[:, 1], x[:, 0] ** 2 + np.cos(x[:, 1])])


def reversed_map(fn, items):
    """A map-like callable that evaluates the tasks last first."""
    items = list(items)
    return [fn(items[i]) for i in reversed(range(len(items)))][::-1]


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2) as ex:
        yield ex


@pytest.fixture(scope="module")
def threads():
    with ThreadPoolExecutor(3) as ex:
        yield ex


def targets(pool, threads):
    return {
        "int": 2,
        "map": map,
        "reversed map": reversed_map,
        "threads": threads,
        "processes": pool,
        "chunk 1": executors.Workers(map, chunk=1),
        "chunk 5 threads": executors.Workers(threads, chunk=5),
    }


def same(a, b, where=""):
    """Bit-identical results: arrays, SciPy sparse arrays or DiffResults."""
    if hasattr(a, "df"):
        same(a.df, b.df, where)
        for name in ("error", "status"):
            u, v = getattr(a, name), getattr(b, name)
            u, v = (u.toarray(), v.toarray()) if hasattr(u, "toarray") else (u, v)
            np.testing.assert_array_equal(u, v, err_msg=f"{where}: {name}")
        assert a.nfev == b.nfev and a.order == b.order and a.method == b.method, where
        return
    if hasattr(a, "toarray"):
        assert type(a) is type(b)
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
        a, b = a.data, b.data
    assert a.dtype == b.dtype and a.shape == b.shape, where
    np.testing.assert_array_equal(a, b, err_msg=where)


JACOBIANS = {
    "book": {},
    "order 4": {"order": 4},
    "auto R1 full": {"h": "auto", "richardson": 1, "full_output": True},
    "forward R2 full": {"method": "forward", "h": 1e-3, "richardson": 2, "full_output": True},
    "complex full": {"method": "complex", "full_output": True},
}


@pytest.mark.parametrize("kw", list(JACOBIANS.values()), ids=list(JACOBIANS))
def test_jacobian_on_every_transport_equals_serial(kw, pool, threads):
    ref = nnnum.numerical_jacobian(broyden, X, **kw)
    before = X.copy()
    for name, w in targets(pool, threads).items():
        got = nnnum.numerical_jacobian(broyden, X, workers=w, progress=False, **kw)
        same(got, ref, name)
    np.testing.assert_array_equal(X, before)


def test_sparse_jacobian_with_workers_equals_serial(threads):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    J = nnnum.numerical_jacobian(broyden, X)
    pattern = J != 0
    for sparsity in (pattern, scipy_sparse.csr_array(pattern)):
        for kw in ({}, {"h": "auto", "richardson": 1, "full_output": True}):
            ref = nnnum.numerical_jacobian(broyden, X, sparsity=sparsity, **kw)
            for w in (2, threads, executors.Workers(map, chunk=2)):
                same(nnnum.numerical_jacobian(broyden, X, sparsity=sparsity, workers=w, **kw), ref)
    plan = nnnum.jacobian_plan(pattern)
    same(
        nnnum.numerical_jacobian(broyden, X, sparsity=plan, workers=map),
        nnnum.numerical_jacobian(broyden, X, sparsity=plan),
    )


def test_any_output_and_input_shape():
    x = np.arange(1.0, 7.0).reshape(3, 2)
    for kw in ({}, {"method": "complex"}, {"h": "auto", "order": 4}):
        ref = nnnum.numerical_jacobian(matrix_out, x, **kw)
        assert ref.shape == (2, 3, 3, 2)
        same(
            nnnum.numerical_jacobian(matrix_out, x, workers=executors.Workers(map, chunk=4), **kw),
            ref,
        )
    # a scalar output: shape x.shape
    g = nnnum.numerical_jacobian(exp_sin, X, workers=map)
    same(g, nnnum.numerical_jacobian(exp_sin, X))


HESSIANS = {
    "central": {},
    "central R1 full": {"richardson": 1, "full_output": True},
    "complex R1 full": {"method": "complex", "richardson": 1, "full_output": True},
}


@pytest.mark.parametrize("kw", list(HESSIANS.values()), ids=list(HESSIANS))
def test_hessian_and_its_diagonal_on_every_transport_equal_serial(kw, pool, threads):
    x = X[:8].copy()
    ref = nnnum.numerical_hessian(exp_sin, x, **kw)
    ref_d = nnnum.numerical_hessian_diag(exp_sin, x, **kw)
    for name, w in targets(pool, threads).items():
        same(nnnum.numerical_hessian(exp_sin, x, workers=w, progress=False, **kw), ref, name)
        got = nnnum.numerical_hessian_diag(exp_sin, x, workers=w, progress=False, **kw)
        same(got, ref_d, name)


def test_sparse_hessian_and_hessian_of_a_gradient_with_workers(threads):
    x = X[:10].copy()
    n = x.size
    band = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1
    ref = nnnum.numerical_hessian(exp_sin, x, sparsity=band, richardson=1, full_output=True)
    same(
        nnnum.numerical_hessian(
            exp_sin, x, sparsity=band, richardson=1, full_output=True, workers=threads
        ),
        ref,
    )

    def grad(z):
        return nnnum.numerical_gradient(exp_sin, z, h="auto", order=4)

    ref = nnnum.numerical_hessian(exp_sin, x, grad=grad)
    same(nnnum.numerical_hessian(exp_sin, x, grad=grad, workers=2), ref)


def test_a_view_is_never_modified_and_is_what_f_sees():
    base = np.linspace(0.5, 2.0, 24).reshape(4, 6)
    view = base[::2, 1::2]  # non-contiguous (2, 3)
    before = base.copy()
    ref = nnnum.numerical_jacobian(matrix_out, view.T)
    got = nnnum.numerical_jacobian(matrix_out, view.T, workers=2)
    same(got, ref)
    np.testing.assert_array_equal(base, before)


# ------------------------------------------------------------------ errors name the set
class Boom(ValueError):
    pass


def boom_when_3_moves(x0):
    def f(x):
        if x[3] != x0:
            raise Boom("no good here")
        return broyden(x)

    return f


@pytest.mark.parametrize("w", [2, map], ids=["int", "map"])
def test_f_raising_keeps_its_type_and_names_the_perturbation(w):
    with pytest.raises(Boom) as info:
        nnnum.numerical_jacobian(boom_when_3_moves(X[3]), X, workers=w)
    notes = "\n".join(info.value.__notes__)
    assert re.search(r"raised by f at x\[3\] [+-] h \(in a worker\)", notes)
    assert "worker traceback" in notes


def wrong_shape_at_4(x0):
    return lambda x: x[:2] if x[4] != x0 else x


def unpicklable_at_1(x0):
    import threading

    return lambda x: threading.Lock() if x[1] != x0 else x


def nan_at_5(x0):
    return lambda x: np.where(x[5] != x0, np.nan, x)


@pytest.mark.parametrize("w", [2, map], ids=["int", "map"])
def test_bad_values_are_named_as_in_this_process(w):
    # the first error to come back names its set (x[4] + h or x[4] - h on a pool)
    with pytest.raises(ValueError, match=r"shape \(14,\) at x, \(2,\) at x\[4\] [+-] h"):
        nnnum.numerical_jacobian(wrong_shape_at_4(X[4]), X, workers=w)
    with pytest.raises(TypeError, match=r"_thread.lock at x\[1\] [+-] h \(in a worker\)"):
        nnnum.numerical_jacobian(unpicklable_at_1(X[1]), X, workers=w)
    with pytest.raises(nnnum.NonFiniteError, match=r"f\[0\] returned nan at x\[5\] - h"):
        nnnum.numerical_jacobian(nan_at_5(X[5]), X, workers=w, method="backward")
    with pytest.raises(Boom, match="no good"):
        nnnum.numerical_hessian(lambda x: boom_when_3_moves(X[3])(x).sum(), X, workers=w)


def test_the_serial_and_the_distributed_message_are_the_same():
    f = wrong_shape_at_4(X[4])
    with pytest.raises(ValueError) as serial:
        nnnum.numerical_jacobian(f, X)
    with pytest.raises(ValueError) as distributed:
        nnnum.numerical_jacobian(f, X, workers=map)
    assert str(serial.value) == str(distributed.value)


def test_options_are_checked_before_any_work():
    with pytest.raises(ValueError, match="progress= draws the progress bar of workers="):
        nnnum.numerical_jacobian(broyden, X, progress=True)
    with pytest.raises(ValueError, match="progress= draws"):
        nnnum.numerical_hessian(exp_sin, X, progress=False)
    with pytest.raises(TypeError, match="workers must be"):
        nnnum.numerical_hessian_diag(exp_sin, X, workers="bogus")
    with pytest.raises(ValueError, match="choose one"):
        nnnum.numerical_jacobian(broyden, X, workers=2, batched=True)
    with pytest.raises(TypeError, match="progress must be"):
        nnnum.numerical_jacobian(broyden, X, workers=map, progress="yes")


def test_progress_bar_names_the_derivative(capsys):
    nnnum.numerical_jacobian(broyden, X, workers=map, progress=True)
    nnnum.numerical_hessian(exp_sin, X[:5], workers=map, progress=True)
    err = capsys.readouterr().err
    assert "numerical_jacobian" in err and "numerical_hessian" in err
    nnnum.numerical_jacobian(broyden, X, workers=map)  # not a terminal: quiet
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ the job itself
def test_distribute_sets_equals_the_loop_for_any_chunk():
    rng = np.random.default_rng(0)
    n, P = 9, 23
    counts = rng.integers(0, 4, P)  # empty sets too: f at x itself
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    idx = np.concatenate([rng.choice(n, c, replace=False) for c in counts]).astype(np.int64)
    val = rng.standard_normal(idx.size)
    pert = Perturbations(ptr, idx, val, lambda p: f"set {p}")
    base = rng.standard_normal((3, 3))
    f = lambda z: np.array([np.sum(np.sin(z)), np.prod(z)])  # noqa: E731
    ref = loop(f, base, pert, (2,))
    for chunk in (1, 2, 7, 23, 100):
        got = executors.distribute_sets(f, base, pert, (2,), executors.Workers(map, chunk=chunk))
        np.testing.assert_array_equal(got, ref)
    empty = Perturbations(np.zeros(1, np.int64), idx[:0], val[:0], str)
    assert executors.distribute_sets(f, base, empty, (2,), map).shape == (0, 2)


def test_a_result_of_another_shape_is_refused():
    pert = Perturbations(np.arange(4, dtype=np.int64), np.arange(3), np.ones(3), str)

    def liar(fn, items):
        out = [fn(a) for a in items]
        return [(s, t, lo, body[:, :1] if s == "ok" else body) for s, t, lo, body in out]

    with pytest.raises(RuntimeError, match=r"not the \(1, 2\) array its task made"):
        executors.distribute_sets(
            lambda z: z[:2], np.zeros(3), pert, (2,), executors.Workers(liar, chunk=1)
        )


# ------------------------------------------------------------------ Dask
# the client fixture: tests/diff/engines/conftest.py


def test_dask_jacobian_and_hessian_equal_serial(client):
    kw = {"h": "auto", "richardson": 1, "full_output": True}
    same(
        nnnum.numerical_jacobian(broyden, X, workers=client, **kw),
        nnnum.numerical_jacobian(broyden, X, **kw),
    )
    same(
        nnnum.numerical_hessian(exp_sin, X[:6], workers=executors.Workers(client, chunk=3)),
        nnnum.numerical_hessian(exp_sin, X[:6]),
    )
    with pytest.raises(Boom) as info:
        nnnum.numerical_jacobian(boom_when_3_moves(X[3]), X, workers=client)
    # the first error to come back: x[3] + h or x[3] - h (the tasks run concurrently)
    assert re.search(
        r"raised by f at x\[3\] [+-] h \(in a worker\)", "\n".join(info.value.__notes__)
    )


def test_a_killed_pool_process_is_replaced(tmp_path):
    marker = str(tmp_path / "killed")
    f = kill_once(marker, os.getpid(), broyden, 2, float(X[2]))
    got = nnnum.numerical_jacobian(f, X, workers=2)
    assert os.path.exists(marker)
    same(got, nnnum.numerical_jacobian(broyden, X))
