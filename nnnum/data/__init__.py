"""Data sets: MNIST from IDX files, and an embedded offline default.

MNIST as the book's ``load_mnist`` reads it (download included); the default
is scikit-learn's bundled digits.
"""

from ._datasets import load_mnist
from ._digits import load_digits
from ._download import (
    DOWNLOAD_MAX_BYTES,
    MNIST_FILES,
    MNIST_MIRROR,
    MNIST_SIZES,
    download_mnist,
)
from ._idx import IDX_MAX_BYTES, load_idx
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
