"""Data sets: MNIST from IDX files (the book's ``load_mnist``), and an embedded offline default.

Nothing is fetched at import or implicitly: :func:`download_mnist` is an
explicit step, and :func:`load_digits` (scikit-learn's bundled 8x8 digits,
1,797 real handwritten digits) works anywhere, offline.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Tuple  # noqa: UP035 (runtime alias on Python 3.9)

import numpy as np

__all__ = [
    "load_mnist",
    "load_idx",
    "download_mnist",
    "load_digits",
    "train_test_split",
    "MNIST_FILES",
    "MNIST_MIRROR",
]

#: The four standard files and the MD5 of the gzip files on the public mirrors.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_MAGIC = {2051: 3, 2049: 1}  # images: 3 dims, labels: 1 dim (unsigned byte data)

Split = Tuple[np.ndarray, np.ndarray]  # noqa: UP006


class DataFormatError(ValueError):
    """A data file is corrupt, truncated, or not the IDX file it claims to be."""


def load_idx(path: str | os.PathLike[str], expect_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (``.gz`` or plain) of unsigned bytes into an array.

    ``expect_magic`` (2051 images, 2049 labels) rejects the other kind.

    Raises
    ------
    DataFormatError
        Corrupt gzip data, a wrong magic number, or fewer bytes than the header
        promises; the message names the file.

    Examples
    --------
    >>> import gzip, struct, tempfile, os, numpy as np, nnnum.datasets as ds
    >>> p = os.path.join(tempfile.mkdtemp(), "l.gz")
    >>> with gzip.open(p, "wb") as f:
    ...     _ = f.write(struct.pack(">II", 2049, 3) + bytes([7, 1, 2]))
    >>> ds.load_idx(p).tolist()
    [7, 1, 2]
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataFormatError(f"{path}: not a readable gzip/IDX file ({exc})") from exc
    if len(data) < 8:
        raise DataFormatError(f"{path}: truncated: {len(data)} bytes, no IDX header")
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in _IDX_MAGIC or (expect_magic is not None and magic != expect_magic):
        expected = {2051: "2051 for images", 2049: "2049 for labels"}
        want = expected[expect_magic] if expect_magic else "2051 for images, 2049 for labels"
        raise DataFormatError(f"{path}: wrong magic number {magic} (expected {want})")
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{path}: truncated header")
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    count = int(np.prod(dims))
    if len(data) - header != count:
        raise DataFormatError(
            f"{path}: expected {count} data bytes for shape {dims}, found {len(data) - header}"
            + (" (truncated)" if len(data) - header < count else "")
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


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
