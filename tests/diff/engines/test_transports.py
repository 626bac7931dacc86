"""workers=: the transports' and the worker side's failures (a map that raises midway, a
payload that does not unpickle, a Dask client that is gone), and what a worker keeps."""

from __future__ import annotations

import pickle
import sys
import types
import uuid

import numpy as np
import pytest

import nnnum
from nnnum.diff.engines import executors
from nnnum.diff.engines.executors import Workers, check_workers, collect, transports, worker

cloudpickle = pytest.importorskip("cloudpickle")


def sum_sq(w):
    return float(np.sum(w**2))


# ------------------------------------------------------------------ the options
def test_an_object_with_a_map_is_told_to_pass_its_map():
    """A pool-like object that is not callable itself: the TypeError says to pass its map."""

    class MyPool:
        def map(self, fn, items):
            return list(map(fn, items))

    with pytest.raises(TypeError, match=r"not MyPool \(pass its map: workers=<your MyPool>\.map\)"):
        check_workers(MyPool())


def test_an_asynchronous_dask_client_is_refused(monkeypatch):
    """A Dask Client made with asynchronous=True: a TypeError before any work."""

    class Client:
        asynchronous = True

    monkeypatch.setitem(sys.modules, "distributed", types.SimpleNamespace(Client=Client))
    with pytest.raises(TypeError, match="an asynchronous Dask Client is not supported"):
        nnnum.numerical_gradient(sum_sq, np.ones(2), workers=Client(), progress=False)


def test_distribute_needs_workers():
    """The engine called without workers: a TypeError saying None evaluates in this process."""
    x = np.ones(3)
    with pytest.raises(TypeError, match=r"evaluate needs workers \(None evaluates in this"):
        executors.distribute(sum_sq, x, x, np.ones((2, 3)), ["+h", "-h"], None)


def test_an_empty_plan_evaluates_nothing():
    """No elements (or no rows): an empty result of the plan's shape, f never called."""
    calls = []

    def f(w):
        calls.append(w)
        return 0.0

    x = np.ones(3)
    out = executors.distribute(f, x, x, np.empty((2, 0)), ["+h", "-h"], map, progress=False)
    assert out.shape == (2, 0)
    out = executors.distribute(f, x, x, np.empty((0, 3)), [], map, progress=False)
    assert out.shape == (0, 3)
    assert calls == []


# ------------------------------------------------------------------ the map transport
def fails_after(n: int):
    """A map whose results iterator raises after ``n`` results (a pool whose worker failed)."""

    def fmap(fn, items):
        for i, item in enumerate(items):
            if i == n:
                raise ConnectionResetError("the pool's connection was lost")
            yield fn(item)

    return fmap


def test_a_map_raising_while_returning_its_results_is_named():
    """A map that fails midway through its results: a RuntimeError saying how far it got,
    the map's own exception its cause."""
    x = np.linspace(0.0, 1.0, 4)
    with pytest.raises(
        RuntimeError, match=r"raised ConnectionResetError: the pool's connection"
    ) as info:
        nnnum.numerical_gradient(
            sum_sq, x, workers=Workers(fails_after(2), chunk=1), progress=False
        )
    assert "while returning its results (2 of 4 returned)" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionResetError)


def test_a_map_returning_a_block_twice_names_the_element():
    """A one-element block returned twice: the error names that element of x."""

    def twice(fn, items):
        out = [fn(a) for a in items]
        return out + out[:1]

    x = np.ones((2, 2))
    with pytest.raises(RuntimeError, match=r"returned the block x\[0, 0\] twice"):
        nnnum.numerical_gradient(sum_sq, x, workers=Workers(twice, chunk=1), progress=False)


def test_a_map_losing_blocks_of_sets_names_them():
    """A Jacobian's map that drops results: the lost blocks of perturbations are named."""

    def drops_last(fn, items):
        return [fn(a) for a in items][:-1]

    x = np.arange(1.0, 5.0)  # central differences: 8 sets, 4 tasks of 2
    msg = r"1 never came back \(the blocks of the perturbations 6 to 7 \(from x\[2\] - h\)\)"
    with pytest.raises(RuntimeError, match=msg):
        nnnum.numerical_jacobian(np.sin, x, workers=Workers(drops_last, chunk=2), progress=False)


# ------------------------------------------------------------------ unpickling on a worker
def _needs_a_missing_module(name):
    raise ModuleNotFoundError(f"No module named {name!r}", name=name)


class NeedsModule:
    """An f that pickles here but does not unpickle where its module is missing."""

    def __call__(self, w):
        return float(np.sum(w))

    def __reduce__(self):
        return _needs_a_missing_module, ("mylab_private",)


def test_f_that_does_not_unpickle_on_a_worker_keeps_its_error():
    """Unpickling f fails on the worker: the worker's exception itself, a note saying it was
    raised while unpickling f and x, and asking whether the worker has every module."""
    with pytest.raises(ModuleNotFoundError, match="No module named 'mylab_private'") as info:
        nnnum.numerical_gradient(NeedsModule(), np.ones(3), workers=map, progress=False)
    notes = "\n".join(info.value.__notes__)
    assert (
        "raised while unpickling f and x in a worker (does it have every module f needs?)" in notes
    )
    assert "worker traceback:" in notes


def test_an_exception_that_does_not_come_back_is_described():
    """A worker's exception whose pickle does not load here: a RuntimeError with its type,
    message, where, and the worker's traceback (by f, and outside f)."""
    bad = b"not a pickle"
    with pytest.raises(
        RuntimeError, match=r"^f raised mylab.Err: boom at x\[1\] \+h in a worker"
    ) as info:
        collect.raise_error((bad, "mylab.Err", "boom", "Traceback: here", "x[1] +h", True))
    assert "could not be sent back (it does not pickle)" in str(info.value)
    assert str(info.value).endswith("Worker traceback:\nTraceback: here")
    with pytest.raises(
        RuntimeError, match=r"^mylab.Err: boom was raised while unpickling f and x in"
    ):
        collect.raise_error((None, "mylab.Err", "boom", "tb", worker.UNPICKLING, None))


# ------------------------------------------------------------------ views of x's memory
class Tagged(np.ndarray):
    """An ndarray subclass whose instances carry attributes."""


def test_a_subclass_view_of_x_stays_a_view_with_its_attributes():
    """f reading x's memory through subclass views (with and without attributes): on the
    worker they are still views of the x being perturbed, of their class, attributes kept."""
    x = np.linspace(-1.0, 2.0, 6)
    tagged = x.reshape(2, 3).view(Tagged)
    tagged.scale = 3.0
    plain = x[::2].view(Tagged)

    def f(w):
        assert type(tagged) is Tagged and type(plain) is Tagged
        return float(tagged.scale * np.sum(np.asarray(tagged) ** 2) + np.sum(np.asarray(plain)))

    got = nnnum.numerical_gradient(f, x, workers=map, progress=False)
    want = 6.0 * x + np.array([1.0, 0, 1, 0, 1, 0])
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)
    assert tagged.scale == 3.0


# ------------------------------------------------------------------ the worker's payloads
def columns_job(points):
    return (worker.COLUMNS, points, ["+h", "-h"])


def test_a_pool_initializer_installs_the_payload_for_tasks_without_it():
    """install() (a pool's initializer): later tasks carry no payload and use it; after
    forget() a task without the payload answers "missing"."""
    token = uuid.uuid4().hex
    x = np.array([1.0, 2.0])
    payload = executors.make_payload(sum_sq, x, x)
    points = np.array([[1.5], [0.5]])  # element 0 at 1.5, then at 0.5
    try:
        worker.install(token, payload)
        status, tok, lo, body = worker.run_task(token, None, 0, columns_job(points))
        assert (status, tok, lo) == ("ok", token, 0)
        np.testing.assert_array_equal(body, [[1.5**2 + 4.0], [0.5**2 + 4.0]])
    finally:
        worker.forget(token)
    assert worker.run_task(token, None, 0, columns_job(points)) == (
        "missing",
        token,
        0,
        None,
    )


def test_a_worker_keeps_the_last_payloads_only():
    """A worker keeps KEEP unpickled payloads, the most recently used: an older one is
    dropped, and a task carrying no payload for it answers "missing"."""
    x = np.array([3.0])
    payload = pickle.dumps((sum_sq, x))
    tokens = [uuid.uuid4().hex for _ in range(worker.KEEP + 1)]
    job = columns_job(np.array([[2.0]]))
    try:
        for t in tokens:
            assert worker.run_task(t, payload, 0, job)[0] == "ok"
        assert worker.run_task(tokens[0], None, 0, job) == ("missing", tokens[0], 0, None)
        for t in tokens[1:]:
            status, _, _, body = worker.run_task(t, None, 0, job)
            assert status == "ok" and body.tolist() == [[4.0]]
    finally:
        for t in tokens:
            worker.forget(t)


# ------------------------------------------------------------------ Dask clients that are gone
class GoneClient:
    """A client-like object of which every way to its scheduler's address fails."""

    status = "closed"

    @property
    def scheduler(self):
        raise AttributeError("scheduler")


def test_a_closed_dask_client_without_an_address_is_named_anyway():
    """A closed client whose address cannot be read: the error says so, "<unknown address>"."""
    with pytest.raises(
        RuntimeError, match=r"scheduler at <unknown address> is 'closed', not running"
    ):
        transports.dask_ready(GoneClient(), 1.0)


def test_an_empty_address_is_not_taken():
    """An empty address is skipped for the next way of finding it."""
    client = types.SimpleNamespace(
        scheduler=types.SimpleNamespace(address=""), _start_arg="tcp://10.0.0.7:8786", status="gone"
    )
    with pytest.raises(RuntimeError, match=r"at tcp://10\.0\.0\.7:8786 is 'gone'"):
        transports.dask_ready(client, 1.0)


class Unreachable:
    """A running client whose scheduler's connection fails."""

    status = "running"
    _start_arg = "tcp://127.0.0.1:9"

    def wait_for_workers(self, n, timeout):
        raise ConnectionRefusedError(111, "Connection refused")


def test_an_unreachable_dask_scheduler_is_a_clear_error():
    """The scheduler refuses the connection: a RuntimeError naming it, the OSError its cause."""
    with pytest.raises(
        RuntimeError, match=r"scheduler at tcp://127\.0\.0\.1:9 cannot be reached"
    ) as info:
        transports.dask_ready(Unreachable(), 1.0)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
