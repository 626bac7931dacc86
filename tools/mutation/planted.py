"""Plant the eight bugs of issue #13 one at a time and check that the suite catches each.

Each bug is applied to a throw-away copy of the repository (the working tree is
never touched) and a test subset is run there; a bug is *caught* when the
subset fails. Exit status 1 if any bug passes.

    python tools/mutation/planted.py            # all eight
    python tools/mutation/planted.py 3 4        # only bugs 3 and 4 (1-based)
    python tools/mutation/planted.py --existing # against the other test files of each bug's code
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (what, file, original text(s), planted text(s), test subset)
BUGS = [
    (
        "numerical_diff divides by 2h instead of the step actually taken",
        "nnnum/diff/finish.py",
        "df = (values[0] - values[1]) / step",
        "df = (values[0] - values[1]) / (2.0 * float(h))",
        "tests/diff/test_steps.py -k step_taken",
    ),
    (
        "numerical_diff (its own fast path) divides by 2h instead of the step actually taken",
        "nnnum/diff/elementwise.py",
        "d = (fp - fm) / step  # NaN",
        "d = (fp - fm) / (2.0 * hf)  # NaN",
        "tests/diff/test_steps.py tests/diff/test_api.py",
    ),
    (
        "the gradient's finiteness check narrowed to NaN only",
        "nnnum/diff/finish.py",
        "    finite = np.isfinite(values)\n    if not finite.all():",
        "    finite = ~np.isnan(values)\n    if not finite.all():",
        "tests/diff/test_checks.py -k nonfinite",
    ),
    (
        "structured TwoLayerNet gradient skips x <= 0 instead of x == 0",
        "nnnum/nets/_kernels.py",
        ["cnt += x[r, i] != 0.0", "if v != 0.0:"],
        ["cnt += x[r, i] > 0.0", "if v > 0.0:"],
        "tests/nets/test_structured_gradient.py -k structured",
    ),
    (
        "structured gradient's Taylor cut-over ignores the size of W2",
        "nnnum/nets/_kernels.py",
        ["& (abs(dz_p) * wmax <= SMALL_U)", "& (abs(dz_m) * wmax <= SMALL_U)",
         "big = max(abs(dz_p), abs(dz_m)) * wmax"],
        ["& (abs(dz_p) <= SMALL_U)", "& (abs(dz_m) <= SMALL_U)",
         "big = max(abs(dz_p), abs(dz_m))"],
        "tests/nets/test_structured_gradient.py -k structured",
    ),
    (
        "gradient_descent catches only StepResolutionError",
        "nnnum/learn/descent.py",
        "except (StepResolutionError, NonFiniteError) as exc:",
        "except StepResolutionError as exc:",
        "tests/learn/test_descent.py -k descent",
    ),
    (
        "the IDX size check accepts extra bytes",
        "nnnum/data/_idx.py",
        ["    if available > count:", "    if f.read(1):"],
        ["    if False:", "    if False:"],
        "tests/data/test_idx.py -k idx",
    ),
    (
        "training batches drawn from the first batch_size samples only",
        "nnnum/learn/train.py",
        "rng.choice(n_train, batch_size, replace=False)",
        "rng.choice(batch_size, batch_size, replace=False)",
        "tests/learn/test_train.py -k train",
    ),
    (
        "no accuracy recorded at the last iteration",
        "nnnum/learn/train.py",
        "if i % iter_per_epoch == 0 or i == iters - 1:",
        "if i % iter_per_epoch == 0:",
        "tests/learn/test_train.py -k train",
    ),
]


# --existing: the test files that cover each bug's code, other than the planted-bug tests' own
# (learn/test_descent.py and learn/test_train.py hold both)
SLOW = ["-k", "not test_loop_prange_and_batched_engines_agree and not test_kernels_of_dropped"]
EXISTING = {
    "nnnum/diff/api.py": ["tests/diff/test_api.py", "tests/diff/engines/test_plan_and_engines.py",
                          "tests/test_misuse.py", "tests/nets/test_network_misuse.py",
                          "tests/learn/test_descent.py", *SLOW],
    "nnnum/diff/elementwise.py": ["tests/diff/test_api.py", "tests/diff/engines/test_plan_and_engines.py",
                                  "tests/test_misuse.py", "tests/nets/test_network_misuse.py",
                                  "tests/learn/test_descent.py", *SLOW],
    "nnnum/diff/finish.py": ["tests/diff/test_api.py", "tests/diff/engines/test_plan_and_engines.py",
                             "tests/test_misuse.py", "tests/nets/test_network_misuse.py",
                             "tests/learn/test_descent.py", *SLOW],
    "nnnum/nets/_kernels.py": ["tests/nets/test_network.py", "tests/nets/test_batched.py", *SLOW],
    "nnnum/learn/descent.py": ["tests/learn/test_descent.py", "tests/test_misuse.py"],
    "nnnum/data/_idx.py": ["tests/data/test_mnist.py"],
    "nnnum/learn/train.py": ["tests/learn/test_train.py"],
}


def copy_repo(dest: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import copy_repo as copy_known_files  # the files git knows

    copy_known_files(dest, [])


def main(argv: list[str]) -> int:
    existing = "--existing" in argv
    argv = [a for a in argv if a != "--existing"]
    chosen = [int(a) for a in argv] or list(range(1, len(BUGS) + 1))
    missed = 0
    with tempfile.TemporaryDirectory(prefix="nnnum-planted-") as tmp:
        work = Path(tmp) / "repo"
        copy_repo(work)
        for k in chosen:
            what, rel, old, new, subset = BUGS[k - 1]
            path = work / rel
            src = path.read_text()
            olds, news = ([old], [new]) if isinstance(old, str) else (old, new)
            if any(src.count(o) != 1 for o in olds):
                print(f"[{k}] cannot plant (text not found once): {what}")
                missed += 1
                continue
            planted = src
            for o, n in zip(olds, news):
                planted = planted.replace(o, n)
            path.write_text(planted)
            cache = tempfile.mkdtemp(prefix="numba-", dir=tmp)  # no stale compiled kernel
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            t0 = time.perf_counter()
            tests = EXISTING[rel] if existing else subset.split()
            cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                   "-o", "addopts=--strict-markers", *tests]
            rc = subprocess.run(cmd, cwd=work, env=env, capture_output=True).returncode
            path.write_text(src)
            caught = rc == 1
            missed += not caught
            state = "caught" if caught else f"MISSED (pytest exit {rc})"
            print(f"[{k}] {state:8s} {time.perf_counter() - t0:5.1f} s  {what}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
