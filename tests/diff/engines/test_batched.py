"""The batched engine: edge cases of its inputs and full output."""

from __future__ import annotations

import numpy as np

import nnnum


def test_empty_x_and_full_output_of_the_batched_engine():
    r = nnnum.numerical_gradient(lambda v: 0.0, np.zeros((0, 3)), full_output=True)
    assert r.df.shape == (0, 3) and r.nfev == 0
    r = nnnum.batched_numerical_gradient(
        lambda X: (X * X).reshape(len(X), -1).sum(axis=1),
        np.array([[1.0, 2.0]]),
        order=4,
        richardson=1,
        full_output=True,
    )
    np.testing.assert_allclose(r.df, [[2.0, 4.0]], rtol=1e-9)
    assert r.error.shape == (1, 2) and np.all(np.isfinite(r.error))
