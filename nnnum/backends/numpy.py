"""``NNNUM_BACKEND=numpy``: the pure NumPy reference (the oracle in tests)."""

from __future__ import annotations

from functools import partial

import numpy as np

from . import _xp_ops
from ._host import batch_budget, is_device_array, to_host  # noqa: F401 (the contract)

xp = np
#: Arrays live in device memory.
DEVICE = False
#: Runs Numba kernels (the prange engine, the structured network gradient).
JIT = False
sigmoid = partial(_xp_ops.sigmoid, xp=np)
relu = partial(_xp_ops.relu, xp=np)
step_function = partial(_xp_ops.step_function, xp=np)
softmax = partial(_xp_ops.softmax, xp=np)
mean_squared_error = partial(_xp_ops.mean_squared_error, xp=np)
cross_entropy_rows = partial(_xp_ops.cross_entropy_rows, xp=np)
softmax_cross_entropy_rows = partial(_xp_ops.softmax_cross_entropy_rows, xp=np)
batched_label_loss = partial(_xp_ops.batched_label_loss, xp=np)
