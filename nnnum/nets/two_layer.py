"""The book's ``TwoLayerNet``: sigmoid hidden layer, softmax output, cross-entropy loss.

Its checks are :mod:`._params` and :mod:`._inputs`, its fast path :mod:`._fastpath`
(kernels in :mod:`._forward_kernels`), its structured numerical gradient
:mod:`._structured` (kernels in :mod:`._kernels` and :mod:`._batched`), its
``strategy=`` :mod:`._strategy`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends as _backend
from .._core.jit import PARALLEL_MIN_SIZE
from .._core.regions import REGIONS
from ..diff.api import numerical_gradient as _numerical_gradient
from ..diff.stencils import stencil
from ..diff.steps import check_h
from ..functions import sigmoid, softmax
from ..losses import CE_DELTA, cross_entropy_error
from ._fastpath import PW_BLOCK, FastInputs, fast_inputs, kernel, probabilities
from ._input_layer import compress, product, product_t
from ._inputs import as_labels, check_x, is_label_like
from ._inputs import labels as labels_of
from ._params import PARAM_NAMES, check_layers, check_params, check_perturbable, randn
from ._strategy import AUTO, GradStrategy, check_strategy, strategy_from_method

__all__ = ["TwoLayerNet"]


def _hit_rate(y: Any, labels: Any) -> float:
    """The fraction of rows of ``y`` whose ``argmax`` is the label: the book's accuracy.

    The array's own ``argmax`` (NumPy's or CuPy's): a NaN is a row's maximum, the first
    of equals wins. One rule for the fast path and the general one.
    """
    return float((y.argmax(axis=1) == labels).sum()) / y.shape[0]


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
        check_layers(input_size, hidden_size, output_size, weight_init_std)
        if seed is not None and not isinstance(seed, np.random.Generator):
            # a Generator shared by both draws, in the book's order
            seed = np.random.default_rng(seed)
        xp = _backend.current().xp
        w1 = weight_init_std * randn(seed, (input_size, hidden_size))
        w2 = weight_init_std * randn(seed, (hidden_size, output_size))
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
        """``params`` checked against each other (:func:`._params.check_params`)."""
        return check_params(getattr(self, "params", None))

    def _check_perturbable(self, *, writable: bool) -> None:
        """Parameters a numerical gradient can perturb (:func:`._params.check_perturbable`)."""
        check_perturbable(getattr(self, "params", None), writable=writable)

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
        """``x`` as float64 ``(batch, input_size)`` of the backend (:func:`._inputs.check_x`)."""
        return check_x(self, x, name, one_sample_ok=one_sample_ok)

    def _labels(self, x: Any, t: Any, name: str = "the network output") -> tuple[str, Any]:
        """Classify and check ``t`` for the batch ``x`` (:func:`._inputs.labels`)."""
        return labels_of(self, x, t, name)

    # --------------------------------------------------------------- the book's API
    # Each method checks its inputs once (``_fast``) and runs one kernel per layer; anything
    # the fast path does not take (another backend, other dtypes, an error to report) goes
    # through the general code below it, which checks everything and names the problem.
    def predict(self, x: Any) -> Any:
        """Softmax probabilities, shape (batch, output_size)."""
        fast = self._fast(x, None)
        if fast is not None:
            z1 = fast[1]
            return probabilities(z1 @ self.params["W2"], self.params["b2"])
        return self._predict_general(x)

    def _predict_general(self, x: Any) -> Any:
        x = self._check_x(x)
        p = self._check_params()
        z1 = sigmoid(product(x, p["W1"]) + p["b1"])
        return softmax(z1 @ p["W2"] + p["b2"])

    def loss(self, x: Any, t: Any) -> float:
        """The book's loss: ``cross_entropy_error(predict(x), t)`` (with its 1e-7 delta)."""
        # no targets: the general path names the problem (the kernel would read no labels)
        own_predict = type(self).predict is TwoLayerNet.predict
        fast = self._fast(x, t) if own_predict and t is not None else None
        if fast is not None:
            x, z1, labels, tt, dense, _ = fast
            a2 = z1 @ self.params["W2"]
            y = np.empty_like(a2)
            rows = np.empty(a2.shape[0])
            kern = kernel("_output_parallel" if a2.size >= PARALLEL_MIN_SIZE else "_output_serial")
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
            x, z1, labels, tt, dense, _ = fast
            y = probabilities(z1 @ self.params["W2"], self.params["b2"], labels)
            if y is not None:
                return _hit_rate(y, tt.argmax(axis=1) if dense else labels)
        return self._accuracy_general(x, t)

    def _accuracy_general(self, x: Any, t: Any) -> float:
        x = self._check_x(x)
        kind, tt = self._labels(x, t)
        return _hit_rate(self.predict(x), tt.argmax(axis=1) if kind == "dense" else tt)

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """Backprop gradient of :meth:`loss`, keyed like ``params``.

        The exact derivative of the book's loss, delta included:
        ``dL/da2 = y * (g - sum(y * g))`` with ``g = -t / ((y + delta) N)``
        (the book's ``(y - t) / N`` is its ``delta -> 0`` limit).
        """
        fast = self._fast(x, t) if t is not None else None
        # the kernel's row sum is NumPy's for rows of up to 128 classes
        if fast is not None and self.params["W2"].shape[1] <= PW_BLOCK:
            x, z1, labels, tt, dense, compressed = fast
            p = self.params
            a2 = z1 @ p["W2"]
            y, da2, row = np.empty_like(a2), np.empty_like(a2), np.empty_like(a2)
            big = a2.size >= PARALLEL_MIN_SIZE
            kern = kernel("_output_grad_parallel" if big else "_output_grad_serial")
            if not kern(a2, p["b2"], labels, tt, dense, CE_DELTA, y, da2, row):
                da1 = da2 @ p["W2"].T
                kernel("_hidden_grad_parallel" if big else "_hidden_grad_serial")(da1, z1)
                # NumPy's own column sums: its summation order depends on the shape
                return {
                    "W1": product_t(x, da1, compressed),
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
        c = compress(x)
        z1 = sigmoid(product(x, p["W1"], c) + p["b1"])
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
        return {
            "W1": product_t(x, da1, c),
            "b1": da1.sum(axis=0),
            "W2": z1.T @ da2,
            "b2": da2.sum(axis=0),
        }

    # ------------------------------------------------------------ the fast path
    def _fast(self, x: Any, t: Any) -> FastInputs | None:
        """The fast path's inputs, or None: see :func:`._fastpath.fast_inputs`."""
        return fast_inputs(self.params, x, t)

    def numerical_gradient(
        self,
        x: Any,
        t: Any,
        *,
        strategy: GradStrategy = AUTO,
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
            strategy = strategy_from_method(method, strategy)
        check_strategy(strategy)
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
            strategy = "structured" if book_loss and is_label_like(kind, tt) else "brute"
        if workers is not None and strategy != "brute":
            raise ValueError(f"workers= needs strategy='brute' (got strategy={strategy!r})")
        if strategy == "brute":
            return self._brute_gradient(x, t, h, order, workers)
        if not book_loss:
            raise ValueError(
                "the structured gradient knows only the book's loss, but loss() or predict() is "
                "overridden: use strategy='brute'"
            )
        labels = as_labels(kind, tt)
        from ._structured import structured_gradient, structured_with_stencil

        return structured_with_stencil(
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
