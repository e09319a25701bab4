"""The policy pack's venv runs inside `pulumi preview`, next to the program's secrets, so it
installs only hash-checked packages, like the program's: policy/requirements.txt locks the
whole transitive set with hashes, policy/requirements.in holds the pins it is compiled from,
and the component package it reads the settings spec from is loaded from source."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from policy.temporal_worker_policy.policies import POLICIES
from tests.support.analyzer import Analyzer, pack_python
from tests.support.locks import (assert_every_package_hashed, assert_lock_matches_pins, closure,
                                 read_lock, read_pins, venv_packages)
from tests.support.package import copy_tracked

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy"
LOCK = PACK / "requirements.txt"
PINS = PACK / "requirements.in"
# `pulumi install` in a Python policy pack's directory runs this, into its venv.
PULUMI_INSTALL = ["-m", "pip", "install", "--disable-pip-version-check", "-r", "requirements.txt"]


@pytest.fixture(scope="module")
def pack_venv() -> dict[str, tuple[str, list[str]]]:
    if not pack_python().exists():
        reason = f"{pack_python()} missing: scripts/test.sh makes the pack's venv"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must check the policy pack's venv")
        pytest.skip(reason)
    return venv_packages(pack_python())


def test_every_locked_package_is_pinned_with_hashes():
    lock = read_lock(LOCK)
    assert {"pulumi-policy", "protobuf", "grpcio"} <= set(lock)
    assert_every_package_hashed(lock, LOCK)


def test_the_lock_names_exactly_the_pinned_versions():
    assert_lock_matches_pins(LOCK, PINS)


def test_the_lock_holds_every_transitive_dependency_and_nothing_else(pack_venv):
    _, direct = read_pins(PINS)
    needed, locked = closure(direct, pack_venv), set(read_lock(LOCK))
    assert needed - locked == set(), f"not in {LOCK.name}: {sorted(needed - locked)}"
    assert locked - needed == set(), f"needed by nothing: {sorted(locked - needed)}"


def test_the_packs_venv_runs_the_locked_versions(pack_venv):
    locked = {name: version for name, (version, _) in read_lock(LOCK).items()}
    installed = {name: pack_venv.get(name, (None,))[0] for name in locked}
    assert installed == locked, "reinstall the pack's venv: scripts/test.sh installs " \
                                f"{LOCK.relative_to(ROOT)} with --require-hashes"


def test_the_lock_says_how_to_regenerate_it():
    header = LOCK.read_text().split("\n\n", 1)[0]
    assert re.search(r"pip-compile --generate-hashes .*--allow-unsafe .*"
                     r"--output-file=requirements\.txt requirements\.in", header), header


@pytest.mark.slow
def test_what_pulumi_install_installs_is_enough_to_serve_the_pack(tmp_path):
    """The exact pip run `pulumi install` makes in the pack's directory, into a fresh venv,
    from a copy of the tracked files; then that venv serves every policy."""
    copy_tracked(["policy", "components"], tmp_path)
    venv = tmp_path / "policy" / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), *PULUMI_INSTALL], cwd=tmp_path / "policy",
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-4000:]
    assert "temporal-worker-k8s" not in venv_packages(python), \
        "the component package came from pip, not from source"
    with Analyzer(tmp_path / "policy", python=python) as analyzer:
        assert [p.name for p in analyzer.info().policies] == [p.name for p in POLICIES]
