"""Shared fixtures of the data tests."""

from __future__ import annotations

import pytest

from nnnum.data import _download

from ..loopback_http import closed_port_url


@pytest.fixture
def no_internet_no_home(tmp_path, monkeypatch):
    """The MNIST mirror a closed local port, the default data folder inside ``tmp_path``."""
    monkeypatch.setattr(_download, "MNIST_MIRROR", closed_port_url())
    monkeypatch.setenv("NNNUM_DATA_DIR", str(tmp_path / "default-data-dir"))
