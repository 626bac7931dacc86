"""The book's closure idiom (an f reading the parameters it closes over) is loud on every path."""

import warnings

import numpy as np
import pytest

import nnnum


def test_gradient_descent_on_a_closure_that_ignores_its_argument_is_an_error():
    net = nnnum.TwoLayerNet(6, 5, 4, weight_init_std=0.5, seed=0)
    x = np.random.default_rng(0).random((7, 6))
    t = np.arange(7) % 4
    W1 = net.params["W1"].copy()
    with pytest.raises(ValueError, match="does not read its argument") as info:
        nnnum.gradient_descent(lambda w: net.loss(x, t), net.params["W1"], lr=0.1, step_num=10)
    assert "updates it in place" in str(info.value)  # says why the book's version trains
    assert np.array_equal(net.params["W1"], W1)  # and nothing was touched


def test_the_same_closure_works_with_numerical_gradient():
    net = nnnum.TwoLayerNet(6, 5, 4, weight_init_std=0.5, seed=0)
    x = np.random.default_rng(0).random((7, 6))
    t = np.arange(7) % 4
    g = nnnum.numerical_gradient(lambda w: net.loss(x, t), net.params["W1"])
    assert np.abs(g).max() > 1e-6


def test_an_f_of_its_argument_descends_from_the_minimum_of_a_symmetric_f():
    # every perturbation of [0, 0] gives h**2: the same value, but f reads x
    x = nnnum.gradient_descent(lambda v: v[0] ** 2 + v[1] ** 2, np.zeros(2), lr=0.1, step_num=3)
    assert np.array_equal(x, np.zeros(2))


def test_an_f_written_to_read_its_argument_trains_the_net():
    net = nnnum.TwoLayerNet(6, 5, 4, weight_init_std=0.5, seed=0)
    x = np.random.default_rng(0).random((7, 6))
    t = np.arange(7) % 4

    def f(W):
        net.params["W1"][...] = W
        return net.loss(x, t)

    start = net.loss(x, t)
    W = nnnum.gradient_descent(f, net.params["W1"].copy(), lr=0.5, step_num=5)
    net.params["W1"][...] = W
    assert net.loss(x, t) < start


@pytest.mark.parametrize("workers", [map, 2])
def test_a_list_x_unseen_by_f_warns_on_the_workers_path_too(workers):
    xl = [1.0, 2.0, 3.0]

    def f(v):
        return float(np.sum(np.array(xl) ** 2))

    with pytest.warns(nnnum.UnseenPerturbationWarning, match="never sees"):
        g = nnnum.numerical_gradient(f, xl, workers=workers, progress=False)
    assert np.array_equal(g, np.zeros(3))


def test_a_list_x_unseen_by_f_warns_on_the_serial_path():
    xl = [1.0, 2.0, 3.0]
    with pytest.warns(nnnum.UnseenPerturbationWarning):
        nnnum.numerical_gradient(lambda v: float(np.sum(np.array(xl) ** 2)), xl)


def test_a_list_x_read_by_f_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = nnnum.numerical_gradient(lambda v: float(np.sum(v**2)), [1.0, 2.0, 3.0], workers=map)
    np.testing.assert_allclose(g, [2.0, 4.0, 6.0])
