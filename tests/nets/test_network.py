import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum
from nnnum.nets import TwoLayerNet

from ..conftest import small_problem


def test_book_shapes_and_seed():
    net = TwoLayerNet(784, 100, 10, seed=3)
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (784, 100),
        "b1": (100,),
        "W2": (100, 10),
        "b2": (10,),
    }
    again = TwoLayerNet(784, 100, 10, seed=3)
    for k in net.params:
        np.testing.assert_array_equal(net.params[k], again.params[k])
    assert abs(net.params["W1"].std() - 0.01) < 1e-3
    x = np.random.default_rng(0).random((3, 784))
    y = net.predict(x)
    assert y.shape == (3, 10) and np.allclose(y.sum(axis=1), 1.0)


def test_simple_net_book_idiom():
    net = nnnum.SimpleNet(seed=0)
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    w0 = net.W.copy()
    dw = nnnum.numerical_gradient(lambda w: net.loss(x, t), net.W)
    np.testing.assert_array_equal(net.W, w0)
    y = nnnum.softmax(x @ w0)
    np.testing.assert_allclose(dw, np.outer(x, (y - t) * y[2] / (y[2] + 1e-7)), atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    d=st.integers(1, 12),
    h=st.integers(1, 8),
    k=st.integers(2, 6),
    n=st.integers(1, 10),
    onehot=st.booleans(),
    sparsity=st.sampled_from([0.0, 0.5, 0.9]),
)
def test_structured_matches_brute_force(seed, d, h, k, n, onehot, sparsity):
    net, x, t = small_problem(seed, d, h, k, n, sparsity=sparsity)
    tt = np.eye(k)[t] if onehot else t
    fast = net.numerical_gradient(x, tt, strategy="structured")
    brute = net.numerical_gradient(x, tt, strategy="brute")
    for key in net.params:
        assert fast[key].shape == net.params[key].shape
        np.testing.assert_allclose(fast[key], brute[key], rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_numerical_matches_backprop(seed):
    net, x, t = small_problem(seed, d=10, h=8, k=5, n=12)
    res = nnnum.gradcheck(net, x, t, rtol=1e-6, atol=1e-10)
    assert res, res.report()
    assert max(p.max_rel for p in res.params.values()) < 1e-6


def test_structured_with_large_inputs_uses_exact_fallbacks():
    # unnormalised pixels (0..255) and big weights push the perturbations past the
    # small-argument polynomials: the libm paths must give the same answer
    net, x, t = small_problem(1, d=8, h=6, k=4, n=9, std=2.0)
    x = x * 255.0
    fast = net.numerical_gradient(x, t, strategy="structured")
    brute = net.numerical_gradient(x, t, strategy="brute")
    for key in net.params:
        np.testing.assert_allclose(fast[key], brute[key], rtol=1e-6, atol=1e-9)


def test_mnist_sized_net_matches_brute_on_a_sample():
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, 50, 10, seed=0)
    x = rng.random((20, 784))
    x[rng.random(x.shape) < 0.8] = 0.0
    t = rng.integers(0, 10, 20)
    fast = net.numerical_gradient(x, t)
    for key, idx in (
        ("W1", (5, 7)),
        ("W1", (300, 49)),
        ("b1", (3,)),
        ("W2", (10, 4)),
        ("b2", (9,)),
    ):
        p = net.params[key]
        orig = p[idx]
        p[idx] = orig + 1e-4
        lp = net.loss(x, t)
        p[idx] = orig - 1e-4
        lm = net.loss(x, t)
        p[idx] = orig
        assert abs(fast[key][idx] - (lp - lm) / 2e-4) < 1e-9


def test_structured_bit_identical_across_threads(num_threads):
    import numba

    net, x, t = small_problem(5, d=30, h=9, k=5, n=16)
    with num_threads(1):
        one = net.numerical_gradient(x, t)
    with num_threads(numba.config.NUMBA_NUM_THREADS):
        many = net.numerical_gradient(x, t)
    for key in one:
        np.testing.assert_array_equal(one[key], many[key])


def test_accuracy_labels_and_one_hot():
    net, x, t = small_problem(2)
    a = net.accuracy(x, t)
    assert a == net.accuracy(x, np.eye(4)[t])
    assert a == np.mean(net.predict(x).argmax(axis=1) == t)


def test_overridden_loss_uses_brute_force():
    class L2Net(TwoLayerNet):
        def loss(self, x, t):
            return super().loss(x, t) + 0.5 * float(np.sum(self.params["W1"] ** 2))

    net = L2Net(3, 2, 2, weight_init_std=0.5, seed=0)
    x = np.array([[0.1, 0.2, 0.3]])
    g = net.numerical_gradient(x, np.array([1]))
    base = TwoLayerNet.numerical_gradient(net, x, np.array([1]), strategy="brute")
    np.testing.assert_allclose(g["W1"], base["W1"], atol=1e-12)
    with pytest.raises(ValueError, match="overridden"):
        net.numerical_gradient(x, np.array([1]), strategy="structured")


def test_bad_input():
    net = TwoLayerNet(4, 3, 2, seed=0)
    x = np.ones((2, 4))
    with pytest.raises(ValueError, match="4 inputs"):
        net.loss(np.ones((2, 5)), np.array([0, 1]))
    with pytest.raises(ValueError, match="out of range"):
        net.numerical_gradient(x, np.array([0, 2]))
    with pytest.raises(ValueError, match="out of range"):
        net.gradient(x, np.array([-1, 0]))
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.predict(bad)
    with pytest.raises(ValueError, match="soft targets"):
        net.numerical_gradient(x, np.array([[0.5, 0.5], [1.0, 0.0]]), strategy="structured")
    with pytest.raises(ValueError, match="strategy"):
        net.numerical_gradient(x, np.array([0, 1]), strategy="fast")
    with pytest.raises(ValueError, match="positive integer"):
        TwoLayerNet(0, 3, 2)
    net.params["W2"][1, 0] = np.inf
    with pytest.raises(ValueError, match="params\\[.W2.\\] contains NaN or inf"):
        net.numerical_gradient(x, np.array([0, 1]))


def test_numpy_backend_structured_gradient_matches_numba():
    net, x, t = small_problem(7, d=12, h=6, k=4, n=10)
    fast = net.numerical_gradient(x, t)
    with nnnum.use_backend("numpy"):
        ref = net.numerical_gradient(x, t)
    for key in fast:
        np.testing.assert_allclose(ref[key], fast[key], rtol=0, atol=1e-9)


def test_small_argument_polynomials_are_exact_to_rounding():
    from nnnum.nets._kernels import SMALL_R, SMALL_U, _expm1, _log1p

    rng = np.random.default_rng(0)
    for fn, ref, bound in ((_expm1, np.expm1, SMALL_U), (_log1p, np.log1p, SMALL_R)):
        vals = np.concatenate(
            [
                rng.uniform(-bound, bound, 2000),
                [bound, -bound, 1e-300, 0.0],
                rng.uniform(-10 * bound, 10 * bound, 200),
            ]
        )  # libm side too
        got = np.array([fn(v) for v in vals])
        np.testing.assert_allclose(got, ref(vals), rtol=3e-16, atol=0)


@pytest.mark.parametrize("order", [4, 6, 8])
def test_structured_gradient_takes_the_stencil_order(order, backend):
    net = nnnum.TwoLayerNet(6, 4, 3, weight_init_std=0.8, seed=1)
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((5, 6)), np.array([0, 1, 2, 1, 0])
    bp = net.gradient(x, t)
    h = 1e-2  # large enough that order 2 is visibly truncated
    g2 = net.numerical_gradient(x, t, h=h)
    gp = net.numerical_gradient(x, t, h=h, order=order)
    brute = net.numerical_gradient(x, t, h=h, order=order, strategy="brute")
    for k in bp:
        err2 = np.abs(g2[k] - bp[k]).max()
        errp = np.abs(gp[k] - bp[k]).max()
        assert errp < err2 / 20, (k, err2, errp)
        np.testing.assert_allclose(gp[k], brute[k], rtol=1e-8, atol=1e-10)


def test_structured_order_2_is_the_default_bit_for_bit():
    net = nnnum.TwoLayerNet(6, 4, 3, weight_init_std=0.8, seed=1)
    x, t = np.random.default_rng(2).standard_normal((5, 6)), np.array([0, 1, 2, 1, 0])
    a, b = net.numerical_gradient(x, t), net.numerical_gradient(x, t, order=2)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    with pytest.raises(ValueError, match="order"):
        net.numerical_gradient(x, t, order=3)


# ---- issue #13: every parameter check, in process (test_robust_subprocess runs them in a child)
def _params(**change):
    rng = np.random.default_rng(0)
    p = {
        "W1": rng.normal(size=(3, 4)),
        "b1": np.zeros(4),
        "W2": rng.normal(size=(4, 2)),
        "b2": np.zeros(2),
    }
    p.update(change)
    return p


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ([1, 2], TypeError, "params must be a dict with keys W1 b1 W2 b2, got list"),
        ({"W1": np.zeros((3, 4))}, ValueError, "params lacks b1, W2, b2"),
        (_params(b1=[0.0] * 4), TypeError, r"params\['b1'\] must be a numpy array, got list"),
        (_params(W2=np.zeros((4, 2), dtype=bool)), TypeError, r"params\['W2'\] must hold real"),
        (_params(W2=np.zeros((4, 2), dtype=complex)), TypeError, r"params\['W2'\] must hold real"),
        (
            _params(b2=np.zeros((1, 2))),
            ValueError,
            r"params\['b2'\] must be 1-D, got shape \(1, 2\)",
        ),
        (
            _params(b1=np.zeros(5)),
            ValueError,
            r"params\['b1'\] has shape \(5,\) but W1 .*expected \(4,\)",
        ),
        (_params(W2=np.zeros((5, 2))), ValueError, r"params\['W2'\] has shape \(5, 2\)"),
        (
            _params(b2=np.zeros(3)),
            ValueError,
            r"params\['b2'\] .* and W2 \(4, 2\): expected \(2,\)",
        ),
        (_params(W1=np.zeros((0, 4))), ValueError, "params have an empty layer"),
        (
            _params(W1=np.zeros((3, 4), dtype=np.int64)),
            TypeError,
            r"params\['W1'\] has dtype int64",
        ),
        (_params(b2=np.array([0.0, np.inf])), ValueError, r"params\['b2'\] contains NaN or inf"),
    ],
    ids=[
        "not-dict",
        "missing",
        "list",
        "bool",
        "complex",
        "ndim",
        "b1-shape",
        "W2-shape",
        "b2-shape",
        "empty",
        "int",
        "inf",
    ],
)
def test_every_parameter_check_names_the_parameter(params, error, message):
    net = TwoLayerNet(3, 4, 2, seed=0)
    net.params = params
    x, t = np.ones((2, 3)), np.array([0, 1])
    with pytest.raises(error, match=message):
        net.numerical_gradient(x, t)


def test_brute_force_needs_writable_parameters():
    net = TwoLayerNet(3, 4, 2, seed=0)
    net.params["W1"].flags.writeable = False
    with pytest.raises(ValueError, match=r"params\['W1'\] is read-only"):
        net.numerical_gradient(np.ones((2, 3)), np.array([0, 1]), strategy="brute")


def test_simple_net_x_none():
    with pytest.raises(TypeError, match="x is None; pass 2 inputs"):
        nnnum.SimpleNet(seed=0).predict(None)


def test_gradient_options_are_keyword_only():
    net = TwoLayerNet(3, 4, 2, seed=0)
    x, t = np.ones((2, 3)), np.array([0, 1])
    with pytest.raises(TypeError):
        net.numerical_gradient(x, t, "brute")
    g = net.numerical_gradient(x=x, t=t, strategy="brute")  # x and t by name too
    assert g["W1"].shape == (3, 4)


# ------------------------------------- strategy=: structured vs brute force (method= before 0.2.0)
STRATEGY_PROBLEM = dict(seed=2, d=4, h=3, k=3, n=5)


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_strategy_names_structured_vs_brute_force():
    net, x, t = small_problem(**STRATEGY_PROBLEM)
    fast = net.numerical_gradient(x, t, strategy="structured")
    brute = net.numerical_gradient(x, t, strategy="brute")
    assert _same(net.numerical_gradient(x, t), fast)  # "auto" on the book's loss: structured
    assert _same(net.numerical_gradient(x, t, strategy="auto"), fast)
    assert not _same(fast, brute)  # two evaluations: the same differences, other rounding
    for key in net.params:
        np.testing.assert_allclose(fast[key], brute[key], rtol=0, atol=1e-9)

    class Overridden(TwoLayerNet):
        def loss(self, x, t):
            return super().loss(x, t)

    over = Overridden(4, 3, 3, weight_init_std=0.5, seed=2)
    over.params = net.params
    assert _same(over.numerical_gradient(x, t), brute)  # "auto" on an overridden loss: brute


@pytest.mark.parametrize("strategy", ["structured", "brute", "auto"])
def test_method_is_a_deprecated_alias_of_strategy(strategy):
    net, x, t = small_problem(**STRATEGY_PROBLEM)
    want = net.numerical_gradient(x, t, strategy=strategy)
    with pytest.warns(DeprecationWarning, match=f"use strategy='{strategy}'") as record:
        got = net.numerical_gradient(x, t, method=strategy)
    assert _same(got, want)
    assert len(record) == 1 and record[0].filename == __file__  # the caller's line
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="strategy must be"):
        net.numerical_gradient(x, t, method="fast")


@pytest.mark.parametrize("strategy", ["auto", "structured", "brute"])
def test_strategy_and_method_together_is_a_type_error(strategy):
    net, x, t = small_problem(**STRATEGY_PROBLEM)
    # an error, not a warning first: pytest turns any warning into an error
    with pytest.raises(TypeError, match="both strategy= and method=.*give strategy= only"):
        net.numerical_gradient(x, t, strategy=strategy, method="brute")


@pytest.mark.parametrize("word", ["central", "forward", "backward", "complex"])
def test_a_stencil_is_not_an_option_of_the_nets_gradient(word):
    net, x, t = small_problem(**STRATEGY_PROBLEM)
    with pytest.raises(TypeError, match=f"takes no stencil \\(method='{word}'.*always central"):
        net.numerical_gradient(x, t, method=word)
    with pytest.raises(ValueError, match="a stencil is not an option.*order="):
        net.numerical_gradient(x, t, strategy=word)


def test_gradcheck_passes_its_strategy_as_the_nets_strategy():
    net, x, t = small_problem(**STRATEGY_PROBLEM)
    # no DeprecationWarning (an error here): gradcheck calls the net by its new name
    assert nnnum.gradcheck(net, x, t, strategy="brute")
    seen = []

    class OwnMethod(TwoLayerNet):  # a net of its own whose option is still called method
        def numerical_gradient(self, x, t, *, method="auto", h=1e-4):
            seen.append(method)
            return super().numerical_gradient(x, t, strategy=method, h=h)

    own = OwnMethod(4, 3, 3, weight_init_std=0.5, seed=2)
    assert nnnum.gradcheck(own, x, t, strategy="brute")
    assert seen == ["brute"]


def test_gradcheck_method_is_a_deprecated_alias_of_strategy():
    net, x, t = small_problem(**STRATEGY_PROBLEM)
    with pytest.warns(DeprecationWarning, match="strategy='brute'"):
        old = nnnum.gradcheck(net, x, t, method="brute")
    new = nnnum.gradcheck(net, x, t, strategy="brute")
    assert old.params == new.params and old.passed and new.passed
    with pytest.raises(TypeError, match="both strategy= and method="):
        nnnum.gradcheck(net, x, t, strategy="brute", method="structured")
