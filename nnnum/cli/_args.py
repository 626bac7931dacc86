"""The command line's argument types, exit statuses and its user error."""

from __future__ import annotations

import argparse
import math

DATASETS = ("digits", "mnist")

#: Exit status of an ordinary user error (bad option, missing data, unwritable folder), as argparse.
EXIT_USAGE = 2
#: Exit status of a run that failed on its own terms (diverged training, failed gradcheck).
EXIT_FAILURE = 1


class UsageError(Exception):
    """An ordinary user error: :func:`main` prints it as one ``error: ...`` line, exit status 2."""


# ----------------------------------------------------------------- argument types
def _number(text: str, *, strict: bool) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    bound = "> 0" if strict else ">= 0"
    if not math.isfinite(v) or v < 0 or (strict and v == 0):
        raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
    return v


def positive_float(text: str) -> float:
    """Argparse type: a finite number > 0."""
    return _number(text, strict=True)


def nonnegative_float(text: str) -> float:
    """Argparse type: a finite number >= 0."""
    return _number(text, strict=False)


def _integer(text: str, minimum: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """Argparse type: a whole number >= 1."""
    return _integer(text, 1)


def nonnegative_int(text: str) -> int:
    """Argparse type: a whole number >= 0 (a seed)."""
    return _integer(text, 0)


def mirror_url(text: str) -> str:
    """Argparse type: a mirror URL, given a trailing ``/`` if it has none."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the mirror URL is empty")
    return text if text.endswith("/") else text + "/"
