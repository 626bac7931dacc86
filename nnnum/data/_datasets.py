"""Data sets: MNIST from IDX files (the book's ``load_mnist``), and an embedded offline default.

:func:`load_mnist` reads the four standard MNIST ``.gz`` files from a folder.
Called without a folder (the book's way, ``load_mnist(normalize=True,
one_hot_label=True)``) it uses :func:`default_data_dir` and downloads the files
there the first time (checksummed, written atomically). :func:`download_mnist`
is the explicit download step (``nnnum download DIR`` on the command line), and
:func:`load_digits` (scikit-learn's bundled 8x8 digits, 1,797 real handwritten
digits) works anywhere, offline. Nothing is fetched at import.

Every failure of this module is a :class:`DataError`, whose message names the
file (and the URL where one is involved) and says what to do:

- :class:`DataFormatError` (also a ``ValueError``): a file is corrupt,
  truncated, or not the IDX file it claims to be; a download has the wrong
  checksum.
- :class:`DataDownloadError` (also an ``OSError``): the network failed:
  connection refused or dropped, an HTTP error, the deadline passed, or the
  server sent more bytes than the file can have.
- :class:`DataNotFoundError` (also a ``FileNotFoundError``): files or folders
  are missing, or a split that was asked for is incomplete.
- :class:`DataAccessError` (also an ``OSError``): a file or folder cannot be
  read, created or written: permissions, a read-only or special file system
  (``/proc``, ``/sys``), a symbolic link loop or a dangling link, a file where
  a folder should be, a full disk. The operating system's error is kept as
  ``__cause__``.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import math
import numbers
import os
import time
from pathlib import Path
from typing import Any, Callable, Literal, Tuple, overload  # noqa: UP035 (runtime aliases, 3.9)

import numpy as np

from ._idx import load_idx
from ._paths import (
    _CHUNK,
    _download_hint,
    _is_dir_mode,
    _origin_words,
    _other_folder_hint,
    _path_problem,
    _reason,
    _resolve_dir,
    _usable_path,
)
from ._split import Split
from .errors import (
    DataAccessError,
    DataDownloadError,
    DataError,
    DataFormatError,
    DataNotFoundError,
)

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

_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_SPLIT_WORDS = {"train": "training", "test": "test"}
# A leftover ``.part`` file untouched for this long is from a download that died.
_STALE_PART_SECONDS = 3600.0
_HEX = set("0123456789abcdef")

MnistSplits = Tuple[Split, Split]  # noqa: UP006


# ----------------------------------------------------------------------------- MNIST


def _load_split(data_dir: Path, split: str) -> Split:
    img_name, lab_name = _SPLITS[split]
    images = load_idx(data_dir / img_name, expect_magic=2051)
    labels = load_idx(data_dir / lab_name, expect_magic=2049)
    if images.shape[0] != labels.shape[0]:
        raise DataFormatError(
            f"{data_dir / img_name} has {images.shape[0]} images but {data_dir / lab_name} has "
            f"{labels.shape[0]} labels: the two files do not belong together; "
            f"{_download_hint(data_dir)}"
        )
    if labels.max() > 9:
        raise DataFormatError(
            f"{data_dir / lab_name}: label {labels.max()} is not a digit: not an MNIST labels "
            f"file; {_download_hint(data_dir)}"
        )
    return images, labels


def _shape(
    images: np.ndarray, labels: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool
) -> Split:
    x: np.ndarray = images
    if normalize:
        x = images.astype(np.float32)
        x /= 255.0
    x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *images.shape[1:])
    t: np.ndarray = _change_one_hot_label(labels) if one_hot_label else labels
    return x, t


def _change_one_hot_label(labels: np.ndarray) -> np.ndarray:
    """The book's one-hot labels: float64 zeros with a 1 in each row's label column."""
    t = np.zeros((labels.size, 10))
    t[np.arange(labels.size), labels] = 1.0
    return t


_UNSET: Any = object()
_FLAG_NAMES = ("normalize", "flatten", "one_hot_label")
_FLAG_DEFAULTS = {"normalize": True, "flatten": True, "one_hot_label": False}


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, bytes, os.PathLike))


def _parse_load_args(
    args: tuple[Any, ...], data_dir: Any, keywords: dict[str, Any]
) -> tuple[Path | None, dict[str, bool]]:
    """Sort ``load_mnist``'s arguments: an optional leading folder, then the book's flags."""
    rest = list(args)
    if rest and _is_path(rest[0]):
        if data_dir is not None:
            raise TypeError(
                f"load_mnist() got the data folder twice: {rest[0]!r} and data_dir={data_dir!r}"
            )
        data_dir = rest.pop(0)
    if len(rest) > len(_FLAG_NAMES):
        raise TypeError(
            "load_mnist() takes the data folder and at most 3 flags (normalize, flatten, "
            f"one_hot_label), got {len(args)} positional arguments"
        )
    flags: dict[str, Any] = {}
    for name, value in zip(_FLAG_NAMES, rest, strict=False):
        if keywords[name] is not _UNSET:
            raise TypeError(f"load_mnist() got multiple values for argument {name!r}")
        flags[name] = value
    for name in _FLAG_NAMES:
        if name not in flags:
            flags[name] = _FLAG_DEFAULTS[name] if keywords[name] is _UNSET else keywords[name]
        if not isinstance(flags[name], (bool, np.bool_)):
            raise TypeError(
                f"load_mnist(): {name} must be True or False, got {flags[name]!r}; the data "
                "folder goes first or as data_dir=..."
            )
    if data_dir is not None and not _is_path(data_dir):
        raise TypeError(f"load_mnist(): data_dir must be a path or None, got {data_dir!r}")
    root = None if data_dir is None else Path(os.fsdecode(data_dir))
    return root, {name: bool(v) for name, v in flags.items()}


@overload
def load_mnist(
    normalize: bool = ...,
    flatten: bool = ...,
    one_hot_label: bool = ...,
    *,
    data_dir: str | os.PathLike[str] | None = ...,
    split: Literal["both"] = ...,
) -> MnistSplits: ...


@overload
def load_mnist(
    data_dir: str | os.PathLike[str],
    normalize: bool = ...,
    flatten: bool = ...,
    one_hot_label: bool = ...,
    *,
    split: Literal["both"] = ...,
) -> MnistSplits: ...


@overload
def load_mnist(
    normalize: bool = ...,
    flatten: bool = ...,
    one_hot_label: bool = ...,
    *,
    data_dir: str | os.PathLike[str] | None = ...,
    split: Literal["train", "test"],
) -> Split: ...


@overload
def load_mnist(
    data_dir: str | os.PathLike[str],
    normalize: bool = ...,
    flatten: bool = ...,
    one_hot_label: bool = ...,
    *,
    split: Literal["train", "test"],
) -> Split: ...


def load_mnist(
    *args: Any,
    data_dir: Any = None,
    normalize: Any = _UNSET,
    flatten: Any = _UNSET,
    one_hot_label: Any = _UNSET,
    split: str = "both",
) -> MnistSplits | Split:
    """The book's ``load_mnist``: ``((x_train, t_train), (x_test, t_test))`` from IDX files.

    Called as in the book, ``load_mnist(normalize=True, flatten=True,
    one_hot_label=False)``, or with the data folder first,
    ``load_mnist(data_dir, normalize, flatten, one_hot_label)``, or with
    ``data_dir=`` as a keyword. A leading ``str`` or path-like argument is the
    folder; a leading ``bool`` is ``normalize``.

    Parameters
    ----------
    normalize : bool
        Pixels as float32 in [0, 1] (else uint8 0..255).
    flatten : bool
        Images as 784-vectors (else ``(1, 28, 28)``).
    one_hot_label : bool
        Labels one-hot, as the book makes them: float64 0/1, shape ``(N, 10)``.
        Else uint8 digit labels, shape ``(N,)``, as the book returns them
        (integers: they index and compare as labels; cast before arithmetic
        that could leave 0..255).
    data_dir : path, optional
        Folder with the standard ``.gz`` files. None (the default):
        :func:`default_data_dir`, where files that are missing are downloaded
        first (:func:`download_mnist`: checksummed, atomic).
    split : {"both", "train", "test"}
        Keyword only. ``"both"`` (the default, the book's call) needs the four
        files; ``"train"`` or ``"test"`` loads (and, into the default folder,
        downloads) that split's two files only and returns it alone.

    Returns
    -------
    tuple
        ``((x_train, t_train), (x_test, t_test))``; with ``split="train"`` or
        ``"test"``, that split's ``(x, t)``.

    Raises
    ------
    DataNotFoundError
        ``data_dir`` does not exist (also a dangling link, a link loop, a file
        above it) or is a file; a split asked for lacks a file (the message
        names the files and says how to get them, or to load the other split
        alone); or the default folder lacks files and downloading them failed.
    DataFormatError
        A corrupt, truncated or mismatched file (the message names it).
    DataAccessError
        A file or folder cannot be read, or the default folder cannot be
        created or written (the message names it and says what to do).
    DataDownloadError
        Not raised: a failed automatic download becomes a :class:`DataNotFoundError`.
    TypeError
        Arguments that are neither a folder nor ``True``/``False`` flags.
    ValueError
        ``split`` is not one of ``"both"``, ``"train"``, ``"test"``.

    Examples
    --------
    >>> import gzip, struct, tempfile, pathlib, numpy as np
    >>> from nnnum.data import load_mnist
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for prefix, n in (("train", 3), ("t10k", 2)):
    ...     img = struct.pack(">IIII", 2051, n, 28, 28) + bytes(n * 784)
    ...     lab = struct.pack(">II", 2049, n) + bytes(range(n))
    ...     _ = (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(img))
    ...     _ = (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(lab))
    >>> (x_train, t_train), (x_test, t_test) = load_mnist(root)
    >>> x_train.shape, x_train.dtype, t_train.tolist(), t_train.dtype
    ((3, 784), dtype('float32'), [0, 1, 2], dtype('uint8'))
    >>> (x, t), _ = load_mnist(flatten=False, one_hot_label=True, data_dir=root)
    >>> x.shape, t.shape, t.dtype
    ((3, 1, 28, 28), (3, 10), dtype('float64'))
    >>> x_test, t_test = load_mnist(root, split="test")
    >>> x_test.shape
    (2, 784)
    """
    keywords = {"normalize": normalize, "flatten": flatten, "one_hot_label": one_hot_label}
    root, flags = _parse_load_args(args, data_dir, keywords)
    wanted = _wanted_splits(split)
    if root is None:
        root, origin = _resolve_dir(None)
        _fetch_missing_into_default(root, origin, wanted)
    else:
        _check_folder(_usable_path(root, "argument"))
    missing = {s: [name for name in _SPLITS[s] if not (root / name).is_file()] for s in wanted}
    if any(missing.values()):
        raise _split_missing(root, split, missing)
    parts = [
        _shape(*_load_split(root, s), flags["normalize"], flags["flatten"], flags["one_hot_label"])
        for s in wanted
    ]
    return (parts[0], parts[1]) if split == "both" else parts[0]


def _wanted_splits(split: Any) -> tuple[str, ...]:
    if isinstance(split, str) and split in ("both", "train", "test"):
        return ("train", "test") if split == "both" else (split,)
    raise ValueError(f"load_mnist(): split must be 'both', 'train' or 'test', got {split!r}")


def _split_missing(root: Path, split: str, missing: dict[str, list[str]]) -> DataNotFoundError:
    """The error for a split asked for that lacks files; ``missing``: split -> absent names."""
    absent = [name for names in missing.values() for name in names]
    hint = _download_hint(root)
    if split == "both" and all(missing.values()):
        return DataNotFoundError(
            f"no complete MNIST split in {root}: missing {', '.join(absent)}; {hint}"
        )
    (incomplete,) = [s for s, names in missing.items() if names]
    word = _SPLIT_WORDS[incomplete]
    text = f"MNIST {word} files {', '.join(absent)} missing in {root}"
    if split != "both":
        return DataNotFoundError(f"{text}; {hint}")
    other = "test" if incomplete == "train" else "train"
    return DataNotFoundError(
        f"{text}, so load_mnist() cannot return both splits; {hint}; or load the "
        f"{_SPLIT_WORDS[other]} split alone: x, t = load_mnist(..., split={other!r})"
    )


def _check_folder(root: Path) -> None:
    try:
        st = os.stat(root)
    except OSError as exc:
        problem = _path_problem(root)
        if problem is None and exc.errno == errno.ENOENT:
            raise DataNotFoundError(
                f"MNIST data folder {root} does not exist; {_download_hint(root)}"
            ) from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise DataNotFoundError(
                f"MNIST data folder {root} cannot be found: {problem or _reason(exc)}; fix the "
                "path (or the link), or give the folder that holds the MNIST .gz files"
            ) from exc
        raise DataAccessError(
            f"cannot open the MNIST data folder {root}: {problem or _reason(exc)}; make it "
            "readable, or give another folder"
        ) from exc
    if not _is_dir_mode(st.st_mode):
        inside = f" (probably {root.parent})" if root.name in MNIST_FILES else ""
        raise DataNotFoundError(
            f"{root} is a file, not a folder: give the folder that holds the MNIST .gz "
            f"files{inside}"
        )


def _fetch_missing_into_default(root: Path, origin: str, wanted: tuple[str, ...]) -> None:
    """Download the standard files of the ``wanted`` splits missing from the default ``root``."""
    names = [name for s in wanted for name in _SPLITS[s]]
    missing = [name for name in names if not (root / name).is_file()]
    if not missing:
        return
    entries = _file_entries({name: MNIST_FILES[name] for name in missing})
    try:
        _download_into(root, origin, _base_url(None), entries, 300.0)
    except DataDownloadError as exc:
        raise DataNotFoundError(
            f"MNIST files missing in {root}{_origin_words(origin)}: {', '.join(missing)}, "
            f"and downloading them failed: {exc}. Or use a folder that has them: "
            f"{_other_folder_hint(origin)}"
        ) from exc


# ----------------------------------------------------------------------------- download


def download_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    files: dict[str, str | tuple[str, int]] | None = None,
    timeout: float = 300.0,
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
