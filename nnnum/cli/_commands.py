"""The commands (``train``, ``gradcheck``, ``download``, ``info``), and the steps that can fail."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._args import EXIT_FAILURE, UsageError


# ------------------------------------------------------------------ steps that fail on users
def _check_backend() -> str:
    """The backend ``NNNUM_BACKEND`` names, checked to be usable here (CuPy and a GPU for cupy)."""
    from ..backends import BackendUnavailableError, get_backend, use_backend

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
    from .. import data as datasets

    base = getattr(datasets, "DataError", None)
    extra = (base,) if isinstance(base, type) and issubclass(base, BaseException) else ()
    return (OSError, ValueError, *extra)


def _load(dataset: str, data_dir: str | None, seed: int) -> tuple[Any, Any, Any, Any, str]:
    from .. import data as datasets

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
    from ..nets import TwoLayerNet

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
    backend = _check_backend()
    if backend == "numba" and args.gradient == "numerical":
        from ..nets import _warm

        _warm.start()  # a cold cache: the helper compiles while the data loads (nets/_warm.py)
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
    # the imports' and the data's objects (most of the heap: Numba's, NumPy's, the data
    # loader's modules) live to the end: the cyclic collector need not scan them again (it
    # spent 0.1 s of a 3 s run on them, 0.2 s more after a cold start's compiling)
    gc.freeze()  # undone after: main() may run in-process, whose heap must stay collectable
    try:
        return _train_and_report(
            args, backend, dataset, desc, out, batch_size, net, xtr, ttr, xte, tte
        )
    finally:
        gc.unfreeze()


def _train_and_report(
    args: argparse.Namespace,
    backend: str,
    dataset: str,
    desc: str,
    out: Path,
    batch_size: int,
    net: Any,
    xtr: Any,
    ttr: Any,
    xte: Any,
    tte: Any,
) -> int:
    """``nnnum train``'s training, its summary lines, ``history.json`` and the plot."""
    from ..learn.train import TrainingDivergedError, plot_history, train

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
    from ..learn import gradcheck

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

    from ..data import download_mnist

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
    from ..backends import get_backend

    return get_backend()


def cmd_info(args: argparse.Namespace) -> int:
    """Run ``nnnum info``."""
    import numba

    from .. import __version__
    from .._core.cpuinfo import info_rows
    from ..backends._gpu_imports import device_info

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
