"""Every OS error on the MNIST data path is a DataError naming the path and saying what to do.

A folder that cannot be made (a symbolic link loop, a dangling link, a file above it, /proc,
/sys, no permission), a file that cannot be read or written (permission, a full disk), a
download that fails after making folders (they are removed again), and ``.part`` files left over
by a download that died. The tests run as root, where chmod stops nothing: permission and disk
errors are injected by patching the calls that would raise them.
"""

import errno
import hashlib
import os
import tempfile
import time
from pathlib import Path

import pytest

import nnnum
import nnnum.data as ds
from nnnum.data import (
    _download,  # the module whose globals (mirror, sizes) tests patch
    _idx,
    _mnist,
)

from ..conftest import disk_full_on, write_mnist_split
from ..loopback_http import LoopbackServer, closed_port_url

LABELS = "t10k-labels-idx1-ubyte.gz"


pytestmark = pytest.mark.usefixtures("no_internet_no_home")


@pytest.fixture
def server(tmp_path):
    srv = LoopbackServer(tmp_path / "served")
    srv.folder.mkdir()
    try:
        yield srv
    finally:
        srv.close()


def _served_test_split(server):
    write_mnist_split(server.folder, "t10k", 3)
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in server.folder.iterdir()}


def _loop(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    return tmp_path / "loop", "is a symbolic link loop"


def _dangling(tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    return tmp_path / "dangling", f"is a symbolic link to {tmp_path / 'nowhere'}, which does not"


def _under_a_file(tmp_path):
    (tmp_path / "a_file").write_bytes(b"")
    return tmp_path / "a_file" / "mnist", f"{tmp_path / 'a_file'} is a file, not a folder"


def _proc(tmp_path):
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    return Path("/proc/self/nnnum-mnist"), "/proc/self does not allow making folders in it"


def _sys(tmp_path):
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("no /sys here")
    if os.path.lexists("/sys/kernel/nnnum-mnist"):
        pytest.skip("/sys/kernel/nnnum-mnist exists")
    return Path("/sys/kernel/nnnum-mnist"), "/sys/kernel/nnnum-mnist (from"


BAD_FOLDERS = [_loop, _dangling, _under_a_file, _proc, _sys]
BAD_IDS = ["link-loop", "dangling-link", "under-a-file", "proc", "sys"]


@pytest.mark.parametrize("make", BAD_FOLDERS, ids=BAD_IDS)
def test_default_folder_that_cannot_be_made_with_nnnum_data_dir_set(tmp_path, monkeypatch, make):
    folder, why = make(tmp_path)
    monkeypatch.setenv("NNNUM_DATA_DIR", str(folder))
    with pytest.raises(ds.DataAccessError) as info:
        ds.load_mnist()
    text = str(info.value)
    assert text.startswith(f"cannot create the MNIST data folder {folder} (from NNNUM_DATA_DIR): ")
    assert why in text
    assert f"point NNNUM_DATA_DIR (now '{folder}') at one" in text  # what to do, as it is set
    assert "set NNNUM_DATA_DIR to one" not in text
    assert isinstance(info.value, OSError) and isinstance(info.value, ds.DataError)
    assert isinstance(info.value.__cause__, OSError)  # the operating system's error, kept
    assert not isinstance(info.value.__cause__, ds.DataError)


@pytest.mark.parametrize("make", BAD_FOLDERS[:3], ids=BAD_IDS[:3])
def test_default_folder_that_cannot_be_made_without_nnnum_data_dir(tmp_path, monkeypatch, make):
    cache, _ = make(tmp_path)  # the cache folder above nnnum/mnist is the bad one
    monkeypatch.delenv("NNNUM_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    with pytest.raises(ds.DataAccessError) as info:
        ds.load_mnist(split="test")
    text = str(info.value)
    folder = cache / "nnnum" / "mnist"
    assert text.startswith(f"cannot create the MNIST data folder {folder} (the default data ")
    assert "set NNNUM_DATA_DIR to one, or pass data_dir=" in text and "(now " not in text


@pytest.mark.parametrize("make", BAD_FOLDERS[:3], ids=BAD_IDS[:3])
def test_download_into_a_folder_that_cannot_be_made(tmp_path, make):
    folder, why = make(tmp_path)
    with pytest.raises(ds.DataAccessError, match="cannot create the MNIST data folder") as info:
        ds.download_mnist(folder, files={LABELS: ds.MNIST_FILES[LABELS]})
    assert why in str(info.value) and "give another folder" in str(info.value)
    assert "NNNUM_DATA_DIR" not in str(info.value)  # an explicit folder: nothing to do with it


@pytest.mark.parametrize("env", [True, False], ids=["NNNUM_DATA_DIR", "default"])
def test_default_folder_is_a_file(tmp_path, monkeypatch, env):
    if env:
        folder = tmp_path / "default-data-dir"
    else:
        monkeypatch.delenv("NNNUM_DATA_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        folder = tmp_path / "nnnum" / "mnist"
        folder.parent.mkdir()
    folder.write_bytes(b"")
    with pytest.raises(ds.DataNotFoundError, match="is a file, not a folder") as info:
        ds.load_mnist()
    text = str(info.value)
    if env:
        assert f"{folder} (from NNNUM_DATA_DIR) is" in text and "point NNNUM_DATA_DIR" in text
    else:
        assert f"{folder} (the default data folder) is" in text
        assert "set NNNUM_DATA_DIR to one" in text


def test_folder_not_writable(tmp_path, monkeypatch):
    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

    monkeypatch.setattr(os, "mkdir", denied)
    with pytest.raises(ds.DataAccessError) as info:
        ds.load_mnist()
    folder = tmp_path / "default-data-dir"
    assert f"{folder} (from NNNUM_DATA_DIR): Permission denied; use a folder you can write" in str(
        info.value
    )
    assert isinstance(info.value.__cause__, PermissionError)


def test_folder_made_but_files_cannot_be_written(tmp_path, monkeypatch, server):
    files = _served_test_split(server)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    dest = tmp_path / "new" / "mnist"
    with pytest.raises(ds.DataAccessError, match="Permission denied") as info:
        ds.download_mnist(dest, base_url=server.url, files=files)
    assert str(info.value).startswith(f"cannot write {dest / 't10k-'}")  # the file it would be
    assert "Permission denied; free some space or make the folder writable" in str(info.value)
    assert not (tmp_path / "new").exists()  # the folders this call made are gone again


def test_full_disk_is_not_a_network_error(tmp_path, monkeypatch, server):
    files = _served_test_split(server)
    disk_full_on(monkeypatch, "write")
    dest = tmp_path / "dl"
    with pytest.raises(ds.DataAccessError, match="No space left on device; free some space") as e:
        ds.download_mnist(dest, base_url=server.url, files=files)
    assert not isinstance(e.value, ds.DataDownloadError) and "connection" not in str(e.value)
    assert isinstance(e.value.__cause__, OSError) and e.value.__cause__.errno == errno.ENOSPC
    assert not dest.exists()


def test_failed_download_removes_the_folders_it_made(tmp_path):
    base = tmp_path / "kept"
    base.mkdir()
    dest = base / "a" / "b" / "mnist"
    with pytest.raises(ds.DataDownloadError):
        ds.download_mnist(dest, files={LABELS: ds.MNIST_FILES[LABELS]})  # a closed port
    assert base.is_dir() and list(base.iterdir()) == []  # made here: removed; there before: kept
    # the default folder too (load_mnist downloading there)
    with pytest.raises(ds.DataNotFoundError, match="downloading them failed"):
        ds.load_mnist()
    assert list(tmp_path.iterdir()) == [base]


def test_failed_mkdir_halfway_removes_what_it_made(tmp_path, monkeypatch):
    real_mkdir = os.mkdir
    made = []

    def second_fails(path, *args, **kwargs):
        if made:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        real_mkdir(path, *args, **kwargs)
        made.append(path)

    monkeypatch.setattr(os, "mkdir", second_fails)
    with pytest.raises(ds.DataAccessError, match="Permission denied"):
        ds.download_mnist(tmp_path / "a" / "b", files={LABELS: ds.MNIST_FILES[LABELS]})
    assert made == [tmp_path / "a"] and not (tmp_path / "a").exists()


def test_a_file_completed_before_the_failure_is_kept(tmp_path, server):
    files = _served_test_split(server)
    files["missing.gz"] = "0" * 32  # the server answers 404
    dest = tmp_path / "new"
    with pytest.raises(ds.DataDownloadError, match="HTTP 404"):
        ds.download_mnist(dest, base_url=server.url, files=files)
    # the files checksummed before the failure are kept
    assert sorted(p.name for p in dest.iterdir()) == sorted(_mnist._SPLITS["test"])


def _part(folder, name, age):
    part = folder / f".{name}.{age}x.part"  # as tempfile.mkstemp names them
    part.write_bytes(b"half a download")
    then = time.time() - age
    os.utime(part, (then, then))
    return part


def test_stale_part_files(tmp_path, server):
    files = _served_test_split(server)
    dest = tmp_path / "dl"
    dest.mkdir()
    old = _part(dest, LABELS, age=2 * 3600)  # a download that died two hours ago
    fresh = _part(dest, LABELS, age=0)  # maybe another process's download in progress
    other = _part(dest, "other.gz", age=2 * 3600)  # not a file asked for
    with pytest.raises(ds.DataDownloadError):  # a failed download still removes the old one
        ds.download_mnist(dest, base_url=closed_port_url(), files={LABELS: files[LABELS]})
    assert not old.exists() and fresh.exists() and other.exists()
    ds.download_mnist(dest, base_url=server.url, files=files)  # the file in place: all gone
    assert not fresh.exists() and other.exists()
    assert ds.load_mnist(dest, split="test")[0].shape == (3, 784)
    # a file already there: its leftovers are removed too, without network
    stale = _part(dest, LABELS, age=1)
    ds.download_mnist(dest, base_url=closed_port_url(), files={LABELS: files[LABELS]})
    assert not stale.exists()


def test_part_removed_under_a_running_download(tmp_path):
    dest = tmp_path / LABELS
    dest.write_bytes(b"done by another process")
    md5 = hashlib.md5(b"done by another process").hexdigest()
    # finished elsewhere: fine
    _download._put_in_place(tmp_path / ".gone.part", dest, md5, "argument")
    assert dest.read_bytes() == b"done by another process"
    with pytest.raises(ds.DataAccessError, match="was removed before it was complete") as info:
        _download._put_in_place(tmp_path / ".gone.part", tmp_path / "other.gz", md5, "argument")
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_dest_is_a_folder(tmp_path, server):
    files = _served_test_split(server)
    dest = tmp_path / "dl"
    (dest / LABELS).mkdir(parents=True)
    with pytest.raises(ds.DataAccessError, match=f"{dest / LABELS} is a folder; move it away"):
        ds.download_mnist(dest, base_url=server.url, files={LABELS: files[LABELS]})
    assert sorted(p.name for p in dest.iterdir()) == [LABELS]  # no .part left


# ---- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", BAD_FOLDERS[:3], ids=BAD_IDS[:3])
def test_explicit_folder_that_cannot_be_found(tmp_path, make):
    folder, why = make(tmp_path)
    with pytest.raises(ds.DataNotFoundError) as info:
        ds.load_mnist(folder)
    text = str(info.value)
    assert text.startswith(f"MNIST data folder {folder} cannot be found: ") and why in text
    assert isinstance(info.value.__cause__, OSError)


def test_unreadable_files(tmp_path, monkeypatch):
    write_mnist_split(tmp_path, "t10k", 2)

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

    monkeypatch.setattr(_idx, "open", denied, raising=False)  # reading IDX files
    monkeypatch.setattr(_download, "open", denied, raising=False)  # reading a file to check its MD5
    with pytest.raises(ds.DataAccessError) as info:
        ds.load_mnist(tmp_path, split="test")
    assert str(info.value).startswith(f"cannot open {tmp_path / 't10k-images-idx3-ubyte.gz'}: ")
    assert "Permission denied; make the file readable" in str(info.value)
    with pytest.raises(ds.DataAccessError, match=f"cannot read {tmp_path / LABELS} to check"):
        ds.download_mnist(tmp_path, files={LABELS: ds.MNIST_FILES[LABELS]})
    monkeypatch.undo()

    def io_error(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_idx, "_read_idx", io_error)
    with pytest.raises(ds.DataAccessError, match=r"cannot read .*t10k-images.*: Input/output"):
        ds.load_idx(tmp_path / "t10k-images-idx3-ubyte.gz")


def test_idx_file_behind_a_bad_link(tmp_path):
    (tmp_path / "loop.gz").symlink_to("loop.gz")
    with pytest.raises(ds.DataAccessError, match="loop.gz is a symbolic link loop"):
        ds.load_idx(tmp_path / "loop.gz")
    (tmp_path / "dangling.gz").symlink_to("nowhere.gz")
    with pytest.raises(ds.DataNotFoundError, match="is a symbolic link to nowhere.gz, which"):
        ds.load_idx(tmp_path / "dangling.gz")


def test_a_path_the_system_cannot_take_is_a_data_error(monkeypatch):
    long = "/tmp/" + "x" * 300
    monkeypatch.setenv("NNNUM_DATA_DIR", long)
    for call in (
        lambda: nnnum.load_mnist(),
        lambda: nnnum.load_mnist(split="test"),
        lambda: nnnum.load_mnist(long),
        lambda: nnnum.load_mnist("a\0b"),  # (no environment variable can hold a NUL)
    ):
        with pytest.raises(nnnum.DataError, match="not a usable path"):
            call()


def test_default_folder_on_windows_is_under_localappdata(monkeypatch):
    """On Windows, without XDG_CACHE_HOME, the default folder is %LOCALAPPDATA%\\nnnum\\mnist."""
    import types

    from nnnum.data import _paths

    windows_os = types.SimpleNamespace(**{k: getattr(os, k) for k in ("environ", "path")})
    windows_os.name = "nt"
    monkeypatch.setattr(_paths, "os", windows_os)  # os.name for nnnum only: pathlib keeps posix
    monkeypatch.delenv("NNNUM_DATA_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("LOCALAPPDATA", "/users/me/AppData/Local")
    assert ds.default_data_dir() == Path("/users/me/AppData/Local/nnnum/mnist")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")  # an absolute XDG_CACHE_HOME still wins
    assert ds.default_data_dir() == Path("/xdg/nnnum/mnist")
