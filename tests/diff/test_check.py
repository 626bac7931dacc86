"""check_grad: correct gradients pass (float64, float32, any scale); wrong ones are named."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum


def f(x):
    return np.sum(np.sin(x) * x)


def g(x):
    return np.sin(x) + x * np.cos(x)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 30),
    st.sampled_from([np.float64, np.float32]),
    st.floats(-8, 8),
    st.integers(0, 2**31),
    st.sampled_from(["full", "random"]),
)
def test_correct_gradients_pass(n, dtype, log_scale, seed, mode):
    scale = 10.0**log_scale
    x = np.random.default_rng(seed).uniform(-1, 1, n).astype(dtype)
    fs = lambda x: scale * f(x)  # noqa: E731
    gs = lambda x: scale * g(x)  # noqa: E731
    r = nnnum.check_grad(fs, gs, x, mode=mode)
    assert r.passed, r.report()


@pytest.mark.parametrize("seed", range(5))
def test_random_mode_catches_and_names_one_element(seed):
    n = 2000
    x = np.random.default_rng(seed).normal(size=n)
    bad_i = int(np.random.default_rng(seed + 100).integers(n))
    bad = lambda x: g(x) * (1 + 1e-4 * (np.arange(n) == bad_i))  # noqa: E731
    r = nnnum.check_grad(f, bad, x, mode="random", seed=seed)
    assert not r.passed and r.worst[0].index == (bad_i,)


def test_full_mode_report_and_assert():
    x = np.linspace(0, 3, 6)
    bad = lambda x: g(x) + (np.arange(6) == 2) * 1e-5  # noqa: E731
    r = nnnum.check_grad(f, bad, x)
    assert not r and r.worst[0].index == (2,) and "FAIL" in r.report()
    with pytest.raises(AssertionError, match="FAIL"):
        nnnum.assert_grad(f, bad, x)
    nnnum.assert_grad(f, g, x)


def test_jacobian_check():
    fv = lambda x: np.array([x[0] * x[1], np.sin(x[1])])  # noqa: E731
    J = lambda x: np.array([[x[1], x[0]], [0.0, np.cos(x[1])]])  # noqa: E731
    assert nnnum.check_grad(fv, J, np.array([1.0, 2.0]))
    assert nnnum.check_grad(fv, J, np.array([1.0, 2.0]), mode="random")


def test_random_mode_finds_one_wrong_element_among_thousands():
    # seed 151 of the benchmark's catch-rate run (n = 7303): the one-level estimate of a
    # direction was 4e-5 against an actual error of 1e-10, hiding the 6e-5 wrong contribution;
    # the random mode's two Richardson levels catch it, and the bisection names it
    f = lambda x: np.sum(np.sin(x) * x)  # noqa: E731
    g = lambda x: np.sin(x) + x * np.cos(x)  # noqa: E731
    s = 151
    n = int(np.random.default_rng(s).integers(100, 10_001))
    x = np.random.default_rng(s + 1).normal(size=n)
    bad = int(np.random.default_rng(s + 2).integers(n))
    wrong = lambda z: g(z) * (1 + 1e-4 * (np.arange(n) == bad))  # noqa: E731
    r = nnnum.check_grad(f, wrong, x, mode="random", seed=s)
    assert not r.passed and r.worst[0].index == (bad,)
    assert nnnum.check_grad(f, g, x, mode="random", seed=s).passed


def test_rtol_and_richardson_given():
    """A given rtol decides the verdict (a 1e-5 relative slip passes 1e-3, fails 1e-8)."""
    x = np.linspace(0, 3, 5)
    slip = lambda z: g(z) * (1 + 1e-5)  # noqa: E731
    assert nnnum.check_grad(f, slip, x, rtol=1e-3, richardson=1)
    r = nnnum.check_grad(f, slip, x, rtol=1e-8, richardson=1)
    assert not r and r.worst[0].rel_err == pytest.approx(1e-5, rel=1e-3)
    assert nnnum.check_grad(f, g, x, richardson=0)


def test_argument_errors():
    """A grad of the wrong shape, an unknown mode and a bad k are ValueErrors, x untouched."""
    x = np.linspace(0, 3, 5)
    x0 = x.copy()
    with pytest.raises(ValueError, match=r"grad\(x\) has shape \(4,\), the derivative of f has"):
        nnnum.check_grad(f, lambda z: g(z)[:4], x)
    with pytest.raises(ValueError, match="mode must be 'full' or 'random', got 'some'"):
        nnnum.check_grad(f, g, x, mode="some")
    for k in (0, True, 2.0):
        with pytest.raises(ValueError, match=f"k must be a positive integer, got {k!r}"):
            nnnum.check_grad(f, g, x, mode="random", k=k)
    np.testing.assert_array_equal(x, x0)
