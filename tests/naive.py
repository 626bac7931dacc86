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


def rosen(x):
    """Rosenbrock along the last axis: one point ``(n,)`` or a batch ``(B, n)`` (batched=True)."""
    return np.sum(100.0 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1.0 - x[..., :-1]) ** 2, axis=-1)


def rosen_grad(x):
    """The analytic gradient of Rosenbrock over ``x``'s elements in C order, in ``x``'s shape."""
    v = x.reshape(-1)
    g = np.zeros_like(v)
    g[:-1] = -400.0 * v[:-1] * (v[1:] - v[:-1] ** 2) - 2.0 * (1.0 - v[:-1])
    g[1:] += 200.0 * (v[1:] - v[:-1] ** 2)
    return g.reshape(x.shape)


def cubic(v):
    """``sum(v**3 - v)``, derivative ``3 v**2 - 1``: smooth, any stencil differentiates it well."""
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


def ref_sigmoid(x64):
    with np.errstate(all="ignore"):
        pos = 1.0 / (1.0 + np.exp(-x64))
        e = np.exp(x64)
        neg = e / (1.0 + e)
    return np.where(x64 >= 0, pos, np.where(np.isnan(x64), np.nan, neg))


def ref_relu(x64):
    return np.where(np.isnan(x64), np.nan, np.where(x64 > 0, x64, 0.0))


def ref_step(x64):
    return (x64 > 0).astype(np.int64)


def ref_softmax(x64):
    if x64.ndim == 0:
        return np.float64(1.0) if np.isfinite(x64) else np.float64(np.nan)
    with np.errstate(all="ignore"):
        m = x64.max(axis=-1, keepdims=True) if x64.size else x64
        e = np.exp(x64 - m)
        return e / e.sum(axis=-1, keepdims=True)


def ref_loss(name, y, t):
    """Independent float64 reference, from the docstrings' formulas."""
    y = np.asarray(y, dtype=np.float64)
    k = y.shape[-1]
    y2 = y.reshape(-1, k)
    t = np.asarray(t)
    if t.shape == y.shape:
        t2 = t.astype(np.float64).reshape(-1, k)
    else:
        t2 = np.zeros_like(y2)
        t2[np.arange(y2.shape[0]), t.reshape(-1)] = 1.0
    n = y2.shape[0]
    with np.errstate(all="ignore"):
        if name == "mean_squared_error":
            return 0.5 * float(np.sum((y2 - t2) ** 2))
        if name == "cross_entropy_error":
            return float(-np.sum(np.where(t2 != 0, t2 * np.log(y2 + 1e-7), 0.0)) / n)
        m = y2.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(y2 - m).sum(axis=1))
        return float(np.sum(np.where(t2 != 0, t2 * (lse[:, None] - y2), 0.0)) / n)


def naive_gradient(f, x, h=1e-4):
    """The textbook loop on a float64 copy (independent of nnnum)."""
    x64 = np.array(x, dtype=np.float64)
    g = np.zeros_like(x64)
    for idx in np.ndindex(x64.shape):
        xp, xm = x64.copy(), x64.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (xp[idx] - xm[idx])
    return g


# the book's loop lives in the package, shared with the benchmarks
from nnnum.testing import book_numerical_gradient  # noqa: E402, F401
