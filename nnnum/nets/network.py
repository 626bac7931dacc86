"""The book's networks: ``SimpleNet`` and ``TwoLayerNet``, with a fast numerical gradient."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, Final, Literal, cast

import numpy as np

from .. import backends as _backend
from .._core.regions import REGIONS
from .._core.validate import targets
from ..diff.api import numerical_gradient as _numerical_gradient
from ..diff.stencils import KINDS, stencil
from ..diff.steps import check_h
from ..functions import sigmoid, softmax
from ..losses import CE_DELTA, cross_entropy_error

__all__ = ["SimpleNet", "TwoLayerNet", "simpleNet"]

GradStrategy = Literal["auto", "structured", "brute"]
PARAM_NAMES = ("W1", "b1", "W2", "b2")
STRATEGIES = ("auto", "structured", "brute")
#: the words of :func:`nnnum.numerical_gradient`'s ``method=``: not an option of the net's gradient
STENCIL_WORDS = (*KINDS, "complex")


class _Default(str):
    """A default string that ``is`` tells apart from the same word passed explicitly."""

    __slots__ = ()


#: ``strategy``'s default: ``"auto"``, but ``strategy is _AUTO`` only when it was not given
_AUTO: Final = cast(GradStrategy, _Default("auto"))


class SimpleNet:
    """The book's one-layer net: weights ``W`` of shape (2, 3), softmax + cross-entropy.

    Parameters
    ----------
    seed : int or numpy.random.Generator, optional
        Draw ``W`` (standard normal) from this seed or Generator. Without it,
        ``W`` comes from NumPy's global random state as in the book
        (``np.random.randn(2, 3)``), so ``np.random.seed(0)`` before
        construction gives the book's weights.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> net = nnnum.SimpleNet(seed=0)
    >>> x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    >>> dW = nnnum.numerical_gradient(lambda w: net.loss(x, t), net.W)  # the book's idiom
    >>> dW.shape
    (2, 3)
    """

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        self.W = _randn(seed, (2, 3))

    def predict(self, x: Any) -> np.ndarray:
        """Logits ``x @ W``, for one sample of 2 inputs or a batch (N, 2)."""
        if x is None:
            raise TypeError("x is None; pass 2 inputs, e.g. np.array([0.6, 0.9])")
        xa = np.asarray(x)
        if np.issubdtype(xa.dtype, np.complexfloating) or not (
            np.issubdtype(xa.dtype, np.number) or xa.dtype == np.bool_
        ):
            raise TypeError(f"x must be real numbers, got dtype {xa.dtype}")
        w = np.asarray(self.W, dtype=np.float64)
        if xa.ndim not in (1, 2) or xa.shape[-1] != w.shape[0]:
            raise ValueError(
                f"x has shape {xa.shape} but W has {w.shape[0]} rows: expected "
                f"({w.shape[0]},) or (batch, {w.shape[0]})"
            )
        return xa.astype(np.float64) @ self.W

    def loss(self, x: Any, t: Any) -> float:
        """``cross_entropy_error(softmax(x @ W), t)``."""
        if type(self).predict is SimpleNet.predict:
            fast = _simple_loss(self.W, x, t)
            if fast is not None:
                return fast
        return float(cross_entropy_error(softmax(self.predict(x)), t))


#: The book's spelling (``ch04/gradient_simplenet.py``), so its scripts port unchanged.
simpleNet = SimpleNet


class TwoLayerNet:
    """The book's two-layer net: sigmoid hidden layer, softmax output, cross-entropy loss.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        Layer widths.
    weight_init_std : float
        Standard deviation of the initial weights (biases start at zero).
    seed : int or numpy.random.Generator, optional
        Draw the initial weights from this seed or Generator. Without it they
        come from NumPy's global random state exactly as in the book
        (``weight_init_std * np.random.randn(input_size, hidden_size)``, then
        the same for ``W2``; zero biases), so ``np.random.seed(0)`` before
        construction gives the book's initial weights.

    Attributes
    ----------
    params : dict
        ``W1`` (input, hidden), ``b1`` (hidden,), ``W2`` (hidden, output),
        ``b2`` (output,), float64, on the backend's device.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> net = nnnum.TwoLayerNet(4, 5, 3, seed=0)
    >>> x = np.random.default_rng(1).random((6, 4)); t = np.array([0, 1, 2, 0, 1, 2])
    >>> g_num, g_bp = net.numerical_gradient(x, t), net.gradient(x, t)
    >>> all(np.allclose(g_num[k], g_bp[k], atol=1e-8) for k in net.params)
    True
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        seed: int | np.random.Generator | None = None,
    ) -> None:
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
        if seed is not None and not isinstance(seed, np.random.Generator):
            # a Generator shared by both draws, in the book's order
            seed = np.random.default_rng(seed)
        xp = _backend.current().xp
        w1 = weight_init_std * _randn(seed, (input_size, hidden_size))
        w2 = weight_init_std * _randn(seed, (hidden_size, output_size))
        self.params: dict[str, Any] = {
            "W1": xp.asarray(w1),
            "b1": xp.zeros(hidden_size),
            "W2": xp.asarray(w2),
            "b2": xp.zeros(output_size),
        }

    # ------------------------------------------------------------------ helpers
    @property
    def input_size(self) -> int:
        """Inputs per sample (rows of ``W1``)."""
        return int(self._check_params()["W1"].shape[0])

    @property
    def output_size(self) -> int:
        """Classes (columns of ``W2``)."""
        return int(self._check_params()["W2"].shape[1])

    def _check_params(self) -> dict[str, Any]:
        """``params`` checked against each other, on the host, before any kernel sees them.

        ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, K), ``b2`` (K,), real numbers of
        the backend's array type. Inconsistent shapes are a clear error here,
        never an out-of-bounds read in a kernel.
        """
        p = getattr(self, "params", None)
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
            if dt == np.bool_ or not (
                np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer)
            ):
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

    def _check_perturbable(self, *, writable: bool) -> None:
        """Parameters a numerical gradient can perturb: float32/64, finite, writable in place."""
        p = self._check_params()
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

    def check_batch(self, x: Any, t: Any, name: str = "x") -> tuple[Any, Any]:
        """A whole batch ``x`` and its targets ``t``, checked as every method checks them.

        Parameters
        ----------
        x : array_like, shape (batch, input_size)
            Inputs (one sample alone is refused: this is for data sets).
        t : array_like
            Integer labels ``(batch,)`` or one-hot targets ``(batch, output_size)``.
        name : str
            What to call ``x`` in an error message (e.g. ``"the training set"``).

        Returns
        -------
        x, t : arrays of the backend
            ``x`` as float64; ``t`` as given.

        Examples
        --------
        >>> import numpy as np, nnnum
        >>> net = nnnum.TwoLayerNet(4, 3, 2, seed=0)
        >>> x, t = net.check_batch(np.ones((5, 4)), np.array([0, 1, 1, 0, 1]))
        >>> x.dtype, x.shape
        (dtype('float64'), (5, 4))
        """
        x = self._check_x(x, name, one_sample_ok=False)
        self._labels(x, t, f"the labels of {name}")
        return x, _backend.current().xp.asarray(t)

    def _check_x(self, x: Any, name: str = "x", *, one_sample_ok: bool = True) -> Any:
        """``x`` as float64 ``(batch, input_size)`` of the backend, or a clear error."""
        xp = _backend.current().xp
        if x is None:
            raise TypeError(f"{name} is None; pass a batch of shape (batch, {self.input_size})")
        x = xp.asarray(x)
        if np.issubdtype(x.dtype, np.complexfloating):
            raise TypeError(f"{name} is complex ({x.dtype}); the network takes real inputs")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
        x = x.astype(np.float64, copy=False)
        if x.ndim == 1 and one_sample_ok:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"{name} has shape {tuple(x.shape)} but the network takes {self.input_size} "
                f"inputs per sample: expected (batch, {self.input_size})"
            )
        if x.shape[0] == 0:
            raise ValueError(f"empty batch: {name} has no samples")
        bad = ~xp.isfinite(x).all(axis=1)
        if bool(bad.any()):
            raise ValueError(f"{name} contains NaN or inf (first in sample {int(xp.argmax(bad))})")
        return x

    def _labels(self, x: Any, t: Any, name: str = "the network output") -> tuple[str, Any]:
        """Classify and check ``t`` for the batch ``x`` (see ``nnnum._core.validate.targets``)."""
        xp = _backend.current().xp
        if t is None:
            raise TypeError(
                f"t is None; pass integer labels with shape ({x.shape[0]},) or one-hot targets "
                f"with shape ({x.shape[0]}, {self.output_size})"
            )
        t = xp.asarray(t)
        if t.ndim == 0:
            t = t[None]
        probe = xp.empty((x.shape[0], self.output_size))
        return targets(probe, t, xp, batch_name=name)

    # --------------------------------------------------------------- the book's API
    # Each method checks its inputs once (``_fast``) and runs one kernel per layer; anything
    # the fast path does not take (another backend, other dtypes, an error to report) goes
    # through the general code below it, which checks everything and names the problem.
    def predict(self, x: Any) -> Any:
        """Softmax probabilities, shape (batch, output_size)."""
        fast = self._fast(x, None)
        if fast is not None:
            z1 = fast[1]
            return _probabilities(z1 @ self.params["W2"], self.params["b2"])
        return self._predict_general(x)

    def _predict_general(self, x: Any) -> Any:
        x = self._check_x(x)
        p = self._check_params()
        z1 = sigmoid(x @ p["W1"] + p["b1"])
        return softmax(z1 @ p["W2"] + p["b2"])

    def loss(self, x: Any, t: Any) -> float:
        """The book's loss: ``cross_entropy_error(predict(x), t)`` (with its 1e-7 delta)."""
        fast = self._fast(x, t) if type(self).predict is TwoLayerNet.predict else None
        if fast is not None:
            x, z1, labels, tt, dense = fast
            a2 = z1 @ self.params["W2"]
            y = np.empty_like(a2)
            rows = np.empty(a2.shape[0])
            kern = _nk()._output_parallel if a2.size >= _PARALLEL_MIN else _nk()._output_serial
            if not kern(a2, self.params["b2"], labels, tt, dense, CE_DELTA, y, rows, True):
                return np.float64(np.sum(rows) / rows.shape[0])
        return self._loss_general(x, t)

    def _loss_general(self, x: Any, t: Any) -> float:
        x = self._check_x(x)
        self._labels(x, t)
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x: Any, t: Any) -> float:
        """Fraction of samples whose most probable class is the label (one-hot or label ``t``)."""
        own_predict = type(self).predict is TwoLayerNet.predict
        fast = self._fast(x, t) if own_predict and t is not None else None
        if fast is not None:
            x, z1, labels, tt, dense = fast
            y = _probabilities(z1 @ self.params["W2"], self.params["b2"], labels)
            if y is not None:
                kern = _nk()._hits_parallel if y.size >= _PARALLEL_MIN else _nk()._hits_serial
                return float(kern(y, labels, tt, dense)) / x.shape[0]
        return self._accuracy_general(x, t)

    def _accuracy_general(self, x: Any, t: Any) -> float:
        x = self._check_x(x)
        kind, tt = self._labels(x, t)
        y = self.predict(x).argmax(axis=1)
        labels = tt.argmax(axis=1) if kind == "dense" else tt
        return float((y == labels).sum()) / x.shape[0]

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """Backprop gradient of :meth:`loss`, keyed like ``params``.

        The exact derivative of the book's loss, delta included:
        ``dL/da2 = y * (g - sum(y * g))`` with ``g = -t / ((y + delta) N)``
        (the book's ``(y - t) / N`` is its ``delta -> 0`` limit).
        """
        fast = self._fast(x, t)
        # the kernel's row sum is NumPy's for rows of up to 128 classes
        if fast is not None and self.params["W2"].shape[1] <= _PW_BLOCK:
            x, z1, labels, tt, dense = fast
            p = self.params
            a2 = z1 @ p["W2"]
            y, da2, row = np.empty_like(a2), np.empty_like(a2), np.empty_like(a2)
            big = a2.size >= _PARALLEL_MIN
            kern = _nk()._output_grad_parallel if big else _nk()._output_grad_serial
            if not kern(a2, p["b2"], labels, tt, dense, CE_DELTA, y, da2, row):
                da1 = da2 @ p["W2"].T
                (_nk()._hidden_grad_parallel if big else _nk()._hidden_grad_serial)(da1, z1)
                # NumPy's own column sums: its summation order depends on the shape
                return {
                    "W1": x.T @ da1,
                    "b1": da1.sum(axis=0),
                    "W2": z1.T @ da2,
                    "b2": da2.sum(axis=0),
                }
        return self._gradient_general(x, t)

    def _gradient_general(self, x: Any, t: Any) -> dict[str, Any]:
        x = self._check_x(x)
        kind, tt = self._labels(x, t)
        xp = _backend.current().xp
        p = self._check_params()
        n = x.shape[0]
        a1 = x @ p["W1"] + p["b1"]
        z1 = sigmoid(a1)
        y = softmax(z1 @ p["W2"] + p["b2"])
        if kind == "labels":
            t1 = xp.zeros_like(y)
            t1[xp.arange(n), tt] = 1.0
        else:
            t1 = tt
        g = -t1 / ((y + CE_DELTA) * n)
        da2 = y * (g - (y * g).sum(axis=1, keepdims=True))
        dz1 = da2 @ p["W2"].T
        da1 = dz1 * z1 * (1.0 - z1)
        return {"W1": x.T @ da1, "b1": da1.sum(axis=0), "W2": z1.T @ da2, "b2": da2.sum(axis=0)}

    # ------------------------------------------------------------ the fast path
    def _fast(self, x: Any, t: Any) -> tuple[np.ndarray, np.ndarray, Any, Any, bool] | None:
        """``(x, z1, labels, targets, dense)`` for the kernels, or None: take the general path.

        ``z1`` is the hidden layer, ``sigmoid(x @ W1 + b1)``.

        One look at everything: the Numba backend, float64 parameters of
        consistent shapes, a real ``x`` of ``(batch, input_size)`` (or one
        sample) with no NaN or inf, and (unless ``t`` is None) targets of the
        batch's shape or integer labels; labels are range-checked in the kernel.
        """
        p = self.params
        if type(p) is not dict or not _backend.current().JIT or _backend.current().DEVICE:
            return None
        try:
            w1, b1, w2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
        except KeyError:
            return None
        for v in (w1, b1, w2, b2):
            if type(v) is not np.ndarray or v.dtype != np.float64:
                return None
        if w1.ndim != 2 or w2.ndim != 2 or b1.shape != (w1.shape[1],):
            return None
        d, hdim = w1.shape
        k = w2.shape[1]
        if w2.shape[0] != hdim or b2.shape != (k,) or d == 0 or hdim == 0 or k == 0:
            return None
        if type(x) is not np.ndarray or x.dtype.kind not in "biuf":
            return None
        if x.dtype != np.float64:
            x = x.astype(np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != d or x.shape[0] == 0:
            return None
        n = x.shape[0]
        if t is None:
            labels, tt, dense = _NO_LABELS, _NO_TARGETS, False
        elif type(t) is not np.ndarray:
            return None
        elif t.shape == (n, k) and t.dtype.kind in "biuf":
            tt = t if t.dtype in (np.float32, np.float64) else t.astype(np.float64)
            labels, dense = _NO_LABELS, True
        elif t.shape == (n,) and t.dtype.kind in "iu":
            labels, tt, dense = t.astype(np.int64, copy=False), _NO_TARGETS, False
        else:
            return None
        z1 = self._hidden(x)
        return None if z1 is None else (x, z1, labels, tt, dense)

    def _hidden(self, x: np.ndarray) -> np.ndarray | None:
        """``sigmoid(x @ W1 + b1)``: BLAS, then one pass in place; None if ``x`` is not finite.

        The pass counts the rows with a NaN or inf pre-activation, which every
        row of ``x`` with a NaN or inf has: only then is ``x`` itself scanned.
        """
        with np.errstate(all="ignore"):  # NaN or inf in x: an error, not first matmul's warning
            a1 = x @ self.params["W1"]
        if _sigmoid_rows(a1, self.params["b1"]):
            if not np.isfinite(x).all():
                return None
            a1 = x @ self.params["W1"]  # finite x overflowing: matmul warns, as it always did
            _sigmoid_rows(a1, self.params["b1"])
        return a1

    def numerical_gradient(
        self,
        x: Any,
        t: Any,
        *,
        strategy: GradStrategy = _AUTO,
        h: float = 1e-4,
        order: int = 2,
        workers: Any = None,
        method: GradStrategy | None = None,
    ) -> dict[str, Any]:
        """Central-difference gradient of :meth:`loss`, keyed like ``params``.

        Parameters
        ----------
        x : array_like, shape (batch, input_size)
        t : array_like
            Integer labels (batch,) or one-hot targets (batch, output_size).
        strategy : {"auto", "structured", "brute"}
            How the differences are evaluated. ``"structured"`` recomputes,
            for every perturbation of every parameter, only what it changes
            (one hidden unit or one logit), per sample, skipping samples a
            ``W1`` perturbation cannot reach (``x[n, i] == 0``): the same
            central differences, same ``h``, same perturbations as
            ``"brute"``, which is the book's loop (a full forward pass per
            perturbation) and works for any overridden :meth:`loss`.
            ``"auto"`` picks ``"structured"`` unless ``loss`` or ``predict``
            is overridden or the targets are soft.
        h : float
            Step, default ``1e-4``.
        order : {2, 4, 6, 8}
            Central stencil of that order (see :func:`nnnum.numerical_gradient`):
            ``order // 2`` structured passes, with steps ``h, 2h, ...``, combined
            with the stencil's weights; ``order`` evaluations per parameter for
            ``"brute"``.
        workers : int, callable, Executor or dask.distributed.Client, optional
            ``strategy="brute"`` only: evaluate the forward passes on other
            processes or machines (see :func:`nnnum.numerical_gradient`); the
            net travels with its parameters, and the result is bit-identical.
        method : {"auto", "structured", "brute"}, optional
            Deprecated alias of ``strategy`` (its name before 0.2.0; removed in
            0.3.0): it warns ``DeprecationWarning``. Giving both is a
            ``TypeError``, and so is a stencil (``"central"``, ``"forward"``,
            ...): the differences are always central, ``order`` picks their
            order.

        Returns
        -------
        dict
            Arrays shaped like ``params``.

        Raises
        ------
        ValueError
            An unknown ``strategy``; ``"structured"`` on an overridden
            ``loss`` or ``predict`` or on soft targets; ``workers`` without
            ``"brute"``.
        TypeError
            ``method`` with ``strategy``, or ``method`` given a stencil.

        See Also
        --------
        nnnum.numerical_gradient : the gradient of any ``f``, whose ``method=`` picks a stencil.

        Notes
        -----
        ``"structured"`` gives ``"brute"``'s central differences, to their
        rounding, for any input scale and step (raw pixels 0..255, ``x * 1e8``,
        ``h`` up to 1e3): a perturbation that pushes a hidden unit or a logit
        past the range of the fast formulas is recomputed exactly for that
        sample and parameter.

        Examples
        --------
        >>> import numpy as np, nnnum
        >>> net = nnnum.TwoLayerNet(4, 5, 3, seed=0)
        >>> x = np.random.default_rng(1).random((6, 4)); t = np.array([0, 1, 2, 0, 1, 2])
        >>> fast = net.numerical_gradient(x, t, strategy="structured")
        >>> brute = net.numerical_gradient(x, t, strategy="brute")  # the book's loop
        >>> all(np.allclose(fast[k], brute[k], rtol=0, atol=1e-9) for k in net.params)
        True
        """
        if method is not None:
            strategy = _strategy_from_method(method, strategy)
        if strategy not in STRATEGIES:
            hint = (
                ": a stencil is not an option of TwoLayerNet.numerical_gradient (its differences "
                "are central; order= picks their order)"
                if strategy in STENCIL_WORDS
                else ""
            )
            raise ValueError(
                f"strategy must be 'auto', 'structured' or 'brute', not {strategy!r}{hint}"
            )
        h = float(check_h(h))
        stencil(order, "central")  # an unknown order is an error before any work
        self._check_perturbable(writable=strategy == "brute")
        x = self._check_x(x)
        kind, tt = self._labels(x, t)
        book_loss = (
            type(self).loss is TwoLayerNet.loss and type(self).predict is TwoLayerNet.predict
        )
        if strategy == "auto":
            # the structured kernels know the book's loss on labels or one-hot rows; soft
            # targets (the book's 4.5.1 dummy t = np.random.rand(...)) take the brute force
            strategy = "structured" if book_loss and _is_label_like(kind, tt) else "brute"
        if workers is not None and strategy != "brute":
            raise ValueError(f"workers= needs strategy='brute' (got strategy={strategy!r})")
        if strategy == "brute":
            return self._brute_gradient(x, t, h, order, workers)
        if not book_loss:
            raise ValueError(
                "the structured gradient knows only the book's loss, but loss() or predict() is "
                "overridden: use strategy='brute'"
            )
        labels = _as_labels(kind, tt)
        from ._structured import structured_gradient

        return _structured_with_stencil(
            lambda step: structured_gradient(self.params, x, labels, step), h, order
        )

    def _brute_gradient(
        self, x: Any, t: Any, h: float, order: int = 2, workers: Any = None
    ) -> dict[str, Any]:
        if _backend.current().DEVICE:
            raise TypeError(
                "strategy='brute' runs on the CPU backends; use 'structured' on the GPU"
            )

        def f(_: Any) -> float:
            return float(self.loss(x, t))

        # f reads every parameter: hold them all, so that another thread's brute-force
        # pass over this net never sees (or causes) a perturbation midway
        out = {}
        with REGIONS.hold(*(self.params[key] for key in PARAM_NAMES)):
            for key in PARAM_NAMES:
                try:
                    # with workers, f and the parameter travel in one pickle: f's net holds it
                    out[key] = _numerical_gradient(
                        f, self.params[key], h=h, order=order, workers=workers
                    )
                except (ValueError, TypeError, FloatingPointError) as exc:
                    # name the parameter: inside, it is numerical_gradient's "x"
                    raise type(exc)(f"params[{key!r}] (as x): {exc}") from exc
        return out


def _structured_with_stencil(
    central: Callable[[float], dict[str, Any]], h: float, order: int
) -> dict[str, Any]:
    """A central stencil of ``order`` from the structured two-point differences at ``t h``.

    With ``D_t`` the two-point central difference over the step actually taken
    at ``t h``, the stencil is ``sum_t 2 t w_t D_t`` (``w_t`` its weight at
    offset ``+t``): order 2 is ``D_1`` itself, bit for bit.
    """
    st = stencil(order, "central")
    if order == 2:
        return central(h)
    total: dict[str, Any] = {}
    for t in range(1, order // 2 + 1):
        c = 2.0 * t * st.weights[st.offsets.index(t)]
        for key, g in central(t * h).items():
            total[key] = total[key] + c * g if key in total else c * g
    return total


@functools.cache
def _nk() -> Any:
    """The network kernels, imported on first use (``import nnnum`` compiles nothing)."""
    from . import _kernels

    return _kernels


#: Kernels on at least this many elements use their parallel variant (the backend's threshold).
_PARALLEL_MIN = 1 << 16
#: NumPy sums runs of up to this many elements directly (its pairwise summation's leaf).
_PW_BLOCK = 128
_NO_LABELS = np.zeros(0, dtype=np.int64)
_NO_TARGETS = np.zeros((0, 0))


def _sigmoid_rows(a1: np.ndarray, b1: np.ndarray) -> int:
    """``_hidden_serial(a1, b1)``, a large ``a1`` split by rows over the threads.

    No parallel loop to compile on a first call; each row is computed alone, so
    the result is the parallel kernel's bit for bit, for any thread count.
    """
    if a1.size < _PARALLEL_MIN:
        return int(_nk()._hidden_serial(a1, b1))
    from ._structured import _row_ranges, _run_tasks

    ranges = _row_ranges(a1.shape[0])
    bad = [0] * len(ranges)

    def task(c: int, lo: int, hi: int) -> None:
        bad[c] = _nk()._hidden_serial(a1[lo:hi], b1)

    _run_tasks([(task, (c, lo, hi)) for c, (lo, hi) in enumerate(ranges)])
    return int(sum(bad))


def _probabilities(a2: np.ndarray, b2: np.ndarray, labels: np.ndarray = _NO_LABELS) -> Any:
    """``softmax(a2 + b2)`` (``a2`` overwritten by the logits); None for a label out of range."""
    y = np.empty_like(a2)
    kern = _nk()._output_parallel if a2.size >= _PARALLEL_MIN else _nk()._output_serial
    dense = labels.shape[0] == 0
    if kern(a2, b2, labels, _NO_TARGETS, dense, CE_DELTA, y, _NO_ROWS, False):
        return None
    return y


_NO_ROWS = np.zeros(0)


def _simple_loss(w: Any, x: Any, t: Any) -> float | None:
    """SimpleNet's loss in one kernel, or None where the general path must check and report."""
    if type(w) is not np.ndarray or w.dtype != np.float64 or w.ndim != 2:
        return None
    if not _backend.current().JIT or _backend.current().DEVICE:
        return None
    if type(x) is not np.ndarray or x.dtype.kind not in "biuf" or x.ndim not in (1, 2):
        return None
    if x.shape[-1] != w.shape[0] or x.size == 0 or w.shape[1] == 0:
        return None
    z = x.astype(np.float64) @ w
    t = np.asarray(t)
    k = w.shape[1]
    z2 = z.reshape(-1, k)
    if t.shape == z.shape and t.dtype.kind in "biuf":
        tt = t.reshape(-1, k)
        if tt.dtype not in (np.float32, np.float64):
            tt = tt.astype(np.float64)
        labels, dense = _NO_LABELS, True
    elif t.shape == z.shape[:-1] and t.dtype.kind in "iu":
        tt, labels, dense = _NO_TARGETS, t.reshape(-1).astype(np.int64, copy=False), False
    else:
        return None
    rows = np.empty(z2.shape[0])
    if _nk()._output_serial(
        z2, _zeros(k), labels, tt, dense, CE_DELTA, np.empty_like(z2), rows, True
    ):
        return None
    return float(np.sum(rows) / rows.shape[0])


@functools.cache
def _zeros(k: int) -> np.ndarray:
    """A read-only zero bias of ``k`` classes (SimpleNet has none)."""
    z = np.zeros(k)
    z.flags.writeable = False
    return z


def _randn(seed: int | np.random.Generator | None, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws from ``seed`` (a Generator or a seed), else the global state (book)."""
    if seed is None:
        return np.random.randn(*shape)
    return np.random.default_rng(seed).standard_normal(shape)


def _is_label_like(kind: str, t: Any) -> bool:
    """Integer labels, or dense targets that are exactly one-hot rows."""
    if kind == "labels":
        return True
    return bool(((t == 0) | (t == 1)).all()) and bool((t.sum(axis=1) == 1).all())


def _strategy_from_method(method: Any, strategy: Any) -> Any:
    """``strategy`` from the deprecated ``method=`` (its name before 0.2.0), or a clear error."""
    if isinstance(method, str) and method in STENCIL_WORDS:
        raise TypeError(
            f"TwoLayerNet.numerical_gradient takes no stencil (method={method!r} is one of "
            "nnnum.numerical_gradient's): its differences are always central, order= picks "
            "their order; structured vs brute force is strategy="
        )
    if strategy is not _AUTO:
        raise TypeError(
            "TwoLayerNet.numerical_gradient got both strategy= and method=, its deprecated "
            f"alias (strategy={strategy!r}, method={method!r}): give strategy= only"
        )
    warnings.warn(
        "TwoLayerNet.numerical_gradient(method=...) is deprecated since 0.2.0 and will be "
        f"removed in 0.3.0: use strategy={method!r}",
        DeprecationWarning,
        stacklevel=3,
    )
    return method


def _as_labels(kind: str, t: Any) -> Any:
    """Integer labels from labels or exactly one-hot rows (else a clear error)."""
    if kind == "labels":
        return t
    labels = t.argmax(axis=1)
    xp = _backend.current().xp
    onehot = xp.zeros_like(t)
    onehot[xp.arange(t.shape[0]), labels] = 1.0
    if not bool((onehot == t).all()):
        raise ValueError(
            "the structured gradient needs integer labels or exactly one-hot targets; "
            "for soft targets use strategy='brute'"
        )
    return labels
