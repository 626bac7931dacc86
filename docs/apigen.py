"""Write the API reference's index from ``nnnum.__all__`` (used by ``conf.py`` and the tests).

Every public name gets one page, ``api/generated/nnnum.<name>.rst`` (an
``autofunction``, ``autoclass`` or ``autodata`` of it), and one row in the index
with the first paragraph of its docstring; names are grouped by the subpackage that
defines them, and a name from a subpackage not listed in ``SECTIONS`` still gets its
page, under "Other".
"""

from __future__ import annotations

import inspect
from pathlib import Path

import nnnum

#: (module prefix, English title, Chinese title), first match wins
SECTIONS = (
    ("nnnum.diff", "Numerical differentiation", "数值微分"),
    ("nnnum.losses", "Loss functions", "损失函数"),
    ("nnnum.functions", "Activation functions", "激活函数"),
    ("nnnum.nets", "Networks", "神经网络"),
    ("nnnum.learn", "Gradient descent, training, gradient checks", "梯度法、训练与梯度确认"),
    ("nnnum.data", "Data sets", "数据集"),
    ("nnnum.backends", "Backends", "后端"),
    ("nnnum._core.jit", "Compiling f", "编译 f"),
)
OTHER = ("Other", "其他")

INTRO_EN = """\
API reference
=============

Every name of ``nnnum.__all__``, grouped by the subpackage that defines it, each
with its docstring (numpydoc) on a page of its own. ``from nnnum import *`` gives
all of them, the book's names included.
"""
INTRO_ZH = """\
API 参考
========

``nnnum.__all__`` 中的每一个名字，按定义它的子包分组，各有一页（numpydoc 格式的
文档字符串，英文）。``from nnnum import *`` 会导入全部名字，包括书中的名字。
"""


def public_names() -> list[str]:
    """The names to document: ``nnnum.__all__`` less ``__version__``."""
    return [n for n in nnnum.__all__ if not n.startswith("__")]


def home(name: str) -> str:
    """The module that defines ``nnnum.<name>`` (``nnnum`` for plain values)."""
    obj = getattr(nnnum, name)
    mod = getattr(obj, "__module__", None) if (inspect.isclass(obj) or callable(obj)) else None
    return mod or "nnnum"


def sections() -> list[tuple[str, str, list[str]]]:
    """``(title_en, title_zh, names)`` for every non-empty group, names sorted."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in public_names():
        mod = home(name)
        key = next(((en, zh) for p, en, zh in SECTIONS if mod.startswith(p)), OTHER)
        groups.setdefault(key, []).append(name)
    order = [(en, zh) for _, en, zh in SECTIONS] + [OTHER]
    out = []
    for key in dict.fromkeys(order):
        if key in groups:
            out.append((key[0], key[1], sorted(groups[key], key=str.lower)))
    return out


def summary(name: str) -> str:
    """The first paragraph of ``nnnum.<name>``'s docstring, on one line."""
    doc = inspect.getdoc(getattr(nnnum, name)) or ""
    if not callable(getattr(nnnum, name)):
        return ""
    return " ".join(doc.split("\n\n")[0].split())


def kind(name: str) -> str:
    """The autodoc directive for ``nnnum.<name>``."""
    obj = getattr(nnnum, name)
    if inspect.isclass(obj):
        return "autoclass"
    return "autofunction" if callable(obj) else "autodata"


def page(name: str) -> str:
    """The reStructuredText of ``nnnum.<name>``'s page."""
    title = f"nnnum.{name}"
    body = f"{title}\n{'=' * len(title)}\n\n.. currentmodule:: nnnum\n\n.. {kind(name)}:: {name}\n"
    if kind(name) == "autoclass":
        body += "   :members:\n   :show-inheritance:\n" if _has_own_members(name) else ""
    return body


def _has_own_members(name: str) -> bool:
    obj = getattr(nnnum, name)
    if issubclass(obj, BaseException):
        return False
    return any(
        not k.startswith("_") and (callable(v) or isinstance(v, property))
        for k, v in vars(obj).items()
    )


def render(zh: bool = False) -> str:
    """The reStructuredText of the API index."""
    parts = [INTRO_ZH if zh else INTRO_EN]
    for en, zh_title, names in sections():
        title = zh_title if zh else en
        parts.append(f"{title}\n{'-' * (2 * len(title) if zh else len(title))}\n")
        rows = "".join(
            f"   * - :doc:`{n} <generated/nnnum.{n}>`\n     - {summary(n) or ' '}\n" for n in names
        )
        parts.append(f".. list-table::\n   :widths: 30 70\n\n{rows}")
        parts.append(
            ".. toctree::\n   :hidden:\n\n" + "".join(f"   generated/nnnum.{n}\n" for n in names)
        )
    return "\n".join(parts)


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_api_index(path: Path, zh: bool = False) -> Path:
    """Write the index (``render(zh)``) to ``path`` and one page per name beside it.

    Files are rewritten only when they change (keeps Sphinx's cache valid); pages of
    names that left ``__all__`` are removed.
    """
    gen = path.parent / "generated"
    gen.mkdir(parents=True, exist_ok=True)
    _write(path, render(zh))
    want = {f"nnnum.{n}.rst": page(n) for n in public_names()}
    for old in gen.glob("*.rst"):
        if old.name not in want:
            old.unlink()
    for fname, text in want.items():
        _write(gen / fname, text)
    return path
