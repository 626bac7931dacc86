"""Starting processes: the start method, and the ``__main__`` guard a new process needs."""

from __future__ import annotations

import ast
import sys
import tokenize
from typing import Any

__all__ = ["guard_message", "mp_context", "unguarded_main"]

#: The package a forkserver preloads: every worker-side function is importable from it.
_PRELOAD = __name__.rpartition(".")[0]


def mp_context() -> Any:
    """``forkserver`` on Linux (nnnum preloaded in the server), ``spawn`` elsewhere."""
    import multiprocessing as mp

    if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        try:  # add ourselves to the preload (only used when the server starts)
            from multiprocessing import forkserver

            mods = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
            if _PRELOAD not in mods:
                ctx.set_forkserver_preload(mods + [_PRELOAD])
        except Exception:  # pragma: no cover (a private attribute changed)
            pass
        return ctx
    return mp.get_context("spawn")


def _mentions_name(test: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(test))


def unguarded_main() -> tuple[str, int] | None:
    """Where the main module's unguarded top-level code runs this call, if it does.

    ``(path, line)`` when the main module's top-level code, outside an
    ``if __name__ == "__main__":`` block, is what is running this call.
    Every process that ``spawn`` or ``forkserver`` starts imports the main
    module again (as ``__mp_main__``; a package's ``__main__`` excepted), so
    such a call would run again in each new process and fail there while the
    process bootstraps. ``None`` when the main module is not a file (``-c``,
    an interactive session, a notebook), is not running its top level, or
    the line is inside any ``if`` that tests ``__name__``.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str):
        return None
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if isinstance(name, str) and (name == "__main__" or name.endswith(".__main__")):
        return None  # multiprocessing does not import a package's __main__ again
    frame: Any = sys._getframe(1)
    while frame is not None and not (
        frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)
    ):
        frame = frame.f_back
    if frame is None or frame.f_lineno is None:
        return None
    line = frame.f_lineno
    try:
        with tokenize.open(path) as fh:
            tree = ast.parse(fh.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and _mentions_name(node.test)
            and node.lineno <= line <= (node.end_lineno or node.lineno)
        ):
            return None
    return path, line


def guard_message(guard: tuple[str, int], who: str) -> str:
    """Why new processes fail when the main module calls from its unguarded top level."""
    path, line = guard
    return (
        f"{who} import the main module {path} again, which calls numerical_gradient from its "
        f'top-level code (line {line}) outside an `if __name__ == "__main__":` block, so '
        "each new process would run the call again: the main module needs that guard (put "
        "the script's top-level code under it)"
    )
