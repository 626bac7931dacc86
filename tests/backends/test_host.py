"""Host conversion and the comparison helpers of nnnum.testing."""

from __future__ import annotations

import numpy as np
import pytest


def test_testing_helpers():
    from nnnum import testing

    a = np.array([1.0, 2.0])
    assert testing.to_host(a) is a or np.array_equal(testing.to_host(a), a)
    testing.assert_allclose(a, a + 1e-9, rtol=1e-6)
    with pytest.raises(AssertionError):
        testing.assert_allclose(a, a + 1.0)
