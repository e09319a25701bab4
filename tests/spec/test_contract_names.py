"""Every public name of `temporal_worker_spec.contract` is used by code outside it: the contract
holds only facts both sides read, so a name nobody imports is dead and should go."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "components" / "temporal_worker_spec" / "contract.py"
MODULE = "temporal_worker_spec.contract"


def public_names() -> list[str]:
    """Module-level constants and functions of contract.py not starting with `_`."""
    names = []
    for node in ast.parse(CONTRACT.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_")]


def code_files() -> list[Path]:
    """Python files Git tracks (or would), outside tests/, other than contract.py itself."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others",
                             "--exclude-standard", "*.py"], check=True, capture_output=True,
                            text=True).stdout.split()
    return [REPO / name for name in listed
            if not name.startswith("tests/") and (REPO / name) != CONTRACT
            and (REPO / name).is_file()]


def names_used(tree: ast.AST) -> set[str]:
    """Contract names a module reads: `from ...contract import X`, or `<contract>.X` where
    `<contract>` is the module bound by `from temporal_worker_spec import contract`,
    `import temporal_worker_spec.contract as c` or a relative import of it."""
    aliases, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module == MODULE or (node.level and module == "contract"):
                used |= {a.name for a in node.names}
            elif module == "temporal_worker_spec" or (node.level and not module):
                aliases |= {a.asname or a.name for a in node.names if a.name == "contract"}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == MODULE:
                    aliases.add(alias.asname or MODULE)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) in aliases:
            used.add(node.attr)
    return used


@pytest.fixture(scope="module")
def used_outside() -> set[str]:
    used: set[str] = set()
    for path in code_files():
        used |= names_used(ast.parse(path.read_text(), str(path)))
    return used


@pytest.mark.parametrize("name", public_names())
def test_contract_name_is_used_outside_the_contract(name, used_outside):
    assert name in used_outside, (
        f"contract.{name} is used by no code outside contract.py (tests do not count): "
        "delete it, or make it private if only contract.py needs it")


def test_the_usage_scan_finds_known_readers():
    """The scan itself: pod.py reads the mount paths, the worker's health module the probe paths."""
    pod = ast.parse((REPO / "components/temporal_worker_k8s/pod.py").read_text())
    health = ast.parse((REPO / "worker/health.py").read_text())
    assert {"TLS_CERT_PATH", "RUN_AS_UID"} <= names_used(pod)
    assert {"LIVENESS_PATH", "READINESS_PATH"} <= names_used(health)
