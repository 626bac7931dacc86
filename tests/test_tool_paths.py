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
