"""The IDX reader: every header field, sizes, element types, extra bytes."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import nnnum.data as ds

from ..conftest import idx_bytes


# ---- the IDX format: every header field -----------------------------------------------------
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("extra", [1, 7])
def test_idx_extra_bytes_name_the_file(tmp_path, gz, extra):
    path = tmp_path / ("t10k-labels-idx1-ubyte" + (".gz" if gz else ""))
    payload = idx_bytes(2049, 5, data=bytes(5 + extra))
    path.write_bytes(gzip.compress(payload) if gz else payload)
    # a plain file's size says how many; a gzip stream is read only one byte past the data
    message = "extra bytes after the 5 data bytes" if gz else f": {extra} extra bytes after the 5"
    with pytest.raises(ds.DataFormatError, match=message) as info:
        ds.load_idx(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_exact_size_loads_every_shape(tmp_path, gz):
    for magic, dims in ((2049, (3,)), (2051, (2, 3, 4))):
        arr = np.arange(int(np.prod(dims)), dtype=np.uint8).reshape(dims)
        payload = idx_bytes(magic, *dims, data=arr.tobytes())
        path = tmp_path / f"f{magic}{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(payload) if gz else payload)
        out = ds.load_idx(path, expect_magic=magic)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (idx_bytes(2049, 5, data=bytes(4)), "truncated"),  # one data byte short
        (idx_bytes(2049, 5, data=b""), "truncated"),
        (b"\x00\x00\x08", "truncated|magic"),  # magic cut short
        (idx_bytes(2051, 2, 3, data=b""), "truncated"),  # dims cut short
        (idx_bytes(2049, 0), "0|empty|zero"),  # a zero dimension
        (idx_bytes(0x0D01, 3), "magic"),  # float type byte
        (idx_bytes(0x0801 | 0x01000000, 3), "magic"),  # nonzero first byte
        (idx_bytes(2052, 3, 3, 3, 3), "magic"),  # 4 dimensions
        (idx_bytes(2048), "magic"),  # 0 dimensions
    ],
    ids=[
        "short-1",
        "no-data",
        "short-magic",
        "short-dims",
        "zero-dim",
        "float-type",
        "first-byte",
        "four-dims",
        "no-dims",
    ],
)
def test_idx_each_header_field_is_checked(tmp_path, gz, payload, message):
    path = tmp_path / ("data-idx" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(ds.DataFormatError, match=message) as info:
        ds.load_idx(path)
    assert str(info.value).startswith(f"{path}: ")


def test_idx_expected_magic_for_images_and_labels(tmp_path):
    path = tmp_path / "x-idx"
    path.write_bytes(idx_bytes(2049, 3))
    with pytest.raises(ds.DataFormatError, match="expected 2051"):
        ds.load_idx(path, expect_magic=2051)
    assert ds.load_idx(path, expect_magic=2049).shape == (3,)
    path.write_bytes(idx_bytes(2051, 2, 2, 2))
    with pytest.raises(ds.DataFormatError, match="expected 2049"):
        ds.load_idx(path, expect_magic=2049)


def test_idx_max_bytes_is_inclusive(tmp_path):
    path = tmp_path / "x-idx"
    path.write_bytes(idx_bytes(2049, 6))
    assert ds.load_idx(path, max_bytes=6).shape == (6,)
    with pytest.raises(ds.DataFormatError, match="limit of 5 bytes"):
        ds.load_idx(path, max_bytes=5)


def test_idx_other_element_types_are_named_with_their_dimensions(tmp_path):
    path = tmp_path / "x-idx"
    path.write_bytes(idx_bytes(0x0D03, 2, 2, 2))  # floats in 3 dimensions
    with pytest.raises(ds.DataFormatError, match=r"in 3 dimensions, which is not supported"):
        ds.load_idx(path)


def test_idx_size_exactly_int64_max_is_not_called_beyond_int64(tmp_path):
    path = tmp_path / "x-idx"
    dims = (153092023, 92737, 649657)  # product 2**63 - 1 exactly
    assert dims[0] * dims[1] * dims[2] == 2**63 - 1
    path.write_bytes(idx_bytes(2051, *dims, data=b""))
    with pytest.raises(ds.DataFormatError, match="more than the limit") as info:
        ds.load_idx(path)
    assert "more than int64 can count" not in str(info.value)
    path.write_bytes(idx_bytes(2051, 153092023, 92737, 649658, data=b""))  # one row more
    with pytest.raises(ds.DataFormatError, match="more than int64 can count"):
        ds.load_idx(path)
