"""``f`` and ``x`` in one cloudpickle payload: views of ``x``'s memory stay views of one array."""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from ...._core.regions import REGIONS

__all__ = ["make_payload"]


# ------------------------------------------------------------ pickling f and x
def _root(a: np.ndarray) -> np.ndarray:
    """The last ndarray in ``a``'s chain of bases (the array a view was taken from)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _view_of(
    root: np.ndarray,
    offset: int,
    shape: tuple[int, ...],
    strides: tuple[int, ...],
    dtype: np.dtype,
    cls: type,
    state: dict | None,
) -> np.ndarray:
    """Rebuild a view of ``root`` (unpickling side of :class:`_Pickler`)."""
    raw = root.reshape(-1, order="A").view(np.uint8)
    v = np.ndarray(shape, dtype=dtype, buffer=raw, offset=offset, strides=strides)
    if cls is not np.ndarray:
        v = v.view(cls)
        if state:
            v.__dict__.update(state)
    return v


def _pickler_class() -> type:
    import cloudpickle

    class _Pickler(cloudpickle.Pickler):
        """cloudpickle that notes (``preserve=False``) or keeps (``True``) views of one array."""

        def __init__(self, file: Any, root: np.ndarray, preserve: bool) -> None:
            super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
            self._nn_root, self._nn_preserve = root, preserve
            self.nn_sharing: set[int] = set()

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, np.ndarray) and _root(obj) is self._nn_root:
                self.nn_sharing.add(id(obj))
                if self._nn_preserve and obj is not self._nn_root:
                    root = self._nn_root
                    offset = (
                        obj.__array_interface__["data"][0] - root.__array_interface__["data"][0]
                    )
                    state = dict(obj.__dict__) if hasattr(obj, "__dict__") else None
                    return _view_of, (
                        root,
                        offset,
                        obj.shape,
                        obj.strides,
                        obj.dtype,
                        type(obj),
                        state,
                    )
                if type(obj) is np.ndarray:
                    return NotImplemented
            return super().reducer_override(obj)

    return _Pickler


def _dumps_payload(f: Any, fx: Any) -> bytes:
    """``(f, fx)`` in one pickle; views of ``fx``'s memory stay views of one array."""
    cls = _pickler_class()
    root = _root(fx) if isinstance(fx, np.ndarray) else None
    buf = io.BytesIO()
    p = cls(buf, root, False)
    p.dump((f, fx))
    if len(p.nn_sharing) < 2 or root is None:
        return buf.getvalue()
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        return buf.getvalue()  # pragma: no cover (a non-contiguous owner of memory)
    buf = io.BytesIO()
    cls(buf, root, True).dump((f, fx))
    return buf.getvalue()


def make_payload(f: Any, fx: Any, arr: np.ndarray) -> bytes:
    """``(f, fx)`` pickled while ``arr`` (``fx``'s memory) is held; clear errors."""
    try:
        import cloudpickle  # noqa: F401
    except ImportError as exc:  # pragma: no cover (an install without the extra)
        raise ImportError("workers= needs cloudpickle: pip install 'nnnum[distributed]'") from exc
    with REGIONS.hold(arr):  # x as it is now: no other thread's perturbation in the snapshot
        try:
            return _dumps_payload(f, fx)
        except Exception as exc:
            raise TypeError(
                f"workers: f and x must be picklable (with cloudpickle) to be sent to the "
                f"workers: {type(exc).__name__}: {exc}"
            ) from exc
