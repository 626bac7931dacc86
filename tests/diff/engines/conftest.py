"""Shared fixtures of the engine tests: a loopback Dask cluster."""

from __future__ import annotations

import warnings

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
