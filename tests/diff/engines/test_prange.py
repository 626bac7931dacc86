"""A jitted f with an explicit signature, given an x it does not take: a clear TypeError."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import nnnum
from nnnum.diff.engines import prange

pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="signatures need the JIT")


@numba.njit("float64(float64[:])")
def sq_sum(x):
    return np.sum(x * x)


CLEAR = r"explicit signature \(array\(float64, 1d, A\)\) that does not take x, a (1-D float32|2-D)"

WRONG = {"float32": np.ones(3, np.float32), "2-D": np.ones((2, 2))}


@pytest.mark.parametrize("kind", WRONG)
def test_check_call_says_what_f_takes_and_what_x_is(kind):
    with pytest.raises(TypeError, match=CLEAR) as info:
        prange.check_call(sq_sum, WRONG[kind])
    assert "No matching definition" in str(info.value)  # Numba's own words kept, as the cause
    assert isinstance(info.value.__cause__, TypeError)


def test_check_call_returns_f_and_passes_other_errors_through():
    assert prange.check_call(sq_sum, np.array([3.0, 4.0])) == 25.0

    @numba.njit
    def raises(x):
        raise TypeError("mine")

    with pytest.raises(TypeError, match="^mine$"):
        prange.check_call(raises, np.ones(2))


@pytest.mark.parametrize("kind", WRONG)
def test_the_default_call_is_clear(kind):
    with pytest.raises(TypeError, match=CLEAR):
        nnnum.numerical_gradient(sq_sum, WRONG[kind])


@pytest.mark.parametrize("kind", WRONG)
def test_the_complex_step_is_clear(kind):
    with pytest.raises(TypeError, match="explicit signature"):
        nnnum.numerical_gradient(sq_sum, WRONG[kind], method="complex")


@pytest.mark.parametrize("kind", WRONG)
def test_the_general_path_is_clear(kind):
    with pytest.raises(TypeError, match=CLEAR):
        nnnum.numerical_gradient(sq_sum, WRONG[kind], order=4)


def test_a_matching_x_still_works():
    x = np.array([1.0, -2.0, 0.5])
    assert np.allclose(nnnum.numerical_gradient(sq_sum, x), 2 * x)
    assert np.allclose(nnnum.numerical_gradient(sq_sum, x, order=4), 2 * x)
