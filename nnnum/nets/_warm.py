"""A cold start's compiling, shared with one helper process.

The first structured gradient of a process whose Numba cache is empty compiles
its five kernels one after another (~2 s on 2 cores, almost all of a first
call), then the forward pass's kernels (~0.3 s). Numba compiles one function
at a time per process, so :func:`start` launches one helper interpreter
(running this module's :func:`main`) that compiles the same kernels into the
same cache, from the largest ones, needed late (``grad_hidden`` first), toward
the first needed, while the caller compiles from the first: each loads what
the other finished from the cache, and :func:`ready` makes the caller wait for
a kernel the helper is compiling at that moment (less than compiling it anew).
A kernel the caller needs before the helper has begun it is the caller's: it
says so (``take NAME`` on the helper's input), and the helper skips it (where
a ``take`` crosses the helper's start of that kernel, both compile it: CPU
time only). Nothing else changes: a kernel is the same machine code whichever
process compiled it.

Only where it pays: Numba's JIT and disk cache on, at least two CPUs for this
process, ``grad_hidden`` not in the cache yet, and ``NNNUM_WARM`` not ``0``.
Best effort: a helper that cannot start, fails or is slow costs nothing but
its own CPU; the caller then compiles the kernel itself, as without it. A
helper still running when the interpreter exits is stopped (a half-written
cache entry is never seen: Numba writes a temporary file and renames it).
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import os
import subprocess
import sys
import threading
from typing import Any

from numba import types

from .._core import jit as _jit

__all__ = ["SIGNATURES", "kernel", "module", "ready", "start"]

_F1 = types.Array(types.float64, 1, "C")
_F2 = types.Array(types.float64, 2, "C")
_F3 = types.Array(types.float64, 3, "C")
_I1 = types.Array(types.int64, 1, "C")
_U1 = types.Array(types.uint8, 1, "C")

#: (module, kernel, argument types), in the helper's order: the reverse of the order in which
#: ``nnnum train`` first needs them (the loss and accuracy's forward pass, then the structured
#: gradient's kernels), so that the caller compiles from the front, the helper from the back,
#: and each finds the other's work in the cache: the two largest kernels, needed last, come
#: first. (The accuracy has no kernel of its own: NumPy's argmax.) The types are those
#: the host code passes (every array C-ordered float64 / int64 / uint8): ``tests/nets/
#: test_warm.py`` checks that real calls compile nothing else. Not here: the input layer's
#: kernels (``_input_kernels``), which the caller needs first, when it needs them at all (the
#: 8x8 digits are too dense for them).
SIGNATURES: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
    (
        "_kernels",
        "grad_hidden",  # the task's number c, then the arrays and the loss's delta
        (types.int64, _I1, _I1, _F1, _F3, _F2, _F1, _F2, _F2, _F2, _F2)
        + (types.float64, _I1, _F2, _U1),
    ),
    ("_kernels", "grad_output", (_F2, _F2, _F1, _I1, _F2, _F2, _F2, types.float64, _F2, _U1)),
    ("_kernels", "actual_steps_stacked", (_F2, _F1, types.float64)),
    (
        "_kernels",
        "forward_rows",
        (types.int64, types.int64, _I1, _I1, _F1, _F2, _F1, _F2, _F1, _I1, _F2, _F2, _F2, _F1, _F3),
    ),
    ("_kernels", "sparse_rows", (_F2,)),
    (
        "_forward_kernels",
        "_output_serial",
        (_F2, _F1, _I1, _F2, types.boolean, types.float64, _F2, _F1, types.boolean),
    ),
    ("_forward_kernels", "_hidden_serial", (_F2, _F1)),
)
_SIGNATURE = {name: (module, sig) for module, name, sig in SIGNATURES}
_NAMES = frozenset(_SIGNATURE)

_lock = threading.Lock()
_started = False
_helper: subprocess.Popen[bytes] | None = None
_done: set[str] = set()
_taken: set[str] = set()  # the kernels this process compiles itself: the helper skips them
_skipped: set[str] = set()  # the kernels the helper said it skipped
_current = ""  # the kernel the helper is compiling
_changed = threading.Condition()
_finished = False
_pid = 0  # the process that started the helper (a forked child has no reader thread)


@functools.cache
def module(name: str) -> Any:
    """Kernel module ``name`` of this package, imported on first use."""
    return importlib.import_module(f"{__package__}.{name}")


def _kernel(module_name: str, name: str) -> Any:
    return getattr(module(module_name), name)


def kernel(module_name: str, name: str) -> Any:
    """Kernel ``name`` of ``module_name``, once a cold start's helper has cached it (see ready)."""
    ready(name)
    return _kernel(module_name, name)


def _cached(module: str, name: str, sig: tuple[Any, ...]) -> bool | None:
    """Whether the disk cache holds ``sig`` of the kernel: None where Numba does not say."""
    try:
        index = _kernel(module, name)._cache._cache_file._load_index()
        return any(key[0] == sig for key in index)
    except Exception:  # another Numba's internals: do not guess
        return None


def _wanted() -> bool:
    if os.environ.get("NNNUM_WARM", "1") == "0" or _jit.JIT_OFF or not _jit.cache_usable():
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS, Windows)
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return False
    module, name, sig = SIGNATURES[0]
    return _cached(module, name, sig) is False


def start() -> bool:
    """Launch the helper once per process where it pays (see the module); True if it runs."""
    global _started, _helper, _pid
    with _lock:
        if _started:
            return _helper is not None
        _started = True
        _pid = os.getpid()
        if not _wanted():
            return False
        try:
            _helper = subprocess.Popen(
                [sys.executable, "-c", _launcher()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=dict(os.environ),  # NUMBA_CACHE_DIR as here
            )
        except OSError:
            return False
        threading.Thread(target=_read, args=(_helper,), daemon=True, name="nnnum-warm").start()
        atexit.register(_stop)
        return True


def _launcher() -> str:
    """The helper's ``python -c`` code: this very nnnum on its path, then :func:`main`.

    The working directory, which ``-c`` (as ``-m``) puts first, is dropped: a
    folder holding another ``nnnum`` (a checkout, for an installed nnnum) or a
    ``numba`` would have the helper compile other kernels, into cache entries
    this process never reads. Where the path then finds another nnnum than this
    one (or none), this one's root goes first.

    SciPy is kept out (unless something imported it before): ``import numba``
    imports it for its version, and Numba's first compile ``scipy.linalg`` (0.1 s
    of the helper's start) only to learn whether BLAS is there for ``np.dot`` and
    its kin; no kernel of the table calls BLAS (the helper compiles every kernel
    of the table: ``tests/nets/test_warm.py``).
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    here = os.path.join(root, "nnnum", "__init__.py")
    return (
        "import os, sys, importlib.util as u\n"
        "sys.modules.setdefault('scipy', None)\n"
        "if sys.path and sys.path[0] in ('', os.getcwd()): del sys.path[0]\n"
        "s = u.find_spec('nnnum')\n"
        f"if s is None or os.path.realpath(s.origin or '') != os.path.realpath({here!r}):\n"
        f"    sys.path.insert(0, {root!r})\n"
        f"import {__name__} as w\n"
        "w.main()\n"
    )


def _read(helper: subprocess.Popen[bytes]) -> None:
    """The helper's reports (``start``, ``done``, ``skip`` NAME) into ``_current``, ``_done``..."""
    global _finished, _current
    assert helper.stdout is not None
    try:
        for line in helper.stdout:
            what, _, name = line.decode("ascii", "replace").strip().partition(" ")
            with _changed:
                if what == "start":
                    _current = name
                elif what == "done":
                    _done.add(name)
                elif what == "skip":
                    _skipped.add(name)
                _changed.notify_all()
    finally:
        helper.stdout.close()
        helper.wait()  # reaped: it has closed its end, so it is exiting
        if helper.stdin is not None:
            try:
                helper.stdin.close()
            except OSError:  # pragma: no cover
                pass
        with _changed:
            _finished = True
            _changed.notify_all()


def ready(name: str, timeout: float = 30.0) -> None:
    """Wait while the helper is compiling kernel ``name``; compile it here if it has not begun it.

    A kernel the helper has cached loads from the cache; one it has not begun
    is the caller's: taken, so that the helper skips it, and compiled before
    this returns (:func:`_compile`). Otherwise (no helper, or the kernel
    taken or done before) this returns at once.
    """
    if name in _done or name in _taken or _helper is None or name not in _NAMES:
        return
    if os.getpid() != _pid:
        return
    with _changed:
        _changed.wait_for(lambda: _current != name or name in _done or _finished, timeout)
        if name in _done or _finished or _current == name:
            return
        _taken.add(name)
    try:
        assert _helper.stdin is not None
        _helper.stdin.write(f"take {name}\n".encode("ascii"))
        _helper.stdin.flush()
    except (OSError, ValueError):  # the helper has exited (a closed pipe): nothing to say
        pass
    _compile(name)


def _compile(name: str) -> None:
    """Compile kernel ``name`` for its signature in :data:`SIGNATURES`, the cyclic GC off.

    The compiler's objects are garbage the moment it returns; the collector's
    passes over them while it runs cost a tenth of a compile's time. A call with
    other types than the table's (a read-only or strided array) compiles its own
    version as well, as it would without the helper, on a cold cache only.
    """
    module, sig = _SIGNATURE[name]
    enabled = gc.isenabled()
    gc.disable()
    try:
        _kernel(module, name).compile(sig)
    finally:
        if enabled:
            gc.enable()


def _stop() -> None:
    helper = _helper
    if helper is not None and os.getpid() == _pid and helper.poll() is None:
        helper.terminate()
        try:
            helper.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            helper.kill()


def main() -> None:
    """The helper: compile every kernel of :data:`SIGNATURES` in order, naming each when cached.

    With the cyclic garbage collector off: a process this short gains 7% of its
    time (0.24 s on 2 cores) for 30 MiB more at its peak.
    """
    gc.disable()
    taken: set[str] = set()
    threading.Thread(target=_takes, args=(taken,), daemon=True).start()
    for module, name, sig in SIGNATURES:
        if name in taken:  # the caller compiles it
            print("skip", name, flush=True)
            continue
        print("start", name, flush=True)
        _kernel(module, name).compile(sig)  # from the cache if the caller compiled it first
        print("done", name, flush=True)


def _takes(taken: set[str]) -> None:
    """The helper's reader of the caller's ``take NAME`` lines, until its input closes."""
    for line in sys.stdin:
        what, _, name = line.strip().partition(" ")
        if what == "take":
            taken.add(name)


if __name__ == "__main__":
    main()
