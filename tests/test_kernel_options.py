"""Kernel options are decided in one place (nnnum/_jit.py): a guard like stumpy's check_fastmath."""

import re
from pathlib import Path

import nnnum

PKG = Path(nnnum.__file__).parent


def test_no_kernel_bypasses_the_jit_wrapper():
    for path in PKG.glob("*.py"):
        if path.name == "_jit.py":
            continue
        text = path.read_text()
        code_use = re.search(r"^\s*@(numba\.)?n?jit\b|(numba\.)?njit\(|numba\.jit\(", text, re.M)
        assert not code_use, f"{path.name} compiles outside _jit: {code_use.group(0)!r}"
        assert "fastmath=True" not in text, f"{path.name} turns on every fastmath flag"


def test_only_contract_is_ever_used():
    from nnnum import _jit

    assert _jit.CONTRACT == frozenset({"contract"})
    for path in PKG.glob("*.py"):
        for flags in re.findall(r"fastmath=([A-Za-z_]+|\{[^}]*\})", path.read_text()):
            assert flags in ("CONTRACT", "fastmath", "False", "fm"), (path.name, flags)
