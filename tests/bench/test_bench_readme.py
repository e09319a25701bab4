"""bench/README.md states the benchmark's defaults as bench/compare.py defines them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPARE = REPO / "bench" / "compare.py"
README = REPO / "bench" / "README.md"


def argument_defaults() -> dict[str, int]:
    """`--flag` -> default of each `parser.add_argument` call in compare.py."""
    defaults = {}
    for node in ast.walk(ast.parse(COMPARE.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument" and node.args
                and isinstance(node.args[0], ast.Constant)):
            for keyword in node.keywords:
                if keyword.arg == "default":
                    defaults[node.args[0].value] = ast.literal_eval(keyword.value)
    return defaults


@pytest.mark.parametrize("flag, noun", [("--rounds", "rounds"), ("--workflows", "workflows")])
def test_bench_readme_states_the_default_counts_of_compare_py(flag, noun):
    default = argument_defaults()[flag]
    readme = README.read_text()
    stated = re.findall(rf"{flag}[ =](\d+)", readme) + re.findall(rf"(\d+)\s+{noun}\b", readme)
    assert stated, f"{README.name} never states the number of {noun}"
    assert set(stated) == {str(default)}, (
        f"{README.name} states {noun} as {sorted(set(stated))}; compare.py's default is {default}")
    docstring = ast.get_docstring(ast.parse(COMPARE.read_text())) or ""
    in_docstring = re.findall(rf"{flag}[ =](\d+)", docstring)
    assert set(in_docstring) <= {str(default)}, f"compare.py's docstring says {flag} {in_docstring}"
