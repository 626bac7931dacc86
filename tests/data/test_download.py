"""Tests of nnnum.data._download: folder races, bad entries, failures mid-download, odd replies."""

from __future__ import annotations

import errno
import hashlib
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import nnnum.data as ds
from nnnum.data import _download

from ..conftest import disk_full_on
from ..loopback_http import LoopbackServer

NAME = "t10k-labels-idx1-ubyte.gz"
BODY = b"ten labels"
BODY_MD5 = hashlib.md5(BODY).hexdigest()


pytestmark = pytest.mark.usefixtures("no_internet_no_home")


@pytest.fixture
def server(tmp_path):
    srv = LoopbackServer(tmp_path / "served")
    srv.folder.mkdir()
    (srv.folder / NAME).write_bytes(BODY)
    try:
        yield srv
    finally:
        srv.close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.part"))


class _FakeResponse:
    """A reply without a socket: ``headers`` as given, the body in chunks, each after ``delay``."""

    def __init__(self, body: bytes, headers: dict[str, str], delay: float = 0.0) -> None:
        self.headers = headers
        self._chunks = [body[i : i + 4] for i in range(0, len(body), 4)]
        self._delay = delay

    def __enter__(self) -> _FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read1(self, n: int) -> bytes:
        time.sleep(self._delay)
        return self._chunks.pop(0) if self._chunks else b""

    read = read1


def test_folder_made_meanwhile_by_another_process_is_used(tmp_path, server, monkeypatch):
    """mkdir losing a race to another process's mkdir of the same folder is no error."""
    real_mkdir = os.mkdir

    def racing_mkdir(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)  # the other process's
        raise FileExistsError(errno.EEXIST, "File exists", str(path))

    monkeypatch.setattr(_download.os, "mkdir", racing_mkdir)
    dest = tmp_path / "a" / "b"
    paths = ds.download_mnist(dest, base_url=server.url, files={NAME: BODY_MD5}, timeout=5)
    assert paths == [dest / NAME] and (dest / NAME).read_bytes() == BODY


def test_file_made_meanwhile_where_the_folder_goes_is_an_error(tmp_path, server, monkeypatch):
    """A file appearing where a folder is being made: DataAccessError, made folders removed."""
    real_mkdir = os.mkdir

    def file_in_the_way(path, *args, **kwargs):
        if Path(path).name == "b":
            Path(path).write_bytes(b"")
            raise FileExistsError(errno.EEXIST, "File exists", str(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(_download.os, "mkdir", file_in_the_way)
    dest = tmp_path / "a" / "b" / "c"
    with pytest.raises(
        ds.DataAccessError,
        match=r"cannot create the MNIST data folder .*c: .*b is a file, not a folder",
    ):
        ds.download_mnist(dest, base_url=server.url, files={NAME: BODY_MD5}, timeout=5)
    assert (tmp_path / "a").is_dir()  # not empty (the file is in it): kept
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]


@pytest.mark.parametrize("size", [-1, 1.5, True, "10"])
def test_a_size_that_is_not_a_byte_count_is_refused(tmp_path, size):
    """files={name: (md5, size)}: size must be a whole number >= 0."""
    with pytest.raises(ValueError, match=r"files\['x.gz'\]: size must be a whole number of bytes"):
        ds.download_mnist(tmp_path, files={"x.gz": (BODY_MD5, size)})
    assert list(tmp_path.iterdir()) == []


def test_stale_part_that_cannot_be_removed_is_left_for_later(tmp_path, monkeypatch):
    """A leftover .part that cannot be unlinked (open on Windows) does not fail the download."""
    part = tmp_path / f".{NAME}.abc.part"
    part.write_bytes(b"half")
    os.utime(part, (0, 0))

    def busy(self, missing_ok=False):
        raise PermissionError(errno.EACCES, "in use", str(self))

    monkeypatch.setattr(Path, "unlink", busy)
    _download._remove_parts(tmp_path / NAME, older_than=0.0)
    assert part.read_bytes() == b"half"


def test_full_disk_when_the_temporary_file_is_closed(tmp_path, server, monkeypatch):
    """Flushing the temporary file fails (ENOSPC): a DataAccessError, and no .part is left."""
    disk_full_on(monkeypatch, "close")
    dest = tmp_path / "dl"
    with pytest.raises(ds.DataAccessError, match="cannot write .*No space left on device"):
        ds.download_mnist(dest, base_url=server.url, files={NAME: BODY_MD5}, timeout=5)
    assert _leftovers(dest) == [] and not (dest / NAME).exists()


def test_interrupted_download_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Ctrl-C while streaming: KeyboardInterrupt propagates, the .part and new folder are gone."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_download, "_stream", interrupted)
    dest = tmp_path / "dl"
    with pytest.raises(KeyboardInterrupt):
        ds.download_mnist(dest, base_url="http://127.0.0.1:9/", files={NAME: BODY_MD5}, timeout=5)
    assert not dest.exists()


def test_connect_timeout_is_the_deadline_error(tmp_path, monkeypatch):
    """urlopen's URLError(timeout) is reported as the deadline passing, not as a bad mirror."""

    def slow(*args, **kwargs):
        raise urllib.error.URLError(TimeoutError("timed out"))

    monkeypatch.setattr(urllib.request, "urlopen", slow)
    with pytest.raises(ds.DataDownloadError, match="passed the 5-second deadline after 0 bytes"):
        ds.download_mnist(
            tmp_path, base_url="http://127.0.0.1:9/", files={NAME: BODY_MD5}, timeout=5
        )


def test_a_reply_that_is_not_http_is_a_download_error(tmp_path, server):
    """A server answering garbage: DataDownloadError naming the failed connection."""

    def garbage(h):
        h.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
        h.wfile.flush()
        h.close_connection = True

    server.routes["/" + NAME] = garbage
    with pytest.raises(
        ds.DataDownloadError, match=r"the connection failed after 0 bytes \(BadStatusLine"
    ):
        ds.download_mnist(tmp_path, base_url=server.url, files={NAME: BODY_MD5}, timeout=5)
    assert _leftovers(tmp_path) == []


def test_deadline_passing_between_reads(tmp_path, monkeypatch):
    """A reply slower than the whole timeout is stopped between reads (no socket to time out)."""
    monkeypatch.setattr(
        urllib.request, "urlopen", lambda url, timeout: _FakeResponse(BODY, {}, delay=0.15)
    )
    with pytest.raises(ds.DataDownloadError, match="passed the 0.1-second deadline after 4 bytes"):
        ds.download_mnist(
            tmp_path, base_url="http://127.0.0.1:9/", files={NAME: BODY_MD5}, timeout=0.1
        )
    assert _leftovers(tmp_path) == []


def test_unreadable_content_length_is_ignored(tmp_path, monkeypatch):
    """A Content-Length that is not a number: the body is read and checked by its MD5."""
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda url, timeout: _FakeResponse(BODY, {"Content-Length": "ten"}),
    )
    paths = ds.download_mnist(
        tmp_path, base_url="http://127.0.0.1:9/", files={NAME: BODY_MD5}, timeout=5
    )
    assert paths == [tmp_path / NAME] and (tmp_path / NAME).read_bytes() == BODY
