"""Downloading the MNIST files: :func:`download_mnist`, checksummed and atomic.

Each file streams into a temporary ``.part`` file beside its place, under one
deadline for the whole transfer and a cap on its size, and is renamed into
place only once its MD5 matches. The folders a failed call made are removed
again; ``.part`` files left by a download that died are cleaned up.
:func:`~nnnum.data.load_mnist` uses the same path (``_fetch_missing_into_default``)
for the files missing from the default folder.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import math
import numbers
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._paths import (
    _CHUNK,
    _download_hint,
    _origin_words,
    _other_folder_hint,
    _path_problem,
    _reason,
    _resolve_dir,
)
from .errors import (
    DataAccessError,
    DataDownloadError,
    DataError,
    DataFormatError,
    DataNotFoundError,
)

__all__ = ["download_mnist", "MNIST_FILES", "MNIST_SIZES", "MNIST_MIRROR", "DOWNLOAD_MAX_BYTES"]

# name: (MD5, size in bytes) of the gzip files on the public mirrors
_STANDARD_FILES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
}
#: The four standard files and the MD5 of the gzip files on the public mirrors.
MNIST_FILES: dict[str, str] = {name: md5 for name, (md5, _) in _STANDARD_FILES.items()}
#: The size in bytes of each of those files (a download is cut off past it).
MNIST_SIZES: dict[str, int] = {name: size for name, (_, size) in _STANDARD_FILES.items()}
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
#: Most bytes :func:`download_mnist` reads for a file whose size it does not know.
DOWNLOAD_MAX_BYTES = 64 * 2**20
# A leftover ``.part`` file untouched for this long is from a download that died.
_STALE_PART_SECONDS = 3600.0
_HEX = set("0123456789abcdef")
# Deadline in seconds of each file's download, unless the caller gives another.
_TIMEOUT = 300.0


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    files: dict[str, str | tuple[str, int]] | None = None,
    timeout: float = _TIMEOUT,
) -> list[Path]:
    """Download the MNIST files into ``data_dir``, checking each MD5, writing atomically.

    Files already present with the right checksum are kept. Each download
    streams into a temporary file in ``data_dir`` and is renamed into place
    only after its checksum matches, so an interrupted or corrupt download
    never leaves a file that looks complete. A download reads at most the
    file's expected size (plus one byte, to notice more): the standard files'
    sizes are known (:data:`MNIST_SIZES`), other files are cut off at
    :data:`DOWNLOAD_MAX_BYTES` (64 MiB).

    A failed call removes the folders it created (those still empty: a file
    completed and checksummed before the failure is kept for the next try).
    Temporary ``.part`` files left by a download that died (a killed process)
    are never reused: they are removed when their file is downloaded again,
    at once if untouched for an hour, and in any case once the file is in
    place (a download still running elsewhere then finds it there).

    Parameters
    ----------
    data_dir : path, optional
        Created if needed; None: :func:`default_data_dir`.
    base_url : str, optional
        Mirror URL, with or without a trailing ``/`` (default :data:`MNIST_MIRROR`).
    files : dict, optional
        File name -> MD5 hex digest, or -> ``(md5, size in bytes)`` (default
        :data:`MNIST_FILES`).
    timeout : float
        Deadline in seconds for each file, connection and whole transfer
        included, so that a server that trickles bytes fails too. The default,
        300, needs 33 kB/s for the largest file (9.9 MB).

    Returns
    -------
    list of Path
        The files, in the order of ``files``.

    Raises
    ------
    DataDownloadError
        Connection refused or dropped, an HTTP error, the deadline passed, or
        more bytes than the file can have; the message names the file and URL.
    DataFormatError
        The downloaded file has the wrong MD5 (the local copy is left alone).
    DataNotFoundError
        ``data_dir`` is a file.
    DataAccessError
        ``data_dir`` cannot be created (a symbolic link loop or dangling link,
        a file above it, a special or read-only file system, no permission) or
        a file in it cannot be read or written (permission, a full disk); the
        message names the path and says what to do, the operating system's
        error is its ``__cause__``.

    Examples
    --------
    A file already there with the right checksum is kept, without network:

    >>> import hashlib, tempfile, pathlib
    >>> from nnnum.data import download_mnist
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "x.gz").write_bytes(b"data")
    >>> md5 = hashlib.md5(b"data").hexdigest()
    >>> [p.name for p in download_mnist(root, files={"x.gz": md5})]
    ['x.gz']
    """
    if not (isinstance(timeout, numbers.Real) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    entries = _file_entries(MNIST_FILES if files is None else files)
    root, origin = _resolve_dir(data_dir)
    return _download_into(root, origin, _base_url(base_url), entries, timeout)


def _base_url(base_url: str | None) -> str:
    base = MNIST_MIRROR if base_url is None else base_url
    return base if base.endswith("/") else base + "/"


def _download_into(
    root: Path,
    origin: str,
    base: str,
    entries: dict[str, tuple[str, int | None]],
    timeout: float,
) -> list[Path]:
    """Fetch the ``entries`` not yet in ``root``; on failure remove the folders made here."""
    if root.exists() and not root.is_dir():
        raise DataNotFoundError(
            f"{root}{_origin_words(origin)} is a file, not a folder: use a folder to download "
            f"the MNIST files into: {_other_folder_hint(origin)}"
        )
    created = _make_folders(root, origin)
    try:
        paths = []
        for name, (md5, size) in entries.items():
            dest = root / name
            if not (dest.is_file() and _md5_file(dest) == md5):
                _remove_parts(dest, older_than=_STALE_PART_SECONDS)
                _fetch(base + _quote(name), dest, md5, size, timeout, origin)
            _remove_parts(dest, older_than=0.0)  # the file is in place: leftovers are stale
            paths.append(dest)
    except BaseException:
        _remove_empty_folders(created)
        raise
    return paths


def _make_folders(root: Path, origin: str) -> list[Path]:
    """Create ``root`` and its missing parents; the folders created, outermost first."""
    todo = []
    p = root
    while not os.path.lexists(p) and p.parent != p:  # lexists: a dangling link is there
        todo.append(p)
        p = p.parent
    created: list[Path] = []
    for folder in reversed(todo):
        try:
            os.mkdir(folder)
        except FileExistsError as exc:
            if os.path.isdir(folder):  # made meanwhile, by another process
                continue
            _remove_empty_folders(created)
            raise _create_error(root, origin, exc) from exc
        except OSError as exc:
            _remove_empty_folders(created)
            raise _create_error(root, origin, exc) from exc
        created.append(folder)
    try:
        with os.scandir(root):  # a dangling link, a link loop, a folder that cannot be read
            pass
    except OSError as exc:
        _remove_empty_folders(created)
        raise _create_error(root, origin, exc) from exc
    return created


def _create_error(root: Path, origin: str, exc: OSError) -> DataAccessError:
    why = _path_problem(root)
    if why is None:
        failed = Path(os.fsdecode(exc.filename)) if exc.filename else root
        if exc.errno == errno.ENOENT and os.path.isdir(failed.parent):  # /proc, /sys
            why = f"{failed.parent} does not allow making folders in it"
        else:
            why = _reason(exc)
    return DataAccessError(
        f"cannot create the MNIST data folder {root}{_origin_words(origin)}: {why}; use a "
        f"folder you can write: {_other_folder_hint(origin)}"
    )


def _remove_empty_folders(created: list[Path]) -> None:
    """Remove the folders of ``created`` (outermost first) that are still empty, innermost first."""
    for folder in reversed(created):
        try:
            os.rmdir(folder)
        except OSError:  # not empty (a file was completed in it, or another process's)
            return


def _remove_parts(dest: Path, older_than: float) -> None:
    """Remove leftover ``.part`` files of ``dest`` not modified for ``older_than`` seconds.

    A ``.part`` is left behind only by a process that died while downloading
    (killed, power lost); one still being written by a live download in
    another process is modified every few seconds, and that download copes
    with its removal once ``dest`` is in place (see :func:`_fetch`).
    """
    now = time.time()
    for part in dest.parent.glob(f".{glob.escape(dest.name)}.*.part"):
        try:
            if now - part.lstat().st_mtime >= older_than:
                part.unlink()
        except OSError:  # gone already, or open on Windows: a later run removes it
            pass


def _write_error(target: Path, origin: str, exc: OSError) -> DataAccessError:
    return DataAccessError(
        f"cannot write {target}{_origin_words(origin)}: {_reason(exc)}; free some space or "
        f"make the folder writable, or use a folder you can write: {_other_folder_hint(origin)}"
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


def _file_entries(files: dict[str, Any]) -> dict[str, tuple[str, int | None]]:
    """``name -> (md5, exact size or None)``, sizes of the standard files filled in."""
    out: dict[str, tuple[str, int | None]] = {}
    for name, entry in files.items():
        md5, size = (entry, None) if isinstance(entry, str) else entry
        if not (isinstance(md5, str) and len(md5) == 32 and set(md5.lower()) <= _HEX):
            raise ValueError(f"files[{name!r}]: expected an MD5 hex digest, got {md5!r}")
        md5 = md5.lower()
        if size is None and _STANDARD_FILES.get(name, ("", 0))[0] == md5:
            size = _STANDARD_FILES[name][1]
        if size is not None and not (
            isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size >= 0
        ):
            raise ValueError(f"files[{name!r}]: size must be a whole number of bytes, got {size!r}")
        out[name] = (md5, None if size is None else int(size))
    return out


def _md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(_CHUNK), b""):
                h.update(block)
    except OSError as exc:
        raise DataAccessError(
            f"cannot read {path} to check its MD5: {_reason(exc)}; make it readable, or delete "
            "it to download it again"
        ) from exc
    return h.hexdigest()


def _fetch(url: str, dest: Path, md5: str, size: int | None, timeout: float, origin: str) -> None:
    """Stream ``url`` into a temporary file beside ``dest``; rename it there if the MD5 matches."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:
        raise _write_error(dest, origin, exc) from exc
    try:
        with os.fdopen(fd, "wb") as out:

            def write(chunk: bytes) -> None:
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise _write_error(Path(tmp), origin, exc) from exc

            got = _stream(url, write, dest, size, timeout)
        if got != md5:
            raise DataFormatError(
                f"{dest.name} from {url}: checksum mismatch (MD5 {got}, expected {md5}): the "
                f"mirror serves a different file; {dest} was left as it was. Try again or use "
                "another mirror (--mirror / base_url)"
            )
        _put_in_place(Path(tmp), dest, md5, origin)
    except DataError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except OSError as exc:  # closing (flushing) the temporary file
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(Path(tmp), origin, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _put_in_place(tmp: Path, dest: Path, md5: str, origin: str) -> None:
    try:
        os.replace(tmp, dest)
    except FileNotFoundError as exc:
        # another process completed ``dest`` and removed the leftovers, ours included
        if dest.is_file() and _md5_file(dest) == md5:
            return
        raise DataAccessError(
            f"cannot put {dest} in place: its partial download {tmp.name} was removed before "
            "it was complete (by another process cleaning the folder?); try again"
        ) from exc
    except OSError as exc:
        problem = f"{dest} is a folder" if dest.is_dir() else _reason(exc)
        raise DataAccessError(
            f"cannot put {dest} in place{_origin_words(origin)}: {problem}; move it away, or "
            f"use another folder: {_other_folder_hint(origin)}"
        ) from exc


def _stream(
    url: str, write: Callable[[bytes], None], dest: Path, size: int | None, timeout: float
) -> str:
    """Pass the body of ``url`` to ``write`` within ``timeout`` seconds; its MD5."""
    import http.client
    import socket
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    state = {"received": 0}
    where = f"{dest.name} from {url}"
    advice = "check the connection and the mirror (--mirror / base_url), or " + _download_hint(
        dest.parent
    )
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (explicit URL)
            return _copy_body(resp, write, where, size, deadline, timeout, state)
    except DataError:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()  # the error page's connection
        raise DataDownloadError(
            f"cannot download {where}: HTTP {exc.code} {exc.reason}; {advice}"
        ) from exc
    except TimeoutError as exc:
        raise _deadline_error(where, timeout, state["received"]) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise _deadline_error(where, timeout, state["received"]) from exc
        raise DataDownloadError(f"cannot download {where}: {exc.reason}; {advice}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DataDownloadError(
            f"cannot download {where}: the connection failed after {state['received']} bytes "
            f"({exc!r}); {advice}"
        ) from exc


def _deadline_error(where: str, timeout: float, received: int) -> DataDownloadError:
    return DataDownloadError(
        f"downloading {where} passed the {timeout:g}-second deadline after {received} bytes: "
        "the connection is too slow or stalled; try again, give a longer timeout, or use "
        "another mirror (--mirror / base_url)"
    )


def _copy_body(
    resp: Any,
    write: Callable[[bytes], None],
    where: str,
    size: int | None,
    deadline: float,
    timeout: float,
    state: dict[str, int],
) -> str:
    limit = DOWNLOAD_MAX_BYTES if size is None else size
    announced = _content_length(resp)
    if announced is not None and (announced > limit or (size is not None and announced != size)):
        expected = f"exactly {size}" if size is not None else f"at most {limit}"
        raise DataDownloadError(
            f"cannot download {where}: the server announces {announced} bytes, expected "
            f"{expected}: a wrong file or a wrong mirror (--mirror / base_url)"
        )
    sock = _socket_of(resp)
    read = getattr(resp, "read1", resp.read)
    h = hashlib.md5(usedforsecurity=False)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _deadline_error(where, timeout, state["received"])
        if sock is not None:
            sock.settimeout(remaining)
        chunk = read(min(_CHUNK, limit + 1 - state["received"]))
        if not chunk:
            break
        state["received"] += len(chunk)
        if state["received"] > limit:
            raise DataDownloadError(
                f"cannot download {where}: the server sends more than the {limit} bytes the "
                "file can have (stopped reading there): a wrong file or a wrong mirror "
                "(--mirror / base_url)"
            )
        h.update(chunk)
        write(chunk)
    got = state["received"]
    if (announced is not None and got < announced) or (size is not None and got != size):
        wanted = announced if announced is not None else size
        raise DataDownloadError(
            f"cannot download {where}: the connection closed after {got} of {wanted} bytes; "
            "try again, or use another mirror (--mirror / base_url)"
        )
    return h.hexdigest()


def _content_length(resp: Any) -> int | None:
    value = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _socket_of(resp: Any) -> Any:
    """The socket under an ``http.client`` response, to shorten its timeout to the deadline.

    Best effort (``fp.raw._sock`` is not a public attribute): without it, each
    read still times out after ``timeout`` seconds, and trickling servers are
    caught between reads.
    """
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    return sock if hasattr(sock, "settimeout") else None


def _fetch_missing_into_default(root: Path, origin: str, names: list[str]) -> None:
    """Download the standard files ``names`` that are missing from the default ``root``."""
    missing = [name for name in names if not (root / name).is_file()]
    if not missing:
        return
    entries = _file_entries({name: MNIST_FILES[name] for name in missing})
    try:
        _download_into(root, origin, _base_url(None), entries, _TIMEOUT)
    except DataDownloadError as exc:
        raise DataNotFoundError(
            f"MNIST files missing in {root}{_origin_words(origin)}: {', '.join(missing)}, "
            f"and downloading them failed: {exc}. Or use a folder that has them: "
            f"{_other_folder_hint(origin)}"
        ) from exc
