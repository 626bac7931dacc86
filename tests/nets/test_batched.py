import numpy as np
import pytest

import nnnum
from nnnum import batched_numerical_gradient
from nnnum.backends import _xp_ops
from nnnum.nets import TwoLayerNet
from nnnum.nets import _batched as _net_batched


def test_batched_generic_gradient_matches_loop(rng):
    x = rng.normal(size=(3, 4))
    w = rng.normal(size=(3, 4))

    def f_batch(X):
        return np.sin(X * w).reshape(len(X), -1).sum(axis=1)

    def f_one(v):
        return float(np.sin(v * w).sum())

    for chunk in (1, 5, None):
        g = batched_numerical_gradient(f_batch, x, chunk=chunk)
        np.testing.assert_allclose(g, nnnum.numerical_gradient(f_one, x.copy()), atol=1e-12)
    g2 = nnnum.numerical_gradient(f_batch, x, batched=True)
    np.testing.assert_allclose(g2, w * np.cos(w * x), atol=1e-8)


def test_batched_generic_bad_f():
    with pytest.raises(ValueError, match="one value per parameter copy"):
        batched_numerical_gradient(lambda X: X.sum(), np.ones(3))


def test_batched_label_loss_matches_fused_rows(rng):
    logits = rng.normal(size=(3, 5, 4)) * 10
    labels = rng.integers(0, 4, size=5)
    ours = _xp_ops.batched_label_loss(logits, labels, 0.0, np)
    ref = [nnnum.softmax_cross_entropy(logits[b], labels) for b in range(3)]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    with_delta = _xp_ops.batched_label_loss(logits, labels, 1e-7, np)
    ref_d = [nnnum.cross_entropy_error(nnnum.softmax(logits[b]), labels) for b in range(3)]
    np.testing.assert_allclose(with_delta, ref_d, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_batched_structured_gradient_matches_numba(rng, chunk):
    net = TwoLayerNet(9, 5, 4, weight_init_std=0.5, seed=3)
    x = rng.random((6, 9))
    x[x < 0.4] = 0
    t = rng.integers(0, 4, size=6)
    numba_g = net.numerical_gradient(x, t)
    with nnnum.use_backend("numpy"):
        xp_g = _net_batched.batched_structured_gradient(net.params, x, t, 1e-4, chunk=chunk)
    for key in numba_g:
        np.testing.assert_allclose(xp_g[key], numba_g[key], rtol=0, atol=1e-9)


def test_cupy_backend_needs_batched_f_message(monkeypatch):
    # checked without a GPU: the backend name is forced, CuPy's availability stubbed
    import nnnum.backends._config as cfg
    import nnnum.backends._gpu_imports as gpu

    token = cfg._context_choice.set("cupy")
    try:
        # no CuPy: say so first, not "pass batched=True"
        monkeypatch.setattr(gpu, "require_cupy", _raise_unavailable)
        with pytest.raises(nnnum.BackendUnavailableError, match="CuPy"):
            nnnum.numerical_gradient(lambda v: float(v.sum()), np.ones(3))
        # CuPy usable: a plain f is the wrong form there
        monkeypatch.setattr(gpu, "require_cupy", lambda: None)
        with pytest.raises(TypeError, match="batched=True"):
            nnnum.numerical_gradient(lambda v: float(v.sum()), np.ones(3))
    finally:
        cfg._context_choice.reset(token)


def _raise_unavailable():
    raise nnnum.BackendUnavailableError("NNNUM_BACKEND=cupy needs CuPy (stub)")


def test_gpu_check_script_cpu_parts():
    from benchmarks import gpu_check

    assert gpu_check.main(["--cpu-only"]) == 0
