"""Command line: ``nnnum train``, ``nnnum gradcheck``, ``nnnum info``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("digits", "mnist")


def _load(dataset: str, data_dir: str | None, seed: int) -> tuple[Any, Any, Any, Any, str]:
    from . import datasets

    if dataset == "digits":
        (xtr, ttr), (xte, tte) = datasets.train_test_split(*datasets.load_digits(), seed=seed)
        return xtr, ttr, xte, tte, "scikit-learn digits (8x8), 80/20 split"
    if data_dir is None:
        raise SystemExit(
            "error: --dataset mnist needs --data-dir (a folder with the IDX .gz files)"
        )
    if not Path(data_dir).is_dir():
        raise SystemExit(f"error: --data-dir {data_dir!r} does not exist")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, test = datasets.load_mnist(data_dir)
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    if train is not None and test is not None:
        return train[0], train[1], test[0], test[1], "MNIST train/t10k"
    x, t = train if train is not None else test  # type: ignore[misc]
    n_train = int(round(0.8 * len(x)))
    return (
        x[:n_train],
        t[:n_train],
        x[n_train:],
        t[n_train:],
        f"MNIST, one split only: first {n_train} to train, last {len(x) - n_train} to test",
    )


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``nnnum train``."""
    from .network import TwoLayerNet
    from .train import plot_history, train

    xtr, ttr, xte, tte, desc = _load(args.dataset, args.data_dir, args.seed)
    net = TwoLayerNet(
        xtr.shape[1], args.hidden, 10, weight_init_std=args.weight_init_std, seed=args.seed
    )
    print(f"data: {desc}: {len(xtr)} train, {len(xte)} test, {xtr.shape[1]} inputs")
    print(
        f"net:  TwoLayerNet({xtr.shape[1]}, {args.hidden}, 10), {args.gradient} gradient, "
        f"lr={args.lr}, batch={args.batch_size}, iters={args.iters}, seed={args.seed}, "
        f"backend={_backend_name()}"
    )
    hist = train(
        net,
        xtr,
        ttr,
        xte,
        tte,
        iters=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        gradient=args.gradient,
        seed=args.seed,
        progress=False if args.quiet else None,
    )
    per_it = 1000 * hist.seconds / hist.iters
    print(f"done in {hist.seconds:.1f} s ({per_it:.1f} ms/iteration, evaluations included)")
    print(
        f"final loss {hist.train_loss[-1]:.4f}  train acc {hist.train_acc[-1]:.4f}  "
        f"test acc {hist.test_acc[-1]:.4f}"
    )
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "dataset": desc,
        "gradient": args.gradient,
        "lr": args.lr,
        "iters": args.iters,
        "batch_size": args.batch_size,
        "hidden": args.hidden,
        "seed": args.seed,
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
            title=f"TwoLayerNet on {args.dataset}, {args.gradient} gradient",
        )
        print(f"plot: {png}")
    except ImportError:
        print("plot: skipped (matplotlib not installed: pip install nnnum[plot])")
    print(f"history: {out / 'history.json'}")
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """Run ``nnnum gradcheck``; exit status 1 when the check fails."""
    from .gradcheck import gradcheck
    from .network import TwoLayerNet

    xtr, ttr, _, _, desc = _load(args.dataset, args.data_dir, args.seed)
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(xtr), min(args.batch_size, len(xtr)), replace=False)
    net = TwoLayerNet(
        xtr.shape[1], args.hidden, 10, weight_init_std=args.weight_init_std, seed=args.seed
    )
    t0 = time.perf_counter()
    res = gradcheck(net, xtr[idx], ttr[idx], rtol=args.rtol, atol=args.atol, method=args.method)
    print(
        f"gradcheck on {desc}, batch {len(idx)}, method {args.method} "
        f"({time.perf_counter() - t0:.2f} s)"
    )
    print(res.report())
    return 0 if res else 1


def cmd_download(args: argparse.Namespace) -> int:
    """Run ``nnnum download``: fetch the MNIST files, checksummed, written atomically."""
    from .datasets import MNIST_MIRROR, download_mnist

    paths = download_mnist(args.data_dir, base_url=args.mirror or MNIST_MIRROR)
    for p in paths:
        print(f"ok  {p}")
    return 0


def _backend_name() -> str:
    from ._config import get_backend

    return get_backend()


def cmd_info(args: argparse.Namespace) -> int:
    """Run ``nnnum info``."""
    import numba

    from . import __version__
    from ._cpuinfo import info_rows
    from ._kernels_gpu import device_info

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nnnum`` command."""
    p = argparse.ArgumentParser(
        prog="nnnum", description="Learning by numerical differentiation, fast."
    )
    sub = p.add_subparsers(dest="command", required=True)

    def data_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--dataset",
            choices=DATASETS,
            default="digits",
            help="digits: scikit-learn's bundled 8x8 digits (offline); mnist: IDX files",
        )
        sp.add_argument("--data-dir", help="folder with the MNIST .gz files (for --dataset mnist)")
        sp.add_argument("--hidden", type=int, default=50, help="hidden units (default 50)")
        sp.add_argument("--weight-init-std", type=float, default=0.01)
        sp.add_argument("--seed", type=int, default=0)

    t = sub.add_parser("train", help="train a TwoLayerNet by mini-batch SGD")
    data_opts(t)
    t.add_argument("--gradient", choices=("numerical", "backprop"), default="numerical")
    t.add_argument("--iters", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=100)
    t.add_argument("--lr", type=float, default=1.0)
    t.add_argument("--output-dir", default="nnnum-output", help="where the plot and history go")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("gradcheck", help="numerical vs backprop gradient of a TwoLayerNet")
    data_opts(g)
    g.add_argument("--batch-size", type=int, default=100)
    g.add_argument("--method", choices=("structured", "brute"), default="structured")
    g.add_argument("--rtol", type=float, default=1e-4)
    g.add_argument("--atol", type=float, default=1e-8)
    g.set_defaults(func=cmd_gradcheck)

    d = sub.add_parser("download", help="download MNIST (checksums verified)")
    d.add_argument("data_dir", help="folder to write the four .gz files to")
    d.add_argument("--mirror", default=None, help="mirror URL ending in / (default: public mirror)")
    d.set_defaults(func=cmd_download)

    i = sub.add_parser("info", help="backend, threads, versions, GPU")
    i.set_defaults(func=cmd_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nnnum`` command."""
    args = build_parser().parse_args(argv)
    for name in ("iters", "batch_size", "hidden"):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be >= 1")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
