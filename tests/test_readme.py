"""The README: short, with the Quickstart CI runs, and every python block running as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
QUICKSTART = (
    'python -m pip install ".[data,plot]" && python -m nnnum train',
    'python -m pip install -e ".[test]" && python -m pytest',
)


def fenced_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the ```lang fenced blocks of a Markdown text."""
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def run_script(src: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    path = cwd / "snippet.py"
    path.write_text(src, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="error")
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_readme_is_short_and_keeps_the_quickstart_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 120
    for cmd in QUICKSTART:
        assert cmd in text, cmd
    # CI runs the test command verbatim
    assert QUICKSTART[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_installs_from_a_clone_never_from_an_index():
    text = README.read_text(encoding="utf-8")
    assert "git clone" in text
    assert not re.search(r"pip install\s+['\"]?nnnum\b", text)


def test_readme_links_point_at_files_that_exist():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert targets
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert not missing, missing


def test_every_python_block_of_the_readme_runs_and_prints_what_it_says(tmp_path):
    blocks = fenced_blocks(README.read_text(encoding="utf-8"), "python")
    assert blocks
    proc = run_script("\n\n".join(blocks), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for want in ("0.09750000000000003", "0.510825457099338", "[6. 8.]", "'W1': (784, 50)"):
        assert want in out, (want, out)
