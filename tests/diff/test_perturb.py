"""The checks on f's values at the perturbed points, and evaluate's edge cases (diff/perturb.py)."""

import numpy as np
import pytest

import nnnum
from nnnum.diff import engines
from nnnum.diff.perturb import Perturbations, evaluate

X = np.array([1.0, 2.0])


def _none_off_x(z):
    return z * 2.0 if z[0] == 1.0 else None


@pytest.mark.parametrize(
    "f,err,match",
    [
        (_none_off_x, TypeError, r"returned NoneType None at x\[0\] \+ h"),
        (lambda z: np.array(["a", "b"]), TypeError, "must return numbers; it returned dtype <U1"),
        (lambda z: z + 1j, TypeError, "must return real numbers; it returned dtype complex128"),
        (
            lambda z: z[: 1 + int(z[0] != 1.0)],
            ValueError,
            r"same shape at every point: shape \(1,\) at x, \(2,\) at x\[0\] \+ h",
        ),
    ],
)
def test_values_of_f_checked(f, err, match):
    """f's values must be real numbers of one shape: else the error names the point."""
    x = X.copy()
    with pytest.raises(err, match=match):
        nnnum.numerical_jacobian(f, x)
    np.testing.assert_array_equal(x, X)


def test_only_the_batched_engine_finds_the_shape():
    """evaluate without out_shape is refused on an engine that cannot find f's shape."""
    pert = Perturbations(np.array([0, 1]), np.array([0]), np.array([1.5]), lambda p: "x[0] + h")
    with pytest.raises(ValueError, match="only the batched engine finds f's shape"):
        evaluate(np.sin, X.copy(), pert, None, engine=engines.loop, options=None)


@pytest.mark.parametrize("base,dtype", [(X, np.float64), (X + 0j, np.complex128)])
def test_no_perturbations_no_calls(base, dtype):
    """Zero perturbations: f is not called, the values are an empty (0, m) array."""
    calls = []
    empty = Perturbations(np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0), str)
    F = evaluate(calls.append, base, empty, (2, 3), engine=engines.loop, options=None)
    assert F.shape == (0, 6) and F.dtype == dtype
    assert calls == []
