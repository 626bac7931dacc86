"""The errors of :mod:`nnnum.data`: one base, :class:`DataError`, and four kinds.

Every failure of the data package is a :class:`DataError`, whose message names
the file (and the URL where one is involved) and says what to do:

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

Examples
--------
>>> from nnnum.data import DataError, DataNotFoundError
>>> issubclass(DataNotFoundError, DataError), issubclass(DataNotFoundError, FileNotFoundError)
(True, True)
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "DataFormatError",
    "DataDownloadError",
    "DataNotFoundError",
    "DataAccessError",
]


class DataError(Exception):
    """Base of every error of :mod:`nnnum.data`; the message says what to do."""


class DataFormatError(DataError, ValueError):
    """A data file is corrupt, truncated, or not the IDX file it claims to be."""


class DataDownloadError(DataError, OSError):
    """A download failed: refused or dropped connection, HTTP error, deadline, size cap."""


class DataNotFoundError(DataError, FileNotFoundError):
    """Data files or the data folder are missing (or a file was given for a folder)."""


class DataAccessError(DataError, OSError):
    """A data file or folder cannot be read, created or written; ``__cause__`` says why."""
