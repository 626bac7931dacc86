"""Shared fixtures of the engine tests: a loopback Dask cluster, an f that kills its worker once."""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


def local_cluster(n_workers: int):
    """A loopback-only LocalCluster (no dashboard) of single-thread worker processes."""
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with warnings.catch_warnings():
        # the scheduler's HTTP server (health checks) falls back to a free port when 8787 is taken
        warnings.filterwarnings("ignore", message="Port 8787 is already in use")
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from distributed import Client

    cluster = local_cluster(2)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def kill_once(
    marker: str, parent: int, f: Callable[[Any], Any], index: int, value: float
) -> Callable[[Any], Any]:
    """``f``, but the first call in a process other than ``parent`` whose argument has
    element ``index`` (flat) other than ``value`` (a perturbation of it) kills that process
    (SIGKILL); the file ``marker`` makes it once per test and says that it happened."""

    def g(w: Any) -> Any:
        if os.getpid() != parent and np.asarray(w).reshape(-1)[index] != value:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return f(w)

    return g


def dies_in_a_worker(parent: int) -> Callable[[Any], float]:
    """An ``f`` that kills (SIGKILL) every process but ``parent`` calling it; 0.0 in ``parent``."""

    def f(w: Any) -> float:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return 0.0

    return f
