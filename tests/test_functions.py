from __future__ import annotations

import numpy as np
import pytest

import nnnum

from . import naive


def test_book_activations(backend):
    x = np.array([-1.0, 1.0, 2.0])
    np.testing.assert_allclose(nnnum.sigmoid(x), [0.26894142, 0.73105858, 0.88079708], atol=1e-8)
    assert nnnum.step_function(x).tolist() == [0, 1, 1]
    assert nnnum.relu(x).tolist() == [0.0, 1.0, 2.0]
    np.testing.assert_allclose(
        nnnum.softmax(np.array([0.3, 2.9, 4.0])), [0.01821127, 0.24519181, 0.73659691], atol=1e-8
    )


@pytest.mark.parametrize("shape", [(), (1,), (5,), (3, 4), (2, 3, 4)])
def test_shapes_and_dtypes(backend, rng, shape):
    for dtype in (np.float32, np.float64):
        x = (rng.normal(size=shape) * 5).astype(dtype)
        for fn in (nnnum.sigmoid, nnnum.relu):
            out = fn(x)
            assert out.shape == shape and out.dtype == dtype
        assert nnnum.step_function(x).dtype == np.int64
        if shape:
            y = nnnum.softmax(x)
            assert y.shape == shape and y.dtype == dtype
            np.testing.assert_allclose(
                y, naive.softmax(x), rtol=1e-6 if dtype == np.float32 else 1e-13
            )
    assert nnnum.sigmoid(np.array([1, 2])).dtype == np.float64  # integers compute in float64


def test_sigmoid_parallel_path_matches_serial(rng):
    x = rng.normal(size=200_000) * 50
    with nnnum.use_backend("numba"):
        big = nnnum.sigmoid(x)
        small = np.concatenate([nnnum.sigmoid(c) for c in np.array_split(x, 100)])
    np.testing.assert_array_equal(big, small)
    with nnnum.use_backend("numpy"):
        np.testing.assert_allclose(nnnum.sigmoid(x), big, rtol=1e-15, atol=0)


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4), (2, 0, 5)])
def test_empty_inputs_keep_their_shape(backend, shape):
    x = np.zeros(shape)
    for fn in (nnnum.softmax, nnnum.sigmoid, nnnum.relu, nnnum.step_function):
        assert fn(x).shape == shape
    assert float(nnnum.softmax(np.array(5.0))) == 1.0  # the book's softmax of a scalar


def test_noncontiguous_inputs(backend, rng):
    z = rng.normal(size=(6, 8))
    view = z[::2, ::-2]
    np.testing.assert_allclose(
        nnnum.softmax(view), naive.softmax(np.ascontiguousarray(view)), atol=1e-15
    )
    np.testing.assert_array_equal(nnnum.sigmoid(z.T), nnnum.sigmoid(np.ascontiguousarray(z.T)))


# ------------------------------------------------------------------- 18. float16
@pytest.mark.parametrize(
    "fn",
    [
        nnnum.sigmoid,
        nnnum.relu,
        nnnum.step_function,
        nnnum.softmax,
        lambda y: nnnum.cross_entropy_error(nnnum.softmax(y), np.array([1, 0])),
        lambda y: nnnum.mean_squared_error(y, np.array([1, 0])),
        lambda y: nnnum.softmax_cross_entropy(y, np.array([1, 0])),
    ],
)
def test_float16_computes_like_the_reference(fn):
    y = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -0.5]], dtype=np.float16)
    got = fn(y)
    with nnnum.use_backend("numpy"):
        ref = fn(y)
    assert np.asarray(got).dtype == np.asarray(ref).dtype
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(ref, float), rtol=1e-6)
