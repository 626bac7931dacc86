#!/usr/bin/env bash
# Mutation testing of nnnum's numerical core: one command, report in tools/mutation/REPORT.md.
#   tools/mutation/run.sh             every mutant (about an hour on 2 cores)
#   tools/mutation/run.sh --sample 40 a random sample (CI)
set -eu
cd "$(dirname "$0")/../.."
exec python tools/mutation/run.py "$@"
