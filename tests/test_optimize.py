import numpy as np
import pytest

import nnnum


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


def test_history_for_plotting():
    x, hist = nnnum.gradient_descent(f2, [-3.0, 4.0], lr=0.1, step_num=20, history=True)
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
