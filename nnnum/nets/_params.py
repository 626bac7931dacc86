"""A network's parameters: drawn as the book draws them, and checked before any kernel sees them."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends as _backend

#: The keys of ``TwoLayerNet.params``, in the book's order.
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def randn(seed: int | np.random.Generator | None, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws from ``seed`` (a Generator or a seed), else the global state (book)."""
    if seed is None:
        return np.random.randn(*shape)
    return np.random.default_rng(seed).standard_normal(shape)


def check_layers(input_size: Any, hidden_size: Any, output_size: Any, weight_init_std: Any) -> None:
    """``TwoLayerNet``'s constructor arguments: positive integer widths, a finite scale."""
    for name, v in (
        ("input_size", input_size),
        ("hidden_size", hidden_size),
        ("output_size", output_size),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if (
        isinstance(weight_init_std, (bool, np.bool_))
        or not isinstance(weight_init_std, (int, float, np.integer, np.floating))
        or not np.isfinite(weight_init_std)
    ):
        raise ValueError(f"weight_init_std must be a finite number, got {weight_init_std!r}")


def check_params(p: Any) -> dict[str, Any]:
    """``params`` checked against each other, on the host, before any kernel sees them.

    ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, K), ``b2`` (K,), real numbers of
    the backend's array type. Inconsistent shapes are a clear error here,
    never an out-of-bounds read in a kernel.
    """
    if not isinstance(p, dict):
        raise TypeError(f"params must be a dict with keys W1 b1 W2 b2, got {type(p).__name__}")
    missing = [k for k in PARAM_NAMES if k not in p]
    if missing:
        raise ValueError(f"params lacks {', '.join(missing)}; it needs W1 b1 W2 b2")
    xp = _backend.current().xp
    want_ndim = {"W1": 2, "b1": 1, "W2": 2, "b2": 1}
    for key in PARAM_NAMES:
        v = p[key]
        if not isinstance(v, xp.ndarray):
            raise TypeError(
                f"params[{key!r}] must be a {xp.__name__} array, got {type(v).__name__}"
            )
        dt = v.dtype
        if dt == np.bool_ or not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer)):
            raise TypeError(f"params[{key!r}] must hold real numbers, got dtype {dt}")
        if v.ndim != want_ndim[key]:
            raise ValueError(
                f"params[{key!r}] must be {want_ndim[key]}-D, got shape {tuple(v.shape)}"
            )
    d, hdim = p["W1"].shape
    k = p["W2"].shape[1]
    expect = {"b1": (hdim,), "W2": (hdim, k), "b2": (k,)}
    for key, shape in expect.items():
        if tuple(p[key].shape) != shape:
            raise ValueError(
                f"params[{key!r}] has shape {tuple(p[key].shape)} but W1 has shape "
                f"{(d, hdim)}"
                + (f" and W2 {tuple(p['W2'].shape)}" if key == "b2" else "")
                + f": expected {shape}"
            )
    if d == 0 or hdim == 0 or k == 0:
        raise ValueError(f"params have an empty layer: W1 {(d, hdim)}, W2 {(hdim, k)}")
    return p


def check_perturbable(p: Any, *, writable: bool) -> None:
    """Parameters a numerical gradient can perturb: float32/64, finite, writable in place."""
    p = check_params(p)
    xp = _backend.current().xp
    for key in PARAM_NAMES:
        v = p[key]
        if v.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"params[{key!r}] has dtype {v.dtype}; a numerical gradient perturbs the "
                f"parameters by h, which needs float32 or float64 (params[{key!r}] = "
                f"params[{key!r}].astype(np.float64))"
            )
        if not bool(xp.isfinite(v).all()):
            raise ValueError(f"params[{key!r}] contains NaN or inf: the gradient is undefined")
        if writable and not v.flags.writeable:
            raise ValueError(
                f"params[{key!r}] is read-only; strategy='brute' perturbs the parameters in "
                "place (pass writable copies, or use strategy='structured')"
            )
