"""Misuse that once gave a silently wrong answer, a crash or an unclear error.

Each test names the class of defect it keeps fixed: overlapping memory, the step ``h`` checked
alike everywhere, complex and object input, inconsistent parameters, matrix x, the messages;
then every bad h, a hostile f (raising, bad returns, every jit flavour) and a hostile x at
every entry point."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnnum
from nnnum._core.regions import has_internal_overlap

from .fresh_python import run_python
from .robust_strategies import (
    BACKENDS,
    FAST,
    FEW,
    SMALL,
    WRITABLE_LAYOUTS,
    MyArray,
    as_matrix,
    assert_clear_error,
    assert_ok_or_clear,
    assert_unmodified,
    close,
    f_sq,
    finite_floats,
    float_arrays,
    j_loop,
    loop_f,
    place,
    run_call,
    same_bits,
    stray_warnings,
    writeable_broadcast,
)


# ---------------------------------------------------------- 2. overlapping memory
def test_overlapping_writable_view_is_rejected():
    base = np.arange(5.0)
    x = np.lib.stride_tricks.sliding_window_view(base, 3, writeable=True)
    with pytest.raises(ValueError, match="share memory"):
        nnnum.numerical_gradient(lambda w: float(np.sum(w)), x)
    np.testing.assert_array_equal(base, np.arange(5.0))


@pytest.mark.parametrize(
    "make, overlap",
    [
        (lambda: np.zeros((3, 4)), False),
        (lambda: np.zeros((3, 4))[:, ::2], False),
        (lambda: np.zeros((3, 4))[::-1, ::-2], False),
        (lambda: np.zeros((4, 3)).T, False),
        (lambda: np.lib.stride_tricks.as_strided(np.zeros(8), (2, 2), (16, 24)), False),
        (lambda: np.lib.stride_tricks.as_strided(np.zeros(8), (3, 3), (8, 16)), True),
        (lambda: np.lib.stride_tricks.sliding_window_view(np.zeros(6), 2), True),
        (lambda: np.zeros(0), False),
        (lambda: np.zeros(()), False),
    ],
)
def test_internal_overlap_detection(make, overlap):
    assert has_internal_overlap(make()) is overlap


def test_broadcast_view_gets_the_broadcast_message_not_read_only():
    with pytest.raises(ValueError, match="broadcast"):
        nnnum.numerical_gradient(lambda w: float(w.sum()), np.broadcast_to(np.ones(1), (3,)))


# ----------------------------------------------------------------- 3-4. one h check
BAD_H = [
    (True, TypeError),
    ("1e-4", TypeError),
    (-1e-4, ValueError),
    (0, ValueError),
    (np.nan, ValueError),
    (np.inf, ValueError),
]


@pytest.mark.parametrize("h, exc", BAD_H)
@pytest.mark.parametrize("method", ["structured", "brute"])
def test_network_gradient_checks_h(h, exc, method, backend):
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    with pytest.raises(exc, match="h"):
        net.numerical_gradient(np.ones((2, 3)), np.array([0, 1]), strategy=method, h=h)


@pytest.mark.parametrize("h, exc", BAD_H)
def test_every_entry_point_checks_h_alike(h, exc):
    f = lambda w: float(np.sum(w**2))  # noqa: E731
    for call in (
        lambda: nnnum.numerical_gradient(f, np.ones(2), h=h),
        lambda: nnnum.numerical_diff(lambda v: v**2, 1.0, h=h),
        lambda: nnnum.batched_numerical_gradient(lambda X: (X**2).sum(axis=1), np.ones(2), h=h),
        lambda: nnnum.gradient_descent(f, np.ones(2), h=h),
    ):
        with pytest.raises(exc, match="h"):
            call()


def test_h_none_is_the_default_step_everywhere():
    f = lambda w: float(np.sum(w**3))  # noqa: E731
    x = np.array([0.5, 1.5, -2.0])
    for call in (
        lambda h: nnnum.numerical_gradient(f, x, h=h),
        lambda h: nnnum.numerical_diff(lambda v: v**3, x, h=h),
        lambda h: nnnum.batched_numerical_gradient(lambda X: (X**3).sum(axis=1), x, h=h),
        lambda h: nnnum.gradient_descent(f, x, step_num=3, h=h),
    ):
        assert np.array_equal(call(None), call(1e-4))
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    xs, t = np.ones((2, 3)), np.array([0, 1])
    for method in ("structured", "brute"):
        a = net.numerical_gradient(xs, t, strategy=method, h=None)
        b = net.numerical_gradient(xs, t, strategy=method, h=1e-4)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_gradcheck_never_swallows_errors():
    net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((4, 5)), np.array([0, 1, 2, 0])
    with pytest.raises(TypeError, match="h"):
        nnnum.gradcheck(net, x, t, h="1e-3")
    with pytest.raises(TypeError, match="h"):
        nnnum.gradcheck(net, x, t, strategy="brute", h="1e-3")
    with pytest.raises(ValueError, match="strategy"):  # the net's name for it
        nnnum.gradcheck(net, x, t, strategy="fast")


def test_gradcheck_on_a_net_without_options():
    class Plain(nnnum.TwoLayerNet):
        def numerical_gradient(self, x, t):  # the book's signature
            return super().numerical_gradient(x, t, strategy="brute")

    net = Plain(5, 4, 3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((4, 5)), np.array([0, 1, 2, 0])
    assert nnnum.gradcheck(net, x, t)
    with pytest.raises(TypeError, match="'h'"):
        nnnum.gradcheck(net, x, t, h=1e-3)


# ------------------------------------------------------------------- 5. complex input
def test_complex_input_is_a_type_error_everywhere(backend):
    net = nnnum.TwoLayerNet(2, 2, 2, seed=0)
    xc = np.array([[1 + 1j, 2.0]])
    calls = {
        "numerical_diff": lambda: nnnum.numerical_diff(lambda v: v**2, 1 + 1j),
        "numerical_gradient": lambda: nnnum.numerical_gradient(lambda v: 0.0, np.ones(2, complex)),
        "batched": lambda: nnnum.batched_numerical_gradient(lambda X: X.sum(axis=1), [1 + 1j]),
        "loss": lambda: net.loss(xc, [0]),
        "predict": lambda: net.predict(xc),
        "gradient": lambda: net.gradient(xc, [0]),
        "accuracy": lambda: net.accuracy(xc, [0]),
        "numerical": lambda: net.numerical_gradient(xc, [0]),
        "softmax": lambda: nnnum.softmax(np.ones(3, complex)),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match="complex|real"):
            call()
        del name


def test_object_and_complex_x_messages_say_what_is_wrong():
    with pytest.raises(TypeError, match="complex"):
        nnnum.numerical_gradient(lambda v: 0.0, np.ones(2, complex))
    with pytest.raises(TypeError, match="object") as info:
        nnnum.numerical_gradient(lambda v: 0.0, np.array([1.0, "a"], dtype=object))
    assert "integer" not in str(info.value)
    with pytest.raises(TypeError, match="None"):
        nnnum.numerical_gradient(lambda v: 0.0, None)


# ---------------------------------------------------------- 7. inconsistent params
def test_inconsistent_params_are_rejected_before_any_kernel():
    # in a subprocess: before the fix this corrupted the heap in half the runs
    out = run_python(
        """
        import numpy as np, nnnum
        rng = np.random.default_rng(0)
        x, t = rng.standard_normal((6, 5)), np.array([0, 1, 2, 0, 1, 2])
        cases = {
            "W2 rows": ("W2", np.ones((5, 3))),
            "W2 1-D": ("W2", np.ones(4)),
            "b1 length": ("b1", np.zeros(7)),
            "b2 length": ("b2", np.zeros(2)),
            "W1 1-D": ("W1", np.ones(5)),
            "W1 rows": ("W1", np.ones((9, 4))),
            "b2 2-D": ("b2", np.zeros((3, 1))),
            "W2 list": ("W2", [[1.0] * 3] * 4),
            "W1 complex": ("W1", np.ones((5, 4), complex)),
        }
        for backend in ("numba", "numpy"):
            with nnnum.use_backend(backend):
                for name, (key, value) in cases.items():
                    for method in (
                        "predict", "loss", "gradient", "structured", "brute", "accuracy"
                    ):
                        net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
                        net.params[key] = value
                        try:
                            if method == "predict":
                                net.predict(x)
                            elif method in ("loss", "gradient", "accuracy"):
                                getattr(net, method)(x, t)
                            else:
                                net.numerical_gradient(x, t, strategy=method)
                        except (ValueError, TypeError) as exc:
                            ok = key in str(exc) or (
                                key == "W1" and "inputs per sample" in str(exc)
                            )
                            assert ok, (name, method, str(exc))
                        else:
                            raise SystemExit(f"no error for {name} / {method} / {backend}")
        print("all rejected")
        """
    )
    assert out.returncode == 0, out.stdout[-1000:] + out.stderr[-2000:]
    assert "all rejected" in out.stdout


def test_float_params_of_any_layout_still_work():
    net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    ref_net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    net.params["W1"] = np.asfortranarray(net.params["W1"])
    net.params["W2"] = net.params["W2"].astype(np.float32).astype(np.float64)
    ref_net.params["W2"] = net.params["W2"].copy()
    x, t = np.random.default_rng(1).standard_normal((6, 5)), np.arange(6) % 3
    a, b = net.numerical_gradient(x, t), ref_net.numerical_gradient(x, t)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_object_mode_f_runs_as_python():
    f = numba.jit(forceobj=True)(lambda v: float(np.sum(v**2)))
    np.testing.assert_allclose(nnnum.numerical_gradient(f, np.array([1.0, 2.0])), [2, 4], atol=1e-6)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_matrix_x_is_perturbed_in_place_and_f_sees_a_matrix():
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    seen = []

    def f(w):
        seen.append(type(w))
        return float(np.sum(np.asarray(w) ** 2))

    g = nnnum.numerical_gradient(f, m)
    np.testing.assert_allclose(g, 2 * np.asarray(m), atol=1e-6)
    assert set(seen) == {np.matrix}
    np.testing.assert_array_equal(m, [[1.0, 2.0], [3.0, 4.0]])


# --------------------------------------------------------------- 22. messages
def test_batched_nan_x_says_not_finite():
    with pytest.raises(ValueError, match="not finite"):
        nnnum.batched_numerical_gradient(lambda X: X.sum(axis=1), np.array([1.0, np.nan]))


def test_t_none_is_named(backend):
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    for call in (
        lambda: nnnum.cross_entropy_error(np.array([0.5, 0.5]), None),
        lambda: net.loss(np.ones(3), None),
        lambda: nnnum.softmax_cross_entropy(np.ones((2, 2)), None),
    ):
        with pytest.raises(TypeError, match="t is None"):
            call()


def test_f_returning_one_value_per_row_points_to_numerical_gradient_2d():
    with pytest.raises(ValueError, match="numerical_gradient_2d"):
        nnnum.numerical_gradient(lambda X: np.sum(X**2, axis=1), np.ones((2, 3)))


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_every_non_finite_value_of_f_names_the_element(value):
    def f(w):
        return value if w[1] > 2.00001 else float(np.sum(w))

    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(FloatingPointError, match=r"x\[1\]"):
        nnnum.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_list_x_that_f_never_reads_warns():
    W = [[1.0, 2.0], [3.0, 4.0]]
    holder = {"W": W}

    def f(_):
        return float(np.sum(np.asarray(holder["W"]) ** 2))  # reads the list, not its argument

    with pytest.warns(RuntimeWarning, match="never sees that copy"):
        g = nnnum.numerical_gradient(f, holder["W"])
    np.testing.assert_array_equal(g, 0.0)
    # a list for an f that uses its argument: no warning
    np.testing.assert_allclose(
        nnnum.numerical_gradient(lambda v: float(np.sum(v**2)), [3.0, 4.0]), [6, 8], atol=1e-6
    )


# ------------------------------------------------------------------- bad h, everywhere
BAD_H_VALUES = {
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
                    lambda: net.numerical_gradient(net_x, net_t, strategy=method, h=h),
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


@pytest.mark.parametrize("bad", list(BAD_H_VALUES))
@pytest.mark.parametrize("caller", list(H_CALLERS))
def test_bad_h_is_a_clear_error(caller, bad):
    out = H_CALLERS[caller](BAD_H_VALUES[bad])
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
            lambda: net.numerical_gradient(x, t, strategy=method, h=1e-300), x, t, net.params
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
NONFINITE_RETURNS = ("nan", "+inf", "-inf")


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
    if ret in NONFINITE_RETURNS:
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
    if ret in NONFINITE_RETURNS:
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
    f = j_loop if jitted else loop_f
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

    for x in (as_matrix([[1.0, 2.0, 3.0]]), np.array([1.0, 2.0, 3.0]).view(MyArray)):
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
    x = as_matrix([[1.0, 2.0]])
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
