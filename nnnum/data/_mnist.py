"""MNIST as the book's ``load_mnist`` reads it: the four standard IDX files of a folder.

:func:`load_mnist` sorts the book's arguments (an optional leading folder, then
``normalize``, ``flatten``, ``one_hot_label``), checks the folder, loads each
split's images and labels with :func:`~nnnum.data.load_idx` (and checks that
they belong together) and shapes them as the book does. Called without a
folder, it uses :func:`~nnnum.data.default_data_dir` and first downloads the
files missing there (see :mod:`nnnum.data._download`).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any, Literal, Tuple, overload  # noqa: UP035 (runtime aliases, 3.9)

import numpy as np

from ._download import MNIST_FILES, _fetch_missing_into_default
from ._idx import load_idx
from ._paths import (
    _download_hint,
    _is_dir_mode,
    _path_problem,
    _reason,
    _resolve_dir,
    _usable_path,
)
from ._split import Split
from .errors import (
    DataAccessError,
    DataFormatError,
    DataNotFoundError,
)

_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_SPLIT_WORDS = {"train": "training", "test": "test"}

MnistSplits = Tuple[Split, Split]  # noqa: UP006


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
        _fetch_missing_into_default(root, origin, [n for s in wanted for n in _SPLITS[s]])
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
