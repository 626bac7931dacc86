"""The float64/int64 bit casts and the opaque value of nnnum.backends._bitcast, JIT on and off."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from nnnum.backends._bitcast import as_float64, as_int64, opaque

VALUES = np.array([0.0, -0.0, 1.0, -2.5, 1.5 * 2.0**52, 5e-324, np.inf, -np.inf, 1e308])
MAGIC = 1.5 * 2.0**52  # the shift that moves |k| < 2**51 into the low mantissa bits


@numba.njit
def _round_trip(v):
    out = np.empty(v.size, np.int64)
    back = np.empty(v.size)
    for i in range(v.size):
        out[i] = as_int64(v[i])
        back[i] = as_float64(out[i])
    return out, back


@numba.njit
def _to_int(k):
    return as_int64(opaque(k + MAGIC)) - as_int64(MAGIC)


def test_casts_are_the_bits_numpy_views():
    """as_int64 / as_float64 are NumPy's views of the same 8 bytes, both ways."""
    keep = VALUES.copy()
    bits, back = _round_trip(VALUES)
    np.testing.assert_array_equal(bits, VALUES.view(np.int64))
    np.testing.assert_array_equal(back.view(np.int64), VALUES.view(np.int64))  # -0.0 kept
    np.testing.assert_array_equal(VALUES, keep)
    nan_bits, nan_back = _round_trip(np.array([np.nan]))
    assert nan_bits[0] == np.array([np.nan]).view(np.int64)[0] and np.isnan(nan_back[0])


@pytest.mark.parametrize("k", [0.0, 1.0, -1.0, 12345.0, -(2.0**50), 2.0**50 - 1])
def test_the_magic_shift_turns_an_integral_float_into_its_int(k):
    """The module's identity: as_int64(k + 1.5 2**52) - as_int64(1.5 2**52) == k, |k| < 2**51."""
    assert _to_int(k) == int(k)


@pytest.mark.jit_only
def test_intrinsics_refuse_wrong_types():
    """Only float64 (as_int64, opaque) and a 64-bit integer (as_float64) compile."""
    from numba.core.errors import TypingError

    @numba.njit
    def to_int(x):
        return as_int64(x)

    @numba.njit
    def to_float(i):
        return as_float64(i)

    @numba.njit
    def hide(x):
        return opaque(x)

    assert hide(2.5) == 2.5
    for fn, bad in ((to_int, np.float32(1.0)), (to_int, 3), (hide, np.int64(1))):
        with pytest.raises(TypingError, match="as_int64|opaque"):
            fn(bad)
    for bad in (np.int32(1), 1.0):
        with pytest.raises(TypingError, match="as_float64"):
            to_float(bad)
