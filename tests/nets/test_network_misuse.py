"""TwoLayerNet and SimpleNet on hostile input: the gradients agree, a bad argument is named.

Each call must give the reference answer or raise a clear, documented error whose message names
the offending argument, and must leave every input array (and the parameters) bit-identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnnum

from ..robust_strategies import (
    BACKENDS,
    FEW,
    assert_clear_error,
    assert_unmodified,
    close,
    finite_floats,
    place,
    run_call,
    same_bits,
    stray_warnings,
)


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
                "structured": lambda: net.numerical_gradient(x, t, strategy="structured"),
                "brute": lambda: net.numerical_gradient(x, t, strategy="brute"),
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
        "structured": lambda: net.numerical_gradient(x, t, strategy="structured"),
        "brute": lambda: net.numerical_gradient(x, t, strategy="brute"),
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
@pytest.mark.parametrize("strategy", ["auto", "BRUTE", None, 1])
def test_two_layer_net_bad_strategy(strategy, backend):
    net = nnnum.TwoLayerNet(3, 4, 3, seed=0)
    x, t = np.ones((2, 3)), np.array([0, 1])
    with nnnum.use_backend(backend):
        out = run_call(lambda: net.numerical_gradient(x, t, strategy=strategy), x, t, net.params)
    if strategy == "auto":
        assert out.error is None, out.describe()
        return
    assert_clear_error(out, ("strategy",))


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
