"""IDX files (the format of MNIST's files): :func:`load_idx` and the checks of its header.

A file is read, gzip-compressed or plain, into one preallocated ``uint8``
array: the header first (magic number, dimension sizes), checked against what
the file can hold, then exactly the bytes it declares. Every failure is a
:class:`~nnnum.data.DataFormatError`, :class:`~nnnum.data.DataNotFoundError` or
:class:`~nnnum.data.DataAccessError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ._paths import _CHUNK, _download_hint, _path_problem, _reason
from .errors import DataAccessError, DataError, DataFormatError, DataNotFoundError

__all__ = ["load_idx", "IDX_MAX_BYTES"]

#: Most data bytes :func:`load_idx` accepts from an IDX header (16 GiB).
IDX_MAX_BYTES = 2**34
_IDX_MAGIC = {2051: 3, 2049: 1}  # images: 3 dims, labels: 1 dim (unsigned byte data)
_IDX_KIND = {2051: "images", 2049: "labels"}
_IDX_OTHER_TYPES = {0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data more than 1032-fold; the slack covers tiny files.
_GZIP_MAX_RATIO = 1032
_GZIP_SLACK = 1024


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
    >>> import gzip, struct, tempfile, os, numpy as np, nnnum.data as ds
    >>> p = os.path.join(tempfile.mkdtemp(), "l.gz")
    >>> with gzip.open(p, "wb") as f:
    ...     _ = f.write(struct.pack(">II", 2049, 3) + bytes([7, 1, 2]))
    >>> ds.load_idx(p).tolist()
    [7, 1, 2]
    >>> ds.load_idx(p, expect_magic=2051)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nnnum.data.errors.DataFormatError: ...wrong magic number 2049 (expected 2051 for images)...
    """
    if expect_magic is not None and expect_magic not in _IDX_MAGIC:
        raise ValueError(
            f"expect_magic must be 2051 (images), 2049 (labels) or None, got {expect_magic!r}"
        )
    path = Path(path)
    with _open_existing(path) as raw:
        try:
            size = os.fstat(raw.fileno()).st_size
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    return _read_idx(f, path, expect_magic, max_bytes, size, compressed)
            return _read_idx(raw, path, expect_magic, max_bytes, size, compressed)
        except DataError:
            raise
        except EOFError as exc:
            raise DataFormatError(
                f"{path}: truncated: the gzip stream ends early ({exc}); {_damaged_hint(path)}"
            ) from exc
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise DataFormatError(
                f"{path}: corrupt gzip data ({exc}); {_damaged_hint(path)}"
            ) from exc
        except OSError as exc:
            raise DataAccessError(
                f"cannot read {path}: {_reason(exc)}; check the disk or the file system, or "
                f"copy the file again ({_download_hint(path.parent)})"
            ) from exc


def _damaged_hint(path: Path) -> str:
    return f"the file is damaged: delete it and download it again ({_download_hint(path.parent)})"


def _open_existing(path: Path) -> io.BufferedReader:
    if path.is_dir():
        raise DataNotFoundError(f"{path} is a folder, not an IDX file: give the path of a file")
    try:
        return open(path, "rb")
    except FileNotFoundError as exc:
        problem = _path_problem(path, folder=False)
        if problem is not None:
            raise DataNotFoundError(
                f"{path} cannot be opened: {problem}; give the path of an IDX file"
            ) from exc
        raise DataNotFoundError(
            f"{path} does not exist; for the MNIST files, {_download_hint(path.parent)}"
        ) from None
    except OSError as exc:
        problem = _path_problem(path, folder=False) or _reason(exc)
        raise DataAccessError(
            f"cannot open {path}: {problem}; make the file readable, or give another path"
        ) from exc


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
        raise _truncated(path, dims, count, got)
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


def _truncated(path: Path, dims: tuple[int, ...], count: int, held: int) -> DataFormatError:
    """The error for a file that holds ``held`` of the ``count`` data bytes its header declares."""
    return DataFormatError(
        f"{path}: truncated: the IDX header declares shape {dims} ({count} data bytes) but "
        f"the file holds only {held}; {_damaged_hint(path)}"
    )


def _check_plain_size(path: Path, dims: tuple[int, ...], count: int, available: int) -> None:
    if available < count:
        raise _truncated(path, dims, count, available)
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
