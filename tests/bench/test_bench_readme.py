"""bench/README.md states each benchmark's defaults as its script defines them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "bench" / "README.md"
BACKLOG_SECTION = "## Backlog scaling"


def argument_defaults(script: Path) -> dict[str, object]:
    """`--flag` -> default of each `parser.add_argument` call in a bench script."""
    defaults = {}
    for node in ast.walk(ast.parse(script.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument" and node.args
                and isinstance(node.args[0], ast.Constant)):
            for keyword in node.keywords:
                if keyword.arg == "default":
                    defaults[node.args[0].value] = ast.literal_eval(keyword.value)
    return defaults


def section(script: str) -> str:
    """The part of the README about one script's default run: compare.py's comes before the
    backlog section, which runs to the next heading (later sections may quote other options)."""
    before, _, after = README.read_text().partition(BACKLOG_SECTION)
    assert after, f"{README.name} has no {BACKLOG_SECTION!r} section"
    return before if script == "compare" else after.split("\n## ", 1)[0]


@pytest.mark.parametrize("script, flag, noun", [
    ("compare", "--rounds", "rounds"), ("compare", "--workflows", "workflows"),
    ("compare", "--sleepy-workflows", "sleepy workflows"),
    ("compare", "--activity-seconds", "activity sleeps"),
    ("backlog", "--workflows", "workflows"), ("backlog", "--target", "targetQueueSize"),
    ("backlog", "--max", "maxReplicas"), ("backlog", "--slots", "slots")])
def test_bench_readme_states_the_default_counts_of_each_script(script, flag, noun):
    path = REPO / "bench" / f"{script}.py"
    default = argument_defaults(path)[flag]
    text = section(script)
    stated = (re.findall(rf"{flag}[ =](\d+)", text) + re.findall(rf"(\d+)\s+{noun}\b", text)
              + re.findall(rf"\b{noun}\s+(\d+)(?![.\d])", text))
    assert stated, f"{README.name} ({script}) never states the number of {noun}"
    assert set(stated) == {str(default)}, (
        f"{README.name} states {noun} as {sorted(set(stated))}; {script}.py's default is "
        f"{default}")
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    in_docstring = re.findall(rf"{flag}[ =](\d+)", docstring)
    assert set(in_docstring) <= {str(default)}, f"{script}.py's docstring says {flag} {in_docstring}"
