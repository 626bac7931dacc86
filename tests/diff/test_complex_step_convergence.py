"""The complex step checked at 2h (and 4h): branch points refused, a large h's truncation seen."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum
from nnnum.diff import complex_step

EPS = np.finfo(float).eps


@numba.njit
def sqrt_sum_jit(x):
    return np.sum(np.sqrt(x))


def sqrt_sum(x):
    return np.sum(np.sqrt(x))


def sqrt_sum_batched(X):
    return np.sqrt(X).reshape(len(X), -1).sum(axis=1)


# the issue's points: finite differences refuse them (f is NaN on one side), so must this
BRANCH_POINTS = [
    (np.sqrt, 0.0),
    (np.arcsin, 1.0),
    (lambda z: np.sqrt(1 - z * z), 1.0),
    (np.sqrt, 1e-40),  # the automatic step, ~1e-31, is far larger than x
    (lambda z: 1e10 + np.sqrt(z), 0.0),  # Re f(x + ih) == f(x): only the second step sees it
    (lambda z: z * np.sqrt(z), 0.0),
]


@pytest.mark.parametrize("f, x", BRANCH_POINTS)
def test_branch_points_are_refused_by_numerical_diff(f, x):
    with pytest.raises(FloatingPointError, match="does not converge at x:"):
        nnnum.numerical_diff(f, x, method="complex", full_output=True)
    with pytest.raises(FloatingPointError, match=r"does not converge at x\[2\]"):
        nnnum.numerical_diff(f, np.array([0.25, 0.5, x]), method="complex")


@pytest.mark.parametrize("x0", [0.0, 1e-40, 1e-300])
@pytest.mark.parametrize("engine", ["jitted", "python", "batched", "serial"])
def test_branch_points_are_refused_by_every_gradient_engine(engine, x0):
    x = np.array([1.0, 4.0, x0, 9.0])
    with pytest.raises(FloatingPointError, match=r"does not converge at x\[2\]"):
        if engine == "batched":
            nnnum.numerical_gradient(sqrt_sum_batched, x, method="complex", batched=True)
        elif engine == "serial":
            nnnum.numerical_gradient(sqrt_sum_jit, x, method="complex", parallel=False)
        else:
            f = sqrt_sum_jit if engine == "jitted" else sqrt_sum
            nnnum.numerical_gradient(f, x, method="complex")


def test_the_automatic_step_keeps_every_number_and_estimate():
    # an analytic f: Im f(x + 2ih) is exactly 2 Im f(x + ih), no third step, the same result
    x = np.linspace(-1.5, 2.2, 101)
    f = lambda z: np.exp(z) * np.sin(3 * z) + 1 / (z - 2.5)  # noqa: E731
    r = nnnum.numerical_diff(f, x, method="complex", full_output=True)
    h = complex_step.steps(x, "auto")
    old = f(x + 1j * h).imag / h
    assert np.array_equal(r.df, old)
    assert np.array_equal(r.error, 2 * EPS * np.abs(old) + 5e-324 / h)
    assert r.nfev == 3


@pytest.mark.parametrize("f, x, true", [(lambda z: z**3, 0.0, 0.0), (lambda z: z**5, 0.0, 0.0)])
def test_a_zero_derivative_is_not_a_branch_point(f, x, true):
    # D(t) = -t**2 (z**3) or t**4 (z**5): the differences grow, the result is 0 to ~1e-62
    r = nnnum.numerical_diff(f, x, method="complex", full_output=True)
    assert r.nfev == 4 and abs(r.df - true) <= r.error < 1e-60


def test_the_issues_large_step_has_an_honest_error():
    r = nnnum.numerical_diff(lambda z: z**3, 1.0, method="complex", h=0.5, full_output=True)
    assert r.df == 2.75 and r.error >= 0.25  # the truncation h**2 f''' / 6 = 0.25, not 1e-15
    for engine in ("python", "batched"):
        g = nnnum.numerical_gradient(
            (lambda V: np.sum(V**3, axis=1)) if engine == "batched" else (lambda v: np.sum(v**3)),
            np.array([1.0, 0.0]),
            method="complex",
            h=0.5,
            batched=engine == "batched",
            full_output=True,
        )
        assert np.array_equal(g.df, [2.75, -0.25]) and np.all(g.error >= 0.25)
        assert g.nfev == 1 + 2 * 2 + 2  # both elements stepped a third time


def test_a_step_past_a_pole_is_refused():
    # 1/(z - 2) at 0: h = 1 reaches past the disc of convergence (radius 2)
    with pytest.raises(FloatingPointError, match="too large"):
        nnnum.numerical_diff(lambda z: 1 / (z - 2), 0.0, method="complex", h=1.0)
    r = nnnum.numerical_diff(lambda z: 1 / (z - 2), 0.0, method="complex", h=0.5, full_output=True)
    assert abs(r.df + 0.25) <= r.error < 0.1


def test_near_a_singularity_the_estimate_bounds_the_error():
    # sqrt at 1e-25: the step is 1e-6 of the distance to the branch point; the error is seen
    r = nnnum.numerical_diff(np.sqrt, 1e-25, method="complex", full_output=True)
    true = 0.5 / np.sqrt(1e-25)
    assert r.error > 2 * EPS * abs(true)  # more than rounding
    assert abs(r.df - true) <= r.error <= 1e-11 * true


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(-5, 5),
    b=st.floats(-5, 5),
    x=st.floats(-2, 2),
    h=st.sampled_from([1e-3, 1e-2, 0.1, 0.5]),
)
def test_a_cubic_with_any_step_is_never_refused_and_bounded(a, b, x, h):
    # D(t) = f' - a t**2 exactly: the differences grow like t**2, the estimate bounds the error
    f = lambda z: a * z**3 + b * z**2  # noqa: E731
    true = 3 * a * x * x + 2 * b * x
    r = nnnum.numerical_diff(f, x, method="complex", h=h, full_output=True)
    assert abs(r.df - true) <= r.error + 8 * EPS * (3 * abs(a) * (x * x + h * h) + 2 * abs(b * x))


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 6),
    x=st.floats(0.2, 3),
    h=st.sampled_from([1e-4, 1e-3, 1e-2, 0.05]),
)
def test_analytic_with_a_given_step_refused_or_bounded(k, x, h):
    # exp(k z) and 1/(z + 1): either a clear refusal or an estimate that bounds the error
    for f, d in (
        (lambda z: np.exp(k * z), k * np.exp(k * x)),
        (lambda z: 1 / (z + 1.0), -1 / (x + 1) ** 2),
    ):
        try:
            r = nnnum.numerical_diff(f, x, method="complex", h=h, full_output=True)
        except FloatingPointError:
            assert h * k > 0.05  # only for a step that is large for f
            continue
        assert abs(r.df - d) <= r.error + 4 * EPS * abs(d)


def test_a_non_finite_second_step_is_refused():
    # the pole at 2ih (h ~ 1e-31) is reached by x + 2ih only; f is real on the real axis
    h = complex_step.steps(np.array([0.0]), "auto")[0]

    def f(z):
        return np.sum(1.0 / (z * z + 4 * h * h))

    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=r"x \+ 2ih"):
        nnnum.numerical_gradient(f, np.array([0.0]), method="complex")
