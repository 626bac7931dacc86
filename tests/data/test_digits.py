"""Tests of nnnum.data.load_digits: scikit-learn's 8x8 digits, and what happens without it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import nnnum.data as ds


def test_unnormalised_digits_are_the_pixel_counts():
    """normalize=False: float32 counts 0..16, exactly 16 times the normalised pixels."""
    raw, t = ds.load_digits(normalize=False)
    x, t2 = ds.load_digits()
    assert raw.dtype == np.float32 and raw.max() == 16.0 and raw.min() == 0.0
    np.testing.assert_array_equal(raw / 16.0, x)
    np.testing.assert_array_equal(t, t2)


def test_without_scikit_learn_the_error_says_what_to_install(monkeypatch):
    """scikit-learn missing: an ImportError naming the extra to install."""
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails, as uninstalled
    with pytest.raises(ImportError, match=r"needs scikit-learn: pip install nnnum\[data\]"):
        ds.load_digits()
