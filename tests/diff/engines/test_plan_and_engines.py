"""The differentiation engine: stencils, convergence, Richardson, error estimates, engines agree."""

from __future__ import annotations

from fractions import Fraction

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum
from nnnum.diff import stencils
from nnnum.diff.stencils import lagrange_weights, richardson, stencil

# ------------------------------------------------------------------ stencils
CENTRAL_TABLE = {  # the classic central first-derivative weights (offsets -m..-1, 1..m)
    2: [Fraction(-1, 2), Fraction(1, 2)],
    4: [Fraction(1, 12), Fraction(-2, 3), Fraction(2, 3), Fraction(-1, 12)],
    6: [
        Fraction(-1, 60),
        Fraction(3, 20),
        Fraction(-3, 4),
        Fraction(3, 4),
        Fraction(-3, 20),
        Fraction(1, 60),
    ],
    8: [
        Fraction(1, 280),
        Fraction(-4, 105),
        Fraction(1, 5),
        Fraction(-4, 5),
        Fraction(4, 5),
        Fraction(-1, 5),
        Fraction(4, 105),
        Fraction(-1, 280),
    ],
}


@pytest.mark.parametrize("order", [2, 4, 6, 8])
def test_central_weights_are_the_classic_ones(order):
    s = stencil(order)
    assert s.weights == tuple(float(w) for w in CENTRAL_TABLE[order])
    assert s.offsets == tuple(range(-order // 2, 0)) + tuple(range(1, order // 2 + 1))
    assert s.center_weight == 0.0 and s.evaluations_per_element == order


@pytest.mark.parametrize("kind", ["forward", "backward"])
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
def test_one_sided_moment_conditions(kind, order):
    s = stencil(order, kind)
    nodes = np.array((0,) + s.offsets, dtype=float)
    w = np.array((s.center_weight,) + s.weights)
    for j in range(order + 1):
        assert np.isclose(np.sum(w * nodes**j), 1.0 if j == 1 else 0.0, atol=1e-12)
    assert all((t > 0) == (kind == "forward") for t in s.offsets)


@pytest.mark.parametrize(
    "bad",
    [
        (3, "central"),
        (0, "forward"),
        (9, "central"),
        (2.0, "central"),
        (True, "central"),
        (2, "sideways"),
    ],
)
def test_unknown_stencils_are_named(bad):
    order, kind = bad
    with pytest.raises(ValueError, match="order|method"):
        nnnum.numerical_gradient(lambda v: float(v.sum()), np.ones(2), order=order, method=kind)


def test_lagrange_weights_match_the_stencil_on_nominal_nodes():
    for order in (2, 4, 6, 8):
        s = stencil(order)
        nodes = np.array(s.offsets, dtype=float)[:, None]
        np.testing.assert_allclose(lagrange_weights(nodes)[:, 0], s.weights, atol=1e-13)


def test_richardson_cancels_the_leading_terms():
    # D(h) = 1 + h^2 + h^4 exactly: two levels of central extrapolation give 1
    hs = [0.1 / 2**j for j in range(3)]
    est = [np.array([1 + h**2 + h**4]) for h in hs]
    value, err = richardson(est, 2.0, (2, 4, 6))
    assert abs(value[0] - 1.0) < 1e-15 and err[0] < 1e-4


# ------------------------------------------------------------- convergence
def f_smooth(v):
    return float(np.sum(np.sin(v) * np.exp(0.3 * v)))


def g_smooth(v):
    return (np.cos(v) + 0.3 * np.sin(v)) * np.exp(0.3 * v)


@pytest.mark.parametrize(
    "kind, order",
    [
        ("central", 2),
        ("central", 4),
        ("central", 6),
        ("forward", 1),
        ("forward", 2),
        ("backward", 3),
    ],
)
def test_halving_h_reduces_the_error_by_2_to_the_order(kind, order):
    x = np.array([0.3, 1.1])
    h = 0.2 if order <= 4 else 0.4
    e1 = np.abs(nnnum.numerical_gradient(f_smooth, x, h=h, order=order, method=kind) - g_smooth(x))
    e2 = np.abs(
        nnnum.numerical_gradient(f_smooth, x, h=h / 2, order=order, method=kind) - g_smooth(x)
    )
    ratio = e1 / e2
    assert np.all(ratio > 2**order * 0.6) and np.all(ratio < 2**order * 1.6), ratio


def test_order_8_converges_too():
    x = np.array([0.7])
    errs = [abs(nnnum.numerical_diff(np.exp, x, h=h, order=8) - np.exp(x))[0] for h in (0.8, 0.4)]
    assert 2**8 * 0.7 < errs[0] / errs[1] < 2**8 * 1.45


# ---------------------------------------------- default call, bit for bit
def test_default_call_is_the_book_formula_bit_for_bit(rng):
    x = rng.standard_normal(20)
    f = lambda v: float(np.sum(np.sin(v) * v**3))  # noqa: E731
    got = nnnum.numerical_gradient(f, x)
    want = np.empty_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp[i] += 1e-4
        xm[i] -= 1e-4
        want[i] = (f(xp) - f(xm)) / (xp[i] - xm[i])
    np.testing.assert_array_equal(got, want)
    # a jitted f in the prange kernel: the same evaluations as the Python loop over it
    jp = nnnum.jit(lambda v: np.sum(np.sin(v) * v**3))
    p = lambda v: float(jp(v))  # noqa: E731 (a plain Python function: the loop engine)
    np.testing.assert_array_equal(nnnum.numerical_gradient(jp, x), nnnum.numerical_gradient(p, x))


# -------------------------------------------------------- engines agree
@settings(max_examples=20, deadline=None)
@given(
    order=st.sampled_from([2, 4, 6, 8]),
    richardson_levels=st.integers(0, 2),
    kind=st.sampled_from(["central", "forward", "backward"]),
    seed=st.integers(0, 1000),
)
def test_loop_prange_and_batched_engines_agree(order, richardson_levels, kind, seed):
    if kind != "central":
        order = order // 2
    x = np.random.default_rng(seed).uniform(-2, 2, 7)
    opts = dict(order=order, method=kind, richardson=richardson_levels, h=1e-2)
    jf = nnnum.jit(lambda v: np.sum(v * v * v - v))
    py = nnnum.numerical_gradient(lambda v: float(jf(v)), x, **opts)
    par = nnnum.numerical_gradient(jf, x, **opts)
    ser = nnnum.numerical_gradient(jf, x, parallel=False, **opts)
    bat = nnnum.batched_numerical_gradient(
        lambda X: (X * X * X - X).sum(axis=1), x, chunk=3, **opts
    )
    np.testing.assert_array_equal(par, ser)  # parallel == serial, bit for bit
    np.testing.assert_array_equal(py, ser)  # the same evaluations in the same order
    np.testing.assert_allclose(bat, py, rtol=1e-12, atol=1e-12)  # vectorised f: rounding differs


def test_full_output_fields():
    x = np.array([0.5, 1.5])
    r = nnnum.numerical_gradient(f_smooth, x, order=4, richardson=2, full_output=True)
    assert r.df.shape == x.shape and r.error.shape == x.shape
    # + f(x) once and x + 3h once per element: the error estimate's checks (central orders 2, 4)
    assert r.nfev == 4 * 3 * x.size + 1 + x.size and r.order == 8 and r.method == "central"
    np.testing.assert_array_equal(r.step, [1e-4, 5e-5, 2.5e-5])
    r1 = nnnum.numerical_gradient(f_smooth, x, method="forward", order=2, full_output=True)
    assert r1.nfev == 2 * x.size + 1 and np.isnan(r1.error).all()
    plain = nnnum.numerical_gradient(f_smooth, x, order=4, richardson=2)
    np.testing.assert_array_equal(plain, r.df)


def test_one_sided_never_crosses_to_the_other_side():
    seen = []

    def f(v):
        seen.append(v[0])
        return float(np.sqrt(v[0]))

    g = nnnum.numerical_gradient(f, np.array([1e-2]), method="forward", order=3, h=1e-5)
    assert min(seen) >= 1e-2 and abs(g[0] - 0.5 / np.sqrt(1e-2)) < 1e-4


def test_float32_auto_step_and_honest_estimate():
    x = np.array([0.5, 2.0, -1.0], dtype=np.float32)
    r = nnnum.numerical_gradient(
        lambda v: float(np.sum(np.exp(v.astype(np.float64)) * 1.0)),
        x,
        h="auto",
        order=4,
        richardson=1,
        full_output=True,
    )
    true = np.exp(x.astype(np.float64))
    assert r.df.dtype == np.float32
    err = np.abs(r.df.astype(np.float64) - true)
    assert np.all(err <= r.error) and np.all(r.error < 1e-2 * np.abs(true))
    assert np.all(np.asarray(r.step)[0] >= 1e-3)  # a float32-sized step, not float64's


def test_auto_step_is_a_power_of_two_growing_slowly_with_x():
    r = nnnum.numerical_gradient(f_smooth, np.array([0.1, 1e3]), h="auto", full_output=True)
    steps = np.asarray(r.step)[0]
    assert np.all(np.log2(steps) == np.round(np.log2(steps)))
    # larger at 1e3, but not 1e3 times larger: f_smooth oscillates on a scale of 1 everywhere
    assert 4 <= steps[1] / steps[0] <= 16


# -------------------------------------------------- error estimates over a test set
def _test_set():
    """(f, x, true gradient): classic analytic pairs, float64 and float32."""
    rng = np.random.default_rng(7)
    cases = []
    for dtype in (np.float64, np.float32):
        x = rng.uniform(0.5, 3.0, 40).astype(dtype)
        cases += [
            (lambda v: float(np.sum(np.exp(v.astype(np.float64)))), x, np.exp(x.astype(float))),
            (lambda v: float(np.sum(np.log(v.astype(np.float64)))), x, 1 / x.astype(float)),
            (
                lambda v: float(np.sum(np.sin(3 * v.astype(np.float64)))),
                x,
                3 * np.cos(3 * x.astype(float)),
            ),
        ]
        if dtype == np.float64:  # 1/x near its pole (float32's auto step reaches across it)
            near = rng.uniform(0.05, 0.1, 20)
            cases.append((lambda v: float(np.sum(1 / v)), near, -1 / near**2))
        big = rng.uniform(1e3, 1e4, 20).astype(dtype)  # products with large |x|
        cases.append(
            (
                lambda v: float(
                    np.sum(v.astype(np.float64) ** 2 * np.sin(v.astype(np.float64) / 1e3))
                ),
                big,
                2 * big.astype(float) * np.sin(big.astype(float) / 1e3)
                + big.astype(float) ** 2 * np.cos(big.astype(float) / 1e3) / 1e3,
            )
        )
        scale = np.logspace(-3, 3, 20)
        xs = rng.uniform(-1, 1, 20).astype(dtype)  # a badly scaled sum
        cases.append(
            (
                lambda v, s=scale: float(np.sum(s * np.cos(v.astype(np.float64)))),
                xs,
                -scale * np.sin(xs.astype(float)),
            )
        )
    return cases


@pytest.mark.parametrize(
    "opts", [dict(order=2, richardson=2), dict(order=4, richardson=1), dict(order=4, richardson=2)]
)
def test_error_estimate_bounds_the_error_and_is_not_huge(opts):
    errs, ests = [], []
    for f, x, true in _test_set():
        r = nnnum.numerical_gradient(f, x, h="auto", full_output=True, **opts)
        e = np.abs(r.df.astype(float) - true)
        errs.append(e)
        ests.append(r.error)
    e, est = np.concatenate(errs), np.concatenate(ests)
    assert np.mean(e <= est) >= 0.95
    ok = e > 0
    assert np.median(est[ok] / e[ok]) <= 100


def test_richardson_improves_accuracy_on_rosenbrock():
    n = 200
    x = np.random.default_rng(0).uniform(-1.5, 1.5, n)

    @numba.njit
    def rosen(v):
        s = 0.0
        for i in range(v.size - 1):
            a = v[i + 1] - v[i] * v[i]
            b = 1.0 - v[i]
            s += 100.0 * a * a + b * b
        return s

    g = np.zeros(n)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    plain = np.abs(nnnum.numerical_gradient(rosen, x) - g).max()
    best = np.abs(nnnum.numerical_gradient(rosen, x, order=8, h="auto") - g).max()
    assert best < plain / 100


def test_stencil_registry_is_data():
    assert set(stencils.KINDS) == {"central", "forward", "backward"}
    assert stencil(4) is stencil(4)  # computed once
