"""Write the API reference's index from ``nnnum.__all__`` (used by ``conf.py`` and the tests).

Every public name gets one autosummary entry, so one generated page; names are
grouped by the subpackage that defines them, and a name from a subpackage not
listed in ``SECTIONS`` still gets its page, under "Other".
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
    ("nnnum._jit", "Compiling f", "编译 f"),
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


def render(zh: bool = False) -> str:
    """The reStructuredText of the API index."""
    parts = [INTRO_ZH if zh else INTRO_EN, ".. currentmodule:: nnnum\n"]
    for en, zh_title, names in sections():
        title = zh_title if zh else en
        parts.append(f"{title}\n{'-' * (2 * len(title) if zh else len(title))}\n")
        parts.append(".. autosummary::\n   :toctree: generated\n   :nosignatures:\n")
        parts.append("".join(f"   {n}\n" for n in names))
    return "\n".join(parts)


def write_api_index(path: Path, zh: bool = False) -> Path:
    """Write ``render(zh)`` to ``path`` when it changed (keeps Sphinx's cache valid)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(zh)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path
