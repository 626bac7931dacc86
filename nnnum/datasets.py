"""Data sets: MNIST from IDX files (the book's ``load_mnist``), and an embedded offline default.

Nothing is fetched at import or implicitly: :func:`download_mnist` is an
explicit step, and :func:`load_digits` (scikit-learn's bundled 8x8 digits,
1,797 real handwritten digits) works anywhere, offline.

Every failure of this module is a :class:`DataError`, whose message names the
file (and the URL where one is involved) and says what to do:

- :class:`DataFormatError` (also a ``ValueError``): a file is corrupt,
  truncated, or not the IDX file it claims to be; a download has the wrong
  checksum.
- :class:`DataDownloadError` (also an ``OSError``): the network failed:
  connection refused or dropped, an HTTP error, the deadline passed, or the
  server sent more bytes than the file can have.
- :class:`DataNotFoundError` (also a ``FileNotFoundError``): files or folders
  are missing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import shlex
import struct
import tempfile
import urllib.request
import warnings
import zlib
from pathlib import Path
from typing import Any, Tuple  # noqa: UP035 (runtime aliases, 3.9)

import numpy as np

__all__ = [
    "load_mnist",
    "load_idx",
    "download_mnist",
    "load_digits",
    "train_test_split",
    "DataError",
    "DataFormatError",
    "DataDownloadError",
    "DataNotFoundError",
    "MNIST_FILES",
    "MNIST_MIRROR",
    "IDX_MAX_BYTES",
]

#: The four standard files and the MD5 of the gzip files on the public mirrors.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
#: Most data bytes :func:`load_idx` accepts from an IDX header (16 GiB).
IDX_MAX_BYTES = 2**34

_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_MAGIC = {2051: 3, 2049: 1}  # images: 3 dims, labels: 1 dim (unsigned byte data)
_IDX_KIND = {2051: "images", 2049: "labels"}
_IDX_OTHER_TYPES = {0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data more than 1032-fold; the slack covers tiny files.
_GZIP_MAX_RATIO = 1032
_GZIP_SLACK = 1024
_CHUNK = 1 << 20

Split = Tuple[np.ndarray, np.ndarray]  # noqa: UP006


class DataError(Exception):
    """Base of every error of :mod:`nnnum.datasets`; the message says what to do."""


class DataFormatError(DataError, ValueError):
    """A data file is corrupt, truncated, or not the IDX file it claims to be."""


class DataDownloadError(DataError, OSError):
    """A download failed: refused or dropped connection, HTTP error, deadline, size cap."""


class DataNotFoundError(DataError, FileNotFoundError):
    """Data files or the data folder are missing (or a file was given for a folder)."""


def _download_hint(folder: Path | str) -> str:
    return (
        f"run `nnnum download {shlex.quote(str(folder))}` where the internet is reachable "
        "(or copy the four MNIST .gz files there)"
    )


# ----------------------------------------------------------------------------- IDX files


def load_idx(
    path: str | os.PathLike[str],
    expect_magic: int | None = None,
    *,
    max_bytes: int = IDX_MAX_BYTES,
) -> np.ndarray:
    """Read one IDX file (gzip-compressed or plain) of unsigned bytes into an array.

    The header is read and checked first; then exactly the bytes it declares
    are read, streaming, into one preallocated array, and the file must end
    there. A file whose header cannot be right (a shape over ``max_bytes``, or
    more data than the file can hold) fails before anything is allocated.

    Parameters
    ----------
    path : path
        The file; gzip is recognised by its content, whatever the name.
    expect_magic : {2051, 2049, None}
        2051 accepts only images (3 dimensions), 2049 only labels (1
        dimension), None either.
    max_bytes : int
        Most data bytes a header may declare (default :data:`IDX_MAX_BYTES`).

    Returns
    -------
    ndarray of uint8
        Shaped as the header says; writable (not a view of a read-only buffer).

    Raises
    ------
    DataFormatError
        Corrupt gzip or deflate data, a wrong magic number, an empty or
        impossible shape, or fewer or more bytes than the header declares; the
        message names the file.
    DataNotFoundError
        ``path`` does not exist or is a folder.

    Examples
    --------
    >>> import gzip, struct, tempfile, os, numpy as np, nnnum.datasets as ds
    >>> p = os.path.join(tempfile.mkdtemp(), "l.gz")
    >>> with gzip.open(p, "wb") as f:
    ...     _ = f.write(struct.pack(">II", 2049, 3) + bytes([7, 1, 2]))
    >>> ds.load_idx(p).tolist()
    [7, 1, 2]
    >>> ds.load_idx(p, expect_magic=2051)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nnnum.datasets.DataFormatError: ...l.gz: wrong magic number 2049 (expected 2051 for images); ...
    """
    if expect_magic is not None and expect_magic not in _IDX_MAGIC:
        raise ValueError(
            f"expect_magic must be 2051 (images), 2049 (labels) or None, got {expect_magic!r}"
        )
    path = Path(path)
    with _open_existing(path) as raw:
        size = os.fstat(raw.fileno()).st_size
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        try:
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    return _read_idx(f, path, expect_magic, max_bytes, size, compressed)
            return _read_idx(raw, path, expect_magic, max_bytes, size, compressed)
        except EOFError as exc:
            raise DataFormatError(
                f"{path}: truncated: the gzip stream ends early ({exc}); {_damaged_hint(path)}"
            ) from exc
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise DataFormatError(
                f"{path}: corrupt gzip data ({exc}); {_damaged_hint(path)}"
            ) from exc


def _damaged_hint(path: Path) -> str:
    return f"the file is damaged: delete it and download it again ({_download_hint(path.parent)})"


def _open_existing(path: Path) -> io.BufferedReader:
    if path.is_dir():
        raise DataNotFoundError(f"{path} is a folder, not an IDX file: give the path of a file")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataNotFoundError(
            f"{path} does not exist; for the MNIST files, {_download_hint(path.parent)}"
        ) from None


def _read_idx(
    f: io.BufferedIOBase,
    path: Path,
    expect_magic: int | None,
    max_bytes: int,
    file_size: int,
    compressed: bool,
) -> np.ndarray:
    dims = _read_header(f, path, expect_magic)
    count = _declared_size(dims, path, max_bytes)
    header_len = 4 + 4 * len(dims)
    if compressed:
        most = file_size * _GZIP_MAX_RATIO + _GZIP_SLACK
        if header_len + count > most:
            raise DataFormatError(
                f"{path}: truncated or corrupt: the IDX header declares shape {dims} ({count} "
                f"data bytes), but a {file_size}-byte gzip file cannot hold more than {most} "
                f"bytes; {_damaged_hint(path)}"
            )
    else:
        _check_plain_size(path, dims, count, file_size - header_len)
    data = np.empty(count, dtype=np.uint8)
    got = _read_into(f, data)
    if got < count:
        raise DataFormatError(
            f"{path}: truncated: the IDX header declares shape {dims} ({count} data bytes) but "
            f"the file holds only {got}; {_damaged_hint(path)}"
        )
    if f.read(1):
        raise DataFormatError(
            f"{path}: extra bytes after the {count} data bytes the IDX header declares for shape "
            f"{dims}: the header or the file is corrupt; {_damaged_hint(path)}"
        )
    return data.reshape(dims)


def _read_exact(f: io.BufferedIOBase, n: int, path: Path, what: str) -> bytes:
    data = b""
    while len(data) < n:
        more = f.read(n - len(data))
        if not more:
            raise DataFormatError(
                f"{path}: truncated IDX header: {len(data)} of the {n} bytes of {what}; "
                f"{_damaged_hint(path)}"
            )
        data += more
    return data


def _read_header(f: io.BufferedIOBase, path: Path, expect_magic: int | None) -> tuple[int, ...]:
    (magic,) = struct.unpack(">I", _read_exact(f, 4, path, "the magic number"))
    _check_magic(magic, path, expect_magic)
    ndim = _IDX_MAGIC[magic]
    raw = _read_exact(f, 4 * ndim, path, f"the {ndim} dimension sizes")
    return tuple(int(d) for d in struct.unpack(f">{ndim}I", raw))


def _check_magic(magic: int, path: Path, expect_magic: int | None) -> None:
    if magic in _IDX_MAGIC and expect_magic in (None, magic):
        return
    want = (
        f"{expect_magic} for {_IDX_KIND[expect_magic]}"
        if expect_magic is not None
        else "2051 for images, 2049 for labels"
    )
    dtype_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16:
        why = f"it starts with {struct.pack('>I', magic)!r}: not an IDX file"
    elif magic in _IDX_MAGIC:
        why = f"{magic} marks {_IDX_KIND[magic]}: check that the file is the one its name says"
    elif dtype_code in _IDX_OTHER_TYPES:
        why = (
            f"an IDX file of {_IDX_OTHER_TYPES[dtype_code]} in {ndim} dimensions, which is not "
            "supported: only unsigned bytes (0x08), as in MNIST"
        )
    else:
        why = "not an MNIST IDX file"
    raise DataFormatError(f"{path}: wrong magic number {magic} (expected {want}); {why}")


def _declared_size(dims: tuple[int, ...], path: Path, max_bytes: int) -> int:
    if 0 in dims:
        raise DataFormatError(
            f"{path}: the IDX header declares shape {dims}, an empty array: the header is "
            f"corrupt (MNIST files hold at least one item); {_damaged_hint(path)}"
        )
    count = math.prod(dims)  # a Python int: cannot overflow
    if count > max_bytes:
        beyond = " (more than int64 can count)" if count > np.iinfo(np.int64).max else ""
        raise DataFormatError(
            f"{path}: the IDX header declares shape {dims}, {count} bytes of data{beyond}, more "
            f"than the limit of {max_bytes} bytes (max_bytes): the header is corrupt; "
            f"{_damaged_hint(path)}"
        )
    return count


def _check_plain_size(path: Path, dims: tuple[int, ...], count: int, available: int) -> None:
    if available < count:
        raise DataFormatError(
            f"{path}: truncated: the IDX header declares shape {dims} ({count} data bytes) but "
            f"the file holds only {available}; {_damaged_hint(path)}"
        )
    if available > count:
        raise DataFormatError(
            f"{path}: {available - count} extra bytes after the {count} data bytes the IDX "
            f"header declares for shape {dims}: the header or the file is corrupt; "
            f"{_damaged_hint(path)}"
        )


def _read_into(f: io.BufferedIOBase, out: np.ndarray) -> int:
    """Fill ``out`` (1-D uint8) from ``f`` in chunks; the number of bytes read."""
    view = out.data
    pos = 0
    while pos < len(view):
        n = f.readinto(view[pos : pos + _CHUNK])
        if not n:
            break
        pos += n
    return pos


# ----------------------------------------------------------------------------- MNIST


def _load_split(data_dir: Path, split: str) -> Split:
    img_name, lab_name = _SPLITS[split]
    images = load_idx(data_dir / img_name, expect_magic=2051)
    labels = load_idx(data_dir / lab_name, expect_magic=2049)
    if images.shape[0] != labels.shape[0]:
        raise DataFormatError(
            f"{data_dir / img_name} has {images.shape[0]} images but {data_dir / lab_name} has "
            f"{labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise DataFormatError(f"{data_dir / lab_name}: label {labels.max()} is not a digit")
    return images, labels


def _shape(
    images: np.ndarray, labels: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool
) -> Split:
    x: np.ndarray = images.astype(np.float32) / 255.0 if normalize else images.copy()
    x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *images.shape[1:])
    t: np.ndarray = (
        np.eye(10, dtype=np.float32)[labels] if one_hot_label else labels.astype(np.int64)
    )
    return x, t


def load_mnist(
    data_dir: str | os.PathLike[str],
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
) -> tuple[Split | None, Split | None]:
    """The book's ``load_mnist``: ``((x_train, t_train), (x_test, t_test))`` from IDX files.

    Parameters
    ----------
    data_dir : path
        Folder with the standard ``.gz`` files (train and/or t10k pairs).
    normalize : bool
        Pixels as float32 in [0, 1] (else uint8 0..255).
    flatten : bool
        Images as 784-vectors (else ``(1, 28, 28)``).
    one_hot_label : bool
        Labels one-hot (float32, 10 columns) instead of int64.

    Returns
    -------
    tuple
        ``(train, test)``; a split whose files are absent is ``None``, with a
        warning naming the missing files.

    Raises
    ------
    FileNotFoundError
        ``data_dir`` does not exist, or neither split is there.
    DataFormatError
        A corrupt, truncated or mismatched file (the message names it).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"MNIST data directory {str(root)!r} does not exist")
    out: list[Split | None] = []
    missing: list[str] = []
    for split in ("train", "test"):
        absent = [name for name in _SPLITS[split] if not (root / name).is_file()]
        if absent:
            missing.extend(absent)
            out.append(None)
        else:
            out.append(_shape(*_load_split(root, split), normalize, flatten, one_hot_label))
    if out[0] is None and out[1] is None:
        raise FileNotFoundError(
            f"no MNIST files in {str(root)!r}: missing {', '.join(missing)}. "
            "Run nnnum.datasets.download_mnist(data_dir) where the internet is reachable"
        )
    if missing:
        warnings.warn(
            f"MNIST files missing in {str(root)!r}: {', '.join(missing)}; that split is None",
            stacklevel=2,
        )
    return out[0], out[1]


# ----------------------------------------------------------------------------- download


def download_mnist(
    data_dir: str | os.PathLike[str],
    *,
    base_url: str = MNIST_MIRROR,
    files: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> list[Path]:
    """Download the MNIST files into ``data_dir``, checking each MD5, writing atomically.

    Files already present with the right checksum are kept. Each download goes
    to a temporary file in ``data_dir`` and is renamed into place only after
    its checksum matches, so an interrupted or corrupt download never leaves a
    file that looks complete.

    Parameters
    ----------
    data_dir : path
        Created if needed.
    base_url : str
        Mirror URL ending in ``/``.
    files : dict, optional
        File name -> MD5 hex digest (default :data:`MNIST_FILES`).
    timeout : float
        Seconds per request.

    Returns
    -------
    list of Path
    """
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    files = MNIST_FILES if files is None else files
    paths = []
    for name, md5 in files.items():
        dest = root / name
        if dest.is_file() and _md5(dest.read_bytes()) == md5:
            paths.append(dest)
            continue
        url = base_url + name
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (explicit URL)
            payload = resp.read()
        got = _md5(payload)
        if got != md5:
            raise DataFormatError(f"{url}: checksum mismatch (MD5 {got}, expected {md5})")
        fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        paths.append(dest)
    return paths


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# ----------------------------------------------------------------------------- other data


def load_digits(normalize: bool = True) -> Split:
    """scikit-learn's bundled 8x8 digits (1,797 real handwritten digits), offline.

    Returns
    -------
    x : ndarray, shape (1797, 64)
        Float32 in [0, 1] (pixel counts 0..16 divided by 16) when ``normalize``.
    t : ndarray, shape (1797,)
        Int64 labels 0..9.
    """
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ImportError as exc:
        raise ImportError(
            "the digits data set needs scikit-learn: pip install nnnum[data]"
        ) from exc
    d = _sk_digits()
    x = d.data.astype(np.float32)
    return (x / 16.0 if normalize else x), d.target.astype(np.int64)


def train_test_split(
    x: Any, t: Any, test_fraction: float = 0.2, seed: int = 0
) -> tuple[Split, Split]:
    """Shuffle with a seeded Generator and split into ``(train, test)``."""
    n = len(x)
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    te, tr = order[:n_test], order[n_test:]
    return (x[tr], t[tr]), (x[te], t[te])
