"""The package's dependency ranges: bounded above, so a new major release cannot reach a
platform team's venv untested, and wide enough for the versions this repository locks."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.locks import read_lock

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "components" / "pyproject.toml").read_text())["project"]
REQUIREMENTS = [*PROJECT["dependencies"],
                *(r for extra in PROJECT["optional-dependencies"].values() for r in extra)]


@pytest.mark.parametrize("line", REQUIREMENTS)
def test_every_dependency_has_an_upper_bound(line):
    requirement = Requirement(line)
    assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), \
        f"components/pyproject.toml: {line} has no upper bound"


@pytest.mark.parametrize("line", REQUIREMENTS)
def test_the_locked_version_is_in_range(line):
    """Against the program's lock, or, for a development extra the program does not use (the
    dashboard's builder), the version the test venv installed through that extra."""
    requirement = Requirement(line)
    locked = read_lock(ROOT / "requirements.txt").get(canonicalize_name(requirement.name))
    version = locked[0] if locked else metadata.version(requirement.name)
    assert requirement.specifier.contains(version), f"{line} excludes the locked {version}"
