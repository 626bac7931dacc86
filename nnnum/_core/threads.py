"""The threading layer: fork-safe and thread-safe by default.

Numba picks its threading layer when the first parallel kernel runs. With the
pip wheels that is GNU OpenMP unless Intel TBB can be loaded, and a process
forked after a GNU OpenMP parallel region has run dies
(``multiprocessing``'s default start method on Linux before Python 3.14);
the ``workqueue`` fallback aborts when two threads launch kernels at once.
TBB is both fork-safe and thread-safe (Numba's ``safe`` layer). The ``tbb``
wheel puts ``libtbb.so.12`` in ``<prefix>/lib``, where Numba's TBB extension
cannot find it: :func:`configure` loads it by path first, so the extension
links against the loaded copy, and asks Numba for the ``safe`` layer.

An explicit ``NUMBA_THREADING_LAYER`` is always respected.

Nested parallelism: TBB and OpenMP run a parallel region launched from inside
another one (a user's ``parallel=True`` function called from nnnum's
``prange`` kernel); ``workqueue`` cannot, and aborts the whole process
("Numba workqueue threading layer is terminating"). :func:`nests` tells the
kernels which case they are in, from the layer actually loaded.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["configure", "tbb_loaded", "active_layer", "nests"]

_TBB_NAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}
_state: dict[str, object] = {}


def _tbb_candidates() -> list[Path]:
    name = _TBB_NAMES.get(sys.platform)
    if name is None:
        return []
    found = []
    try:
        from importlib.metadata import PackageNotFoundError, files

        try:
            for entry in files("tbb") or []:
                if entry.name == name:
                    found.append(Path(str(entry.locate())).resolve())
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover (Python < 3.8)
        pass
    for prefix in {sys.prefix, sys.exec_prefix, sys.base_prefix}:
        sub = "Library/bin" if sys.platform == "win32" else "lib"
        found.append(Path(prefix) / sub / name)
    return found


def _load_tbb() -> bool:
    for path in _tbb_candidates():
        if path.is_file():
            try:
                ctypes.CDLL(str(path), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
                return True
            except OSError:
                continue
    return False


def configure() -> None:
    """Make TBB loadable and ask Numba for the ``safe`` layer, unless the user chose one.

    Idempotent and cheap (one ``dlopen``); compiles and starts nothing.
    """
    if "done" in _state:
        return
    _state["done"] = True
    _state["tbb"] = _load_tbb()
    if os.environ.get("NUMBA_THREADING_LAYER", "").strip():
        return
    import numba

    config: Any = numba.config  # its settings are set at import: typed by getattr only
    if _state["tbb"] and config.THREADING_LAYER == "default" and _numba_tbb_usable():
        config.THREADING_LAYER = "safe"


def _numba_tbb_usable() -> bool:
    """Numba's TBB layer imports against the loaded library and accepts its version."""
    try:
        from numba.np.ufunc import parallel, tbbpool  # type: ignore[attr-defined]  # noqa: F401

        parallel._check_tbb_version_compatible()
    except Exception:
        return False
    return True


def tbb_loaded() -> bool:
    """Whether :func:`configure` found and loaded the TBB library."""
    return bool(_state.get("tbb", False))


def active_layer() -> str:
    """The layer Numba runs parallel kernels with: ``"tbb"``, ``"omp"`` or ``"workqueue"``.

    Numba loads its layer when the first parallel kernel runs; this loads it
    now if nothing has yet (the same choice, from :func:`configure`'s settings
    and ``NUMBA_THREADING_LAYER``), so that the answer is the layer in use.
    """
    import numba
    from numba.np.ufunc import parallel

    configure()
    try:
        return str(numba.threading_layer())
    except ValueError:  # not loaded yet
        parallel._launch_threads()
        return str(numba.threading_layer())


def nests() -> bool:
    """Whether a parallel region may start inside another one (False under ``workqueue``).

    Decided once, from :func:`active_layer` (the layer cannot change once
    loaded). Under ``workqueue`` the ``prange`` engine runs every user ``f``
    from its serial kernel: an ``f`` may reach a ``parallel=True`` function in
    ways no inspection of its source sees (a module attribute, an argument, a
    function chosen at run time), and one nested launch aborts the process.
    """
    got = _state.get("nests")
    if got is None:
        got = _state["nests"] = active_layer() != "workqueue"
    return bool(got)
