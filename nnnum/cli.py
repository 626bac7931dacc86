"""Command line: ``nnnum train``, ``nnnum gradcheck``, ``nnnum download``, ``nnnum info``.

Ordinary user errors (bad option values, missing or bad data, an unusable
backend, an unwritable output folder, a failed download) print one
``error: ...`` line on stderr and exit with status 2, never a traceback; a
diverged training or a failed gradcheck exits with 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

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


# ------------------------------------------------------------------ steps that fail on users
def _check_backend() -> str:
    """The backend ``NNNUM_BACKEND`` names, checked to be usable here (CuPy and a GPU for cupy)."""
    from .backends import BackendUnavailableError, get_backend, use_backend

    try:
        name = get_backend()
        with use_backend(name):
            pass
    except (ValueError, BackendUnavailableError) as exc:
        raise UsageError(str(exc)) from exc
    return name


def _dataset(args: argparse.Namespace) -> str:
    """``--dataset``, resolved: ``--data-dir`` alone implies mnist."""
    if args.dataset is None:
        return "mnist" if args.data_dir is not None else "digits"
    if args.dataset == "digits" and args.data_dir is not None:
        raise UsageError(
            "--data-dir is for --dataset mnist (the digits come with scikit-learn); "
            "drop --data-dir or use --dataset mnist"
        )
    if args.dataset == "mnist" and args.data_dir is None:
        raise UsageError(
            "--dataset mnist needs --data-dir, a folder with the MNIST .gz files "
            "(`nnnum download DIR` fetches them)"
        )
    return str(args.dataset)


def _data_errors() -> tuple[type[BaseException], ...]:
    """What the data loaders raise for bad or missing data (``datasets.DataError`` if defined)."""
    from . import data as datasets

    base = getattr(datasets, "DataError", None)
    extra = (base,) if isinstance(base, type) and issubclass(base, BaseException) else ()
    return (OSError, ValueError, *extra)


def _load(dataset: str, data_dir: str | None, seed: int) -> tuple[Any, Any, Any, Any, str]:
    from . import data as datasets

    if dataset == "digits":
        try:
            x, t = datasets.load_digits()
        except ImportError as exc:
            raise UsageError(str(exc)) from exc
        (xtr, ttr), (xte, tte) = datasets.train_test_split(x, t, seed=seed)
        return xtr, ttr, xte, tte, "scikit-learn digits (8x8), 80/20 split"
    assert data_dir is not None
    root = Path(data_dir)
    if not root.exists():
        raise UsageError(
            f"--data-dir {data_dir}: no such folder (`nnnum download {data_dir}` fetches MNIST)"
        )
    if not root.is_dir():
        raise UsageError(f"--data-dir {data_dir} is a file, not a folder")
    absent = [name for name in datasets.MNIST_FILES if not (root / name).is_file()]
    if len(absent) == len(datasets.MNIST_FILES):
        raise UsageError(
            f"no MNIST files in {data_dir}: expected {', '.join(datasets.MNIST_FILES)} "
            f"(`nnnum download {data_dir}` fetches them)"
        )
    # a complete split alone is loaded alone (load_mnist needs both splits otherwise)
    have_train = not any(name.startswith("train-") for name in absent)
    have_test = not any(name.startswith("t10k-") for name in absent)
    train = test = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if have_train == have_test:
                train, test = datasets.load_mnist(data_dir)
            elif have_train:
                train = datasets.load_mnist(data_dir, split="train")
            else:
                test = datasets.load_mnist(data_dir, split="test")
        except _data_errors() as exc:
            raise UsageError(f"cannot load MNIST from {data_dir}: {exc}") from exc
    if train is not None and test is not None:
        for w in caught:
            print(f"note: {w.message}", file=sys.stderr)
        return train[0], train[1], test[0], test[1], "MNIST train/t10k"
    # one split only (load_mnist warned about it; say it in the command's terms)
    x, t = train if train is not None else test  # type: ignore[misc]
    n_train = int(round(0.8 * len(x)))
    which = "training" if train is not None else "test (t10k)"
    print(
        f"note: only the {which} files are in {data_dir} ({', '.join(absent)} missing): "
        f"training on its first {n_train} samples, testing on the last {len(x) - n_train}",
        file=sys.stderr,
    )
    return (
        x[:n_train],
        t[:n_train],
        x[n_train:],
        t[n_train:],
        f"MNIST, one split only: first {n_train} to train, last {len(x) - n_train} to test",
    )


def _prepare_output_dir(path: str) -> Path:
    """Create ``path`` and check that a file can be written there, before any training."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output-dir {path} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"--output-dir {path}: cannot write there ({reason})") from exc
    return out


def _batch_size(requested: int, n_train: int) -> int:
    """The mini-batch size used: at most the training set, with a note when clamped."""
    if requested <= n_train:
        return requested
    print(
        f"note: --batch-size {requested} is more than the {n_train} training samples: "
        f"using {n_train}",
        file=sys.stderr,
    )
    return n_train


def _make_net(input_size: int, args: argparse.Namespace) -> Any:
    from .nets import TwoLayerNet

    try:
        with np.errstate(over="raise", invalid="raise"):
            return TwoLayerNet(
                input_size, args.hidden, 10, weight_init_std=args.weight_init_std, seed=args.seed
            )
    except FloatingPointError as exc:
        raise UsageError(
            f"--weight-init-std {args.weight_init_std:g} is too large: the initial weights overflow"
        ) from exc


# ----------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    """Run ``nnnum train``; exit status 1 when the training diverges."""
    from .learn.train import TrainingDivergedError, plot_history, train

    backend = _check_backend()
    dataset = _dataset(args)
    xtr, ttr, xte, tte, desc = _load(dataset, args.data_dir, args.seed)
    out = _prepare_output_dir(args.output_dir)
    batch_size = _batch_size(args.batch_size, len(xtr))
    net = _make_net(xtr.shape[1], args)
    print(f"data: {desc}: {len(xtr)} train, {len(xte)} test, {xtr.shape[1]} inputs")
    print(
        f"net:  TwoLayerNet({xtr.shape[1]}, {args.hidden}, 10), {args.gradient} gradient, "
        f"lr={args.lr}, batch={batch_size}, iters={args.iters}, seed={args.seed}, "
        f"backend={backend}",
        flush=True,
    )
    try:
        hist = train(
            net,
            xtr,
            ttr,
            xte,
            tte,
            iters=args.iters,
            batch_size=batch_size,
            lr=args.lr,
            gradient=args.gradient,
            seed=args.seed,
            progress=False if args.quiet else None,
            verbose=not args.quiet,
        )
    except TrainingDivergedError as exc:
        hint = f"try a lower --lr than {args.lr:g}"
        if exc.iteration == 0:
            hint += " or a lower --weight-init-std"
        print(
            f"error: training diverged at iteration {exc.iteration} ({exc.reason}); {hint}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    per_it = 1000 * hist.seconds / hist.iters
    print(f"done in {hist.seconds:.1f} s ({per_it:.1f} ms/iteration, evaluations included)")
    print(
        f"final loss {hist.train_loss[-1]:.4f}  train acc {hist.train_acc[-1]:.4f}  "
        f"test acc {hist.test_acc[-1]:.4f}"
    )
    summary = {
        "dataset": desc,
        "gradient": args.gradient,
        "lr": args.lr,
        "iters": args.iters,
        "batch_size": hist.batch_size,
        "hidden": args.hidden,
        "weight_init_std": args.weight_init_std,
        "seed": args.seed,
        "backend": backend,
        "seconds": hist.seconds,
        "eval_iters": hist.eval_iters,
        "train_acc": hist.train_acc,
        "test_acc": hist.test_acc,
        "final_loss": float(hist.train_loss[-1]),
    }
    (out / "history.json").write_text(json.dumps(summary, indent=1))
    try:
        png = plot_history(
            hist,
            out / "training.png",
            title=f"TwoLayerNet on {dataset}, {args.gradient} gradient",
        )
        print(f"plot: {png}")
    except ImportError:
        print("plot: skipped (matplotlib not installed: pip install nnnum[plot])")
    print(f"history: {out / 'history.json'}")
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """Run ``nnnum gradcheck``; exit status 1 when the check fails."""
    from .learn import gradcheck

    _check_backend()
    xtr, ttr, _, _, desc = _load(_dataset(args), args.data_dir, args.seed)
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(xtr), _batch_size(args.batch_size, len(xtr)), replace=False)
    net = _make_net(xtr.shape[1], args)
    t0 = time.perf_counter()
    res = gradcheck(net, xtr[idx], ttr[idx], rtol=args.rtol, atol=args.atol, strategy=args.strategy)
    print(
        f"gradcheck on {desc}, batch {len(idx)}, strategy {args.strategy} "
        f"({time.perf_counter() - t0:.2f} s)"
    )
    print(res.report())
    return 0 if res else EXIT_FAILURE


def cmd_download(args: argparse.Namespace) -> int:
    """Run ``nnnum download``: fetch the MNIST files, checksummed, written atomically."""
    import urllib.error

    from .data import download_mnist

    root = Path(args.data_dir)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{args.data_dir} is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {args.data_dir} ({exc.strerror or exc})") from exc
    try:
        paths = download_mnist(root, base_url=args.mirror)
    except _data_errors() as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise UsageError(f"download from {args.mirror} failed: {reason}") from exc
    for p in paths:
        print(f"ok  {p}")
    return 0


def _backend_name() -> str:
    from .backends import get_backend

    return get_backend()


def cmd_info(args: argparse.Namespace) -> int:
    """Run ``nnnum info``."""
    import numba

    from . import __version__
    from ._core.cpuinfo import info_rows
    from .backends._gpu_imports import device_info

    try:
        backend = _backend_name()
    except ValueError as exc:
        backend = f"invalid ({exc})"
    layer: str
    try:
        layer = numba.threading_layer()
    except ValueError:
        wanted = getattr(numba.config, "THREADING_LAYER", "default")
        layer = f"not started yet (NUMBA_THREADING_LAYER={wanted})"
    gpu = device_info()
    rows = [
        ("nnnum", __version__),
        ("backend", f"{backend} (NNNUM_BACKEND={os.environ.get('NNNUM_BACKEND', '<unset>')})"),
        ("python", platform.python_version()),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        (
            "threads",
            f"{numba.get_num_threads()} of {getattr(numba.config, 'NUMBA_NUM_THREADS', '?')} "
            f"(NUMBA_NUM_THREADS), {os.cpu_count()} CPUs",
        ),
        ("threading layer", layer),
        *info_rows(),  # cpu model, vector extensions, Numba's target: where figures come from
        ("cupy", gpu.get("cupy") or "not available"),
    ]
    if "device" in gpu:
        rows.append(
            (
                "gpu",
                f"{gpu['device']}, {gpu['memory_free_gib']} GiB free of "
                f"{gpu['memory_total_gib']} GiB",
            )
        )
    else:
        rows.append(("gpu", gpu.get("error", "no CUDA device")))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


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
    from .data import MNIST_MIRROR

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
