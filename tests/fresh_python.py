"""Run a snippet in a fresh interpreter: for cases that could crash, fork or need a new process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

#: the repository root (the folder above tests/), put on the child's path
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(
    code: str, *, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the repo on its path); never raises on failure."""
    full_env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )
