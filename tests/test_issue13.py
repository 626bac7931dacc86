"""Issue #13: tests that catch the planted bugs and their neighbours.

Each group below fails against one of the eight bugs the issue planted (see
tools/mutation/planted.py, which plants them one at a time) and probes the
inputs next to it: negative and dense inputs for every structured path, large
and tiny weights, every non-finite value f can return, every header field of
the IDX format. Kept small and fast: the mutation run (tools/mutation) runs
these files once per mutant.
"""

from __future__ import annotations

import gzip
import struct
import warnings

import numpy as np
import pytest

import nnnum
import nnnum.data as ds
from nnnum.diff.steps import StepRoundingWarning
from nnnum.nets import TwoLayerNet


# ---- numerical_diff divides by the step actually taken -------------------------------------
@pytest.mark.parametrize("x", [1e12, -1e12, 5e11, 3e11])
def test_step_taken_identity_is_exact_at_large_x(x):
    # at |x| = 1e12 the float64 spacing is 1.2e-4: x +- 1e-4 rounds to x +- 1.22e-4; the
    # difference over the step actually taken is exactly 1, over 2h it is 1.22
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepRoundingWarning)
        assert nnnum.numerical_diff(lambda v: v, x) == 1.0
        assert nnnum.numerical_diff(lambda v: -4.0 * v, x) == -4.0


def test_step_taken_linear_gradient_is_exact_at_large_x():
    # one element per f (a sum of 1e12 and 0.5 would round away the small one's change)
    x = np.array([1e12, -5e11, 0.5])
    for i, c in enumerate([4.0, -2.0, 0.5]):
        with pytest.warns(StepRoundingWarning):  # x[0] rounds, whichever element f reads
            g = nnnum.numerical_gradient(lambda v: float(c * v[i]), x)
        np.testing.assert_array_equal(g, np.eye(3)[i] * c)


@pytest.mark.parametrize("options", [{"order": 4}, {"order": 6, "h": 3e-4}, {"method": "forward"}])
def test_step_taken_other_stencils_exact_at_large_x(options):
    # f's values exact (a power-of-two slope): over the points actually evaluated, exact.
    # (order 4 once gave -2.5 here: Lagrange weights ~1/h times values ~2e12, summed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepRoundingWarning)
        d = nnnum.numerical_diff(lambda v: -2.0 * v, 1e12, **options)
        g = nnnum.numerical_gradient(lambda v: float(v[1]), np.array([3.0, 1e12]), **options)
    assert d == pytest.approx(-2.0, rel=1e-14, abs=0)
    np.testing.assert_allclose(g, [0.0, 1.0], rtol=1e-14, atol=0)


def test_step_taken_float32_parameters():
    # float32 at 1024: spacing 1.2e-4, so 1024 +- 1e-4 rounds to 1024 +- 1.22e-4 (a 22% step)
    x = np.array([1024.0, -1024.0], dtype=np.float32)
    with pytest.warns(StepRoundingWarning):
        g = nnnum.numerical_gradient(lambda v: float(np.sum(v.astype(np.float64) * [2.0, 3.0])), x)
    np.testing.assert_array_equal(g, [2.0, 3.0])


# ---- every non-finite value f can return names the element ----------------------------------
NONFINITE = [np.inf, -np.inf, np.nan]


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
    with pytest.raises(FloatingPointError, match=r"x\[1\]"):
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


# ---- the structured TwoLayerNet gradient: negative, dense, large and tiny ---------------------
def _problem(seed, *, d=6, h=5, k=4, n=8, w1=1.0, w2=1.0, xdist="normal", zeros=0.0, xscale=1.0):
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(d, h, k, weight_init_std=1.0, seed=seed)
    net.params["W1"] = rng.normal(size=(d, h)) * w1
    net.params["W2"] = rng.normal(size=(h, k)) * w2
    net.params["b1"] = rng.normal(size=h) * 0.3
    net.params["b2"] = rng.normal(size=k) * 0.3
    if xdist == "normal":
        x = rng.normal(size=(n, d))
    elif xdist == "negative":
        x = -rng.random((n, d))
    else:
        x = rng.random((n, d)) * 255.0
    x[rng.random((n, d)) < zeros] = 0.0
    t = rng.integers(0, k, size=n)
    return net, x * xscale, t


def _brute(net, x, t, h=1e-4):
    """The book's two whole-batch losses per parameter, over the step actually taken."""
    out = {}
    for key, p in net.params.items():
        g = np.empty_like(p)
        it = np.nditer(p, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            orig = p[i]
            p[i] = orig + h
            lp, up = net.loss(x, t), p[i]
            p[i] = orig - h
            lm, down = net.loss(x, t), p[i]
            p[i] = orig
            g[i] = (lp - lm) / (up - down)
        out[key] = g
    return out


STRUCTURED_CASES = {
    "normal-x": dict(xdist="normal"),
    "negative-x": dict(xdist="negative"),
    "normal-x-with-zeros": dict(xdist="normal", zeros=0.4),
    "pixels": dict(xdist="pixels", w1=0.01),
    "tiny-weights": dict(w1=1e-3, w2=1e-3),
    "large-W2": dict(w2=300.0),
    "large-W1": dict(w1=30.0),
    "tiny-W2-large-W1": dict(w1=30.0, w2=1e-4),
    # large hidden changes (|x| ~ 1e3) under the Taylor cut-over (tiny W2): every moment counts
    "tiny-W2-large-x": dict(w1=1e-3, w2=1e-3, xscale=1e3),
    "large-logits": dict(w2=3000.0),
}


@pytest.mark.parametrize("case", list(STRUCTURED_CASES))
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_structured_gradient_matches_the_books_brute_force(case, backend):
    net, x, t = _problem(1, **STRUCTURED_CASES[case])
    want = _brute(net, x, t)
    with nnnum.use_backend(backend):
        got = net.numerical_gradient(x, t, method="structured")
    for key in net.params:
        scale = max(1.0, float(np.abs(want[key]).max()))
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-9 * scale, err_msg=key)


def test_structured_gradient_one_hot_labels_and_single_sample():
    net, x, t = _problem(2, n=1, xdist="normal")
    want = _brute(net, x, t)
    got = net.numerical_gradient(x, np.eye(4)[t], method="structured")
    for key in net.params:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-9, err_msg=key)


def test_structured_gradient_matches_backprop_on_dense_signed_inputs():
    net, x, t = _problem(3, xdist="normal")
    num = net.numerical_gradient(x, t)
    back = net.gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(num[key], back[key], rtol=1e-5, atol=1e-8, err_msg=key)


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


# ---- the IDX format: every header field -----------------------------------------------------
def _idx(magic, *dims, data=None, dtype_code=None):
    raw = struct.pack(">I", magic)
    if dtype_code is not None:  # rewrite the type byte (the third of the magic number)
        raw = raw[:2] + bytes([dtype_code]) + raw[3:]
    raw += struct.pack(">" + "I" * len(dims), *dims)
    n = int(np.prod(dims)) if dims else 0
    return raw + (bytes(n) if data is None else data)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("extra", [1, 7])
def test_idx_extra_bytes_name_the_file(tmp_path, gz, extra):
    path = tmp_path / ("t10k-labels-idx1-ubyte" + (".gz" if gz else ""))
    payload = _idx(2049, 5, data=bytes(5 + extra))
    path.write_bytes(gzip.compress(payload) if gz else payload)
    # a plain file's size says how many; a gzip stream is read only one byte past the data
    message = "extra bytes after the 5 data bytes" if gz else f": {extra} extra bytes after the 5"
    with pytest.raises(ds.DataFormatError, match=message) as info:
        ds.load_idx(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_exact_size_loads_every_shape(tmp_path, gz):
    for magic, dims in ((2049, (3,)), (2051, (2, 3, 4))):
        arr = np.arange(int(np.prod(dims)), dtype=np.uint8).reshape(dims)
        payload = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
        payload += arr.tobytes()
        path = tmp_path / f"f{magic}{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(payload) if gz else payload)
        out = ds.load_idx(path, expect_magic=magic)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_idx(2049, 5, data=bytes(4)), "truncated"),  # one data byte short
        (_idx(2049, 5, data=b""), "truncated"),
        (b"\x00\x00\x08", "truncated|magic"),  # magic cut short
        (struct.pack(">I", 2051) + struct.pack(">II", 2, 3), "truncated"),  # dims cut short
        (_idx(2049, 0), "0|empty|zero"),  # a zero dimension
        (_idx(0x0D01, 3), "magic"),  # float type byte
        (_idx(0x0801 | 0x01000000, 3), "magic"),  # nonzero first byte
        (_idx(2052, 3, 3, 3, 3), "magic"),  # 4 dimensions
        (_idx(2048), "magic"),  # 0 dimensions
    ],
    ids=["short-1", "no-data", "short-magic", "short-dims", "zero-dim", "float-type",
         "first-byte", "four-dims", "no-dims"],
)
def test_idx_each_header_field_is_checked(tmp_path, gz, payload, message):
    path = tmp_path / ("data-idx" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(ds.DataFormatError, match=message) as info:
        ds.load_idx(path)
    assert str(info.value).startswith(f"{path}: ")


def test_idx_expected_magic_for_images_and_labels(tmp_path):
    path = tmp_path / "x-idx"
    path.write_bytes(_idx(2049, 3))
    with pytest.raises(ds.DataFormatError, match="expected 2051"):
        ds.load_idx(path, expect_magic=2051)
    assert ds.load_idx(path, expect_magic=2049).shape == (3,)
    path.write_bytes(_idx(2051, 2, 2, 2))
    with pytest.raises(ds.DataFormatError, match="expected 2049"):
        ds.load_idx(path, expect_magic=2049)


def test_idx_max_bytes_is_inclusive(tmp_path):
    path = tmp_path / "x-idx"
    path.write_bytes(_idx(2049, 6))
    assert ds.load_idx(path, max_bytes=6).shape == (6,)
    with pytest.raises(ds.DataFormatError, match="limit of 5 bytes"):
        ds.load_idx(path, max_bytes=5)


# ---- training: batches from the whole set, accuracy at the last iteration --------------------
def _train_data(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    x[:, 0] = np.arange(n) / n
    return x, rng.integers(0, 3, n)


def test_train_batches_cover_the_training_set():
    x, t = _train_data()
    net = TwoLayerNet(4, 3, 3, seed=0)
    real = net.gradient
    seen = []

    def spy(xb, tb):
        seen.append(np.rint(np.asarray(xb)[:, 0] * 60).astype(int))
        return real(xb, tb)

    net.gradient = spy
    nnnum.train(net, x, t, iters=6, batch_size=6, lr=0.1, gradient="backprop", progress=False)
    touched = set(np.concatenate(seen).tolist())
    assert max(touched) >= 30 and len(touched) > 12, sorted(touched)


@pytest.mark.parametrize(("iters", "evals"), [(1, [0]), (2, [0, 1]), (11, [0, 10]), (21, [0, 10, 20]), (23, [0, 10, 20, 22])])
def test_train_accuracy_recorded_at_the_last_iteration(iters, evals):
    x, t = _train_data(n=60)
    xt, tt = _train_data(n=20, seed=1)
    net = TwoLayerNet(4, 3, 3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = nnnum.train(net, x, t, xt, tt, iters=iters, batch_size=6, lr=0.1,
                           gradient="backprop", progress=False)
    assert hist.eval_iters == evals
    assert len(hist.train_acc) == len(hist.test_acc) == len(evals)
    assert hist.train_acc[-1] == net.accuracy(x, t) and hist.test_acc[-1] == net.accuracy(xt, tt)


# ---- the three engines agree on every stencil (a fast twin of test_diff_engine's hypothesis
# test: one jitted f, compiled once, instead of one per example) ------------------------------
def _cubic(v):
    return np.sum(v * v * v - v)


_JCUBIC = None


@pytest.mark.parametrize("richardson", [0, 1, 2])
@pytest.mark.parametrize(
    ("kind", "order"),
    [("central", 2), ("central", 4), ("central", 6), ("central", 8), ("forward", 1),
     ("forward", 2), ("forward", 3), ("backward", 1), ("backward", 2), ("backward", 4)],
)
def test_engines_agree_every_stencil(kind, order, richardson):
    global _JCUBIC
    if _JCUBIC is None:
        _JCUBIC = nnnum.jit(_cubic)
    jf = _JCUBIC
    x = np.random.default_rng(order * 10 + richardson).uniform(-2, 2, 7)
    opts = dict(order=order, method=kind, richardson=richardson, h=1e-2)
    py = nnnum.numerical_gradient(lambda v: float(jf(v)), x, **opts)
    par = nnnum.numerical_gradient(jf, x, **opts)
    ser = nnnum.numerical_gradient(jf, x, parallel=False, **opts)
    bat = nnnum.batched_numerical_gradient(lambda X: (X * X * X - X).sum(axis=1), x, chunk=3, **opts)
    np.testing.assert_array_equal(par, ser)
    np.testing.assert_array_equal(py, ser)
    np.testing.assert_allclose(bat, py, rtol=1e-12, atol=1e-12)
    # and the analytic derivative 3x^2 - 1 (exact for order >= 3 up to rounding)
    tol = 0.2 if order + richardson < 2 else (1e-2 if order + richardson < 3 else 1e-5)
    np.testing.assert_allclose(py, 3 * x * x - 1, rtol=0, atol=tol)


# ---- steps: the automatic step's formula, a non-finite x named on every path ----------------
@pytest.mark.parametrize(
    ("method", "order", "richardson", "q"),
    [("central", 2, 0, 2), ("central", 2, 1, 4), ("central", 4, 0, 4), ("central", 4, 2, 6),
     ("forward", 1, 0, 1), ("forward", 1, 1, 2), ("backward", 2, 0, 2), ("central", 8, 0, 8)],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_auto_step_formula(method, order, richardson, q, dtype):
    # h = eps**(1/(q+1)) * max(1, log(e - 1 + |x|), |x|**(1/(q+1))), rounded to a power of two;
    # q the result's order (nnnum 0.2 scaled by |x|: a step of ~1 at 1e3, across sin's period)
    x = np.array([0.25, -3.0, 1e3, 0.0], dtype=dtype)
    r = nnnum.numerical_gradient(lambda v: float(np.sum(np.sin(v.astype(np.float64)))), x,
                                 h="auto", order=order, method=method, richardson=richardson,
                                 full_output=True)
    eps = float(np.finfo(dtype).eps)
    ax = np.abs(x.astype(float))
    scale = np.maximum(np.maximum(1.0, np.log(np.e - 1 + ax)), ax ** (1 / (q + 1)))
    want = 2.0 ** np.round(np.log2(eps ** (1 / (q + 1)) * scale))
    steps = np.asarray(r.step)
    np.testing.assert_array_equal(steps[0], want)
    for j in range(1, richardson + 1):  # later levels halve it
        np.testing.assert_array_equal(steps[j], want / 2**j)


@pytest.mark.parametrize("value", NONFINITE, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize(
    "options", [{}, {"order": 4}, {"method": "backward"}, {"richardson": 2}, {"h": "auto"}],
    ids=["book", "order4", "backward", "richardson", "auto"],
)
def test_nonfinite_x_named_on_every_path(value, options):
    x = np.array([1.0, 2.0, value, 3.0])
    with pytest.raises(ValueError, match=rf"x is not finite at x\[2\] = {value!r}"):
        nnnum.numerical_gradient(lambda v: float(np.sum(v)), x, **options)


# ---- stencils as data; the prange engine's kernel cache ---------------------------------------
def test_stencil_defaults_and_error_powers():
    from nnnum.diff import stencil

    assert stencil() == stencil(2, "central")
    for order in (2, 4, 6, 8):
        assert stencil(order).error_powers == tuple(range(order, order + 12, 2))
    for kind in ("forward", "backward"):
        for order in range(1, 7):
            assert stencil(order, kind).error_powers == tuple(range(order, order + 12))


@pytest.mark.jit_only
def test_prange_kernels_are_reused_and_never_cached_on_disk():
    from nnnum.diff.engines import prange

    jf = nnnum.jit(_cubic)
    par, ser = prange.kernels(jf)
    again = prange.kernels(jf)
    assert again[0] is par and again[1] is ser  # compiled once per f
    # specialised to f (a compile-time constant): an on-disk copy could be served to another f
    # of the same name in a later process
    for k in (par, ser):
        assert type(k._cache).__name__ == "NullCache"


# ---- the structured gradient against an extended-precision reference ------------------------
def _loss_ld(params, x, t):
    """The book's loss in long double (x87 80-bit on x86-64: 11 more bits than float64)."""
    ld = np.longdouble
    w1, b1, w2, b2 = (np.asarray(params[k], dtype=ld) for k in ("W1", "b1", "W2", "b2"))
    a1 = np.asarray(x, dtype=ld) @ w1 + b1
    z = 1 / (1 + np.exp(-a1))
    a2 = z @ w2 + b2
    e = np.exp(a2 - a2.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    return -np.sum(np.log(y[np.arange(len(t)), t] + ld(1e-7))) / len(t)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an 80-bit long double")
@pytest.mark.parametrize("case", ["tiny-W2-large-x", "normal-x", "large-W2"])
def test_structured_gradient_matches_an_extended_precision_reference(case):
    # the moments' Taylor terms sit at ~1e-9 relative near the cut-over: float64 brute force
    # (noise ~1e-12 / h) cannot see a wrong coefficient there, a long-double one can
    net, x, t = _problem(4, d=4, h=3, k=3, n=5, **STRUCTURED_CASES[case])
    got = net.numerical_gradient(x, t, method="structured")
    for key, p in net.params.items():
        want = np.empty_like(p)
        for i in np.ndindex(p.shape):
            orig = p[i]
            up, down = orig + 1e-4, orig - 1e-4  # the steps actually taken, as stored
            p[i] = up
            lp = _loss_ld(net.params, x, t)
            p[i] = down
            lm = _loss_ld(net.params, x, t)
            p[i] = orig
            want[i] = float((lp - lm) / (np.longdouble(up) - np.longdouble(down)))
        # long double's own noise: eps_ld * |L| / h ~ 1e-15 absolute
        tol = 1e-11 * float(np.abs(want).max()) + 5e-15
        np.testing.assert_allclose(got[key], want, rtol=0, atol=tol, err_msg=key)


@pytest.mark.parametrize("n", [1, 3, 50])
@pytest.mark.parametrize("parallel", [True, False])
def test_prange_engine_matches_the_loop_engine(n, parallel):
    # called directly, so that the kernel body also runs (and is measured) with the JIT off,
    # where nnnum.jit(f) is f itself; 50 elements over fewer chunks, 1 over several (empty ones)
    from nnnum.diff.engines import loop, prange

    jf = nnnum.jit(_cubic)
    x = np.random.default_rng(n).uniform(-2, 2, n)
    points = np.stack([x + 0.5, x - 0.25, x * 3])
    got = prange.evaluate(jf, x.copy(), points, parallel)
    xx = x.copy()
    want = loop.evaluate(lambda v: float(jf(v)), xx, xx, points, ["a", "b", "c"])
    np.testing.assert_array_equal(got, want)


# ---- small paths the suite did not reach (found by the JIT-off coverage run) ------------------
def test_f_returning_ints_and_0d_arrays():
    x = np.array([1.0, 2.0])
    g_int = nnnum.numerical_gradient(lambda v: int(round(1e6 * float(v[0]))), x, h=1e-3)
    np.testing.assert_allclose(g_int, [1e6, 0.0], rtol=1e-9)
    g_0d = nnnum.numerical_gradient(lambda v: np.array(float(np.sum(v * v))), x)
    np.testing.assert_allclose(g_0d, [2.0, 4.0], rtol=1e-7)
    g_f32 = nnnum.numerical_gradient(lambda v: np.float32(np.sum(v)), x, h=1e-2)
    np.testing.assert_allclose(g_f32, [1.0, 1.0], rtol=1e-5)


def test_gpu_array_x_points_to_the_cupy_backend():
    class FakeDeviceArray:
        __cuda_array_interface__ = {"shape": (2,), "typestr": "<f8", "data": (0, False), "version": 3}

    with pytest.raises(TypeError, match="x is a GPU array: use NNNUM_BACKEND=cupy"):
        nnnum.numerical_gradient(lambda v: 0.0, FakeDeviceArray())


def test_numerical_gradient_2d_takes_one_or_two_axes():
    with pytest.raises(ValueError, match="takes a 2-D x, got 3-D"):
        nnnum.numerical_gradient_2d(lambda v: float(np.sum(v)), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="no full_output"):
        nnnum.numerical_gradient_2d(lambda v: float(np.sum(v)), np.ones((2, 2)), full_output=True)
    g = nnnum.numerical_gradient_2d(lambda v: float(np.sum(v * v)), np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-7)


def test_duplicate_points_of_a_higher_order_stencil_are_a_resolution_error():
    # at 1e12 (spacing 1.2e-4) h = 6.2e-5 rounds x + h to x + 1 ulp and x + 2h to x + 1 ulp
    from nnnum.diff.steps import StepResolutionError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepRoundingWarning)
        with pytest.raises(StepResolutionError, match=r"below the resolution of float64 at x\[1\]"):
            nnnum.numerical_gradient(lambda v: float(v[1]), np.array([0.0, 1e12]), order=4,
                                     h=6.2e-5)


def test_plan_and_stencil_properties():
    from nnnum.diff import stencil
    from nnnum.diff.steps import make_plan

    st = stencil(4)
    plan = make_plan(np.array([1.0, 2.0]), (2,), 1e-3, st, levels=3)
    assert plan.rows_per_level == 4 and plan.levels == 3
    assert plan.points.shape == (12, 2)
    assert st.evaluations_per_element == 4
    assert st.abs_weight_sum == pytest.approx(2 * (1 / 12 + 2 / 3))
    assert stencil(1, "forward").abs_weight_sum == pytest.approx(2.0)  # |-1| + |1|


def test_structured_step_helper_rejects_non_finite_parameters():
    from nnnum.nets._batched import actual_steps

    with pytest.raises(ValueError, match="W1/b1 contains NaN or inf"):
        actual_steps(np.array([[1.0, np.nan]]), 1e-4, "W1/b1")
    with pytest.raises(ValueError, match="below the resolution of W2/b2"):
        actual_steps(np.array([[1e20]]), 1e-4, "W2/b2")


def test_backend_name_must_be_a_string():
    with pytest.raises(TypeError, match="backend name must be a str, not int"):
        with nnnum.use_backend(3):
            pass


def test_testing_helpers():
    from nnnum import testing

    a = np.array([1.0, 2.0])
    assert testing.to_host(a) is a or np.array_equal(testing.to_host(a), a)
    testing.assert_allclose(a, a + 1e-9, rtol=1e-6)
    with pytest.raises(AssertionError):
        testing.assert_allclose(a, a + 1.0)


@pytest.mark.parametrize("method", ["forward", "backward"])
def test_numerical_diff_one_sided_on_an_array(method):
    # one-sided stencils need f(x) itself: one value per element of x
    x = np.array([0.1, 0.2, 0.3])
    d = nnnum.numerical_diff(np.sin, x, method=method, order=2)
    np.testing.assert_allclose(d, np.cos(x), rtol=1e-6)
    r = nnnum.numerical_diff(np.sin, x, method=method, order=2, full_output=True)
    np.testing.assert_allclose(r.df, np.cos(x), rtol=1e-6)
    assert r.nfev == 3  # f(x) and two shifted copies, each over the whole array


@pytest.mark.parametrize(("parallel", "which"), [(False, 1), (None, 0), (True, 0)])
def test_prange_engine_picks_the_serial_kernel_only_when_asked(kernel_calls, parallel, which):
    from nnnum.diff.engines import prange

    jf = nnnum.jit(_cubic)
    kernels = prange.kernels(jf)
    used = kernel_calls
    x = np.array([1.0, 2.0, 3.0])
    prange.evaluate(jf, x.copy(), np.stack([x + 1e-3, x - 1e-3]), parallel)
    assert len(used) == 1 and used[0] is kernels[which]


def test_api_argument_errors():
    x = np.array([1.0, 2.0])
    for fn in (nnnum.numerical_diff, nnnum.numerical_gradient, nnnum.batched_numerical_gradient):
        with pytest.raises(TypeError, match="f must be callable, got int"):
            fn(3, x)
        for bad in (7, -1, 1.5, True):
            with pytest.raises(ValueError, match="richardson must be an integer from 0 to 6"):
                fn(lambda X: np.reshape(X, (len(X), -1)).sum(axis=1), x, richardson=bad)
    with pytest.raises(TypeError, match="parallel must be True, False or None, got 'yes'"):
        nnnum.numerical_gradient(lambda v: 0.0, x, parallel="yes")
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="chunk must be a positive integer"):
            nnnum.batched_numerical_gradient(lambda X: X.sum(axis=1), x, chunk=bad)


def test_empty_x_and_full_output_of_the_batched_engine():
    r = nnnum.numerical_gradient(lambda v: 0.0, np.zeros((0, 3)), full_output=True)
    assert r.df.shape == (0, 3) and r.nfev == 0
    r = nnnum.batched_numerical_gradient(lambda X: (X * X).reshape(len(X), -1).sum(axis=1),
                                         np.array([[1.0, 2.0]]),
                                         order=4, richardson=1, full_output=True)
    np.testing.assert_allclose(r.df, [[2.0, 4.0]], rtol=1e-9)
    assert r.error.shape == (1, 2) and np.all(np.isfinite(r.error))


@pytest.mark.parametrize("options", [{"order": 4}, {"richardson": 2}, {"method": "forward"}])
def test_overflowing_difference_on_the_general_path(options):
    # |f| ~ 1e308: the difference overflows; a FloatingPointError, and no stray RuntimeWarning
    # (the rounding-noise variances overflowed to a "overflow encountered in square" once)
    def f(w):
        return 1.7e308 if w[0] > 0 else -1.7e308

    with pytest.raises(FloatingPointError, match=r"overflows at x\[0\]"):
        nnnum.numerical_gradient(f, np.array([0.0]), **options)


def test_huge_but_finite_f_gives_an_infinite_error_estimate_quietly():
    r = nnnum.numerical_gradient(lambda v: 1e200 * float(v[0]), np.array([1.0]), order=4,
                                 full_output=True)
    np.testing.assert_allclose(r.df, [1e200], rtol=1e-6)



@pytest.mark.jit_only
def test_prange_kernel_cache_keeps_the_most_recent_functions(monkeypatch):
    from nnnum.diff.engines import prange

    assert prange.CACHE_SIZE == 16  # documented: the kernels of 16 functions are kept
    monkeypatch.setattr(prange, "CACHE_SIZE", 2)
    fs = [nnnum.jit(lambda v, k=k: np.sum(v) * k) for k in (1.0, 2.0, 3.0)]
    for f in fs:
        prange.kernels(f)
    cached = prange.cached_functions()
    assert cached[-2:] == fs[1:] and fs[0] not in cached  # the oldest is dropped
    par, ser = prange.kernels(fs[2])
    assert par.targetoptions.get("parallel") is True and not ser.targetoptions.get("parallel")


def test_idx_other_element_types_are_named_with_their_dimensions(tmp_path):
    path = tmp_path / "x-idx"
    path.write_bytes(_idx(0x0D03, 2, 2, 2))  # floats in 3 dimensions
    with pytest.raises(ds.DataFormatError, match=r"in 3 dimensions, which is not supported"):
        ds.load_idx(path)


def test_idx_size_exactly_int64_max_is_not_called_beyond_int64(tmp_path):
    path = tmp_path / "x-idx"
    dims = (153092023, 92737, 649657)  # product 2**63 - 1 exactly
    assert dims[0] * dims[1] * dims[2] == 2**63 - 1
    path.write_bytes(_idx(2051, *dims, data=b""))
    with pytest.raises(ds.DataFormatError, match="more than the limit") as info:
        ds.load_idx(path)
    assert "more than int64 can count" not in str(info.value)
    path.write_bytes(_idx(2051, 153092023, 92737, 649658, data=b""))  # one row more
    with pytest.raises(ds.DataFormatError, match="more than int64 can count"):
        ds.load_idx(path)
