"""Command line: ``nnnum train``, ``nnnum gradcheck``, ``nnnum download``, ``nnnum info``.

Ordinary user errors (bad option values, missing or bad data, an unusable
backend, an unwritable output folder, a failed download) print one
``error: ...`` line on stderr and exit with status 2, never a traceback; a
diverged training or a failed gradcheck exits with 1.

The package: :mod:`._args` (argument types, exit statuses, :class:`UsageError`),
:mod:`._commands` (one function a command), this module (the parser and :func:`main`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._args import (
    DATASETS,
    EXIT_FAILURE,
    EXIT_USAGE,
    UsageError,
    mirror_url,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from ._commands import cmd_download, cmd_gradcheck, cmd_info, cmd_train

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "UsageError", "build_parser", "main"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` for options that have a default (not for flags or None)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "%(default)" in text
            or not action.option_strings
            or action.default is None
            or action.default is False
            or action.default == argparse.SUPPRESS
        ):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Argument errors as one ``error: ...`` line (exit status 2), like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nnnum`` command."""
    from ..data import MNIST_MIRROR

    p = _Parser(
        prog="nnnum",
        description="Learning by numerical differentiation, fast.",
        formatter_class=_HelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--dataset",
            choices=DATASETS,
            default=None,
            help="digits: scikit-learn's bundled 8x8 digits (offline), split 80/20; mnist: the "
            "IDX files in --data-dir (default: digits, or mnist when --data-dir is given)",
        )
        sp.add_argument(
            "--data-dir",
            metavar="DIR",
            help="folder with the MNIST .gz files (`nnnum download DIR` fetches them); "
            "implies --dataset mnist, and is an error with --dataset digits",
        )
        sp.add_argument("--hidden", type=positive_int, default=50, help="hidden units")
        sp.add_argument(
            "--weight-init-std",
            type=positive_float,
            default=0.01,
            help="standard deviation of the initial weights",
        )
        sp.add_argument(
            "--seed",
            type=nonnegative_int,
            default=0,
            help="seeds the initial weights, the digits split and the mini-batches",
        )

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=_HelpFormatter)

    t = command("train", "train a TwoLayerNet by mini-batch SGD")
    data_opts(t)
    t.add_argument(
        "--gradient",
        choices=("numerical", "backprop"),
        default="numerical",
        help="numerical: central differences, the book's chapter 4; backprop: the exact gradient",
    )
    t.add_argument("--iters", type=positive_int, default=2000, help="SGD iterations")
    t.add_argument(
        "--batch-size",
        type=positive_int,
        default=100,
        help="samples per mini-batch; a larger value is clamped to the training set's size",
    )
    t.add_argument("--lr", type=positive_float, default=1.0, help="learning rate")
    t.add_argument(
        "--output-dir",
        metavar="DIR",
        default="nnnum-output",
        help="where history.json and training.png go; created, and checked before training",
    )
    t.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no per-epoch accuracy lines: the header and the summary only",
    )
    t.set_defaults(func=cmd_train)

    g = command("gradcheck", "numerical vs backprop gradient of a TwoLayerNet")
    data_opts(g)
    g.add_argument(
        "--batch-size",
        type=positive_int,
        default=100,
        help="samples in the batch (at most the training set)",
    )
    g.add_argument(
        "--strategy",
        choices=("structured", "brute"),
        default="structured",
        help="structured: the fast numerical gradient; brute: the book's loop",
    )
    g.add_argument(  # its name before 0.2.0, kept working but no longer shown
        "--method",
        dest="strategy",
        choices=("structured", "brute"),
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    g.add_argument(
        "--rtol", type=nonnegative_float, default=1e-4, help="relative tolerance of the check"
    )
    g.add_argument(
        "--atol", type=nonnegative_float, default=1e-8, help="absolute tolerance of the check"
    )
    g.set_defaults(func=cmd_gradcheck)

    d = command("download", "download MNIST (checksums verified)")
    d.add_argument("data_dir", metavar="DIR", help="folder to write the four .gz files to")
    d.add_argument(
        "--mirror",
        type=mirror_url,
        default=MNIST_MIRROR,
        metavar="URL",
        help="mirror to download from (a / is added if missing)",
    )
    d.set_defaults(func=cmd_download)

    i = command("info", "backend, threads, versions, GPU")
    i.set_defaults(func=cmd_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nnnum`` command.

    Returns
    -------
    int
        The exit status: 0 success; 1 a run that failed (diverged training,
        failed gradcheck); 2 a user error (bad option, missing or bad data,
        unusable backend, unwritable output folder, failed download), printed
        as one ``error: ...`` line on stderr. Argument errors exit with 2
        through argparse's ``SystemExit``.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print("error: " + str(exc).replace("\n", " "), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
