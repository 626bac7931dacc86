"""The first layer's products on inputs with many zeros (nets/_input_layer.py, _input_kernels.py).

The sparse way's bits are those of its arithmetic: each entry the sum, from 0.0,
of the non-zero terms in increasing index, a product then an add. A plain Python
loop gives them exactly; NumPy's BLAS gives them to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum
from nnnum._core.jit import PARALLEL_MIN_SIZE
from nnnum.nets import _input_layer as il

pytestmark = pytest.mark.jit_only


def _pixels(rng, n, d, zeros=0.81, dtype=np.float64):
    x = rng.random((n, d)).astype(dtype)
    x[rng.random((n, d)) < zeros] = 0
    return x


def _exactly(rng, n, d, nonzeros):
    """(n, d) with ``nonzeros`` entries in (0, 1], the rest 0."""
    x = np.zeros((n, d))
    x.flat[rng.permutation(n * d)[:nonzeros]] = 1.0 - rng.random(nonzeros)
    return x


def _forward_ref(x, w):
    """x @ w as the kernels define it, in Python floats (no fused multiply-add)."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w)
    out = np.zeros((x.shape[0], w.shape[1]))
    for r in range(x.shape[0]):
        for j in range(w.shape[1]):
            s = 0.0
            for i in range(x.shape[1]):
                if x[r, i] != 0:
                    s = s + float(x[r, i]) * float(w[i, j])
            out[r, j] = s
    return out


def _backward_ref(x, dm):
    """x.T @ dm as the kernels define it (terms in increasing row): x.T's ordered sums."""
    return _forward_ref(np.asarray(x, dtype=np.float64).T, dm)


def _bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 12),
    d=st.integers(1, 40),
    m=st.integers(1, 19),
    share=st.sampled_from([0.0, 0.5, 1.0]),  # of the most non-zeros the sparse way takes
    dtype=st.sampled_from([np.float64, np.float32, np.uint8, np.bool_]),
    scale=st.sampled_from([1.0, 255.0, 1e-300]),
)
def test_products_are_the_ordered_sums_bit_for_bit(seed, n, d, m, share, dtype, scale):
    rng = np.random.default_rng(seed)
    x = _exactly(rng, n, d, int(share * int(il.DENSE_MAX * n * d)))
    x = (x * (255 if dtype == np.uint8 else 1)).astype(dtype)
    w = rng.standard_normal((d, m)) * scale
    dm = rng.standard_normal((n, m)) * scale
    keep_x, keep_w, keep_d = x.copy(), w.copy(), dm.copy()
    c = il.compress(x)
    assert c is not None  # at most DENSE_MAX non-zeros: the sparse way
    _bits(il.product(x, w), _forward_ref(x, w))
    _bits(il.product(x, w, c), _forward_ref(x, w))
    _bits(il.product_t(x, dm), _backward_ref(x, dm))
    np.testing.assert_allclose(il.product(x, w), x.astype(np.float64) @ w, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(x, keep_x)  # nothing handed in is changed
    np.testing.assert_array_equal(w, keep_w)
    np.testing.assert_array_equal(dm, keep_d)


def test_the_mnist_sizes_agree_with_blas_to_rounding():
    rng = np.random.default_rng(0)
    x = _pixels(rng, 100, 784, dtype=np.float32)
    w, dm = 0.01 * rng.standard_normal((784, 50)), rng.standard_normal((100, 50))
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(il.product(x, w), x64 @ w, rtol=0, atol=1e-14)
    np.testing.assert_allclose(il.product_t(x, dm), x64.T @ dm, rtol=0, atol=1e-12)
    _bits(il.product(x, w), il.product(x64, w))  # float32 pixels read as their float64 values


def test_serial_and_parallel_kernels_give_the_same_bits():
    """Rows of the product split over threads, forward and backward: the same sums."""
    from nnnum.nets import _input_kernels as K

    rng = np.random.default_rng(1)
    x = _pixels(rng, 700, 30)
    w, dm, b = rng.standard_normal((30, 97)), rng.standard_normal((700, 97)), rng.random(97)
    c = il.compress(x)
    assert c is not None
    outs = []
    for kern, activate in ((K._forward_serial, False), (K._forward_parallel, False)):
        out = np.empty((700, 97))
        assert kern(c.idx, c.val, c.start, w, b, out, activate) == 0
        outs.append(out)
    _bits(outs[0], outs[1])
    _bits(outs[0], _forward_ref(x, w))
    cidx, cval = np.empty(c.start[-1], dtype=np.int32), np.empty(c.start[-1])
    cstart = np.empty(31, dtype=np.int64)
    K._by_column(c.idx, c.val, c.start, 30, cidx, cval, cstart)
    for i in range(30):  # column i: its rows, increasing, and their values
        rows = np.flatnonzero(x[:, i])
        assert cidx[cstart[i] : cstart[i + 1]].tolist() == rows.tolist()
        assert cval[cstart[i] : cstart[i + 1]].tolist() == x[rows, i].tolist()
    serial, parallel = np.empty((30, 97)), np.full((30, 97), np.nan)
    assert K._backward_serial(cidx, cval, cstart, dm, serial) == 0
    assert K._backward_parallel(cidx, cval, cstart, dm, parallel) == 0
    _bits(parallel, serial)
    _bits(serial, _backward_ref(x, dm))
    assert il.product(x, w).size >= PARALLEL_MIN_SIZE  # the host takes the parallel variants here
    _bits(il.product(x, w), outs[0])
    assert dm.size >= PARALLEL_MIN_SIZE
    _bits(il.product_t(x, dm), serial)


def test_the_fused_hidden_layer_is_sigmoid_of_the_product():
    rng = np.random.default_rng(2)
    x = _pixels(rng, 50, 60)
    w, b = 40 * rng.standard_normal((60, 20)), 40 * rng.standard_normal(20)  # saturated too
    c = il.compress(x)
    z1, bad = il.hidden(c, w, b)
    assert bad == 0 and c is not None
    _bits(z1, nnnum.sigmoid(il.product(x, w) + b))


def test_non_finite_inputs_and_weights():
    rng = np.random.default_rng(3)
    x = _pixels(rng, 6, 10, zeros=0.9)
    x[2, 3] = np.nan
    x[4, 1] = np.inf  # non-zeros: they take part, as in BLAS
    w = rng.standard_normal((10, 5))
    c = il.compress(x)
    z1, bad = il.hidden(c, w, np.zeros(5))
    assert c is not None and bad == 2
    a = il.product(x, w)
    assert np.isnan(a[2]).all() and not np.isfinite(a[4]).any()
    assert np.isfinite(np.delete(a, [2, 4], axis=0)).all()
    # an inf weight meets the zeros of x: 0 * inf is NaN, as BLAS has it, so BLAS computes it
    xz = _pixels(rng, 6, 10, zeros=0.9)
    xz[:, 0] = 0.0
    w[0, 2] = np.inf
    with np.errstate(invalid="ignore"):
        _bits(il.product(xz, w), xz @ w)
        assert np.isnan(il.product(xz, w)[:, 2]).all()
        dm = rng.standard_normal((6, 5))
        dm[1, 1] = np.nan
        _bits(il.product_t(xz, dm), xz.T @ dm)


def test_zeros_of_both_signs_are_skipped_and_nan_is_kept():
    x = np.array([[0.0, -0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    c = il.compress(x)
    assert c is not None
    assert c.idx[: c.start[1]].tolist() == [2] and c.val[: c.start[1]].tolist() == [2.0]
    x[0, 5] = np.nan
    c = il.compress(x)
    assert c is not None and c.idx[: c.start[1]].tolist() == [2, 5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_before_the_kernel_has_run_numpys_count_gives_its_answer(monkeypatch, dtype):
    """Dense inputs are told without the kernel (never compiled in a dense run), the same way."""
    rng = np.random.default_rng(9)
    limit = int(il.DENSE_MAX * 10 * 20)
    calls = []
    real = il._kernel

    def spy(name):
        calls.append(name)
        return real(name)

    monkeypatch.setattr(il, "_kernel", spy)
    cases = [(limit + 1, False), (150, False), (limit, True), (3, True)]
    for nonzeros, sparse in cases:
        x = _exactly(rng, 10, 20, nonzeros).astype(dtype)
        if nonzeros == 150:
            x[x == 0.0] = np.nan  # NaN counts as non-zero, in NumPy's count as in the kernel
        for state in (set(), {np.dtype(dtype)}):  # before and after the kernel has run
            monkeypatch.setattr(il, "_ran", set(state))
            calls.clear()
            assert (il.compress(x) is not None) == sparse
            assert calls == ([] if not sparse and not state else ["_compress"])
    assert il._ran == {np.dtype(dtype)}


def test_dense_inputs_and_other_backends_take_blas():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((20, 7))
    limit = int(il.DENSE_MAX * 10 * 20)  # 60 non-zeros of 200
    for nonzeros, sparse in ((limit, True), (limit + 1, False)):
        x = _exactly(rng, 10, 20, nonzeros)
        assert (il.compress(x) is not None) == sparse
        if not sparse:
            _bits(il.product(x, w), x @ w)
            _bits(il.product_t(x, w[:10]), x.T @ w[:10])
    x = _pixels(rng, 10, 20)
    with nnnum.use_backend("numpy"):
        assert il.compress(x) is None
        _bits(il.product(x, w), x @ w)
    assert il.compress(np.zeros((0, 20))) is None
    assert il.compress(x.astype(np.complex128)) is None
    _bits(il.product(x, w[:, :0]), np.zeros((10, 0)))
