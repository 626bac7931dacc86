"""Tests of nnnum._core.validate: how targets are classified against a batch and checked."""

from __future__ import annotations

import numpy as np
import pytest

from nnnum._core.validate import float_array, targets


def test_float_array_converts_integers_and_rejects_other_dtypes():
    """Integers and bools become float64, floats are kept as they are, strings are refused."""
    x32 = np.ones(3, dtype=np.float32)
    assert float_array(x32, "x") is x32
    assert float_array(np.array([1, 2]), "x").dtype == np.float64
    assert float_array(np.array([True]), "x").dtype == np.float64
    with pytest.raises(TypeError, match="x must be a real numeric array, got dtype <U1"):
        float_array(np.array(["a"]), "x")


def test_targets_classifies_dense_and_labels():
    """A t shaped like y is dense float; a t shaped like y's batch is int labels."""
    y = np.zeros((2, 3))
    kind, t = targets(y, np.array([[0, 1, 0], [1, 0, 0]]))
    assert kind == "dense" and t.dtype == np.float64
    kind, t = targets(y, np.array([2, 0]))
    assert kind == "labels" and t.tolist() == [2, 0]


@pytest.mark.parametrize(
    "t, error, message",
    [
        (None, TypeError, r"t is None; pass integer labels with shape \(2,\)"),
        (np.array([[1j, 0, 0], [0, 0, 0]]), TypeError, "t must be integer labels or real"),
        (np.array(["a", "b"]), TypeError, "t must be integer labels or real targets"),
        (np.array([1.0, 0.0]), TypeError, "labels must be integers"),
    ],
)
def test_targets_rejects_what_is_not_a_target(t, error, message):
    """Complex, text, None and float 'labels' are refused with the reason."""
    with pytest.raises(error, match=message):
        targets(np.zeros((2, 3)), t)
