"""TwoLayerNet's fast forward, accuracy and backprop kernels (nets/_forward_kernels) vs NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import nnnum

from ..conftest import small_problem
from ..naive import ref_sigmoid, ref_softmax

DELTA = 1e-7


def _numpy_backprop(p: dict, x: np.ndarray, t: np.ndarray) -> dict:
    """The exact derivative of the book's loss (delta included), composed in NumPy."""
    z1 = ref_sigmoid(x @ p["W1"] + p["b1"])
    y = ref_softmax(z1 @ p["W2"] + p["b2"])
    onehot = np.eye(y.shape[1])[t]
    g = -onehot / ((y + DELTA) * x.shape[0])
    da2 = y * (g - (y * g).sum(axis=1, keepdims=True))
    da1 = (da2 @ p["W2"].T) * z1 * (1.0 - z1)
    return {"W1": x.T @ da1, "b1": da1.sum(axis=0), "W2": z1.T @ da2, "b2": da2.sum(axis=0)}


@pytest.mark.parametrize("classes", [16, 21, 128])
def test_backprop_with_many_classes_matches_numpy(classes):
    """16 to 128 classes: the row sum runs NumPy's unrolled pairwise leaf, 8 lanes at a time."""
    net, x, t = small_problem(7, d=5, h=4, k=classes, n=6)
    before = {key: p.copy() for key, p in net.params.items()}
    got = net.gradient(x, t)
    want = _numpy_backprop(net.params, x, t)
    general = net._gradient_general(x, t)  # the NumPy composition of nnnum's functions
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-17, err_msg=key)
        np.testing.assert_array_equal(got[key], general[key], err_msg=key)  # bit for bit
        np.testing.assert_array_equal(net.params[key], before[key], err_msg=key)
    # one-hot rows take the same kernel's dense branch: the same gradient
    dense = net.gradient(x, np.eye(classes)[t])
    for key in want:
        np.testing.assert_allclose(dense[key], got[key], rtol=1e-14, atol=1e-18, err_msg=key)


def test_accuracy_with_nan_in_one_hot_targets_follows_argmax():
    """A NaN in a target row is its argmax (the first NaN), as NumPy's argmax reads it."""
    net, x, _ = small_problem(8, d=5, h=4, k=4, n=6)
    y = net.predict(x).argmax(axis=1)
    t = np.zeros((6, 4))
    t[np.arange(6), (y + 1) % 4] = 1.0  # every row wrong ...
    t[0] = [np.nan, 1.0, 0.0, 0.0]  # ... but these: their NaN picks the class
    t[1] = [0.0, 1.0, np.nan, np.nan]
    t[2] = [1.0, 0.0, 0.0, 0.0]
    want = float(np.mean(y == np.argmax(t, axis=1)))
    t_before = t.copy()
    assert net.accuracy(x, t) == want
    np.testing.assert_array_equal(t, t_before)
    with nnnum.use_backend("numpy"):  # the general path, argmax itself
        assert net.accuracy(x, t) == want


def test_accuracy_with_nan_outputs_counts_class_zero():
    """NaN weights make every probability NaN: argmax says class 0, so does the kernel."""
    net, x, t = small_problem(9, d=5, h=4, k=4, n=8)
    net.params["W2"][1, 2] = np.nan
    assert np.isnan(net.predict(x)).all()
    assert net.accuracy(x, t) == float(np.mean(t == 0))


def test_accuracy_takes_numpys_argmax_of_ties_and_nan_targets():
    """The first of equal probabilities wins; a one-hot row's first NaN is its argmax."""
    net, x, _ = small_problem(9, d=5, h=4, k=4, n=4)
    net.params["W2"][:] = 0.0
    net.params["b2"][:] = [0.3, 1.0, 1.0, 0.0]  # classes 1 and 2 tie: argmax says 1
    assert net.accuracy(x, np.full(4, 1)) == 1.0
    assert net.accuracy(x, np.full(4, 2)) == 0.0
    t = np.eye(4)[[1, 0, 3, 0]]
    t[1, 2] = np.nan
    t[3, 0] = np.nan
    assert np.argmax(t, axis=1).tolist() == [1, 2, 3, 0]
    assert net.accuracy(x, t) == 0.25
    assert net.accuracy(x, t) == net._accuracy_general(x, t)
