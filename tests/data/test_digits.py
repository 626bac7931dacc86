"""Tests of nnnum.data.load_digits: scikit-learn's 8x8 digits, and what happens without it."""

from __future__ import annotations

import gzip
import sys
import warnings

import numpy as np
import pytest

import nnnum.data as ds
from nnnum.data import _digits

from ..fresh_python import run_python


def test_unnormalised_digits_are_the_pixel_counts():
    """normalize=False: float32 counts 0..16, exactly 16 times the normalised pixels."""
    raw, t = ds.load_digits(normalize=False)
    x, t2 = ds.load_digits()
    assert raw.dtype == np.float32 and raw.max() == 16.0 and raw.min() == 0.0
    np.testing.assert_array_equal(raw / 16.0, x)
    np.testing.assert_array_equal(t, t2)


def test_without_scikit_learn_the_error_says_what_to_install(monkeypatch):
    """scikit-learn missing: an ImportError naming the extra to install."""
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import fails, as uninstalled
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"needs scikit-learn: pip install nnnum\[data\]"):
        ds.load_digits()


@pytest.mark.parametrize("normalize", [True, False])
def test_the_file_gives_scikit_learns_values_bit_for_bit(monkeypatch, normalize):
    from sklearn.datasets import load_digits as sk_digits

    sk = sk_digits()
    assert _digits._bundled_file() is not None  # read from the file, not through sklearn
    x, t = ds.load_digits(normalize)
    monkeypatch.setattr(_digits, "_bundled_table", lambda: None)
    x_sk, t_sk = ds.load_digits(normalize)
    want = sk.data.astype(np.float32)
    want = want / 16.0 if normalize else want
    for a, b in ((x, want), (x_sk, want), (t, sk.target), (t_sk, sk.target)):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def test_loading_does_not_import_sklearn_datasets():
    proc = run_python(
        "import sys; from nnnum.data import load_digits; x, t = load_digits(); "
        "print('sklearn.datasets' in sys.modules, x.shape)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "(1797,", "64)"]


@pytest.mark.parametrize(
    "content",
    [
        b"not gzip",
        gzip.compress(b""),
        gzip.compress(b"1,2,3\n4,5,6\n"),
        gzip.compress((b"0," * 64 + b"12\n") * 1797),
    ],
    ids=["not_gzip", "empty", "other_shape", "label_out_of_range"],
)
def test_an_odd_file_falls_back_to_scikit_learn(monkeypatch, tmp_path, content):
    odd = tmp_path / "digits.csv.gz"
    odd.write_bytes(content)
    monkeypatch.setattr(_digits, "_bundled_file", lambda: odd)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quietly
        assert _digits._bundled_table() is None
    x, t = ds.load_digits()
    assert x.shape == (1797, 64) and t[:5].tolist() == [0, 1, 2, 3, 4]
