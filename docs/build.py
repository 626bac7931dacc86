"""Build the documentation: ``python docs/build.py`` (warnings are errors).

Runs Sphinx twice from ``docs/``: the English site into ``docs/_build/html`` and the
Chinese one into ``docs/_build/html/zh``. Every tutorial script is executed (a
failing one fails the build). ``--lang en`` or ``--lang zh`` builds one of them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "_build"
REDIRECT = (
    '<!DOCTYPE html><meta charset="utf-8">'
    '<meta http-equiv="refresh" content="0; url=zh/index.html">'
    '<a href="zh/index.html">中文文档</a>\n'
)


def build(lang: str, strict: bool = True) -> None:
    """One Sphinx HTML build of ``lang`` ("en" or "zh")."""
    env = dict(os.environ, MPLBACKEND="Agg")
    html = OUT / "html" if lang == "en" else OUT / "html" / "zh"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1"]
    if lang == "zh":
        env["NNNUM_DOCS_LANG"] = "zh_CN"
        cmd += ["-D", "language=zh_CN"]
    if strict:
        cmd += ["-W", "--keep-going"]
    cmd += ["-d", str(OUT / f"doctrees-{lang}"), str(DOCS), str(html)]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)
    if lang == "zh":  # the Chinese root page is zh/index: send zh/ there
        (html / "index.html").write_text(REDIRECT, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Build the sites named by ``--lang`` (default: both)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lang", choices=["en", "zh", "all"], default="all")
    p.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    a = p.parse_args(argv)
    for lang in ("en", "zh") if a.lang == "all" else (a.lang,):
        build(lang, strict=not a.no_strict)
    print(f"built: {OUT / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
