#!/usr/bin/env bash
# Line and branch coverage of nnnum with Numba's JIT off, so that the kernels are measured as
# Python (as stumpy does). Tests marked jit_only are skipped (tests/conftest.py). Writes
# tools/mutation/coverage.json and prints the missing lines; extra arguments go to pytest.
# train()'s doctest (300 iterations of numerical training) is left out: minutes as Python, and
# test_train.py covers the same lines.
set -eu
cd "$(dirname "$0")/../.."
export NUMBA_DISABLE_JIT=1
exec python -m pytest -q -p no:cacheprovider --timeout 600 \
    --cov=nnnum --cov-branch --cov-report=term-missing:skip-covered \
    --cov-report=json:tools/mutation/coverage.json \
    --deselect nnnum/learn/train.py::nnnum.learn.train.train "$@"
