"""Property-based robustness suite (issue #8): every public function, both CPU backends.

Each call must give the reference answer or raise a clear, documented error
(TypeError / ValueError / FloatingPointError or nnnum's subclasses) whose
message names the offending argument, and must leave every input array
bit-identical.  The numpy backend is the oracle for the numba backend; the
numpy backend itself is checked against independent float64 formulas here.

Nothing is marked xfail: a failing test here is a defect in nnnum.
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnnum

from .robust_strategies import (
    assert_clear_error,
    assert_ok_or_clear,
    assert_unmodified,
    close,
    finite_floats,
    float_arrays,
    int_or_bool_arrays,
    place,
    run_call,
    same_bits,
    stray_warnings,
    writeable_broadcast,
)

BACKENDS = ("numba", "numpy")
FAST = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    # no shrinking: a failing compile (e.g. float16 under numba) costs seconds per example,
    # and the first failing example is reported as drawn
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
FEW = settings(FAST, max_examples=20)


def _matrix(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


class MyArray(np.ndarray):
    """A trivial ndarray subclass."""


# =============================================================================== references
def ref_sigmoid(x64):
    with np.errstate(all="ignore"):
        pos = 1.0 / (1.0 + np.exp(-x64))
        e = np.exp(x64)
        neg = e / (1.0 + e)
    return np.where(x64 >= 0, pos, np.where(np.isnan(x64), np.nan, neg))


def ref_relu(x64):
    return np.where(np.isnan(x64), np.nan, np.where(x64 > 0, x64, 0.0))


def ref_step(x64):
    return (x64 > 0).astype(np.int64)


def ref_softmax(x64):
    if x64.ndim == 0:
        return np.float64(1.0) if np.isfinite(x64) else np.float64(np.nan)
    with np.errstate(all="ignore"):
        m = x64.max(axis=-1, keepdims=True) if x64.size else x64
        e = np.exp(x64 - m)
        return e / e.sum(axis=-1, keepdims=True)


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


# =============================================================================== activations
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
    for x in (_matrix([[1.0, -2.0, 3.0]]), np.array([[1.0, -2.0, 3.0]]).view(MyArray)):
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


# =============================================================================== losses
LOSSES = {
    "mean_squared_error": (nnnum.mean_squared_error, "y"),
    "cross_entropy_error": (nnnum.cross_entropy_error, "y"),
    "softmax_cross_entropy": (nnnum.softmax_cross_entropy, "logits"),
}


def ref_loss(name, y, t):
    """Independent float64 reference, from the docstrings' formulas."""
    y = np.asarray(y, dtype=np.float64)
    k = y.shape[-1]
    y2 = y.reshape(-1, k)
    t = np.asarray(t)
    if t.shape == y.shape:
        t2 = t.astype(np.float64).reshape(-1, k)
    else:
        t2 = np.zeros_like(y2)
        t2[np.arange(y2.shape[0]), t.reshape(-1)] = 1.0
    n = y2.shape[0]
    with np.errstate(all="ignore"):
        if name == "mean_squared_error":
            return 0.5 * float(np.sum((y2 - t2) ** 2))
        if name == "cross_entropy_error":
            return float(-np.sum(np.where(t2 != 0, t2 * np.log(y2 + 1e-7), 0.0)) / n)
        m = y2.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(y2 - m).sum(axis=1))
        return float(np.sum(np.where(t2 != 0, t2 * (lse[:, None] - y2), 0.0)) / n)


@st.composite
def loss_inputs(draw, dtype, dense, finite):
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4))
    k = draw(st.integers(1, 5))
    shape = lead + (k,)
    elems = finite_floats(dtype, -30, 30) if finite else None
    y, _ = draw(float_arrays(dtype, st.just(shape), elements=elems))
    if dense:
        t = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.25, 0.5, 1.0])))
    else:
        t = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, k - 1)))
    layout = draw(st.sampled_from(("C", "F", "negative", "readonly", "strided")))
    return y, place(t, layout)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dense", [False, True], ids=["labels", "dense"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("name", list(LOSSES))
@FEW
@given(data=st.data())
def test_loss_matches_reference(name, dtype, dense, backend, data):
    y, t = data.draw(loss_inputs(dtype, dense, finite=True))
    if name == "cross_entropy_error":
        y = np.abs(y) / (1.0 + np.abs(y)) if y.dtype != np.float16 else np.abs(y) / (1 + np.abs(y))
    fn, argname = LOSSES[name]
    with nnnum.use_backend(backend):
        out = run_call(lambda: fn(y, t), y, t)
    want = ref_loss(name, y, t)

    def check(res):
        assert np.ndim(res) == 0
        assert close(res, want, rtol=1e-10, atol=1e-12), f"{res!r} != {want!r}"

    assert_ok_or_clear(out, (argname, "t"), check)
    assert out.error is None, f"refused valid input: {out.describe()}"


@pytest.mark.jit_only
@pytest.mark.parametrize("dense", [False, True], ids=["labels", "dense"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(LOSSES))
@FEW
@given(data=st.data())
def test_loss_numba_matches_numpy_on_hostile_values(name, dtype, dense, data):
    y, t = data.draw(loss_inputs(dtype, dense, finite=False))
    fn, _ = LOSSES[name]
    with nnnum.use_backend("numpy"):
        want = run_call(lambda: fn(y, t), y, t)
    with nnnum.use_backend("numba"):
        got = run_call(lambda: fn(y, t), y, t)
    assert_unmodified(got)
    assert_unmodified(want)
    assert (got.error is None) == (want.error is None), (got.describe(), want.describe())
    if got.error is None:
        assert close(got.result, want.result, rtol=1e-12), (got.result, want.result)
    assert not stray_warnings(got), stray_warnings(got)
    assert not stray_warnings(want), stray_warnings(want)


@pytest.mark.jit_only
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_huge_logits(backend, dtype):
    z = np.array([[1e8, -1e8, 0.0], [-1e8, 1e8, 0.0], [1e8, 1e8, -1e8]], dtype=dtype)
    t = np.array([0, 0, 1])
    with nnnum.use_backend(backend):
        out = run_call(lambda: nnnum.softmax_cross_entropy(z, t, reduction="none"), z, t)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert close(out.result, [0.0, 2e8, math.log(2.0)], rtol=1e-12)


BAD_TARGETS = {
    "None": lambda y: None,
    "float labels": lambda y: np.zeros(y.shape[:-1]),
    "bool labels": lambda y: np.zeros(y.shape[:-1], dtype=bool),
    "label K": lambda y: np.full(y.shape[:-1], y.shape[-1]),
    "label -1": lambda y: np.full(y.shape[:-1], -1),
    "huge uint64 label": lambda y: np.full(y.shape[:-1], 2**63, dtype=np.uint64),
    "wrong shape": lambda y: np.zeros(y.shape[:-1] + (1, 2), dtype=int),
    "too many labels": lambda y: np.zeros((y.shape[0] + 1,), dtype=int),
    "complex dense": lambda y: np.zeros(y.shape, dtype=complex),
    "object dense": lambda y: np.zeros(y.shape, dtype=object),
    "str labels": lambda y: np.array(["0"] * y.shape[0]),
    "nan float labels": lambda y: np.full(y.shape[:-1], np.nan),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", list(BAD_TARGETS))
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_bad_targets(name, bad, backend):
    y = np.array([[0.1, 0.7, 0.2], [0.3, 0.3, 0.4]])
    t = BAD_TARGETS[bad](y)
    fn, _ = LOSSES[name]
    with nnnum.use_backend(backend):
        out = run_call(lambda: fn(y, t), y, t)
    assert_clear_error(out, ("t", "label"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "bad", ["complex", "object", "str", "0-d", "empty batch", "no classes", "empty 1-d"]
)
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_bad_predictions(name, bad, backend):
    y, t = {
        "complex": (np.array([[0.5 + 1j, 0.5]]), np.array([0])),
        "object": (np.array([[0.5, 0.5]], dtype=object), np.array([0])),
        "str": (np.array([["0.5", "0.5"]]), np.array([0])),
        "0-d": (np.array(0.5), np.array(0)),
        "empty batch": (np.zeros((0, 3)), np.zeros(0, dtype=int)),
        "no classes": (np.zeros((2, 0)), np.zeros(2, dtype=int)),
        "empty 1-d": (np.zeros(0), np.zeros(0)),
    }[bad]
    fn, argname = LOSSES[name]
    with nnnum.use_backend(backend):
        out = run_call(lambda: fn(y, t), y, t)
    assert_clear_error(out, (argname,))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_matrix_and_subclass(name, backend):
    fn, _ = LOSSES[name]
    y = np.array([[0.2, 0.8], [0.6, 0.4]])
    t = np.array([1, 0])
    want = ref_loss(name, y, t)
    for yy, tt in [
        (_matrix(y), t),
        (y, _matrix(np.eye(2)[t])),
        (y.view(MyArray), t.view(MyArray)),
        (_matrix(y[:1]), np.array([1])),
    ]:
        with nnnum.use_backend(backend):
            out = run_call(lambda: fn(yy, tt), yy, tt)
        w = ref_loss(name, np.asarray(yy), np.asarray(tt)) if yy.shape[0] == 1 else want
        assert_ok_or_clear(out, ("y", "logits", "t"), lambda r: None)
        assert out.error is None, out.describe()
        assert close(out.result, w, rtol=1e-12), (type(yy), type(tt), out.result, w)


@pytest.mark.parametrize("reduction", ["MEAN", None, 1, "avg"])
def test_softmax_cross_entropy_bad_reduction(reduction):
    out = run_call(
        lambda: nnnum.softmax_cross_entropy(np.zeros((2, 3)), [0, 1], reduction=reduction)
    )
    assert_clear_error(out, ("reduction",))


# =============================================================================== numerical_gradient
def f_sq(w):
    return float(np.sum(np.asarray(w, dtype=np.float64) ** 2))


def f_smooth(w):
    w = np.asarray(w, dtype=np.float64)
    return float(np.sum(w**2) + np.sum(np.sin(3.0 * w)))


def naive_gradient(f, x, h=1e-4):
    """The textbook loop on a float64 copy (independent of nnnum)."""
    x64 = np.array(x, dtype=np.float64)
    g = np.zeros_like(x64)
    for idx in np.ndindex(x64.shape):
        xp, xm = x64.copy(), x64.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (xp[idx] - xm[idx])
    return g


def _loop_f(w):
    r = w.ravel()
    s = 0.0
    for i in range(r.size):
        v = np.float64(r[i])
        s += v * v + 0.5 * v * (i + 1)
    return s


j_loop = numba.njit(_loop_f)

WRITABLE_LAYOUTS = ("C", "F", "strided", "negative", "view")
SMALL = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


@FAST
@given(data=st.data())
def test_numerical_gradient_python_f_vs_naive(data):
    x, layout = data.draw(
        float_arrays(
            np.float64, SMALL, elements=finite_floats(np.float64, -10, 10), layouts=WRITABLE_LAYOUTS
        )
    )
    want = naive_gradient(f_smooth, x)
    out = run_call(lambda: nnnum.numerical_gradient(f_smooth, x), x)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert out.result.shape == x.shape and out.result.dtype == x.dtype
    assert close(out.result, want, rtol=1e-7, atol=1e-6), (layout, out.result, want)
    assert close(out.result, 2 * x + 3 * np.cos(3 * x), rtol=1e-6, atol=1e-5)


@FAST
@given(data=st.data())
def test_numerical_gradient_float32_analytic(data):
    x, layout = data.draw(
        float_arrays(
            np.float32, SMALL, elements=finite_floats(np.float32, -10, 10), layouts=WRITABLE_LAYOUTS
        )
    )
    out = run_call(lambda: nnnum.numerical_gradient(f_sq, x), x)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert out.result.dtype == np.float32 and out.result.shape == x.shape
    # exact central difference of a quadratic: 2x + (s+ - s-), |s+ - s-| <= ulp(x)
    tol = 4 * np.spacing(np.abs(x).astype(np.float32)).astype(np.float64) + 1e-3
    assert np.all(np.abs(out.result.astype(np.float64) - 2 * x.astype(np.float64)) <= tol)


@FEW
@given(data=st.data())
def test_numerical_gradient_jitted_bit_identical_to_python(data):
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x, layout = data.draw(
        float_arrays(
            dtype, st.just(shape), elements=finite_floats(dtype, -5, 5), layouts=WRITABLE_LAYOUTS
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnnum.StepRoundingWarning)
        py = nnnum.numerical_gradient(_loop_f, x)
    outs = {}
    for par in (None, True, False):
        o = run_call(lambda: nnnum.numerical_gradient(j_loop, x, parallel=par), x)
        assert_unmodified(o)
        assert o.error is None, o.describe()
        outs[par] = o.result
    for par, r in outs.items():
        assert same_bits(r, py), (par, layout, r, py)


@pytest.mark.parametrize("backend", BACKENDS)
@FEW
@given(data=st.data())
def test_batched_numerical_gradient_analytic(backend, data):
    x, layout = data.draw(
        float_arrays(np.float64, SMALL, elements=finite_floats(np.float64, -10, 10))
    )

    def fb(X):
        X = np.asarray(X, dtype=np.float64)
        return (X**2).reshape(len(X), -1).sum(axis=1)

    with nnnum.use_backend(backend):
        out = run_call(lambda: nnnum.batched_numerical_gradient(fb, x), x)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert close(out.result, 2 * np.asarray(x), rtol=1e-7, atol=1e-6), (layout, out.result)


@FEW
@given(
    x0=hnp.arrays(np.float64, st.integers(1, 4), elements=finite_floats(np.float64, -5, 5)),
    lr=st.floats(0.01, 0.4),
    steps=st.integers(0, 12),
)
def test_gradient_descent_quadratic_closed_form(x0, lr, steps):
    out = run_call(lambda: nnnum.gradient_descent(f_sq, x0, lr=lr, step_num=steps), x0)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert close(out.result, x0 * (1 - 2 * lr) ** steps, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------- bad h, everywhere
BAD_H = {
    "True": True,
    "str": "1e-4",
    "negative": -1e-4,
    "zero": 0,
    "nan": float("nan"),
    "inf": float("inf"),
    "complex": 1e-4 + 0j,
    "array": np.array([1e-4, 1e-4]),
}


def _h_callers():
    x = np.array([1.0, 2.0, 3.0])
    net_x = np.array([[0.5, 0.2, 0.1], [0.1, 0.9, 0.3]])
    net_t = np.array([0, 2])

    def net_call(method, backend):
        def call(h):
            net = nnnum.TwoLayerNet(3, 2, 3, weight_init_std=0.5, seed=0)
            with nnnum.use_backend(backend):
                return run_call(
                    lambda: net.numerical_gradient(net_x, net_t, method=method, h=h),
                    net_x,
                    net_t,
                    net.params,
                )

        return call

    callers = {
        "numerical_gradient(py f)": lambda h: run_call(
            lambda: nnnum.numerical_gradient(f_sq, x, h=h), x
        ),
        "numerical_gradient(jit f)": lambda h: run_call(
            lambda: nnnum.numerical_gradient(j_loop, x, h=h), x
        ),
        "numerical_diff": lambda h: run_call(
            lambda: nnnum.numerical_diff(lambda v: v**2, 3.0, h=h)
        ),
        "batched_numerical_gradient": lambda h: run_call(
            lambda: nnnum.batched_numerical_gradient(lambda X: (X**2).sum(axis=1), x, h=h), x
        ),
        "gradient_descent": lambda h: run_call(
            lambda: nnnum.gradient_descent(f_sq, x, step_num=2, h=h), x
        ),
    }
    for be in BACKENDS:
        for m in ("structured", "brute"):
            callers[f"TwoLayerNet.numerical_gradient({m}, {be})"] = net_call(m, be)
    return callers


H_CALLERS = _h_callers()


@pytest.mark.parametrize("bad", list(BAD_H))
@pytest.mark.parametrize("caller", list(H_CALLERS))
def test_bad_h_is_a_clear_error(caller, bad):
    out = H_CALLERS[caller](BAD_H[bad])
    assert_clear_error(out, ("h",))


@pytest.mark.parametrize("caller", [c for c in H_CALLERS if "TwoLayerNet" not in c])
def test_h_below_float32_resolution(caller):
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    calls = {
        "numerical_gradient(py f)": lambda: nnnum.numerical_gradient(f_sq, x, h=1e-300),
        "numerical_gradient(jit f)": lambda: nnnum.numerical_gradient(j_loop, x, h=1e-300),
        "numerical_diff": lambda: nnnum.numerical_diff(lambda v: v**2, x, h=1e-300),
        "batched_numerical_gradient": lambda: nnnum.batched_numerical_gradient(
            lambda X: (X.astype(np.float64) ** 2).sum(axis=1), x, h=1e-300
        ),
        "gradient_descent": lambda: nnnum.gradient_descent(f_sq, x, step_num=2, h=1e-300),
    }
    out = run_call(calls[caller], x)
    # an h below the resolution of x is the caller's mistake, not a divergence of the descent
    assert_clear_error(out, ("h",))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["structured", "brute"])
def test_net_h_below_resolution(method, backend):
    net = nnnum.TwoLayerNet(3, 2, 3, weight_init_std=0.5, seed=0)
    x, t = np.array([[0.5, 0.2, 0.1]]), np.array([1])
    with nnnum.use_backend(backend):
        out = run_call(
            lambda: net.numerical_gradient(x, t, method=method, h=1e-300), x, t, net.params
        )
    assert_clear_error(out, ("h",))


# ------------------------------------------------------------------- hostile f
def _k_th_call_raiser(k, exc_type):
    calls = {"n": 0}

    def f(w):
        calls["n"] += 1
        if calls["n"] == k:
            raise exc_type(f"boom on call {k}")
        return float(np.sum(np.asarray(w, dtype=np.float64) ** 2))

    return f


class CustomError(Exception):
    pass


@FAST
@given(
    data=st.data(),
    exc_type=st.sampled_from(
        [CustomError, KeyError, ZeroDivisionError, RuntimeError, KeyboardInterrupt]
    ),
)
def test_f_raising_on_kth_call_restores_x(data, exc_type):
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    x, layout = data.draw(
        float_arrays(dtype, SMALL, elements=finite_floats(dtype, -5, 5), layouts=WRITABLE_LAYOUTS)
    )
    k = data.draw(st.integers(1, 2 * x.size))
    f = _k_th_call_raiser(k, exc_type)
    snap = np.array(x, copy=True)
    try:
        nnnum.numerical_gradient(f, x)
    except exc_type as e:
        assert f"boom on call {k}" in str(e)
    except BaseException as e:  # noqa: BLE001
        pytest.fail(
            f"the original {exc_type.__name__} did not propagate: got {type(e).__name__}: {e}"
        )
    else:
        pytest.fail("f raised but numerical_gradient returned")
    assert same_bits(np.array(x, order="C"), snap), (layout, x, snap)


@FEW
@given(k=st.integers(1, 12), exc_type=st.sampled_from([CustomError, RuntimeError]))
def test_f_raising_in_gradient_descent(k, exc_type):
    x0 = np.array([1.0, -2.0])
    snap = x0.copy()
    with pytest.raises(exc_type):
        nnnum.gradient_descent(_k_th_call_raiser(k, exc_type), x0, step_num=3)
    assert same_bits(x0, snap)


BAD_RETURNS = {
    "array": lambda w: np.asarray(w) * 2.0,
    "1-element array": lambda w: np.array([1.0]),
    "None": lambda w: None,
    "nan": lambda w: float("nan"),
    "+inf": lambda w: float("inf"),
    "-inf": lambda w: -float("inf"),
    "complex": lambda w: 1.0 + 1.0j,
    "bool": lambda w: True,
    "np.bool_": lambda w: np.bool_(True),
    "str": lambda w: "1.0",
    "list": lambda w: [1.0],
    "object 0-d": lambda w: np.array(1.0, dtype=object),
}
NONFINITE = ("nan", "+inf", "-inf")


@pytest.mark.parametrize("ret", list(BAD_RETURNS))
def test_numerical_gradient_f_bad_return(ret):
    x = np.array([1.0, 2.0, 3.0])
    out = run_call(lambda: nnnum.numerical_gradient(BAD_RETURNS[ret], x), x)
    assert_clear_error(out, ("f",))


@pytest.mark.parametrize("ret", list(BAD_RETURNS))
def test_numerical_diff_f_bad_return(ret):
    # numerical_diff's f works elementwise, so an array of x's shape is fine; the rest is not
    if ret == "array":
        out = run_call(lambda: nnnum.numerical_diff(BAD_RETURNS[ret], 3.0))
        assert out.error is None and close(out.result, 2.0, rtol=1e-9), out.describe()
        return
    out = run_call(lambda: nnnum.numerical_diff(BAD_RETURNS[ret], 3.0))
    if ret in NONFINITE:
        # a derivative of a function that is not finite there: NaN is acceptable, noise is not
        assert_ok_or_clear(out, ("f",), lambda r: None)
        return
    assert_clear_error(out, ("f",))


@pytest.mark.parametrize("ret", list(BAD_RETURNS))
@pytest.mark.parametrize("history", [False, True])
def test_gradient_descent_f_bad_return(ret, history):
    x = np.array([1.0, 2.0])
    out = run_call(
        lambda: nnnum.gradient_descent(BAD_RETURNS[ret], x, step_num=2, history=history), x
    )
    if ret in NONFINITE:
        # documented: an f that overflows ends the descent with a DivergenceWarning
        assert_unmodified(out)
        assert not stray_warnings(out), stray_warnings(out)
        if out.error is None:
            assert any(issubclass(w.category, nnnum.DivergenceWarning) for w in out.warnings)
        else:
            assert_clear_error(out, ("f",))
        return
    assert_clear_error(out, ("f",))


BATCHED_BAD = {
    "scalar": lambda X: 1.0,
    "None": lambda X: None,
    "wrong length": lambda X: np.zeros(len(X) + 1),
    "2-d": lambda X: np.zeros((len(X), 1)),
    "complex": lambda X: np.zeros(len(X), dtype=complex),
    "str": lambda X: np.array(["1"] * len(X)),
    "nan": lambda X: np.full(len(X), np.nan),
    "inf": lambda X: np.full(len(X), np.inf),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ret", list(BATCHED_BAD))
def test_batched_f_bad_return(ret, backend):
    x = np.array([1.0, 2.0, 3.0])
    with nnnum.use_backend(backend):
        out = run_call(lambda: nnnum.batched_numerical_gradient(BATCHED_BAD[ret], x), x)
    assert_clear_error(out, ("f",))


@pytest.mark.parametrize(
    "kind", ["njit", "njit_parallel", "nnnum.jit", "forceobj", "njit_cache_false"]
)
def test_jit_flavours_of_f(kind):
    def body(w):
        return np.sum(w * w)

    def par_body(w):
        s = 0.0
        r = w.ravel()
        for i in numba.prange(r.size):
            s += r[i] * r[i]
        return s

    f = {
        "njit": lambda: numba.njit(body),
        "njit_parallel": lambda: numba.njit(parallel=True)(par_body),
        "nnnum.jit": lambda: nnnum.jit(body),
        "forceobj": lambda: numba.jit(forceobj=True)(body),
        "njit_cache_false": lambda: numba.njit(cache=False, fastmath=True)(body),
    }[kind]()
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])
    out = run_call(lambda: nnnum.numerical_gradient(f, x), x)
    assert_ok_or_clear(out, ("f",), lambda r: None)
    assert out.error is None, out.describe()
    assert close(out.result, 2 * x, rtol=1e-7, atol=1e-7)


# ------------------------------------------------------------------- hostile x
BAD_X = {
    "int": np.array([1, 2]),
    "bool": np.array([True, False]),
    "float16": np.array([1.0], dtype=np.float16),
    "complex": np.array([1.0 + 0j]),
    "object": np.array([1.0], dtype=object),
    "str": np.array(["1.0"]),
    "longdouble": np.array([1.0], dtype=np.longdouble),
    "read-only": None,
    "broadcast": np.broadcast_to(np.array([1.0]), (3,)),
    "writeable 0-stride": None,
    "overlapping window": None,
    "nan": np.array([1.0, np.nan]),
    "inf": np.array([np.inf, 1.0]),
    "huge": np.array([1e300]),
}


def _bad_x(name):
    if name == "read-only":
        a = np.array([1.0, 2.0])
        a.flags.writeable = False
        return a
    if name == "writeable 0-stride":
        return writeable_broadcast(1.0, (3,))
    if name == "overlapping window":
        return place(np.arange(1.0, 10.0).reshape(3, 3), "overlap")
    return BAD_X[name].copy() if name != "broadcast" else BAD_X[name]


@pytest.mark.parametrize("jitted", [False, True], ids=["py", "jit"])
@pytest.mark.parametrize("name", list(BAD_X))
def test_numerical_gradient_hostile_x(name, jitted):
    x = _bad_x(name)
    f = j_loop if jitted else _loop_f
    out = run_call(lambda: nnnum.numerical_gradient(f, x), x)
    if name in ("int", "bool", "longdouble"):
        # documented TypeError for integers; float64 conversion would also be acceptable
        assert_ok_or_clear(out, ("x",), lambda r: None)
        return
    assert_clear_error(out, ("x",))


@pytest.mark.parametrize("name", list(BAD_X))
def test_numerical_diff_hostile_x(name):
    x = _bad_x(name)
    ref = {
        "int": [2.0, 4.0],
        "bool": [2.0, 0.0],
        "float16": [2.0],
        "longdouble": [2.0],
        "read-only": [2.0, 4.0],
        "broadcast": [2.0] * 3,
        "writeable 0-stride": [2.0] * 3,
        "overlapping window": None,
    }
    out = run_call(lambda: nnnum.numerical_diff(lambda v: v**2, x), x)
    if name in ref:
        want = ref[name] if ref[name] is not None else 2 * np.asarray(x, dtype=np.float64)
        assert_ok_or_clear(out, ("x",), lambda r: None)
        if out.error is None:
            assert np.asarray(out.result).dtype.kind == "f", out.result
            assert close(out.result, want, rtol=1e-6, atol=1e-6), out.result
        return
    if name in ("nan", "inf"):
        # elementwise: NaN out where x is not finite is acceptable; a warning is not
        assert_ok_or_clear(out, ("x",), lambda r: None)
        return
    if name == "object":
        # float values in an object array: a float answer is fine, an object array is not
        assert_ok_or_clear(out, ("x",), lambda r: None)
        if out.error is None:
            assert np.asarray(out.result).dtype == np.float64, repr(out.result)
            assert close(out.result, [2.0], rtol=1e-9)
        return
    assert_clear_error(out, ("x",))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(BAD_X))
def test_batched_hostile_x(name, backend):
    x = _bad_x(name)

    def fb(X):
        X = np.asarray(X, dtype=np.float64)
        return (X**2).reshape(len(X), -1).sum(axis=1)

    with nnnum.use_backend(backend):
        out = run_call(lambda: nnnum.batched_numerical_gradient(fb, x), x)
    if name in (
        "int",
        "bool",
        "read-only",
        "broadcast",
        "writeable 0-stride",
        "longdouble",
        "overlapping window",
        "object",
    ):
        # x is copied: any real input is fine
        want = 2 * np.asarray(x, dtype=np.float64)
        assert_ok_or_clear(out, ("x",), lambda r: None)
        if out.error is None:
            assert close(out.result, want, rtol=1e-6, atol=1e-6)
        return
    if name == "float16":
        assert_ok_or_clear(out, ("x", "h"), lambda r: None)
        return
    assert_clear_error(out, ("x",))


@pytest.mark.parametrize("name", list(BAD_X))
def test_gradient_descent_hostile_init_x(name):
    x = _bad_x(name)
    out = run_call(lambda: nnnum.gradient_descent(f_sq, x, lr=0.1, step_num=3), x)
    if name in (
        "int",
        "bool",
        "float16",
        "read-only",
        "broadcast",
        "writeable 0-stride",
        "longdouble",
        "overlapping window",
        "object",
    ):
        want = np.asarray(x, dtype=np.float64) * 0.8**3
        assert_ok_or_clear(out, ("init_x", "x"), lambda r: None)
        if out.error is None:
            assert close(out.result, want, rtol=1e-6, atol=1e-7)
        return
    if name == "huge":
        assert_unmodified(out)
        return  # documented: DivergenceWarning, last point returned
    assert_clear_error(out, ("init_x",))


@pytest.mark.jit_only
def test_numerical_gradient_matrix_and_subclass():
    def f(w):
        a = np.asarray(w, dtype=np.float64)
        return float(np.sum(a * a))

    for x in (_matrix([[1.0, 2.0, 3.0]]), np.array([1.0, 2.0, 3.0]).view(MyArray)):
        for ff in (f, numba.njit(lambda w: np.sum(w * w))):
            out = run_call(lambda: nnnum.numerical_gradient(ff, x), x)
            assert out.error is None, (type(x), out.describe())
            assert close(out.result, 2 * np.asarray(x), rtol=1e-7, atol=1e-7)


@pytest.mark.jit_only
@pytest.mark.parametrize("backend", BACKENDS)
def test_numerical_gradient_python_f_sees_the_callers_matrix(backend):
    """A Python f is called with the caller's own object (the book's closure semantics): for an
    np.matrix, ``**`` is the matrix power, so f's own error comes through unchanged, as it would
    from ``f(x)``; a jitted f works on a plain-array copy."""
    x = _matrix([[1.0, 2.0]])
    f = lambda w: float(np.sum(w**2))  # noqa: E731
    with nnnum.use_backend(backend):
        direct = run_call(lambda: f(x))
        py = run_call(lambda: nnnum.numerical_gradient(f, x), x)
        jt = run_call(lambda: nnnum.numerical_gradient(numba.njit(lambda w: np.sum(w**2)), x), x)
    assert type(py.error) is type(direct.error) and py.error is not None, py.describe()
    assert_unmodified(py)
    assert jt.error is None and close(jt.result, [[2.0, 4.0]], rtol=1e-7), jt.describe()


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_inputs_everywhere(backend):
    with nnnum.use_backend(backend):
        for shape in [(0,), (0, 3), (3, 0)]:
            x = np.zeros(shape)
            for fn in (nnnum.sigmoid, nnnum.relu, nnnum.step_function, nnnum.softmax):
                out = run_call(lambda: fn(x), x)
                assert out.error is None and np.shape(out.result) == shape, (
                    fn.__name__,
                    out.describe(),
                )
            out = run_call(lambda: nnnum.numerical_gradient(f_sq, x), x)
            assert out.error is None and out.result.shape == shape, out.describe()
            out = run_call(
                lambda: nnnum.batched_numerical_gradient(lambda X: X.reshape(len(X), -1).sum(1), x),
                x,
            )
            assert out.error is None and out.result.shape == shape, out.describe()
            out = run_call(lambda: nnnum.gradient_descent(f_sq, x, step_num=2), x)
            assert out.error is None and np.shape(out.result) == shape, out.describe()


# =============================================================================== TwoLayerNet
@st.composite
def net_case(draw):
    d, hdim, k, n = (draw(st.integers(1, 4)) for _ in range(4))
    seed = draw(st.integers(0, 2**16))
    std = draw(st.sampled_from([0.01, 0.5, 2.0]))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64]))
    if dtype is np.int64:
        base = draw(hnp.arrays(np.int64, (n, d), elements=st.integers(-3, 3)))
    else:
        base = draw(hnp.arrays(dtype, (n, d), elements=finite_floats(dtype, -3, 3)))
    x = place(
        base, draw(st.sampled_from(("C", "F", "strided", "negative", "readonly", "broadcast")))
    )
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    t = np.eye(k)[labels] if draw(st.booleans()) else labels
    return (d, hdim, k, std, seed), x, t


def _net(spec):
    d, hdim, k, std, seed = spec
    return nnnum.TwoLayerNet(d, hdim, k, weight_init_std=std, seed=seed)


@settings(FEW, max_examples=25)
@given(case=net_case())
def test_two_layer_net_all_gradients_agree(case):
    spec, x, t = case
    results = {}
    for be in BACKENDS:
        net = _net(spec)
        with nnnum.use_backend(be):
            for what, call in {
                "gradient": lambda: net.gradient(x, t),
                "structured": lambda: net.numerical_gradient(x, t, method="structured"),
                "brute": lambda: net.numerical_gradient(x, t, method="brute"),
            }.items():
                out = run_call(call, x, t, net.params)
                assert_unmodified(out)
                assert out.error is None and not stray_warnings(out), (be, what, out.describe())
                results[(be, what)] = out.result
            for what, call in {
                "loss": lambda: net.loss(x, t),
                "predict": lambda: net.predict(x),
                "accuracy": lambda: net.accuracy(x, t),
            }.items():
                out = run_call(call, x, t, net.params)
                assert_unmodified(out)
                assert out.error is None and not stray_warnings(out), (be, what, out.describe())
                results[(be, what)] = out.result
    ref = results[("numpy", "gradient")]
    for key, g in results.items():
        if key[1] in ("gradient", "structured", "brute"):
            for p in ("W1", "b1", "W2", "b2"):
                assert g[p].shape == ref[p].shape, (key, p)
                assert close(g[p], ref[p], rtol=1e-4, atol=1e-7), (key, p, g[p], ref[p])
    for what in ("loss", "predict", "accuracy"):
        assert close(results[("numba", what)], results[("numpy", what)], rtol=1e-12), what
    # the structured kernels and the numpy reference of the same method
    for p in ("W1", "b1", "W2", "b2"):
        # the same differences in another order: rounding noise ~ eps * |loss| / h
        assert close(
            results[("numba", "structured")][p],
            results[("numpy", "structured")][p],
            rtol=1e-6,
            atol=1e-9,
        ), p


NET_BAD_X = {
    "complex": lambda x: x + 0j,
    "object": lambda x: x.astype(object),
    "str": lambda x: x.astype(str),
    "nan": lambda x: np.where(x > 0.5, np.nan, x),
    "inf": lambda x: np.where(x > 0.5, np.inf, x),
    "wrong width": lambda x: np.ones((x.shape[0], x.shape[1] + 1)),
    "3-d": lambda x: x[None],
    "empty": lambda x: x[:0],
    "0-d": lambda x: np.array(1.0),
    "None": lambda x: None,
}
NET_METHODS = ("predict", "loss", "accuracy", "gradient", "structured", "brute", "gradcheck")


def _net_call(net, method, x, t):
    return {
        "predict": lambda: net.predict(x),
        "loss": lambda: net.loss(x, t),
        "accuracy": lambda: net.accuracy(x, t),
        "gradient": lambda: net.gradient(x, t),
        "structured": lambda: net.numerical_gradient(x, t, method="structured"),
        "brute": lambda: net.numerical_gradient(x, t, method="brute"),
        "gradcheck": lambda: nnnum.gradcheck(net, x, t),
    }[method]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", NET_METHODS)
@pytest.mark.parametrize("bad", list(NET_BAD_X))
def test_two_layer_net_bad_x(bad, method, backend):
    x0 = np.random.default_rng(0).random((4, 3))
    x = NET_BAD_X[bad](x0)
    t = np.array([0, 1, 2, 1])[: (np.shape(x)[0] if np.ndim(x) == 2 else 1)]
    net = nnnum.TwoLayerNet(3, 4, 3, weight_init_std=0.5, seed=0)
    with nnnum.use_backend(backend):
        out = run_call(_net_call(net, method, x, t), x, t, net.params)
    assert_clear_error(out, ("x",))


NET_BAD_T = {
    "None": None,
    "float labels": np.array([0.0, 1.0, 2.0, 1.0]),
    "label K": np.array([0, 1, 3, 1]),
    "label -1": np.array([0, -1, 2, 1]),
    "wrong length": np.array([0, 1]),
    "complex": np.array([0, 1, 2, 1]) + 0j,
    "object labels": np.array([0, 1, 2, 1], dtype=object),
    "str labels": np.array(["0", "1", "2", "1"]),
    "scalar": 1,
    "2-d labels": np.array([[0, 1, 2, 1]]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", [m for m in NET_METHODS if m != "predict"])
@pytest.mark.parametrize("bad", list(NET_BAD_T))
def test_two_layer_net_bad_t(bad, method, backend):
    x = np.random.default_rng(0).random((4, 3))
    t = NET_BAD_T[bad]
    net = nnnum.TwoLayerNet(3, 4, 3, weight_init_std=0.5, seed=0)
    with nnnum.use_backend(backend):
        out = run_call(_net_call(net, method, x, t), x, t, net.params)
    assert_clear_error(out, ("t", "label"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["auto", "BRUTE", None, 1])
def test_two_layer_net_bad_method(method, backend):
    net = nnnum.TwoLayerNet(3, 4, 3, seed=0)
    x, t = np.ones((2, 3)), np.array([0, 1])
    with nnnum.use_backend(backend):
        out = run_call(lambda: net.numerical_gradient(x, t, method=method), x, t, net.params)
    if method == "auto":
        assert out.error is None, out.describe()
        return
    assert_clear_error(out, ("method",))


@pytest.mark.parametrize(
    "args",
    [
        (0, 2, 2),
        (2, -1, 2),
        (2, 2, 2.0),
        (True, 2, 2),
        ("3", 2, 2),
        (2, 2, None),
        (np.int64(2), 2, 0),
    ],
)
def test_two_layer_net_bad_sizes(args):
    out = run_call(lambda: nnnum.TwoLayerNet(*args))
    assert_clear_error(out, ("input_size", "hidden_size", "output_size"))


@pytest.mark.parametrize("std", [float("nan"), float("inf"), -1.0, "0.1", None])
def test_two_layer_net_bad_weight_init_std(std):
    out = run_call(lambda: nnnum.TwoLayerNet(2, 2, 2, weight_init_std=std))
    if std == -1.0:  # a negative std just flips signs: harmless
        assert out.error is None
        return
    assert_clear_error(out, ("weight_init_std",))


SIMPLE_CASES = {
    "valid one-hot": (np.array([0.6, 0.9]), np.array([0, 0, 1]), None),
    "valid label": (np.array([0.6, 0.9]), 2, None),
    "x too long": (np.array([0.6, 0.9, 1.0]), np.array([0, 0, 1]), ("x",)),
    "x complex": (np.array([0.6 + 1j, 0.9]), 2, ("x",)),
    "x str": (np.array(["0.6", "0.9"]), 2, ("x",)),
    "label 3": (np.array([0.6, 0.9]), 3, ("t", "label")),
    "t None": (np.array([0.6, 0.9]), None, ("t",)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(SIMPLE_CASES))
def test_simple_net_hostile(case, backend):
    net = nnnum.SimpleNet(seed=0)
    W0 = net.W.copy()
    x, t, names = SIMPLE_CASES[case]
    with nnnum.use_backend(backend):
        out = run_call(lambda: net.loss(x, t), x)
        if names is None:
            assert out.error is None and np.isfinite(out.result), out.describe()
        else:
            assert_clear_error(out, names)
        assert same_bits(net.W, W0)
        if names is None:
            g = run_call(lambda: nnnum.numerical_gradient(lambda w: net.loss(x, t), net.W), net.W)
            assert g.error is None and g.result.shape == (2, 3), g.describe()
            assert same_bits(net.W, W0)
