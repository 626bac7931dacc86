"""numerical_gradient(..., workers=...): pools, Executors, map callables, Dask (issue #10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest

import nnnum
from nnnum.diff.engines import executors
from nnnum.diff.engines.executors import Workers

from .conftest import dies_in_a_worker, kill_once, local_cluster

cloudpickle = pytest.importorskip("cloudpickle")
# functions and classes of this module travel by value (workers need not import the tests)
cloudpickle.register_pickle_by_value(sys.modules[__name__])

REPO = Path(__file__).resolve().parents[3]

# distributed leaves a socket to the garbage collector after a worker dies or a cluster closes;
# the ResourceWarning then surfaces in whichever test runs at that moment
pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def book_net():
    net = nnnum.TwoLayerNet(4, 3, 2, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4))
    t = np.array([0, 1, 1, 0, 1])
    return net, x, t


def sum_sq(w):
    return float(np.sum(np.asarray(w) ** 2) + np.sum(np.sin(np.asarray(w))))


def reversed_map(fn, items):
    """A map-like callable that evaluates the tasks last first."""
    items = list(items)
    out = [None] * len(items)
    for i in reversed(range(len(items))):
        out[i] = fn(items[i])
    return out


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2) as ex:
        yield ex


# ------------------------------------------------------------------ validation
def test_importing_nnnum_imports_neither_dask_nor_cloudpickle():
    code = (
        "import sys, numpy as np, nnnum\n"
        "from nnnum.diff.engines import executors\n"
        "lazy = ('dask', 'distributed', 'cloudpickle')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in lazy]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "bad", ["tcp://127.0.0.1:8786", 2.5, True, object(), [1, 2], ProcessPoolExecutor]
)
def test_workers_of_the_wrong_kind(bad):
    with pytest.raises(TypeError, match="workers"):
        nnnum.numerical_gradient(sum_sq, np.ones(3), workers=bad)


@pytest.mark.parametrize("bad", [0, -2, np.int64(0)])
def test_workers_below_one(bad):
    with pytest.raises(ValueError, match="workers"):
        nnnum.numerical_gradient(sum_sq, np.ones(3), workers=bad)


@pytest.mark.parametrize(
    "kw", [{"chunk": 0}, {"chunk": 1.5}, {"retries": -1}, {"timeout": 0}, {"timeout": "1"}]
)
def test_workers_options(kw):
    with pytest.raises(ValueError, match="workers"):
        Workers(map, **kw)
    with pytest.raises(TypeError, match="workers"):
        Workers(Workers(map))


def test_progress_option():
    with pytest.raises(TypeError, match="progress"):
        nnnum.numerical_gradient(sum_sq, np.ones(3), workers=map, progress="yes")


# ---------------------------------------------------- the book's closure pattern
@pytest.mark.parametrize(
    "make",
    [
        lambda: map,
        lambda: reversed_map,
        lambda: Workers(map, chunk=1),
        lambda: ThreadPoolExecutor(3),
        lambda: 2,
    ],
    ids=["map", "reversed-map", "chunk1", "threads", "int"],
)
def test_closure_over_the_net_is_bit_identical(make):
    net, x, t = book_net()
    f = lambda w: net.loss(x, t)  # noqa: E731 (the book's idiom: ignores w)
    W1 = net.params["W1"]
    before = W1.copy()
    ref = nnnum.numerical_gradient(f, W1)
    assert np.abs(ref).max() > 1e-4  # a silent zero gradient would be the classic failure
    workers = make()
    got = nnnum.numerical_gradient(f, W1, workers=workers, progress=False)
    if isinstance(workers, ThreadPoolExecutor):
        workers.shutdown()
    assert np.array_equal(got, ref)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    assert np.array_equal(W1, before) and net.params["W1"] is W1


def test_closure_on_a_user_process_pool(pool):
    net, x, t = book_net()
    f = lambda w: net.loss(x, t)  # noqa: E731
    for key in ("W1", "b2"):
        ref = nnnum.numerical_gradient(f, net.params[key])
        got = nnnum.numerical_gradient(f, net.params[key], workers=pool, progress=False)
        assert np.array_equal(got, ref)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_matrix_subclass_is_handed_to_f():
    m = np.matrix([[1.0, 2.0, 0.5], [3.0, -1.0, 0.25]])

    def f(w):
        assert type(w) is np.matrix
        return float((w @ w.T).sum() + np.sum(np.square(w)))

    ref = nnnum.numerical_gradient(f, m)
    for workers in (map, 2):
        got = nnnum.numerical_gradient(f, m, workers=workers, progress=False)
        assert type(got) is type(ref) and np.array_equal(got, ref)


@pytest.mark.parametrize("case", ["view-of-read", "transpose-of-read", "reads-a-view"])
def test_views_of_the_memory_f_reads_stay_views(case):
    W = np.linspace(-1.0, 2.0, 20).reshape(4, 5)
    if case == "view-of-read":
        fx, read = W[::-1, 1::2], W
    elif case == "transpose-of-read":
        fx, read = W.T, W
    else:
        fx, read = W, W[1:].T

    f = lambda _: float(np.sum(np.cos(read) * np.arange(read.size).reshape(read.shape)))  # noqa: E731
    before = W.copy()
    ref = nnnum.numerical_gradient(f, fx)
    assert np.abs(ref).max() > 0.1
    got = nnnum.numerical_gradient(f, fx, workers=Workers(map, chunk=2), progress=False)
    assert np.array_equal(got, ref)
    assert np.array_equal(W, before)


# ------------------------------------------------------------ stencils, layouts
@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"order": 4},
        {"order": 8, "richardson": 1},
        {"method": "forward", "order": 2},
        {"method": "backward", "order": 3, "richardson": 2},
        {"h": "auto"},
        {"h": "auto", "order": 6, "full_output": True},
        {"order": 4, "richardson": 1, "full_output": True},
    ],
    ids=str,
)
def test_every_stencil_is_bit_identical(opts):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (3, 4))
    ref = nnnum.numerical_gradient(sum_sq, x, **opts)
    with ThreadPoolExecutor(2) as ex:
        for workers in (Workers(reversed_map, chunk=5), ex):
            got = nnnum.numerical_gradient(sum_sq, x, workers=workers, progress=False, **opts)
            if opts.get("full_output"):
                assert np.array_equal(got.df, ref.df)
                assert np.array_equal(got.error, ref.error, equal_nan=True) and got.nfev == ref.nfev
            else:
                assert np.array_equal(got, ref)


@pytest.mark.parametrize("layout", ["F", "strided", "float32", "0-d", "list"])
def test_layouts_and_dtypes(layout):
    rng = np.random.default_rng(4)
    base = rng.uniform(-2, 2, (4, 6))
    x = {
        "F": np.asfortranarray(base),
        "strided": base[::2, ::-3],
        "float32": base.astype(np.float32),
        "0-d": np.array(0.7),
        "list": base[0].tolist(),
    }[layout]
    before = np.array(x, copy=True)
    ref = nnnum.numerical_gradient(sum_sq, x, h=1e-2 if layout == "float32" else 1e-4)
    for chunk in (1, 3, None):
        got = nnnum.numerical_gradient(
            sum_sq,
            x,
            h=1e-2 if layout == "float32" else 1e-4,
            workers=Workers(map, chunk=chunk),
            progress=False,
        )
        assert np.array_equal(got, ref) and got.dtype == ref.dtype
    assert np.array_equal(np.asarray(x), before)


def slow_sum_sq(w):
    time.sleep(0.002)
    return sum_sq(w)


def test_executor_gets_the_payload_once_per_worker(monkeypatch):
    from nnnum.diff.engines.executors import worker

    made = []

    class Counting(worker.State):
        def __init__(self, payload):
            made.append(1)
            super().__init__(payload)

    class CountingPool(ThreadPoolExecutor):
        sent = 0

        def submit(self, fn, *args, **kwargs):
            CountingPool.sent += args[1] is not None
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(worker, "State", Counting)  # where the worker side makes its copies
    with CountingPool(2) as ex:
        x = np.linspace(0, 1, 30)
        w = Workers(ex, chunk=1)
        got = nnnum.numerical_gradient(slow_sum_sq, x, workers=w, progress=False)
    monkeypatch.undo()
    assert np.array_equal(got, nnnum.numerical_gradient(slow_sum_sq, x))
    assert len(made) <= 2  # one unpickled copy per worker thread, for 30 tasks
    # the first wave (one per worker), plus a resend per miss (a worker that came late)
    assert CountingPool.sent <= 6


# ------------------------------------------------------------------ the callers
def test_gradient_descent_with_workers():
    f = lambda x: float(x[0] ** 2 + 3.0 * x[1] ** 2 + np.sin(x[0]))  # noqa: E731
    ref = nnnum.gradient_descent(f, np.array([-3.0, 4.0]), lr=0.1, step_num=5)
    got = nnnum.gradient_descent(f, np.array([-3.0, 4.0]), lr=0.1, step_num=5, workers=map)
    assert np.array_equal(got, ref)


def test_brute_network_gradient_with_workers():
    net, x, t = book_net()
    ref = net.numerical_gradient(x, t, strategy="brute")
    got = net.numerical_gradient(x, t, strategy="brute", workers=2)
    assert ref.keys() == got.keys()
    for key in ref:
        assert np.array_equal(got[key], ref[key]), key
    with pytest.raises(ValueError, match="brute"):
        net.numerical_gradient(x, t, workers=2)


# ------------------------------------------------------------------------ faults
class Boom(ValueError):
    pass


def boom_at_1_2(x0):
    def f(w):
        if w[1, 2] != x0:
            raise Boom("no good here")
        return float(np.sum(w**2))

    return f


@pytest.mark.parametrize("workers", [map, 2], ids=["map", "int"])
def test_f_raising_in_a_worker_keeps_its_type_and_names_the_element(workers):
    x = np.arange(6.0).reshape(2, 3)
    before = x.copy()
    with pytest.raises(Boom, match="no good here") as info:
        nnnum.numerical_gradient(boom_at_1_2(x[1, 2]), x, workers=workers, progress=False)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "x[1, 2] + h" in notes
    assert "worker traceback" in notes
    assert np.array_equal(x, before)


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickles as (msg,): cannot be rebuilt
        super().__init__(f"{a}-{b}")


def test_unpicklable_exception_comes_back_as_runtime_error():
    def f(w):
        raise Unpicklable(1, 2)

    with pytest.raises(RuntimeError, match=r"Unpicklable: 1-2 at x\[0\] \+ h"):
        nnnum.numerical_gradient(f, np.ones(2), workers=map, progress=False)


def test_bad_return_value_in_a_worker():
    with pytest.raises(ValueError, match=r"shape \(2,\) at x\[0\] \+ h"):
        nnnum.numerical_gradient(lambda w: w * 2, np.ones(2), workers=map, progress=False)
    with pytest.raises(FloatingPointError, match=r"x\[1\]"):
        nnnum.numerical_gradient(
            lambda w: np.inf if w[1] > 1 else 0.0, np.ones(2), workers=map, progress=False
        )


def test_unpicklable_f():
    import threading

    lock = threading.Lock()

    def f(w):
        with lock:
            return float(w.sum())

    with pytest.raises(TypeError, match="picklable"):
        nnnum.numerical_gradient(f, np.ones(2), workers=map)


def sum_exp(w):
    return float(np.sum(np.exp(w)))


def test_killed_worker_process_is_replaced(tmp_path):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    marker = str(tmp_path / "killed")
    f = kill_once(marker, os.getpid(), sum_exp, 6, float(x[1, 2]))
    ref = nnnum.numerical_gradient(f, x)
    got = nnnum.numerical_gradient(f, x, workers=2, progress=False)
    assert os.path.exists(marker)  # a worker did die
    assert np.array_equal(got, ref)


def test_workers_that_always_die_give_up():
    f = dies_in_a_worker(os.getpid())
    with pytest.raises(BrokenProcessPool, match="2 pools"):
        nnnum.numerical_gradient(f, np.ones(4), workers=Workers(2, retries=1), progress=False)


def test_a_broken_user_executor_is_reported_not_restarted():
    f = dies_in_a_worker(os.getpid())
    with ProcessPoolExecutor(1, mp_context=executors.mp_context()) as ex:
        with pytest.raises(BrokenProcessPool) as info:
            nnnum.numerical_gradient(f, np.ones(3), workers=ex, progress=False)
    assert "restarts only the pools it owns" in "\n".join(info.value.__notes__)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def _as_from_a_terminal() -> None:
    """The child's SIGINT as a shell gives it: unblocked, default disposition.

    A child inherits its parent's signal mask and ignored signals through fork and exec; the
    test process's may have been changed by what ran before (in a full run the child once
    finished all its tasks before the interrupt took effect), which a user's Ctrl-C never sees.
    """
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_leaves_no_processes(tmp_path):
    script = tmp_path / "interrupt.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            import numpy as np
            import nnnum

            def f(w):
                time.sleep(0.05)  # 8 tasks of 5 s: far longer than the test waits
                return float(np.sum(w ** 2))

            if __name__ == "__main__":
                print("started", flush=True)
                try:
                    nnnum.numerical_gradient(f, np.ones(400), workers=2, progress=False)
                except KeyboardInterrupt:
                    print("interrupted", flush=True)
                    sys.exit(3)
                print("finished", flush=True)
            """
        )
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 30
        seen: set[int] = set()
        while time.monotonic() < deadline:  # the forkserver, its 2 workers, the resource tracker
            seen |= _descendants(proc.pid)
            if len(seen) >= 4:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        seen |= _descendants(proc.pid)
        assert len(seen) >= 3, seen
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=30)
        # not after the running tasks end (Python's exit would join the pool's workers)
        assert time.monotonic() - t0 < 4.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3 and "interrupted" in out, (out, err)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in seen):
        time.sleep(0.1)
    assert not [p for p in seen if _alive(p)]


# ----------------------------------------------------------------------- progress
def test_progress_bar_when_asked(capsys):
    nnnum.numerical_gradient(sum_sq, np.ones(4), workers=map, progress=True)
    assert "numerical_gradient" in capsys.readouterr().err
    nnnum.numerical_gradient(sum_sq, np.ones(4), workers=map, progress=False)
    nnnum.numerical_gradient(sum_sq, np.ones(4), workers=map)  # not a terminal: quiet
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------- Dask
def test_dask_closure_is_bit_identical(client):
    net, x, t = book_net()
    f = lambda w: net.loss(x, t)  # noqa: E731
    W1 = net.params["W1"]
    before = W1.copy()
    ref = nnnum.numerical_gradient(f, W1, order=4)
    got = nnnum.numerical_gradient(f, W1, order=4, workers=client, progress=False)
    assert np.array_equal(got, ref) and np.array_equal(W1, before)
    got = nnnum.numerical_gradient(f, W1, order=4, workers=Workers(client, chunk=1), progress=False)
    assert np.array_equal(got, ref)


def test_dask_error_keeps_its_type(client):
    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(Boom) as info:
        nnnum.numerical_gradient(boom_at_1_2(x[1, 2]), x, workers=client, progress=False)
    assert "x[1, 2] + h" in "\n".join(info.value.__notes__)


def test_dask_killed_worker_is_recomputed(client, tmp_path):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    marker = str(tmp_path / "killed")
    f = kill_once(marker, os.getpid(), sum_exp, 6, float(x[1, 2]))
    ref = nnnum.numerical_gradient(f, x)
    got = nnnum.numerical_gradient(f, x, workers=client, progress=False)
    assert os.path.exists(marker)
    assert np.array_equal(got, ref)


def test_dask_without_workers_or_scheduler():
    pytest.importorskip("distributed")
    from distributed import Client

    cluster = local_cluster(0)
    c = Client(cluster)
    try:
        addr = cluster.scheduler_address
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=addr):
            nnnum.numerical_gradient(sum_sq, np.ones(3), workers=Workers(c, timeout=1))
        assert time.monotonic() - t0 < 10
        cluster.close()
        c.close()
        t0 = time.monotonic()
        with pytest.raises((RuntimeError, TimeoutError), match=addr):
            nnnum.numerical_gradient(sum_sq, np.ones(3), workers=Workers(c, timeout=1))
        assert time.monotonic() - t0 < 10
    finally:
        c.close()
        cluster.close()


def test_the_split_modules_names_stay_importable_from_executors():
    from nnnum.diff.engines.executors import guard, options, payload, worker

    assert executors._kind is options.kind is executors.kind
    assert executors._payload is payload.make_payload is executors.make_payload
    assert executors._unguarded_main is guard.unguarded_main is executors.unguarded_main
    assert executors._guard_message is guard.guard_message is executors.guard_message
    assert executors._mp_context is guard.mp_context is executors.mp_context
    assert executors._State is worker.State
    assert executors.TASKS_PER_WORKER == 4 and executors.check_workers is options.check_workers
