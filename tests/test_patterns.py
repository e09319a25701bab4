"""Patterns that validate input match the whole text: `$` also matches before a trailing
newline, so `re.match(r"^[A-Z_]+$", "DB_PASSWORD\\n")` accepts the newline (a Secret key and an
env name with a newline in them came through that way)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ["components", "stack", "worker", "tools", "bench", "__main__.py"]
RE_FUNCTIONS = {"compile", "match", "search", "fullmatch"}


def dollar_anchored_patterns(path: Path) -> list[str]:
    """`file:line` of each re call whose literal pattern ends in `$` without re.M."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in RE_FUNCTIONS and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re" and node.args):
            continue
        pattern = node.args[0]
        if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, str)):
            continue
        flags = ast.unparse(node.args[1]) if len(node.args) > 1 else ""
        flags += " ".join(ast.unparse(k.value) for k in node.keywords if k.arg == "flags")
        multiline = "re.M" in flags or "MULTILINE" in flags
        if pattern.value.endswith("$") and not pattern.value.endswith("\\$") and not multiline:
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            found.append(f"{where}:{node.lineno}")
    return found


def test_validating_patterns_use_fullmatch_not_a_dollar_anchor():
    files = [p for entry in PRODUCTION for p in
             ([ROOT / entry] if entry.endswith(".py") else (ROOT / entry).rglob("*.py"))]
    found = [hit for path in files for hit in dollar_anchored_patterns(path)]
    assert not found, f"use re.fullmatch (or \\Z) instead of a trailing $: {found}"


def test_the_check_finds_a_dollar_anchor(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('import re\nNAME = re.compile(r"^[A-Z_]+$")\nOK = re.compile("x$", re.M)\n')
    assert [hit.split(":")[1] for hit in dollar_anchored_patterns(sample)] == ["2"]
