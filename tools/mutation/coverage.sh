#!/usr/bin/env bash
# Line and branch coverage of nnnum, in two passes merged into one report:
#  1. NUMBA_DISABLE_JIT=1, so that the kernels are measured as Python (as stumpy does); tests
#     marked jit_only are skipped (tests/conftest.py);
#  2. the JIT on: every jit_only test, then the gpu tests under Numba's CUDA simulator, then the
#     files whose tests hand nnnum a jitted f (the prange engine, compiled-kernel facts): the
#     code that only runs with the JIT or on the GPU path.
# Writes tools/mutation/coverage.json and prints the missing lines; extra arguments go to both
# pytest runs. train()'s doctest (300 iterations of numerical training) is left out: minutes as
# Python, and test_train.py covers the same lines.
set -u
status=0  # a failing test does not stop the measurement; the exit status reports it
cd "$(dirname "$0")/../.." || exit 2
common=(-q -p no:cacheprovider --timeout 600 --cov=nnnum --cov-branch
        --deselect nnnum/learn/train.py::nnnum.learn.train.train)
NUMBA_DISABLE_JIT=1 python -m pytest "${common[@]}" --cov-report= "$@" || status=$?
python -m pytest "${common[@]}" --cov-append --cov-report= -m jit_only "$@" || status=$?
# the GPU path under Numba's CUDA simulator, as .ci/run runs it (the CUDA kernels, and the CuPy
# glue on a NumPy-backed stand-in: tests/backends/test_cupy_glue.py)
NUMBA_ENABLE_CUDASIM=1 python -m pytest "${common[@]}" --cov-append --cov-report= -m gpu \
    "$@" || status=$?
python -m pytest "${common[@]}" --cov-append \
    --cov-report=term-missing:skip-covered --cov-report=json:tools/mutation/coverage.json \
    tests/diff/test_api.py tests/diff/engines/test_plan_and_engines.py tests/diff/test_steps.py tests/diff/test_checks.py \
    tests/diff/test_stencils.py tests/diff/test_finish.py tests/diff/engines/test_engines_agree.py \
    tests/diff/engines/test_batched.py tests/diff/engines/test_prange.py \
    tests/nets/test_structured_gradient.py tests/data/test_idx.py tests/learn/test_descent.py \
    tests/learn/test_train.py tests/backends/test_config.py tests/backends/test_host.py \
    tests/backends/test_bitcast.py tests/diff/engines/test_prange_kernels.py \
    "$@" || status=$?
python - <<'PY'
import json
t = json.load(open("tools/mutation/coverage.json"))["totals"]
print(f"lines {t['covered_lines']}/{t['num_statements']} = {100 * t['covered_lines'] / t['num_statements']:.1f}%, "
      f"branches {t['covered_branches']}/{t['num_branches']} = {100 * t['covered_branches'] / t['num_branches']:.1f}%")
PY
exit $status
