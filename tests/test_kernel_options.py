"""The one fastmath set nnnum uses: contraction only (no nnan, ninf: NaN and inf checks work).

Where kernels may be compiled at all, and with which named flag sets, is the guard of
tests/test_jit_in_one_place.py (it walks every module of the package).
"""

from nnnum._core import jit as _jit


def test_only_contract_is_ever_used():
    assert _jit.CONTRACT == frozenset({"contract"})
