"""Every CPU kernel of nnnum compiles through the one jit wrapper (``_core/jit.py``), anywhere.

A guard like stumpy's ``check_fastmath``: it parses every ``.py`` file under ``nnnum/``, however
deep (the kernels live in ``backends/``, ``nets/`` and ``diff/engines/``), so a kernel module that
calls Numba's CPU compilers itself, or turns on every fastmath flag, fails here. It reads the
code, not the text: a docstring that shows ``@njit(...)`` to the user is not a kernel. The CUDA
kernels (``cuda.jit``) are another target and are not the wrapper's business.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nnnum

PKG = Path(nnnum.__file__).parent
JIT = PKG / "_core" / "jit.py"
#: Numba's CPU compilers: only _core/jit.py may name them
COMPILERS = {"njit", "jit", "vectorize", "guvectorize", "cfunc", "generated_jit", "stencil"}
NAMED_FASTMATH = ("CONTRACT", "fastmath", "fm")


def _sources() -> list[Path]:
    """Every Python file of the package except the wrapper itself, wherever it lives."""
    return sorted(p for p in PKG.rglob("*.py") if p != JIT)


def _bypasses(tree: ast.AST) -> list[str]:
    """The places in ``tree`` that reach a Numba CPU compiler other than through ``_jit``."""
    numba_names = {"numba"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            numba_names |= {a.asname or a.name for a in node.names if a.name == "numba"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "numba":
            found += [
                f"line {node.lineno}: from numba import {a.name}"
                for a in node.names
                if a.name in COMPILERS
            ]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in COMPILERS
            and isinstance(node.value, ast.Name)
            and node.value.id in numba_names
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def _fastmath_values(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.value.lineno, ast.unparse(node.value))
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "fastmath"
    ]


def test_the_walk_reaches_the_kernel_modules_of_the_subpackages():
    deep = [
        p
        for p in _sources()
        if p.parent != PKG and "_core.jit import" in p.read_text(encoding="utf-8")
    ]
    assert len(deep) >= 3, deep  # backends', nets' and the prange engine's kernels at least


def test_no_kernel_anywhere_bypasses_the_jit_wrapper():
    for path in _sources():
        found = _bypasses(ast.parse(path.read_text(encoding="utf-8")))
        where = path.relative_to(PKG).as_posix()
        assert not found, f"{where} compiles outside _core/jit.py: {found}"


def test_only_named_fastmath_sets_anywhere():
    for path in [*_sources(), JIT]:
        for line, value in _fastmath_values(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(PKG).as_posix()}:{line}"
            assert value != "True", f"{where} turns on every fastmath flag"
            assert value in (*NAMED_FASTMATH, "False"), (where, value)


def test_the_guard_sees_each_way_round_it():
    planted = {
        "@numba.njit\ndef k(x):\n    return x\n": "numba.njit",
        "import numba as nb\nk = nb.njit(cache=True)(abs)\n": "nb.njit",
        "from numba import njit, prange\n": "from numba import njit",
        "import numba\nk = numba.vectorize(['f8(f8)'])(abs)\n": "numba.vectorize",
    }
    for code, what in planted.items():
        assert [what in f for f in _bypasses(ast.parse(code))] == [True], code
    fine = (
        '"""Use ``@njit("float64(float64[:])")``."""\n'
        "from numba import cuda, prange\n@cuda.jit\ndef k(x):\n    pass\n"
    )
    assert _bypasses(ast.parse(fine)) == []
    assert _fastmath_values(ast.parse("k = kernel(fastmath=True)")) == [(1, "True")]
