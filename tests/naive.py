"""Slow, obvious loop references that the kernels are checked against."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit
def rosen_jit(x):
    """Rosenbrock over ``x``'s elements in C order, a jitted loop (the prange engine's f)."""
    s = 0.0
    v = x.reshape(-1)
    for i in range(v.size - 1):
        a = v[i + 1] - v[i] * v[i]
        b = 1.0 - v[i]
        s += 100.0 * a * a + b * b
    return s


def cubic(v):
    """``sum(v**3 - v)``, derivative ``3 v**2 - 1``: a smooth f every stencil differentiates well."""
    return np.sum(v * v * v - v)


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx]
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = math.fsum(e)
        out[idx] = [v / s for v in e]
    return out


def cross_entropy_error(y, labels, delta=1e-7):
    y = np.asarray(y, dtype=np.float64).reshape(-1, np.shape(y)[-1])
    labels = np.asarray(labels).reshape(-1)
    return math.fsum(-math.log(y[n, labels[n]] + delta) for n in range(len(labels))) / len(labels)


def softmax_cross_entropy(z, labels):
    z = np.asarray(z, dtype=np.float64).reshape(-1, np.shape(z)[-1])
    labels = np.asarray(labels).reshape(-1)
    out = []
    for n in range(len(labels)):
        m = max(z[n])
        lse = m + math.log(math.fsum(math.exp(v - m) for v in z[n]))
        out.append(lse - z[n, labels[n]])
    return np.array(out)


# the book's loop lives in the package, shared with the benchmarks
from nnnum.testing import book_numerical_gradient  # noqa: E402, F401
