"""``TwoLayerNet.numerical_gradient``'s ``strategy=``: its words, its check, the old alias."""

from __future__ import annotations

import warnings
from typing import Any, Final, Literal, cast

from ..diff.stencils import KINDS

GradStrategy = Literal["auto", "structured", "brute"]
STRATEGIES = ("auto", "structured", "brute")
#: the words of :func:`nnnum.numerical_gradient`'s ``method=``: not an option of the net's gradient
STENCIL_WORDS = (*KINDS, "complex")


class _Default(str):
    """A default string that ``is`` tells apart from the same word passed explicitly."""

    __slots__ = ()


#: ``strategy``'s default: ``"auto"``, but ``strategy is AUTO`` only when it was not given
AUTO: Final = cast(GradStrategy, _Default("auto"))


def check_strategy(strategy: Any) -> None:
    """An unknown ``strategy`` is a ``ValueError`` (with a hint when it names a stencil)."""
    if strategy not in STRATEGIES:
        hint = (
            ": a stencil is not an option of TwoLayerNet.numerical_gradient (its differences "
            "are central; order= picks their order)"
            if strategy in STENCIL_WORDS
            else ""
        )
        raise ValueError(
            f"strategy must be 'auto', 'structured' or 'brute', not {strategy!r}{hint}"
        )


def strategy_from_method(method: Any, strategy: Any) -> Any:
    """``strategy`` from the deprecated ``method=`` (its name before 0.2.0), or a clear error.

    Call it from ``numerical_gradient`` itself: the warning points one frame above it.
    """
    if isinstance(method, str) and method in STENCIL_WORDS:
        raise TypeError(
            f"TwoLayerNet.numerical_gradient takes no stencil (method={method!r} is one of "
            "nnnum.numerical_gradient's): its differences are always central, order= picks "
            "their order; structured vs brute force is strategy="
        )
    if strategy is not AUTO:
        raise TypeError(
            "TwoLayerNet.numerical_gradient got both strategy= and method=, its deprecated "
            f"alias (strategy={strategy!r}, method={method!r}): give strategy= only"
        )
    warnings.warn(
        "TwoLayerNet.numerical_gradient(method=...) is deprecated since 0.2.0 and will be "
        f"removed in 0.3.0: use strategy={method!r}",
        DeprecationWarning,
        stacklevel=3,
    )
    return method
