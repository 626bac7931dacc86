"""workers=: a lost Dask worker is survivable, a worker that always dies is named with its
block, and a script without the main guard is told it needs one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import nnnum

cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])

REPO = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


# ------------------------------------------------------------------------ Dask
def kill_together(directory: str, parent: int, deaths: int):
    """An f that kills the first ``deaths`` worker processes that evaluate it, together.

    Each of them waits (2 s at most) until all of them are in ``f``, so that they die at
    the same time: no worker is left holding data that the others had.
    """

    def f(w):
        if os.getpid() != parent:
            for i in range(deaths):
                try:
                    fd = os.open(os.path.join(directory, f"died-{i}"), os.O_CREAT | os.O_EXCL)
                except FileExistsError:
                    continue
                os.close(fd)
                deadline = time.monotonic() + 2
                while len(os.listdir(directory)) < deaths and time.monotonic() < deadline:
                    time.sleep(0.005)
                os.kill(os.getpid(), signal.SIGKILL)
        return float(np.sum(np.exp(w) * np.arange(w.size)))

    return f


def always_die(parent: int):
    def f(w):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return 0.0

    return f


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port 8787 is already in use")
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_dask_survives_losing_every_worker_that_held_the_payload(client, tmp_path):
    # both workers die at once: the payload they held is lost, and recomputed (scattered data
    # could not be: every task would be cancelled)
    client.wait_for_workers(2, timeout=30)
    x = np.linspace(-1, 1, 16)
    f = kill_together(str(tmp_path), os.getpid(), 2)
    ref = nnnum.numerical_gradient(f, x)
    got = nnnum.numerical_gradient(f, x, workers=client, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["died-0", "died-1"]  # two workers did die
    assert np.array_equal(got, ref)


def test_dask_worker_that_always_dies_is_named_with_its_block(client):
    client.wait_for_workers(2, timeout=30)
    x = np.ones((2, 3))
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"workers: a Dask worker died .* the block x\[0, 0\]"):
        nnnum.numerical_gradient(
            always_die(os.getpid()),
            x,
            workers=nnnum.diff.engines.executors.Workers(client, chunk=6),
            progress=False,
        )
    assert time.monotonic() - t0 < 60
    assert np.array_equal(x, np.ones((2, 3)))


# ------------------------------------------------------------ the main guard
def run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


UNGUARDED = """
    import numpy as np
    import nnnum

    def f(w):
        return float(np.sum(w ** 2))

    print("started", flush=True)
    g = nnnum.numerical_gradient(f, np.array([1.0, 2.0]), workers=2, progress=False)
    print(g.tolist())
"""


def test_a_script_without_the_main_guard_is_told_it_needs_one(tmp_path):
    t0 = time.monotonic()
    out = run_script(tmp_path, UNGUARDED)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stdout.count("started") == 1  # refused before any process re-ran the script
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: workers=2: "), out.stderr
    assert "script.py" in last and "(line 9)" in last
    assert 'if __name__ == "__main__":' in last and "needs that guard" in last
    assert "BrokenProcessPool" not in out.stderr
    assert time.monotonic() - t0 < 60


def test_a_function_called_from_unguarded_code_is_told_too(tmp_path):
    out = run_script(
        tmp_path,
        """
        import numpy as np
        import nnnum

        def main():
            return nnnum.numerical_gradient(lambda w: float(w @ w), np.ones(2), workers=2)

        main()
        """,
    )
    assert "needs that guard" in out.stderr and "(line 8)" in out.stderr, out.stderr


def test_a_guarded_script_runs(tmp_path):
    out = run_script(
        tmp_path,
        """
        import numpy as np
        import nnnum

        def f(w):
            return float(np.sum(w ** 2))

        if __name__ == "__main__":
            x = np.array([1.0, 2.0])
            print(nnnum.numerical_gradient(f, x).tolist())
            print(nnnum.numerical_gradient(f, x, workers=2, progress=False).tolist())
        """,
    )
    assert out.returncode == 0, out.stderr
    serial, workers = out.stdout.strip().splitlines()
    assert workers == serial and np.allclose(eval(serial), [2.0, 4.0])
