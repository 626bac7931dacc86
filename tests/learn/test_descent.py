from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnnum

from ..naive import rosen
from ..robust_strategies import (
    FEW,
    NONFINITE,
    assert_unmodified,
    close,
    f_sq,
    finite_floats,
    run_call,
    stray_warnings,
)


def f2(x):
    return x[0] ** 2 + x[1] ** 2


def test_book_gradient_descent_converges():
    init = np.array([-3.0, 4.0])
    x = nnnum.gradient_descent(f2, init, lr=0.1, step_num=100)
    assert np.all(np.abs(x) < 1e-8)
    np.testing.assert_array_equal(init, [-3.0, 4.0])  # never modified


def test_book_learning_rates_too_large_and_too_small():
    with pytest.warns(nnnum.DivergenceWarning, match="diverged"):
        big = nnnum.gradient_descent(f2, np.array([-3.0, 4.0]), lr=10.0, step_num=100)
    assert np.abs(big).max() > 1e10
    small = nnnum.gradient_descent(f2, np.array([-3.0, 4.0]), lr=1e-10, step_num=100)
    np.testing.assert_allclose(small, [-2.99999994, 3.99999992], atol=1e-8)


def test_history_is_the_books_x_history():
    # the book's gradient_method.py: the point before each step, shape (step_num, *x.shape)
    init = np.array([-3.0, 4.0])
    x, x_history = nnnum.gradient_descent(f2, init, lr=0.1, step_num=20, history=True)
    assert isinstance(x_history, np.ndarray) and x_history.shape == (20, 2)
    np.testing.assert_array_equal(x_history[0], init)
    np.testing.assert_array_equal(init, [-3.0, 4.0])
    # the book's own loop, step by step
    book = [init.copy()]
    for _ in range(19):
        book.append(book[-1] - 0.1 * nnnum.numerical_gradient(f2, book[-1]))
    np.testing.assert_array_equal(x_history, np.array(book))
    np.testing.assert_array_equal(x, book[-1] - 0.1 * nnnum.numerical_gradient(f2, book[-1]))


def test_full_history_for_plotting():
    x, hist = nnnum.gradient_descent(f2, [-3.0, 4.0], lr=0.1, step_num=20, history="full")
    assert hist.x.shape == (21, 2) and hist.f.shape == (21,)
    np.testing.assert_array_equal(hist.x[0], [-3.0, 4.0])
    np.testing.assert_array_equal(hist.x[-1], x)
    assert np.all(np.diff(hist.f) < 0)
    np.testing.assert_allclose(hist.x[1], [-3.0 * 0.8, 4.0 * 0.8], atol=1e-9)


def test_jitted_objective():
    f = nnnum.jit(lambda x: np.sum((x - 1.0) ** 2))
    x = nnnum.gradient_descent(f, np.zeros((2, 3)), lr=0.25, step_num=60)
    np.testing.assert_allclose(x, np.ones((2, 3)), atol=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError):
        nnnum.gradient_descent(f2, [1.0, 1.0], step_num=-1)
    with pytest.raises(ValueError):
        nnnum.gradient_descent(f2, [1.0, 1.0], lr=np.nan)


def test_overflowing_f_diverges_with_a_warning():
    # exp(x**2) overflows long before x + h == x: still a DivergenceWarning, not an error
    def f(v):
        with np.errstate(over="ignore"):
            return float(np.exp(v[0] ** 2))

    with pytest.warns(nnnum.DivergenceWarning, match="diverged"):
        x = nnnum.gradient_descent(f, np.array([3.0]), lr=0.1)
    assert np.isfinite(x).all()


@pytest.mark.parametrize("lr", [1e308, 1.7e308, -1e308])
def test_huge_lr_diverges_with_a_warning(lr):
    with pytest.warns(nnnum.DivergenceWarning, match="diverged"):
        x, xs = nnnum.gradient_descent(f2, np.array([-3.0, 4.0]), lr=lr, step_num=5, history=True)
    assert np.isfinite(x).all() and np.isfinite(xs).all()
    assert len(xs) < 5


@pytest.mark.parametrize("lr", [True, "0.1", None, 1j])
def test_lr_must_be_a_real_number(lr):
    with pytest.raises(TypeError, match="lr"):
        nnnum.gradient_descent(f2, [1.0, 1.0], lr=lr)


@pytest.mark.parametrize("init", [[1 + 1j, 2.0], ["a", "b"], None])
def test_init_x_must_be_real(init):
    with pytest.raises(TypeError, match="init_x"):
        nnnum.gradient_descent(f2, init)


def test_history_argument_checked():
    with pytest.raises(ValueError, match="history"):
        nnnum.gradient_descent(f2, [1.0, 1.0], history="yes")


# ------------------------------------------------- issue #13: mutants the suite let through
def test_non_finite_init_x_names_its_flat_index():
    with pytest.raises(ValueError, match="init_x is not finite at flat index 2"):
        nnnum.gradient_descent(f2, np.array([[1.0, 2.0], [np.nan, np.inf]]))


def test_divergence_stops_at_once_with_one_warning():
    calls = []

    def f(v):
        calls.append(v[0])
        return np.inf if v[0] > 5.0 else float(v[0] ** 2)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x, xs = nnnum.gradient_descent(f, np.array([1.0]), lr=-1.0, step_num=50, history=True)
    div = [w for w in caught if issubclass(w.category, nnnum.DivergenceWarning)]
    assert len(div) == 1 and "diverged at step 2" in str(div[0].message)
    np.testing.assert_allclose(xs[:, 0], [1.0, 3.0], rtol=1e-9)  # the steps before it only
    np.testing.assert_allclose(x, [9.0], rtol=1e-9)
    assert len(calls) <= 3 * 2 + 1  # no gradient is tried after the divergence


def test_book_defaults_lr_001_and_100_steps():
    x, xs = nnnum.gradient_descent(f2, np.array([-3.0, 4.0]), history=True)
    assert len(xs) == 100  # step_num=100
    np.testing.assert_allclose(xs[1], [-3.0 * 0.98, 4.0 * 0.98], rtol=1e-9)  # x - 0.01 * 2x


@pytest.mark.parametrize("bad", [True, 2.5, -1, "3"])
def test_step_num_must_be_a_whole_number(bad):
    with pytest.raises(ValueError, match="step_num must be an integer >= 0"):
        nnnum.gradient_descent(f2, np.array([1.0, 1.0]), step_num=bad)


def test_full_history_after_a_divergence_has_one_row_per_point():
    def f(v):
        return np.inf if v[0] > 5.0 else float(v[0] ** 2)

    with pytest.warns(nnnum.DivergenceWarning):
        x, hist = nnnum.gradient_descent(f, np.array([1.0]), lr=-1.0, step_num=50, history="full")
    np.testing.assert_allclose(hist.x[:, 0], [1.0, 3.0, 9.0], rtol=1e-9)  # ends at the last x
    assert len(hist.f) == len(hist.x) == 3


@pytest.mark.parametrize(
    "options",
    [
        dict(order=4),
        dict(order=6, h="auto"),
        dict(method="forward", h=1e-6),
        dict(richardson=2),
        dict(method="complex"),
        dict(method="complex", h=1e-30),
        dict(batched=True),
    ],
)
def test_differentiation_options_reach_every_step(options):
    # the descent is the book's loop with numerical_gradient(f, x, **options), bit for bit
    init = np.array([-1.2, 1.0, 0.5])
    x, xs = nnnum.gradient_descent(rosen, init, 1e-3, 15, history=True, **options)
    p = init.copy()
    for k in range(15):
        np.testing.assert_array_equal(xs[k], p)
        p = p - 1e-3 * nnnum.numerical_gradient(rosen, p, **options)
    np.testing.assert_array_equal(x, p)
    if "batched" not in options:  # another gradient, another path: the options were used
        assert not np.array_equal(x, nnnum.gradient_descent(rosen, init, 1e-3, 15))


@pytest.mark.jit_only  # parallel= is for a compiled f
def test_default_is_the_books_step_and_jitted_f_takes_options():
    init = np.array([-3.0, 4.0])
    np.testing.assert_array_equal(
        nnnum.gradient_descent(f2, init, 0.1, 10),
        nnnum.gradient_descent(f2, init, 0.1, 10, h=1e-4, order=2, method="central"),
    )
    f = nnnum.jit(lambda x: np.sum((x - 1.0) ** 2) + x[0] * x[1])
    a = nnnum.gradient_descent(f, np.zeros(4), lr=0.1, step_num=30, order=4, parallel=False)
    b = nnnum.gradient_descent(f, np.zeros(4), lr=0.1, step_num=30, order=4, parallel=True)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(order=3), "order"),
        (dict(method="sideways"), "method"),
        (dict(richardson=9), "richardson"),
        (dict(h=-1.0), "h"),
        (dict(method="complex", order=4), "complex"),
    ],
)
def test_bad_differentiation_options_fail_before_any_step(options, match):
    for steps in (0, 5):
        with pytest.raises(ValueError, match=match):
            nnnum.gradient_descent(f2, [1.0, 2.0], 0.1, steps, **options)


def test_complex_step_needs_an_f_for_complex_input():
    with pytest.raises(TypeError):
        nnnum.gradient_descent(lambda x: np.sum(x.real**2), [1.0, 2.0], 0.1, 3, method="complex")


# ---- gradient_descent: every failure of f after the start is a divergence --------------------
def test_descent_overflowing_exp_warns_divergence():
    def f(v):
        with np.errstate(over="ignore"):
            return float(np.exp(v[0] ** 2))

    with pytest.warns(nnnum.DivergenceWarning, match="diverged at step"):
        x, xs = nnnum.gradient_descent(f, np.array([3.0]), lr=0.1, history=True)
    assert np.isfinite(x).all() and np.isfinite(xs).all() and len(xs) < 100


@pytest.mark.parametrize("value", NONFINITE, ids=["inf", "-inf", "nan"])
def test_descent_nonfinite_f_after_the_start_is_divergence(value):
    def f(v):
        return value if v[0] > 5.0 else float(v[0] ** 2)

    with pytest.warns(nnnum.DivergenceWarning):
        x = nnnum.gradient_descent(f, np.array([1.0]), lr=-1.0, step_num=20)
    # x = 1, 3, 9: the gradient at 9 needs f beyond 5; the last point is returned
    np.testing.assert_allclose(x, [9.0], rtol=1e-9)


@pytest.mark.parametrize("value", NONFINITE, ids=["inf", "-inf", "nan"])
def test_descent_nonfinite_f_at_the_start_raises(value):
    with pytest.raises(FloatingPointError):
        nnnum.gradient_descent(lambda v: value, np.array([1.0]))


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


@pytest.mark.parametrize("options", [{"order": 4}, {"richardson": 1}, {"h": "auto"}])
def test_descent_off_the_book_path_reports_a_nonfinite_f_as_divergence(options):
    # the general path (any option but the book's): f's inf mid-descent is a divergence, as on
    # the book's path, not a NonFiniteError out of gradient_descent
    def f(v):
        return np.inf if v[0] > 5.0 else float(v[0] ** 2)

    with pytest.warns(nnnum.DivergenceWarning, match="diverged at step"):
        x = nnnum.gradient_descent(f, np.array([1.0]), lr=-1.0, step_num=50, **options)
    assert np.isfinite(x).all() and x[0] > 1.0  # it moved uphill, then stopped before the inf
