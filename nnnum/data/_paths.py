"""The data folder and the words for what is wrong with a path.

:func:`default_data_dir` (``NNNUM_DATA_DIR``, else the user's cache folder),
where a folder came from (an argument, the environment variable, the default)
and the hint each origin gives; the checks that a path can be used at all, and
what keeps it from being a folder (a file above it, a symbolic link loop, a
dangling link), in words that the loader's and the downloader's messages share.
"""

from __future__ import annotations

import errno
import os
import shlex
import stat
from pathlib import Path

from .errors import DataAccessError

__all__ = ["default_data_dir"]

#: Bytes per read or write of a data file (IDX data, MD5 checks, download chunks).
_CHUNK = 1 << 20


def default_data_dir() -> Path:
    """The MNIST folder used when :func:`load_mnist` or :func:`download_mnist` get none.

    In order: the environment variable ``NNNUM_DATA_DIR`` if set (the folder
    itself, holding the ``.gz`` files); else ``nnnum/mnist`` under
    ``XDG_CACHE_HOME`` if that is set to an absolute path; else under
    ``%LOCALAPPDATA%`` on Windows; else ``~/.cache/nnnum/mnist``. Nothing is
    created here.

    Returns
    -------
    Path

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> from nnnum.data import default_data_dir
    >>> with mock.patch.dict(os.environ, {"NNNUM_DATA_DIR": "/data/mnist"}):
    ...     print(default_data_dir().as_posix())
    /data/mnist
    >>> with mock.patch.dict(os.environ, {"XDG_CACHE_HOME": "/tmp/cache"}):
    ...     _ = os.environ.pop("NNNUM_DATA_DIR", None)
    ...     print(default_data_dir().as_posix())
    /tmp/cache/nnnum/mnist
    """
    explicit = os.environ.get("NNNUM_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    local = os.environ.get("LOCALAPPDATA") if os.name == "nt" else None
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    elif local:
        base = Path(local)
    else:
        base = Path.home() / ".cache"
    return base / "nnnum" / "mnist"


def _download_hint(folder: Path | str) -> str:
    return (
        f"run `nnnum download {shlex.quote(str(folder))}` where the internet is reachable "
        "(or copy the four MNIST .gz files there)"
    )


def _other_folder_hint(origin: str) -> str:
    """How to use another folder, given where the folder came from (see :func:`_resolve_dir`)."""
    if origin == "env":
        value = os.environ.get("NNNUM_DATA_DIR", "")
        return (
            f"point NNNUM_DATA_DIR (now {value!r}) at one, or pass data_dir=, or unset "
            "NNNUM_DATA_DIR to use the default folder"
        )
    if origin == "default":
        return "set NNNUM_DATA_DIR to one, or pass data_dir="
    return "give another folder"


def _origin_words(origin: str) -> str:
    return {"env": " (from NNNUM_DATA_DIR)", "default": " (the default data folder)"}.get(
        origin, ""
    )


def _resolve_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The folder and where it came from: ``"env"``, ``"default"`` or ``"argument"``."""
    if data_dir is not None:
        return _usable_path(Path(data_dir), "argument"), "argument"
    origin = "env" if os.environ.get("NNNUM_DATA_DIR") else "default"
    return _usable_path(default_data_dir(), origin), origin


def _short(path: Path) -> str:
    text = str(path)
    return repr(text) if len(text) <= 80 else repr(text[:77]) + "..."


def _usable_path(root: Path, origin: str) -> Path:
    """``root`` if the operating system can take it as a path, else a DataAccessError naming it.

    A NUL byte or a name longer than the file system allows fails every later
    file operation with a raw ``ValueError`` or ``OSError``: said once, here.
    """
    try:
        os.stat(root)
    except FileNotFoundError:
        pass  # a folder that can still be made
    except ValueError as exc:  # embedded NUL byte
        raise DataAccessError(
            f"the MNIST data folder {str(root)!r}{_origin_words(origin)} is not a usable path "
            f"({exc}); {_other_folder_hint(origin)}"
        ) from exc
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL):
            raise DataAccessError(
                f"the MNIST data folder {_short(root)}{_origin_words(origin)} is not a "
                f"usable path ({_reason(exc)}); {_other_folder_hint(origin)}"
            ) from exc
    return root


def _path_problem(path: Path, *, folder: bool = True) -> str | None:
    """What keeps ``path`` from being (or becoming) a folder, in words; None if nothing does.

    Walks from the top: the first component that is a file (``path`` itself
    only when ``folder``), a symbolic link loop or a link to nothing is named; a
    component that simply does not exist yet (it could be created) ends the walk.
    """
    for p in [*reversed(path.parents), path]:
        try:
            st = os.stat(p)
        except OSError as exc:
            if os.path.islink(p):
                target = _readlink(p)
                if exc.errno == errno.ELOOP:
                    return f"{p} is a symbolic link loop ({p} -> {target})"
                return f"{p} is a symbolic link to {target}, which does not exist"
            if exc.errno == errno.ELOOP:
                return f"{p} is inside a symbolic link loop"
            if exc.errno == errno.ENOENT:
                return None
            return f"{p}: {exc.strerror or exc}"
        if not _is_dir_mode(st.st_mode) and (folder or p != path):
            return f"{p} is a file, not a folder"
    return None


def _is_dir_mode(mode: int) -> bool:
    return stat.S_ISDIR(mode)


def _readlink(p: Path) -> str:
    try:
        return os.readlink(p)
    except OSError:  # pragma: no cover (it was a link a moment ago)
        return "?"


def _reason(exc: OSError) -> str:
    """The operating system's reason, without the errno decoration."""
    return exc.strerror or str(exc) or type(exc).__name__
