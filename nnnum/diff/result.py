"""What the public differentiation functions return: the stencil's name, the full result."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .finish import DiffResult, Outcome
from .stencils import Stencil

__all__ = ["Method", "full_result"]

#: ``method=`` of the public functions: a stencil's kind, or the complex step.
Method = Literal["central", "forward", "backward", "complex"]


def full_result(out: Outcome, df: Any, st: Stencil) -> DiffResult:
    """The :class:`DiffResult` of a finished plan, its derivative ``df`` already shaped."""
    return DiffResult(
        df=df,
        error=out.error,
        nfev=out.nfev,
        step=out.step,
        order=out.order,
        method=st.kind,
        status=np.reshape(out.status, np.shape(out.error)),
    )
