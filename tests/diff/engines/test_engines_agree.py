"""The engines (loop, prange, batched) agree on every stencil."""

from __future__ import annotations

import numpy as np
import pytest

import nnnum

from ...naive import cubic

# ---- the three engines agree on every stencil (a fast twin of test_diff_engine's hypothesis
# test: one jitted f, compiled once, instead of one per example) ------------------------------
_JCUBIC = None


@pytest.mark.parametrize("richardson", [0, 1, 2])
@pytest.mark.parametrize(
    ("kind", "order"),
    [
        ("central", 2),
        ("central", 4),
        ("central", 6),
        ("central", 8),
        ("forward", 1),
        ("forward", 2),
        ("forward", 3),
        ("backward", 1),
        ("backward", 2),
        ("backward", 4),
    ],
)
def test_engines_agree_every_stencil(kind, order, richardson):
    global _JCUBIC
    if _JCUBIC is None:
        _JCUBIC = nnnum.jit(cubic)
    jf = _JCUBIC
    x = np.random.default_rng(order * 10 + richardson).uniform(-2, 2, 7)
    opts = dict(order=order, method=kind, richardson=richardson, h=1e-2)
    py = nnnum.numerical_gradient(lambda v: float(jf(v)), x, **opts)
    par = nnnum.numerical_gradient(jf, x, **opts)
    ser = nnnum.numerical_gradient(jf, x, parallel=False, **opts)
    bat = nnnum.batched_numerical_gradient(
        lambda X: (X * X * X - X).sum(axis=1), x, chunk=3, **opts
    )
    np.testing.assert_array_equal(par, ser)
    np.testing.assert_array_equal(py, ser)
    np.testing.assert_allclose(bat, py, rtol=1e-12, atol=1e-12)
    # and the analytic derivative 3x^2 - 1 (exact for order >= 3 up to rounding)
    tol = 0.2 if order + richardson < 2 else (1e-2 if order + richardson < 3 else 1e-5)
    np.testing.assert_allclose(py, 3 * x * x - 1, rtol=0, atol=tol)


@pytest.mark.parametrize("n", [1, 3, 50])
@pytest.mark.parametrize("parallel", [True, False])
def test_prange_engine_matches_the_loop_engine(n, parallel):
    # called directly, so that the kernel body also runs (and is measured) with the JIT off,
    # where nnnum.jit(f) is f itself; 50 elements over fewer chunks, 1 over several (empty ones)
    from nnnum.diff.engines import loop, prange

    jf = nnnum.jit(cubic)
    x = np.random.default_rng(n).uniform(-2, 2, n)
    points = np.stack([x + 0.5, x - 0.25, x * 3])
    got = prange.perturbed(jf, x.copy(), points, parallel)
    xx = x.copy()
    want = loop.in_place(lambda v: float(jf(v)), xx, xx, points, ["a", "b", "c"])
    np.testing.assert_array_equal(got, want)


# ---- the four engines through the one protocol: select, run, the same bits -----------------
@pytest.mark.jit_only  # the prange engine runs only a compiled f
@pytest.mark.parametrize(
    ("order", "method", "richardson", "h"),
    [(2, "central", 0, 1e-3), (4, "central", 1, "auto"), (2, "forward", 2, 1e-2)],
)
def test_the_four_engines_agree_bit_for_bit_through_the_protocol(order, method, richardson, h):
    from nnnum import backends
    from nnnum.diff import engines
    from nnnum.diff.engines import batched, executors, loop, prange
    from nnnum.diff.options import check_options

    global _JCUBIC
    if _JCUBIC is None:
        _JCUBIC = nnnum.jit(cubic)
    jf = _JCUBIC
    py = lambda v: float(jf(v))  # noqa: E731  (the same arithmetic, called from Python)
    rows = lambda X: np.array([jf(r) for r in X])  # noqa: E731  (one value per copy)
    hv, st, levels, _ = check_options(h, order, method, richardson)
    x = np.random.default_rng(order + richardson).uniform(-2, 2, 6)
    be = backends.current()
    cases = [
        (py, engines.Options(backend=be), loop),
        (jf, engines.Options(backend=be), prange if be.JIT else loop),
        (py, engines.Options(workers=map, progress=False, backend=be), executors),
        (rows, engines.Options(batched=True, chunk=4, backend=be), batched),
    ]
    got = []
    for f, options, expected in cases:
        before = x.copy()
        target = engines.Target(x, x, x, x.shape)
        engine = engines.select(f, target, options)
        assert engine is expected
        out = engines.run(engine, f, target, options, hv, st, levels, True)
        assert np.array_equal(x, before)  # x never modified
        got.append(out)
    for out in got[1:]:
        np.testing.assert_array_equal(out.df, got[0].df)
        np.testing.assert_array_equal(out.error, got[0].error)
        assert out.nfev - out.extra == got[0].nfev - got[0].extra
    # and the public function gives the same bits
    pub = nnnum.numerical_gradient(py, x, order=order, method=method, richardson=richardson, h=h)
    np.testing.assert_array_equal(pub, got[0].df)


def test_every_engine_implements_the_protocol():
    import inspect

    from nnnum.diff import engines

    names = ["accepts", "prepare", "evaluate", "f_at_x"]
    params = {
        "accepts": ["f", "target", "options"],
        "prepare": ["f", "target", "options"],
        "evaluate": ["f", "target", "points", "labels", "options"],
        "f_at_x": ["f", "target", "options"],
    }
    assert len(engines.ENGINES) == 4
    for engine in engines.ENGINES:
        for name in names:
            fn = getattr(engine, name)
            assert list(inspect.signature(fn).parameters) == params[name], (engine, name)
    assert engines.ENGINES[-1] is engines.loop  # the engine of last resort comes last


# ---- the sets job (the Jacobian's colours, the Hessian's pairs): every engine of the registry
def test_every_engine_of_the_registry_does_both_jobs():
    from nnnum.diff import engines

    jobs = ("accepts", "prepare", "evaluate", "f_at_x", "evaluate_sets")
    for engine in engines.ENGINES:
        assert all(callable(getattr(engine, job, None)) for job in jobs), engine.__name__


@pytest.mark.parametrize("out_shape", [(), (2,), (2, 3)])
def test_every_engine_evaluates_sets_alike(out_shape):
    import numba

    from nnnum.diff import engines
    from nnnum.diff.engines import Options
    from nnnum.diff.perturb import Perturbations, evaluate

    rng = np.random.default_rng(len(out_shape))
    n, P = 6, 17
    counts = rng.integers(0, 4, P)  # empty sets too: f at x itself
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    idx = np.concatenate([rng.choice(n, c, replace=False) for c in counts]).astype(np.int64)
    pert = Perturbations(ptr, idx, rng.standard_normal(idx.size), lambda p: f"set {p}")
    base = rng.standard_normal(n)
    before = base.copy()
    size = int(np.prod(out_shape))

    def one(z):  # one point -> out_shape
        v = np.sin(z[:size] if size <= n else np.resize(z, size)) * np.sum(z * z)
        return v.reshape(out_shape) if out_shape else float(v[0])

    jitted = numba.njit(lambda z: np.sin(z[0]) * np.sum(z * z)) if out_shape == () else None

    def many(Z):  # a batch (B, n) -> (B, *out_shape)
        return np.stack([np.asarray(one(z)) for z in Z])

    ref = evaluate(one, base, pert, out_shape, engine=engines.loop, options=Options())
    runs = {
        "batched": (many, engines.batched, Options(batched=True, chunk=5)),
        "workers": (one, engines.executors, Options(workers=map, progress=False)),
    }
    if jitted is not None:
        ref_j = evaluate(jitted, base, pert, (), engine=engines.loop, options=Options())
        np.testing.assert_array_equal(ref_j[:, 0], ref[:, 0])
        for parallel in (None, False):
            got = evaluate(
                jitted, base, pert, (), engine=engines.prange, options=Options(parallel=parallel)
            )
            np.testing.assert_array_equal(got, ref)
    for name, (f, engine, options) in runs.items():
        got = evaluate(f, base, pert, out_shape, engine=engine, options=options)
        np.testing.assert_array_equal(got, ref, err_msg=name)
    np.testing.assert_array_equal(base, before)  # every engine works on copies
