import gzip
import hashlib
import time
from pathlib import Path

import numpy as np
import pytest

import nnnum.data as ds
from nnnum.data import _download, _mnist  # the mirror, checksums and sizes: patched there

from ..conftest import idx_bytes, write_idx, write_mnist_split
from ..loopback_http import LoopbackServer, closed_port_url


@pytest.fixture(autouse=True)
def _no_internet_no_home(tmp_path, monkeypatch):
    """No test downloads from the internet or writes to the user's cache folder."""
    monkeypatch.setattr(_download, "MNIST_MIRROR", closed_port_url())
    monkeypatch.setenv("NNNUM_DATA_DIR", str(tmp_path / "default-data-dir"))


def test_idx_round_trip_and_book_shapes(tmp_path):
    images, labels = write_mnist_split(tmp_path, "train", 5)
    timages, tlabels = write_mnist_split(tmp_path, "t10k", 3, rng=1)
    (x, t), (xt, tt) = ds.load_mnist(tmp_path)
    assert x.shape == (5, 784) and x.dtype == np.float32 and x.max() <= 1.0
    np.testing.assert_array_equal((x * 255).round().astype(np.uint8).reshape(5, 28, 28), images)
    np.testing.assert_array_equal(t, labels)
    np.testing.assert_array_equal(tt, tlabels)
    assert t.dtype == np.uint8 and t.shape == (5,)  # the book's labels: np.frombuffer uint8
    (x2, t2), _ = ds.load_mnist(tmp_path, normalize=False, flatten=False, one_hot_label=True)
    assert x2.shape == (5, 1, 28, 28) and x2.dtype == np.uint8
    np.testing.assert_array_equal(x2[:, 0], images)
    # the book's _change_one_hot_label: np.zeros((N, 10)) (float64) with a 1 per row
    assert t2.shape == (5, 10) and t2.dtype == np.float64
    np.testing.assert_array_equal(t2, np.eye(10)[labels])
    plain = tmp_path / "plain-idx"
    write_idx(plain, labels, 2049, gz=False)
    np.testing.assert_array_equal(ds.load_idx(plain), labels)


def test_missing_files_are_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        ds.DataNotFoundError, match="no complete MNIST split in .*t10k-labels"
    ) as info:
        ds.load_mnist(empty)
    assert isinstance(info.value, FileNotFoundError) and "`nnnum download" in str(info.value)
    with pytest.raises(FileNotFoundError, match="nope does not exist; run `nnnum download"):
        ds.load_mnist(tmp_path / "nope")
    a_file = tmp_path / "train-images-idx3-ubyte.gz"
    a_file.write_bytes(b"")
    with pytest.raises(ds.DataNotFoundError, match="is a file, not a folder") as info:
        ds.load_mnist(a_file)
    assert "does not exist" not in str(info.value) and str(tmp_path) in str(info.value)


def test_corrupt_truncated_wrong_magic_mismatched(tmp_path):
    write_mnist_split(tmp_path, "t10k", 4)
    lab = tmp_path / "t10k-labels-idx1-ubyte.gz"
    img = tmp_path / "t10k-images-idx3-ubyte.gz"
    good = lab.read_bytes()

    lab.write_bytes(b"not gzip at all")
    with pytest.raises(ds.DataFormatError, match="t10k-labels"):
        ds.load_mnist(tmp_path, split="test")

    lab.write_bytes(good[: len(good) // 2])  # truncated gzip stream
    with pytest.raises(ds.DataFormatError, match="t10k-labels"):
        ds.load_mnist(tmp_path, split="test")

    write_idx(lab, np.zeros(4, dtype=np.uint8), 2051)  # images magic on a labels file
    with pytest.raises(ds.DataFormatError, match="magic number 2051 .expected 2049"):
        ds.load_mnist(tmp_path, split="test")

    write_idx(lab, np.zeros(4, dtype=np.uint8), 1234)
    with pytest.raises(ds.DataFormatError, match="wrong magic number 1234"):
        ds.load_idx(lab)

    lab.write_bytes(gzip.compress(idx_bytes(2049, 10, data=bytes(3))))  # header says 10
    with pytest.raises(ds.DataFormatError, match="truncated"):
        ds.load_idx(lab)

    write_idx(lab, np.zeros(3, dtype=np.uint8), 2049)  # 4 images, 3 labels
    with pytest.raises(ds.DataFormatError, match="4 images but .* 3 labels"):
        ds.load_mnist(tmp_path, split="test")
    assert img.exists()


@pytest.fixture
def server(tmp_path):
    srv = LoopbackServer(tmp_path / "served")
    srv.folder.mkdir()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def loopback_server(server):
    return server.folder, server.url


def test_download_verifies_and_writes_atomically(tmp_path, loopback_server):
    served, url = loopback_server
    write_mnist_split(served, "t10k", 6)
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    dest = tmp_path / "dl"
    paths = ds.download_mnist(dest, base_url=url, files=files, timeout=10)
    assert sorted(p.name for p in paths) == sorted(files)
    x, t = ds.load_mnist(dest, split="test")
    assert x.shape == (6, 784)
    assert not list(dest.glob(".*part"))  # no temporary files left behind

    # a corrupt mirror: checksum mismatch, and the good local copy is kept as it was
    name = "t10k-labels-idx1-ubyte.gz"
    (served / name).write_bytes(b"garbage")
    before = (dest / name).read_bytes()
    (dest / name).write_bytes(b"stale")
    with pytest.raises(ds.DataFormatError, match="checksum mismatch"):
        ds.download_mnist(dest, base_url=url, files={name: files[name]}, timeout=10)
    assert (dest / name).read_bytes() == b"stale"
    assert not list(dest.glob(".*part"))
    del before


def test_digits_default_is_offline():
    x, t = ds.load_digits()
    assert x.shape == (1797, 64) and t.shape == (1797,)
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(np.unique(t)) == set(range(10))
    (xtr, ttr), (xte, tte) = ds.train_test_split(x, t, seed=0)
    assert len(xtr) + len(xte) == 1797 and len(xte) == 359


def test_cli_download(tmp_path, loopback_server, capsys, monkeypatch):
    from nnnum.cli import main

    served, url = loopback_server
    write_mnist_split(served, "train", 3)
    write_mnist_split(served, "t10k", 2, rng=1)
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    monkeypatch.setattr(_download, "MNIST_FILES", files)  # the checksums of the files served here
    assert main(["download", str(tmp_path / "m"), "--mirror", url]) == 0
    assert capsys.readouterr().out.count("ok  ") == 4
    (x, _), (xt, _) = ds.load_mnist(tmp_path / "m")
    assert x.shape == (3, 784) and xt.shape == (2, 784)


@pytest.mark.parametrize("splits", [("train", "t10k"), ("t10k",)])
def test_cli_trains_on_idx_files(tmp_path, capsys, splits):
    from nnnum.cli import main

    for i, prefix in enumerate(splits):
        write_mnist_split(tmp_path, prefix, 60, rng=i)
    out_dir = tmp_path / "out"
    rc = main(
        [
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            str(tmp_path),
            "--iters",
            "3",
            "--batch-size",
            "10",
            "--hidden",
            "5",
            "--quiet",
            "--output-dir",
            str(out_dir),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0 and (out_dir / "history.json").is_file()
    if len(splits) == 2:
        assert "MNIST train/t10k: 60 train, 60 test" in captured.out
    else:
        assert "first 48 to train, last 12 to test" in captured.out
        assert "train-images-idx3-ubyte.gz" in captured.err  # says which files are missing


# ---- the error family ---------------------------------------------------------------------


def test_error_family():
    for cls, compat in [
        (ds.DataFormatError, ValueError),
        (ds.DataDownloadError, OSError),
        (ds.DataNotFoundError, FileNotFoundError),
    ]:
        assert issubclass(cls, ds.DataError) and issubclass(cls, compat)
    import nnnum

    assert nnnum.DataError is ds.DataError and "DataError" in nnnum.__all__
    assert str(ds.DataDownloadError("x failed")) == "x failed"  # no errno decoration


# ---- IDX headers, streaming -----------------------------------------------------------------

GZIP_BAD_BLOCK = bytes.fromhex("1f8b0800000000000003") + b"\x07" + bytes(20)  # reserved BTYPE 11
GZIP_BAD_METHOD = b"\x1f\x8b\x09" + bytes(30)  # compression method 9 does not exist


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize(
    ("payload", "expect", "message"),
    [
        (
            idx_bytes(1234, 3, data=bytes(3)),
            None,
            r"wrong magic number 1234 \(expected 2051 for images",
        ),
        (idx_bytes(2049, 3, data=bytes(3)), 2051, r"wrong magic number 2049 .*2049 marks labels"),
        (idx_bytes(2051, 1, 1, 1, data=bytes(1)), 2049, r"expected 2049 for labels\); 2051 marks"),
        (
            idx_bytes(0x0D01, 3, data=bytes(12)),
            None,
            r"magic number 3329 .*float32 .*not supported",
        ),
        (b"PK\x03\x04" + bytes(20), None, r"starts with b'PK\\x03\\x04': not an IDX file"),
        (b"\x00\x00", None, r"truncated IDX header: 2 of the 4 bytes of the magic number"),
        (
            idx_bytes(2051, 5, data=b""),
            None,
            r"truncated IDX header: 4 of the 12 bytes of the 3 dimension sizes",
        ),
        (idx_bytes(2049, 0, data=b""), None, r"declares shape \(0,\), an empty array"),
        (idx_bytes(2051, 5, 0, 28, data=b""), None, r"declares shape \(5, 0, 28\), an empty array"),
        (
            idx_bytes(2051, 2**31, 2**31, 4, data=b""),
            None,
            r"18446744073709551616 bytes .*more than int64 .*limit",
        ),
        (
            idx_bytes(2051, 2**32 - 1, 2**32 - 1, 2**32 - 1, data=b""),
            None,
            r"more than the limit of 17179869184",
        ),
        (
            idx_bytes(2049, 10, data=bytes(3)),
            None,
            r"truncated: .*shape \(10,\) \(10 data bytes\) but",
        ),
        (idx_bytes(2049, 3, data=bytes(5)), None, r"extra bytes after the 3 data bytes"),
    ],
    ids=[
        "magic",
        "labels-for-images",
        "images-for-labels",
        "float-idx",
        "not-idx",
        "short-magic",
        "short-dims",
        "zero-count",
        "zero-dim",
        "int64-overflow",
        "over-cap",
        "truncated-data",
        "extra-data",
    ],
)
def test_idx_header_fields(tmp_path, gz, payload, expect, message):
    path = tmp_path / ("f.gz" if gz else "f-idx")
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(ds.DataFormatError, match=message) as info:
        ds.load_idx(path, expect_magic=expect)
    assert str(info.value).startswith(f"{path}: ")  # names the file


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (GZIP_BAD_BLOCK, r"corrupt gzip data \(.*invalid block type"),
        (GZIP_BAD_METHOD, r"corrupt gzip data \(Unknown compression method\)"),
        (
            gzip.compress(idx_bytes(2049, 3000, data=bytes(3000)))[:-30],
            r"truncated: the gzip stream",
        ),
        (
            gzip.compress(idx_bytes(2049, 3, data=bytes(3)))[:-8] + bytes(8),
            r"corrupt gzip data \(CRC",
        ),
    ],
    ids=["deflate", "method", "eof", "crc"],
)
def test_idx_corrupt_gzip(tmp_path, content, message):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(ds.DataFormatError, match=message) as info:
        ds.load_idx(path)
    assert str(info.value).startswith(f"{path}: ") and "download it again" in str(info.value)


def test_idx_gzip_recognised_by_content_and_result_is_owned(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    odd = tmp_path / "labels.idx"  # gzip content, no .gz suffix
    write_idx(odd, labels, 2049, gz=True)
    out = ds.load_idx(odd)
    np.testing.assert_array_equal(out, labels)
    assert out.flags.writeable  # not a read-only view of a bytes object
    with pytest.raises(ds.DataFormatError, match="limit of 5 bytes"):
        ds.load_idx(odd, max_bytes=5)
    with pytest.raises(ValueError, match="expect_magic must be 2051 .images., 2049"):
        ds.load_idx(odd, expect_magic=2050)
    with pytest.raises(ds.DataNotFoundError, match="missing.gz does not exist"):
        ds.load_idx(tmp_path / "missing.gz")
    with pytest.raises(ds.DataNotFoundError, match="is a folder, not an IDX file"):
        ds.load_idx(tmp_path)


def _peak_bytes(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_idx_gzip_bomb_fails_fast_in_little_memory(tmp_path):
    # a 2 MB gzip file: 10 labels, then 2 GiB of zeros the header does not declare
    zeros = gzip.compress(bytes(16 * 2**20), compresslevel=9, mtime=0)
    bomb = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bomb.write_bytes(gzip.compress(idx_bytes(2049, 10, data=bytes(10)), mtime=0) + zeros * 128)
    assert bomb.stat().st_size < 3 * 2**20

    def check():
        with pytest.raises(ds.DataFormatError, match="extra bytes after the 10 data bytes"):
            ds.load_idx(bomb)

    t0 = time.perf_counter()
    peak = _peak_bytes(check)
    assert time.perf_counter() - t0 < 2.0
    assert peak < 4 * 2**20  # reading it all would take 2 GiB


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_idx_impossible_sizes_fail_before_allocating(tmp_path, gz):
    # 60000 images of 28x28 (47 MB) declared in a file of a few dozen bytes
    path = tmp_path / "train-images-idx3-ubyte.gz"
    payload = idx_bytes(2051, 60000, 28, 28, data=bytes(100))
    path.write_bytes(gzip.compress(payload) if gz else payload)
    message = "cannot hold more than" if gz else r"truncated: .*holds only 100"

    def check():
        with pytest.raises(ds.DataFormatError, match=message):
            ds.load_idx(path)

    assert _peak_bytes(check) < 2**20


# ---- downloads -------------------------------------------------------------------------------

NAME = "t10k-labels-idx1-ubyte.gz"
ANY_MD5 = "0" * 32


def _no_leftovers(folder: Path) -> None:
    assert not list(folder.glob(".*part")) and not (folder / NAME).exists()


def test_download_deadline_for_a_trickling_server(tmp_path, server):
    server.trickle(NAME, length=100, interval=0.1)  # 10 s for the whole file
    t0 = time.perf_counter()
    with pytest.raises(ds.DataDownloadError, match="0.5-second deadline") as info:
        ds.download_mnist(tmp_path, base_url=server.url, files={NAME: ANY_MD5}, timeout=0.5)
    assert time.perf_counter() - t0 < 3.0
    assert f"{NAME} from {server.url}{NAME}" in str(info.value)
    _no_leftovers(tmp_path)


def test_download_deadline_for_a_stalled_server(tmp_path, server):
    server.stall(NAME)
    t0 = time.perf_counter()
    with pytest.raises(ds.DataDownloadError, match=r"deadline after 10 bytes"):
        ds.download_mnist(tmp_path, base_url=server.url, files={NAME: ANY_MD5}, timeout=0.5)
    assert time.perf_counter() - t0 < 3.0
    _no_leftovers(tmp_path)


@pytest.fixture
def read1_bytes(monkeypatch):
    """Count the body bytes the client reads."""
    import http.client

    count = [0]
    original = http.client.HTTPResponse.read1

    def spy(self, n=-1):
        data = original(self, n)
        count[0] += len(data)
        return data

    monkeypatch.setattr(http.client.HTTPResponse, "read1", spy)
    return count


def test_download_size_cap_stops_reading(tmp_path, server, read1_bytes):
    server.endless(NAME, total=512 * 2**20, announce=False)
    t0 = time.perf_counter()
    with pytest.raises(ds.DataDownloadError, match="sends more than the 60 bytes") as info:
        ds.download_mnist(tmp_path, base_url=server.url, files={NAME: (ANY_MD5, 60)}, timeout=10)
    assert server.url + NAME in str(info.value)
    assert read1_bytes[0] <= 61
    assert time.perf_counter() - t0 < 3.0
    _no_leftovers(tmp_path)


def test_download_size_cap_on_announced_length(tmp_path, server, read1_bytes):
    server.endless(NAME, total=512 * 2**20, announce=True)
    with pytest.raises(ds.DataDownloadError, match=r"announces 536870912 bytes, expected exactly"):
        ds.download_mnist(tmp_path, base_url=server.url, files={NAME: (ANY_MD5, 60)}, timeout=10)
    assert read1_bytes[0] == 0
    _no_leftovers(tmp_path)


def test_download_size_cap_defaults(tmp_path, server, read1_bytes, monkeypatch):
    # the standard file (its standard MD5): cut off at its standard size
    server.endless(NAME, total=10_000, announce=False)
    with pytest.raises(ds.DataDownloadError, match="more than the 4542 bytes"):
        ds.download_mnist(tmp_path, base_url=server.url, files={NAME: ds.MNIST_FILES[NAME]})
    assert read1_bytes[0] == 4543
    # a file given by its MD5 only: cut off at DOWNLOAD_MAX_BYTES
    monkeypatch.setattr(_download, "DOWNLOAD_MAX_BYTES", 1000)
    server.endless("other.gz", total=5000, announce=False)
    with pytest.raises(ds.DataDownloadError, match="more than the 1000 bytes"):
        ds.download_mnist(tmp_path, base_url=server.url, files={"other.gz": ANY_MD5})
    assert read1_bytes[0] == 4543 + 1001


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda s: None, r"HTTP 404"),
        (lambda s: s.status(NAME, 500), r"HTTP 500"),
        (lambda s: s.drop(NAME, b"x" * 100, 1000), r"connection closed after 100 of 1000 bytes"),
    ],
    ids=["404", "500", "dropped"],
)
def test_download_http_failures(tmp_path, server, setup, message):
    setup(server)
    with pytest.raises(ds.DataDownloadError, match=message) as info:
        ds.download_mnist(tmp_path, base_url=server.url, files={NAME: ANY_MD5}, timeout=5)
    text = str(info.value)
    assert f"cannot download {NAME} from {server.url}{NAME}" in text
    assert "--mirror" in text  # what to do
    assert isinstance(info.value, OSError) and isinstance(info.value, ds.DataError)
    _no_leftovers(tmp_path)


def test_download_dropped_before_the_known_size(tmp_path, server):
    server.drop(NAME, b"x" * 100, 100)  # complete reply, but the file is 4542 bytes
    with pytest.raises(ds.DataDownloadError, match=r"announces 100 bytes, expected exactly 4542"):
        ds.download_mnist(tmp_path, base_url=server.url, files={NAME: ds.MNIST_FILES[NAME]})


def test_download_connection_refused(tmp_path):
    url = closed_port_url()
    with pytest.raises(ds.DataDownloadError, match="Connection refused|refused") as info:
        ds.download_mnist(tmp_path, base_url=url, files={NAME: ANY_MD5}, timeout=5)
    assert f"{NAME} from {url}{NAME}" in str(info.value)
    _no_leftovers(tmp_path)


def test_download_mirror_without_trailing_slash(tmp_path, server):
    mirror = server.folder / "mnist"
    mirror.mkdir()
    write_mnist_split(mirror, "t10k", 2)
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in mirror.iterdir()}
    for base in (server.url + "mnist", server.url + "mnist/"):
        dest = tmp_path / f"dl{len(base)}"
        paths = ds.download_mnist(dest, base_url=base, files=files)
        assert [p.read_bytes() for p in paths] == [(mirror / n).read_bytes() for n in files]


def test_download_default_folder_and_kept_files(tmp_path, server, monkeypatch):
    write_mnist_split(server.folder, "t10k", 2)
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in server.folder.iterdir()}
    monkeypatch.setenv("NNNUM_DATA_DIR", str(tmp_path / "env-dir"))
    paths = ds.download_mnist(base_url=server.url, files=files)
    assert {p.parent for p in paths} == {tmp_path / "env-dir"}
    # present with the right checksum: kept, the server is not asked
    server.status(NAME, 500)
    assert ds.download_mnist(None, base_url=server.url, files=files) == paths


def test_download_argument_checks(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_bytes(b"")
    with pytest.raises(ds.DataNotFoundError, match="is a file, not a folder"):
        ds.download_mnist(a_file, files={NAME: ANY_MD5})
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            ds.download_mnist(tmp_path, files={NAME: ANY_MD5}, timeout=bad)
    with pytest.raises(ValueError, match="expected an MD5 hex digest"):
        ds.download_mnist(tmp_path, files={NAME: "abc"})


def test_default_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NNNUM_DATA_DIR", str(tmp_path / "x"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ds.default_data_dir() == tmp_path / "x"
    monkeypatch.delenv("NNNUM_DATA_DIR")
    assert ds.default_data_dir() == tmp_path / "xdg" / "nnnum" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    assert ds.default_data_dir() == tmp_path / "home" / ".cache" / "nnnum" / "mnist"
    monkeypatch.setenv("NNNUM_DATA_DIR", "~/mnist")
    assert ds.default_data_dir() == tmp_path / "home" / "mnist"


# ---- load_mnist as the book calls it; the default folder ---------------------------------


def test_load_mnist_book_calls(tmp_path, monkeypatch):
    images, labels = write_mnist_split(tmp_path, "train", 4)
    write_mnist_split(tmp_path, "t10k", 3, rng=1)
    monkeypatch.setenv("NNNUM_DATA_DIR", str(tmp_path))  # the default folder, files present
    (x, t), (xt, tt) = ds.load_mnist(normalize=True, one_hot_label=True)
    assert x.shape == (4, 784) and x.dtype == np.float32 and t.shape == (4, 10)
    assert xt.shape == (3, 784) and tt.shape == (3, 10) and tt.dtype == np.float64
    (x, t), _ = ds.load_mnist(flatten=False)
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32 and t.dtype == np.uint8
    (x, _), _ = ds.load_mnist(False)  # a leading bool is normalize
    np.testing.assert_array_equal(x, images.reshape(4, 784))
    # the folder first (str or path), then the flags in the book's order
    for args, kwargs in [
        ((str(tmp_path), False, False, True), {}),
        ((tmp_path, False), {"flatten": False, "one_hot_label": True}),
        ((False, False, True), {"data_dir": tmp_path}),
        ((), {"normalize": False, "flatten": False, "one_hot_label": True, "data_dir": tmp_path}),
    ]:
        (x, t), _ = ds.load_mnist(*args, **kwargs)
        assert x.dtype == np.uint8 and x.shape == (4, 1, 28, 28), args
        np.testing.assert_array_equal(t.argmax(axis=1), labels)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("a", "b"), {}, r"normalize must be True or False, got 'b'"),
        ((1,), {}, r"normalize must be True or False, got 1"),
        ((None,), {}, r"normalize must be True or False, got None"),
        (("d", True), {"normalize": True}, r"multiple values for argument 'normalize'"),
        (("d",), {"data_dir": "e"}, r"data folder twice"),
        (("d", True, True, True, True), {}, r"at most 3 flags"),
        ((), {"data_dir": 3}, r"data_dir must be a path or None, got 3"),
    ],
)
def test_load_mnist_argument_errors(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        ds.load_mnist(*args, **kwargs)


def test_load_mnist_downloads_into_the_default_folder(tmp_path, server, monkeypatch):
    write_mnist_split(server.folder, "train", 3)
    write_mnist_split(server.folder, "t10k", 2, rng=1)
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in server.folder.iterdir()}
    monkeypatch.setattr(_download, "MNIST_FILES", files)
    monkeypatch.setattr(_download, "MNIST_MIRROR", server.url.rstrip("/"))
    default = tmp_path / "default-data-dir"  # NNNUM_DATA_DIR (the autouse fixture)
    assert ds.default_data_dir() == default and not default.exists()
    (x, t), (xt, tt) = ds.load_mnist()
    assert x.shape == (3, 784) and xt.shape == (2, 784)
    assert sorted(p.name for p in default.iterdir()) == sorted(files)
    # one file lost: only that one is fetched again
    (default / NAME).unlink()
    server.status("train-images-idx3-ubyte.gz", 500)  # would fail if asked
    (x2, _), (_, tt2) = ds.load_mnist()
    np.testing.assert_array_equal(tt2, tt)


@pytest.mark.parametrize("env", [True, False], ids=["NNNUM_DATA_DIR", "default"])
def test_load_mnist_default_folder_offline(tmp_path, monkeypatch, env):
    if env:
        folder = tmp_path / "default-data-dir"  # NNNUM_DATA_DIR (the autouse fixture)
    else:
        monkeypatch.delenv("NNNUM_DATA_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        folder = tmp_path / "xdg" / "nnnum" / "mnist"
    folder.mkdir(parents=True)
    write_mnist_split(folder, "t10k", 2)  # the test split only
    assert ds.load_mnist(split="test")[0].shape == (2, 784)  # present: no download asked
    with pytest.raises(ds.DataNotFoundError) as info:
        ds.load_mnist()  # the mirror is a closed port (the autouse fixture)
    text = str(info.value)
    where = "(from NNNUM_DATA_DIR)" if env else "(the default data folder)"
    assert f"MNIST files missing in {folder} {where}" in text
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in text
    assert "t10k" not in text.split("downloading")[0]  # names only the missing files
    assert f"run `nnnum download {folder}`" in text
    if env:  # already set: point it elsewhere (or unset it), not "set NNNUM_DATA_DIR"
        assert f"point NNNUM_DATA_DIR (now '{folder}') at one" in text
        assert "unset NNNUM_DATA_DIR" in text and "set NNNUM_DATA_DIR to one" not in text
    else:
        assert "set NNNUM_DATA_DIR to one, or pass data_dir=" in text and "(now " not in text
    assert isinstance(info.value.__cause__, ds.DataDownloadError)
    assert sorted(p.name for p in folder.iterdir()) == sorted(_mnist._SPLITS["test"])  # no .part


# ---- one split: the book's unpacking needs both; split= loads one ------------------------


def test_one_split_missing_is_an_error_that_says_what_to_do(tmp_path):
    write_mnist_split(tmp_path, "t10k", 4)
    with pytest.raises(ds.DataNotFoundError) as info:
        (x_train, t_train), (x_test, t_test) = ds.load_mnist(tmp_path)
    assert str(info.value) == (
        f"MNIST training files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz missing "
        f"in {tmp_path}, so load_mnist() cannot return both splits; run `nnnum download "
        f"{tmp_path}` where the internet is reachable (or copy the four MNIST .gz files "
        "there); or load the test split alone: x, t = load_mnist(..., split='test')"
    )
    x, t = ds.load_mnist(tmp_path, split="test")
    assert x.shape == (4, 784) and t.shape == (4,)
    with pytest.raises(ds.DataNotFoundError, match=r"MNIST training files train-images.* missing"):
        ds.load_mnist(tmp_path, split="train")

    write_mnist_split(tmp_path, "train", 2)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ds.DataNotFoundError) as info:
        ds.load_mnist(tmp_path, one_hot_label=True)
    text = str(info.value)
    assert "MNIST test files t10k-labels-idx1-ubyte.gz missing in" in text
    assert "t10k-images" not in text and "split='train'" in text
    x, t = ds.load_mnist(tmp_path, False, split="train")
    assert x.dtype == np.uint8 and x.shape == (2, 784)


def test_split_keyword_checks(tmp_path):
    write_mnist_split(tmp_path, "train", 3)
    write_mnist_split(tmp_path, "t10k", 2, rng=1)
    (x, t), (xt, tt) = ds.load_mnist(tmp_path, split="both")
    x1, t1 = ds.load_mnist(tmp_path, split="train")
    xt1, tt1 = ds.load_mnist(tmp_path, split="test", one_hot_label=True)
    np.testing.assert_array_equal(x1, x)
    np.testing.assert_array_equal(xt1, xt)
    np.testing.assert_array_equal(tt1.argmax(axis=1), tt)
    for bad in ("t10k", "Test", None, ("train",), 1):
        with pytest.raises(ValueError, match=r"split must be 'both', 'train' or 'test', got"):
            ds.load_mnist(tmp_path, split=bad)


def test_split_downloads_only_its_files_into_the_default_folder(tmp_path, server, monkeypatch):
    write_mnist_split(server.folder, "t10k", 2)
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in server.folder.iterdir()}
    monkeypatch.setattr(_download, "MNIST_FILES", {**ds.MNIST_FILES, **files})
    monkeypatch.setattr(_download, "MNIST_MIRROR", server.url)
    x, t = ds.load_mnist(split="test")  # the training files are not on this server
    assert x.shape == (2, 784)
    folder = tmp_path / "default-data-dir"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)


# ---- train_test_split ------------------------------------------------------------------------


def test_train_test_split_partitions():
    x, t = np.arange(20).reshape(10, 2), np.arange(10)
    (xtr, ttr), (xte, tte) = ds.train_test_split(x, t, test_fraction=0.3, seed=1)
    assert len(xte) == 3 and len(xtr) == 7
    np.testing.assert_array_equal(xtr[:, 0] // 2, ttr)  # pairs stay together
    assert sorted(ttr.tolist() + tte.tolist()) == list(range(10))
    again = ds.train_test_split(x, t, test_fraction=0.3, seed=1)
    np.testing.assert_array_equal(again[1][1], tte)  # seeded
    (xtr, ttr), (xte, tte) = ds.train_test_split(list(range(5)), list(range(5)), 0.0)
    assert len(xtr) == 5 and len(xte) == 0  # test_fraction 0: everything to train


@pytest.mark.parametrize(
    ("n", "n_t", "fraction", "error", "message"),
    [
        (10, 10, float("nan"), ValueError, r"test_fraction must be a finite number in \[0, 1\)"),
        (10, 10, -0.2, ValueError, r"test_fraction .* got -0.2"),
        (10, 10, 1.5, ValueError, r"test_fraction .* got 1.5"),
        (10, 10, 1.0, ValueError, r"test_fraction .* got 1.0"),
        (10, 10, float("inf"), ValueError, r"test_fraction"),
        (10, 10, "0.2", TypeError, r"test_fraction must be a number"),
        (10, 10, True, TypeError, r"test_fraction must be a number"),
        (5, 4, 0.2, ValueError, r"x has 5 samples but t has 4"),
        (0, 0, 0.2, ValueError, r"x is empty"),
        (1, 1, 0.6, ValueError, r"leaves no training samples"),
        (3, 3, 0.9, ValueError, r"puts all 3 in the test part"),
    ],
)
def test_train_test_split_checks(n, n_t, fraction, error, message):
    with pytest.raises(error, match=message):
        ds.train_test_split(np.zeros((n, 2)), np.zeros(n_t), test_fraction=fraction)


def test_labels_that_are_not_digits_are_a_format_error(tmp_path):
    """A labels file with a value above 9 is not MNIST's: DataFormatError naming the label."""
    write_mnist_split(tmp_path, "t10k", 3)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1, 12, 3], np.uint8), 2049)
    with pytest.raises(ds.DataFormatError, match="label 12 is not a digit: not an MNIST labels"):
        ds.load_mnist(tmp_path, split="test")


def test_data_folder_that_cannot_be_opened_is_an_access_error(tmp_path, monkeypatch):
    """stat() refused (no search permission): a DataAccessError saying to make it readable."""
    import errno
    import os

    folder = tmp_path / "mnist"
    write_mnist_split(folder.parent, "t10k", 1)
    real_stat = os.stat

    def denied(path, *args, **kwargs):
        if Path(path) == folder:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", denied)
    with pytest.raises(ds.DataAccessError) as info:
        ds.load_mnist(folder, split="test")
    assert str(info.value) == (
        f"cannot open the MNIST data folder {folder}: {folder}: Permission denied; make it "
        "readable, or give another folder"
    )
