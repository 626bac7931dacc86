"""Every option is checked before any work: a wrong value is an error, never silently ignored."""

import warnings

import numpy as np
import pytest

import nnnum
from nnnum.diff.checks import NonFiniteError


def f_sq(v):
    return float(np.sum(v**2))


@pytest.mark.parametrize("value", ["yes", 1, 0, None, np.array([True])])
def test_full_output_must_be_a_bool(value):
    for call in (
        lambda: nnnum.numerical_gradient(f_sq, np.ones(3), full_output=value),
        lambda: nnnum.numerical_diff(np.sin, 1.0, full_output=value),
        lambda: nnnum.batched_numerical_gradient(
            lambda X: (X**2).sum(axis=1), np.ones(3), full_output=value
        ),
    ):
        with pytest.raises(TypeError, match="full_output must be True or False"):
            call()


def test_full_output_accepts_numpy_bools():
    r = nnnum.numerical_gradient(f_sq, np.ones(3), full_output=np.True_)
    assert isinstance(r, nnnum.DiffResult)
    assert isinstance(nnnum.numerical_gradient(f_sq, np.ones(3), full_output=np.False_), np.ndarray)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"parallel": "bogus"}, TypeError, "parallel must be"),
        ({"progress": "bogus"}, TypeError, "progress must be"),
        ({"workers": "bogus"}, TypeError, "workers must be"),
        ({"batched": "yes"}, TypeError, "batched must be"),
        ({"progress": True}, ValueError, "progress= draws the progress bar of workers="),
        ({"batched": True, "workers": 2}, ValueError, "choose one"),
        ({"batched": True, "workers": map}, ValueError, "choose one"),
        ({"batched": True, "parallel": True}, ValueError, "leave parallel unset"),
        ({"method": "complex", "workers": map}, ValueError, "method='complex' runs in"),
    ],
)
def test_engine_options_that_cannot_apply_are_errors(options, error, match):
    x = np.ones(3)
    before = x.copy()
    with pytest.raises(error, match=match):
        nnnum.numerical_gradient(f_sq, x, **options)
    assert np.array_equal(x, before)


@pytest.mark.parametrize("history", [1, 0, "yes", np.array([1]), None])
def test_history_is_a_bool_or_full(history):
    with pytest.raises(ValueError, match="history must be False, True or 'full'"):
        nnnum.gradient_descent(f_sq, np.ones(2), history=history)


def test_history_numpy_true_is_true():
    x, xs = nnnum.gradient_descent(f_sq, np.ones(2), 0.1, 5, history=np.True_)
    assert isinstance(xs, np.ndarray) and xs.shape == (5, 2)


@pytest.mark.parametrize(
    "options, error",
    [
        ({"parallel": "bogus"}, TypeError),
        ({"batched": "bogus"}, TypeError),
        ({"workers": "bogus"}, TypeError),
        ({"batched": True, "workers": 2}, ValueError),
        ({"order": 3}, ValueError),
        ({"h": -1.0}, ValueError),
    ],
)
def test_gradient_descent_checks_everything_even_for_zero_steps(options, error):
    with pytest.raises(error):
        nnnum.gradient_descent(f_sq, np.ones(2), step_num=0, **options)


def test_gradient_descent_needs_a_callable_even_for_zero_steps():
    with pytest.raises(TypeError, match="f must be callable"):
        nnnum.gradient_descent("f", np.ones(2), step_num=0)


def _net():
    return nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"rtol": -1.0}, ValueError, "rtol must be a finite number >= 0"),
        ({"atol": float("nan")}, ValueError, "atol must be a finite number >= 0"),
        ({"rtol": float("inf")}, ValueError, "rtol"),
        ({"atol": "1e-9"}, TypeError, "atol must be a real number"),
        ({"floor": 0.0}, ValueError, "floor must be > 0"),
    ],
)
def test_gradcheck_tolerances_checked(options, error, match):
    x = np.random.default_rng(0).random((4, 5))
    with pytest.raises(error, match=match):
        nnnum.gradcheck(_net(), x, np.arange(4) % 3, **options)


def test_gradcheck_names_a_parameter_the_gradients_lack():
    net = _net()
    net.params["extra"] = np.zeros(3)
    x = np.random.default_rng(0).random((4, 5))
    with pytest.raises(KeyError, match="'extra'.*does not return"):
        nnnum.gradcheck(net, x, np.arange(4) % 3)


# ------------------------------------------------ one policy for non-finite values
@pytest.mark.parametrize("x0", [np.nan, np.inf, -np.inf])
def test_numerical_diff_refuses_a_non_finite_x_as_the_gradient_does(x0):
    with pytest.raises(ValueError, match="not finite"):
        nnnum.numerical_diff(np.sin, x0)
    with pytest.raises(ValueError, match="not finite"):
        nnnum.numerical_gradient(f_sq, np.array([1.0, x0]))
    with pytest.raises(ValueError, match=r"not finite at x\[1\]"):
        nnnum.numerical_diff(np.sin, np.array([0.0, x0]))


def test_numerical_diff_refuses_nan_from_f_naming_the_element():
    with np.errstate(invalid="ignore"):
        with pytest.raises(NonFiniteError, match=r"x\[2\] - h"):
            nnnum.numerical_diff(np.log, np.array([1.0, 2.0, 0.0]))
        with pytest.raises(FloatingPointError):  # the gradient's class of error too
            nnnum.numerical_gradient(lambda v: float(np.log(v[0])), np.array([0.0]))


def test_numerical_diff_refuses_overflow():
    with pytest.raises(NonFiniteError, match="overflows"):
        nnnum.numerical_diff(lambda v: np.sign(v - 1.0) * 1.7e308, 1.0, h=1e-4)


# ------------------------------------------------- f's own exceptions stay its own
def test_a_floating_point_error_raised_by_f_passes_through_gradient_descent():
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) > 6:
            raise FloatingPointError("f's own complaint")
        return float(np.sum(v**2))

    with pytest.raises(FloatingPointError, match="f's own complaint"):
        nnnum.gradient_descent(f, np.array([1.0, 2.0]), lr=0.1, step_num=5)


def test_numpy_errstate_raise_inside_f_passes_through():
    def f(v):
        if v[0] > 2.5:
            with np.errstate(over="raise"):
                np.exp(np.float64(1000.0))
        return float(-v[0])

    with pytest.raises(FloatingPointError, match="overflow"):
        nnnum.gradient_descent(f, np.array([0.0]), lr=1.0, step_num=5)


def test_overflowing_values_are_still_divergence():
    def f(v):
        with np.errstate(over="ignore"):
            return float(np.exp(v[0] ** 2))

    with pytest.warns(nnnum.DivergenceWarning, match="diverged"):
        nnnum.gradient_descent(f, np.array([3.0]), lr=1.0, step_num=50)


def test_a_one_element_array_result_is_told_to_return_the_number():
    with pytest.raises(ValueError, match=r"shape \(1,\).*return the number itself") as info:
        nnnum.numerical_gradient(lambda v: np.array([np.sum(v**2)]), np.ones(3))
    assert "numerical_gradient_2d" not in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda f, x: nnnum.numerical_gradient(f, x, parallel=True, workers=map),
        lambda f, x: nnnum.numerical_gradient(f, x, parallel=False, workers=map),
        lambda f, x: nnnum.numerical_gradient(f, x, parallel=True),  # a plain Python f
        lambda f, x: nnnum.gradient_descent(f, x, parallel=True, step_num=0),
        lambda f, x: nnnum.numerical_gradient_2d(f, np.ones((2, 2)), parallel=True),
    ],
)
def test_parallel_where_it_cannot_apply_is_an_error(call):
    with pytest.raises(ValueError, match="parallel"):
        call(f_sq, np.array([1.0, 2.0]))


def test_parallel_false_on_a_plain_f_is_the_serial_loop_it_always_is():
    np.testing.assert_allclose(nnnum.numerical_gradient(f_sq, np.ones(2), parallel=False), 2.0)


# ------------------------------------------------ what the step errors advise
def test_float64_parameters_are_not_advised_to_float64_x():
    with pytest.raises(nnnum.StepResolutionError) as info:
        nnnum.numerical_gradient(f_sq, np.array([1e13]))
    assert "float64 parameters" not in str(info.value) and "larger h" in str(info.value)
    with pytest.raises(nnnum.StepResolutionError, match="or float64 parameters"):
        nnnum.numerical_gradient(f_sq, np.array([1e6], dtype=np.float32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nnnum.gradient_descent(lambda x: x[0] ** 2 + x[1] ** 2, np.array([-3.0, 4.0]), 10, 100)
    assert caught and not any("float64 parameters" in str(w.message) for w in caught)


@pytest.mark.parametrize(
    "call",
    [
        lambda: nnnum.numerical_diff(np.sin, 1.0, h=1e308),
        lambda: nnnum.numerical_diff(np.sin, 1.0, h=1e308, order=4),
        lambda: nnnum.numerical_gradient(f_sq, np.array([1.0]), h=1e308),
    ],
)
def test_a_step_that_overflows_is_an_error_not_zero(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(nnnum.StepResolutionError, match="overflows"):
            call()


def test_non_finite_f_at_x_itself_is_a_non_finite_error_with_the_right_reason():
    with np.errstate(divide="ignore"):
        with pytest.raises(NonFiniteError, match="one-sided stencil needs f"):
            nnnum.numerical_diff(lambda v: np.log(v - 1.0), 1.0, method="forward")

    def g(v):
        return 1 / (v - 1.0) if np.all(v != 1.0) else np.inf

    with pytest.raises(NonFiniteError, match="error estimate uses f"):
        nnnum.numerical_diff(g, 1.0, richardson=1, full_output=True)
