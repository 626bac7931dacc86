#!/usr/bin/env bash
# The test command of one mutant: the given pytest arguments, stop at the first failure.
# Numba cache: NNNUM_MUT_CACHE (a cache warmed on the unmutated source, for mutants of modules
# without kernels) or else a fresh, empty folder (mutants of kernel modules: no stale kernel).
set -u
if [ -n "${NNNUM_MUT_CACHE:-}" ]; then
    cache=$NNNUM_MUT_CACHE
else
    cache=$(mktemp -d "${TMPDIR:-/tmp}/nnnum-numba-XXXXXX")
    trap 'rm -rf "$cache"' EXIT
fi
NUMBA_CACHE_DIR="$cache" python -m pytest -x -q -p no:cacheprovider --no-header \
    -o addopts="--strict-markers" "$@" >/dev/null 2>&1
