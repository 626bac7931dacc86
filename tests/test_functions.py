from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnnum

from . import naive
from .naive import ref_relu, ref_sigmoid, ref_softmax, ref_step
from .robust_strategies import (
    BACKENDS,
    FAST,
    FEW,
    MyArray,
    as_matrix,
    assert_clear_error,
    assert_ok_or_clear,
    assert_unmodified,
    close,
    float_arrays,
    int_or_bool_arrays,
    run_call,
    stray_warnings,
)


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


# ------------------------------------------- any dtype, layout and subclass, both backends
ACTIVATIONS = {
    "sigmoid": (nnnum.sigmoid, ref_sigmoid),
    "relu": (nnnum.relu, ref_relu),
    "step_function": (nnnum.step_function, ref_step),
    "softmax": (nnnum.softmax, ref_softmax),
}
RTOL = {np.float64: 1e-12, np.float32: 1e-6, np.float16: 2e-3}


def _out_dtype(name, x):
    if name == "step_function":
        return np.dtype(np.int64)
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)


def _check_activation(name, x, backend):
    fn, ref = ACTIVATIONS[name]
    with nnnum.use_backend(backend):
        out = run_call(lambda: fn(x), x)
    x64 = np.array(x, dtype=np.float64)
    want = ref(x64)

    def check(res):
        res_arr = np.asarray(res)
        assert res_arr.shape == x.shape, f"shape {res_arr.shape} != {x.shape}"
        assert res_arr.dtype == _out_dtype(name, x), f"dtype {res_arr.dtype} for input {x.dtype}"
        dt = np.dtype(_out_dtype(name, x)).type
        rtol = RTOL.get(dt, 1e-12)
        # the reference rounded to the output dtype
        want_cast = np.asarray(want).astype(_out_dtype(name, x)).astype(np.float64)
        assert close(res_arr, want_cast, rtol=rtol, atol=rtol * 1e-3), (
            f"{backend} {name}: {res_arr!r} != reference {want_cast!r}"
        )

    assert_ok_or_clear(out, ("x",), check)
    assert out.error is None, f"{backend} {name} refused a valid input: {out.describe()}"
    return out.result


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
@FAST
@given(data=st.data())
def test_activation_floats_any_layout(name, dtype, backend, data):
    x, _layout = data.draw(float_arrays(dtype))
    _check_activation(name, x, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
@FEW
@given(data=st.data())
def test_activation_ints_and_bools(name, backend, data):
    x, _layout = data.draw(int_or_bool_arrays())
    _check_activation(name, x, backend)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@FAST
@given(data=st.data())
def test_activation_numba_matches_numpy_oracle(name, data):
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    x, _ = data.draw(float_arrays(dtype))
    fn, _ref = ACTIVATIONS[name]
    with nnnum.use_backend("numpy"):
        want = fn(x)
    with nnnum.use_backend("numba"):
        got = run_call(lambda: fn(x), x)
    assert_unmodified(got)
    assert got.error is None, got.describe()
    assert np.asarray(got.result).dtype == np.asarray(want).dtype
    assert close(got.result, want, rtol=RTOL[dtype]), f"{got.result!r} vs numpy {want!r}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize(
    "bad",
    ["complex128", "complex64", "object", "str", "datetime"],
)
def test_activation_rejects_non_real(name, backend, bad):
    x = {
        "complex128": np.array([1.0 + 2j, -1.0]),
        "complex64": np.array([1.0 + 2j], dtype=np.complex64),
        "object": np.array([1.0, 2.0], dtype=object),
        "str": np.array(["1.0"]),
        "datetime": np.array(["2020-01-01"], dtype="datetime64[D]"),
    }[bad]
    fn, _ = ACTIVATIONS[name]
    with nnnum.use_backend(backend):
        out = run_call(lambda: fn(x), x)
    assert_clear_error(out, ("x",))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_0d_same_type_on_both_backends(name):
    fn, _ = ACTIVATIONS[name]
    res = {}
    for be in BACKENDS:
        with nnnum.use_backend(be):
            res[be] = fn(np.array(1.5))
    assert type(res["numba"]) is type(res["numpy"]), {k: type(v) for k, v in res.items()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matrix_and_subclass(name, backend):
    fn, ref = ACTIVATIONS[name]
    for x in (as_matrix([[1.0, -2.0, 3.0]]), np.array([[1.0, -2.0, 3.0]]).view(MyArray)):
        with nnnum.use_backend(backend):
            out = run_call(lambda: fn(x), x)
        assert out.error is None, out.describe()
        assert close(out.result, ref(np.asarray(x, dtype=np.float64)), rtol=1e-12)
        assert np.shape(out.result) == x.shape


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_huge_logits(backend, dtype):
    z = np.array([[1e8, -1e8, 0.0], [-1e8, -1e8, -1e8], [1e8, 1e8, -1e8]], dtype=dtype)
    with nnnum.use_backend(backend):
        out = run_call(lambda: nnnum.softmax(z), z)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    want = np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]], dtype=np.float64)
    assert close(out.result, want, rtol=RTOL[dtype])
