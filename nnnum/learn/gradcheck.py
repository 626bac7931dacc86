"""Compare the numerical and the backprop gradient of a network, per parameter."""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends import to_host
from ..diff.check import compare

__all__ = ["gradcheck", "GradCheckResult", "ParamDiff"]


def _supported(fn: Any, **options: Any) -> dict[str, Any]:
    """The ``options`` that ``fn`` accepts (by its signature); never by trial and error.

    A net whose ``numerical_gradient(x, t)`` takes no options gets none, but
    only when they are left at their defaults: an explicit ``strategy`` or ``h``
    it cannot honour is an error, not silently dropped.
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return options
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    defaults = {"strategy": "auto", "method": "auto", "h": 1e-4}
    out = {}
    for name, value in options.items():
        if name in params:
            out[name] = value
        elif value != defaults.get(name, object()):
            raise TypeError(
                f"{type(fn.__self__).__name__ if hasattr(fn, '__self__') else fn}"
                f".numerical_gradient takes no {name!r} argument, but {name}={value!r} was asked"
            )
    return out


def _takes(fn: Any, name: str) -> bool:
    """Whether ``fn``'s signature names the parameter ``name``."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _host(a: Any) -> np.ndarray:
    return np.asarray(to_host(a), dtype=np.float64)


@dataclass(frozen=True)
class ParamDiff:
    """Differences for one parameter array.

    ``max_rel`` is ``max |n - b| / max(|n|, |b|, floor)``, at index ``argmax_rel``.
    """

    name: str
    shape: tuple[int, ...]
    mean_abs: float
    max_abs: float
    max_rel: float
    argmax_rel: tuple[int, ...]
    numerical: float
    backprop: float


@dataclass(frozen=True)
class GradCheckResult:
    """The outcome of :func:`gradcheck`; truthy when every parameter is within tolerance."""

    params: dict[str, ParamDiff]
    rtol: float
    atol: float
    passed: bool

    def __bool__(self) -> bool:
        return self.passed

    def report(self) -> str:
        """A table, one row per parameter."""
        lines = [
            f"{'param':6} {'shape':>12} {'mean|diff|':>11} {'max|diff|':>11} {'max rel':>10}  where"
        ]
        for d in self.params.values():
            lines.append(
                f"{d.name:6} {str(d.shape):>12} {d.mean_abs:11.3e} {d.max_abs:11.3e} "
                f"{d.max_rel:10.3e}  {d.argmax_rel} (num {d.numerical:.6g}, bp {d.backprop:.6g})"
            )
        lines.append(
            f"{'PASS' if self.passed else 'FAIL'} (rtol={self.rtol:g}, atol={self.atol:g})"
        )
        return "\n".join(lines)


def gradcheck(
    net: Any,
    x: Any,
    t: Any,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    strategy: str = "auto",
    h: float = 1e-4,
    floor: float = 1e-12,
    method: str | None = None,
) -> GradCheckResult:
    """Check ``net.numerical_gradient`` against ``net.gradient`` (backprop).

    An element passes when ``|n - b| <= atol + rtol * max(|n|, |b|)``.

    Parameters
    ----------
    net : TwoLayerNet or compatible
        Anything with ``params``, ``numerical_gradient(x, t)`` and ``gradient(x, t)``.
    x, t : array_like
        A batch and its labels or one-hot targets.
    rtol, atol : float
        Tolerances of the pass/fail check.
    strategy : {"auto", "structured", "brute"}
        Structured vs brute force: passed to ``numerical_gradient`` as its
        ``strategy`` (``TwoLayerNet``'s name), or as ``method`` to a net
        whose ``numerical_gradient`` takes that instead.
    h : float
        Step of the numerical gradient.
    floor : float
        Smallest denominator of the relative difference.
    method : str, optional
        Deprecated since 0.2.0 (removed in 0.3.0): the old name of ``strategy``.

    Returns
    -------
    GradCheckResult
        Truthy when it passes; ``.report()`` prints the per-parameter table.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    >>> x = np.random.default_rng(0).random((8, 5)); t = np.arange(8) % 3
    >>> bool(nnnum.gradcheck(net, x, t))
    True
    """
    for name, value in (("rtol", rtol), ("atol", atol), ("floor", floor)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if floor == 0:
        raise ValueError("floor must be > 0 (the smallest denominator of a relative difference)")
    if method is not None:
        if strategy != "auto":
            raise TypeError(
                "gradcheck got both strategy= and method=, its deprecated alias "
                f"(strategy={strategy!r}, method={method!r}): give strategy= only"
            )
        warnings.warn(
            "gradcheck(method=...) is deprecated since 0.2.0 and will be removed in 0.3.0: "
            f"use strategy={method!r}",
            DeprecationWarning,
            stacklevel=2,
        )
        strategy = method
    fn = net.numerical_gradient
    choice = {"strategy" if _takes(fn, "strategy") else "method": strategy}
    num = fn(x, t, **_supported(fn, **choice, h=h))
    bp = net.gradient(x, t)
    for what, grads in (("numerical_gradient", num), ("gradient", bp)):
        missing = [name for name in net.params if name not in grads]
        if missing:
            raise KeyError(
                f"net.params has {', '.join(map(repr, missing))}, which net.{what}(x, t) "
                f"does not return (it returns {', '.join(map(repr, grads))}): gradcheck "
                "compares every parameter"
            )
    out: dict[str, ParamDiff] = {}
    passed = True
    for name in net.params:
        n, b = _host(num[name]), _host(bp[name])
        ok, _, _, _, _ = compare(b, n, rtol=rtol, atol=atol, floor=floor, worst=0)
        diff = np.abs(n - b)
        scale = np.maximum(np.abs(n), np.abs(b))
        rel = diff / np.maximum(scale, floor)
        i = np.unravel_index(int(np.argmax(rel)), rel.shape) if rel.size else ()
        out[name] = ParamDiff(
            name=name,
            shape=tuple(n.shape),
            mean_abs=float(diff.mean()) if diff.size else 0.0,
            max_abs=float(diff.max()) if diff.size else 0.0,
            max_rel=float(rel.max()) if rel.size else 0.0,
            argmax_rel=tuple(int(v) for v in i),
            numerical=float(n[i]) if n.size else 0.0,
            backprop=float(b[i]) if b.size else 0.0,
        )
        passed &= ok
    return GradCheckResult(out, rtol, atol, passed)
