"""Every non-finite value of f or x is refused, naming the element."""

from __future__ import annotations

import numpy as np
import pytest

import nnnum

from ..robust_strategies import NONFINITE

# ---- every non-finite value f can return names the element ----------------------------------


@pytest.mark.parametrize("value", NONFINITE, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("side", ["plus", "minus", "both"])
@pytest.mark.parametrize(
    "options",
    [{}, {"order": 4}, {"method": "forward"}, {"richardson": 1}, {"h": "auto"}],
    ids=["book", "order4", "forward", "richardson", "auto"],
)
def test_nonfinite_value_of_f_names_the_element(value, side, options):
    def f(w):
        up, down = w[1] > 2.0, w[1] < 2.0
        bad = {"plus": up, "minus": down, "both": up or down}[side]
        return value if bad else float(np.sum(w))

    x = np.array([1.0, 2.0, 3.0])
    if options.get("method") == "forward" and side == "minus":
        return  # forward never evaluates below x
    # the value itself and where it came from, not only that a difference overflowed
    with pytest.raises(FloatingPointError, match=r"f returned .*(inf|nan).* at x\[1\] [+-] "):
        nnnum.numerical_gradient(f, x, **options)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("value", NONFINITE, ids=["inf", "-inf", "nan"])
def test_nonfinite_scalar_derivative_is_refused(value):
    # one policy with numerical_gradient: a non-finite value of f is an error naming where
    with pytest.raises(FloatingPointError, match=r"at x \+ h"):
        nnnum.numerical_diff(lambda v: value if v > 0.5 else v, 0.5)


@pytest.mark.parametrize("value", NONFINITE, ids=["inf", "-inf", "nan"])
def test_nonfinite_f_at_x_itself_for_one_sided_stencils(value):
    def f(w):
        return value if np.all(w == [1.0, 2.0]) else float(np.sum(w))

    with pytest.raises(FloatingPointError, match="at x itself"):
        nnnum.numerical_gradient(f, np.array([1.0, 2.0]), method="forward")


def test_nonfinite_huge_finite_values_overflow_the_difference():
    # f(x + h) and f(x - h) are finite, their difference is not
    def f(w):
        return 1.7e308 if w[0] > 0 else -1.7e308

    with pytest.raises(FloatingPointError, match=r"x\[0\]"):
        nnnum.numerical_gradient(f, np.array([0.0]))


@pytest.mark.parametrize("value", NONFINITE, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize(
    "options",
    [{}, {"order": 4}, {"method": "backward"}, {"richardson": 2}, {"h": "auto"}],
    ids=["book", "order4", "backward", "richardson", "auto"],
)
def test_nonfinite_x_named_on_every_path(value, options):
    x = np.array([1.0, 2.0, value, 3.0])
    with pytest.raises(ValueError, match=rf"x is not finite at x\[2\] = {value!r}"):
        nnnum.numerical_gradient(lambda v: float(np.sum(v)), x, **options)
