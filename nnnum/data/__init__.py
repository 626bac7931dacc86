"""Data sets: MNIST from IDX files (the book's ``load_mnist``), and an embedded offline default.

:func:`load_mnist` reads the four standard MNIST ``.gz`` files from a folder.
Called without a folder (the book's way, ``load_mnist(normalize=True,
one_hot_label=True)``) it uses :func:`default_data_dir` and downloads the files
there the first time (checksummed, written atomically). :func:`download_mnist`
is the explicit download step (``nnnum download DIR`` on the command line), and
:func:`load_digits` (scikit-learn's bundled 8x8 digits, 1,797 real handwritten
digits) works anywhere, offline. Nothing is fetched at import. Every failure is
a :class:`DataError` (see :mod:`nnnum.data.errors`), whose message names the
file and says what to do.

One module per job: ``errors`` (the errors), ``_idx`` (reading IDX files),
``_mnist`` (:func:`load_mnist`), ``_download`` (:func:`download_mnist`),
``_paths`` (the data folder and the words for what is wrong with a path),
``_digits`` (:func:`load_digits`) and ``_split`` (:func:`train_test_split`).
"""

from ._digits import load_digits
from ._download import (
    DOWNLOAD_MAX_BYTES,
    MNIST_FILES,
    MNIST_MIRROR,
    MNIST_SIZES,
    download_mnist,
)
from ._idx import IDX_MAX_BYTES, load_idx
from ._mnist import load_mnist
from ._paths import default_data_dir
from ._split import train_test_split
from .errors import (
    DataAccessError,
    DataDownloadError,
    DataError,
    DataFormatError,
    DataNotFoundError,
)

__all__ = [
    "load_mnist",
    "load_idx",
    "download_mnist",
    "default_data_dir",
    "load_digits",
    "train_test_split",
    "DataError",
    "DataFormatError",
    "DataDownloadError",
    "DataNotFoundError",
    "DataAccessError",
    "MNIST_FILES",
    "MNIST_SIZES",
    "MNIST_MIRROR",
    "DOWNLOAD_MAX_BYTES",
    "IDX_MAX_BYTES",
]
