"""The mutation tool names real files: a test moved or a module renamed breaks no release check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = sorted((ROOT / "tools" / "mutation").glob("*.py"))


@pytest.mark.parametrize("tool", TOOLS, ids=lambda p: p.name)
def test_every_path_a_mutation_tool_names_exists(tool):
    text = tool.read_text(encoding="utf-8")
    named = set(re.findall(r"\b((?:tests|nnnum)/[\w/]+\.py)\b", text))
    assert named, f"{tool.name} names no test or module file: the pattern above is stale"
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"{tool.name} names files that do not exist: {missing}"


def test_every_planted_bug_finds_its_source_lines():
    import importlib.util

    spec = importlib.util.spec_from_file_location("planted", ROOT / "tools/mutation/planted.py")
    assert spec is not None and spec.loader is not None
    planted = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(planted)
    for what, path, originals, _, _ in planted.BUGS:
        source = (ROOT / path).read_text(encoding="utf-8")
        for text in [originals] if isinstance(originals, str) else originals:
            assert text in source, f"planted bug {what!r}: {text!r} is not in {path}"
