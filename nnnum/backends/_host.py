"""The device questions, answered for the host backends (numba, numpy): arrays in host memory."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_host(a: Any) -> Any:
    """A NumPy array (host memory): already one."""
    return np.asarray(a)


def is_device_array(a: Any) -> bool:
    """Host backends have no device arrays."""
    return False


def batch_budget(per_item_bytes: int, host_bytes: int) -> int:
    """Items of ``per_item_bytes`` per batch in a host budget of ``host_bytes``."""
    return max(1, host_bytes // max(1, per_item_bytes))
