"""The Pulumi program's venv (the process that holds every secret) installs only hash-checked
packages: requirements.txt locks the whole transitive set with hashes, requirements.in holds
the pins it is compiled from, and pip refuses a package whose hash does not match."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.locks import (assert_every_package_hashed, assert_lock_matches_pins, closure,
                                 installed_versions, read_lock, read_pins)
from tests.support.package import copy_tracked
from tools.worker_process import clean_env

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.txt"
PINS = ROOT / "requirements.in"
# `pulumi install` with `toolchain: pip` runs this in the program's directory, into venv/.
PULUMI_INSTALL = ["-m", "pip", "install", "--disable-pip-version-check", "-r", "requirements.txt"]


def test_every_locked_package_is_pinned_with_hashes():
    assert_every_package_hashed(read_lock(LOCK), LOCK)


def test_the_lock_names_exactly_the_pinned_versions():
    assert_lock_matches_pins(LOCK, PINS)


def test_the_lock_holds_every_transitive_dependency_and_nothing_else():
    _, direct = read_pins(PINS)
    needed, locked = closure(direct), set(read_lock(LOCK))
    assert needed - locked == set(), f"not in {LOCK.name}: {sorted(needed - locked)}"
    assert locked - needed == set(), f"needed by nothing: {sorted(locked - needed)}"


def test_the_test_venv_runs_the_locked_versions():
    locked = {name: version for name, (version, _) in read_lock(LOCK).items()}
    assert installed_versions(locked) == locked, \
        "reinstall the test venv: ./scripts/test.sh installs requirements.txt first"


def test_the_lock_says_how_to_regenerate_it():
    header = LOCK.read_text().split("\n\n", 1)[0]
    assert re.search(r"pip-compile --generate-hashes .*--output-file=requirements\.txt "
                     r"requirements\.in", header), header


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


@pytest.mark.slow
def test_what_pulumi_install_installs_is_enough_to_run_the_program(tmp_path):
    """The exact pip run `pulumi install` makes, into a fresh venv, from a copy of the tracked
    files; then that venv alone (plus the repository's files) renders the dev stack."""
    repo = tmp_path / "repo"
    copy_tracked(["."], repo)
    python = _venv(repo / ".venv")
    installed = subprocess.run([str(python), *PULUMI_INSTALL], cwd=repo, capture_output=True,
                               text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-4000:]
    # scripts/render.sh uses .venv as it is once it has what rendering needs.
    rendered = subprocess.run(["bash", "scripts/render.sh", "--stack", "dev", "--out",
                               str(tmp_path / "out"), "--check"], cwd=repo, capture_output=True,
                              text=True, timeout=300, env=clean_env())
    assert rendered.returncode == 0, rendered.stderr[-4000:]
    assert "installing" not in rendered.stderr and "check: passed" in rendered.stderr


@pytest.mark.slow
def test_a_tampered_hash_is_refused(tmp_path):
    """One package's hashes changed in the lock: the same pip run stops before installing."""
    text = LOCK.read_text()
    start = text.index("\nsemver==") + 1
    end = text.index("# via", start)
    tampered = re.sub(r"sha256:([0-9a-f])",
                      lambda m: "sha256:" + ("0" if m[1] != "0" else "1"), text[start:end])
    (tmp_path / "requirements.txt").write_text(text[:start] + tampered + text[end:])
    python = _venv(tmp_path / "venv")
    result = subprocess.run([str(python), *PULUMI_INSTALL], cwd=tmp_path, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in result.stderr, result.stderr[-3000:]
    assert re.search(r"semver==3\.1\.2 from \S+semver-3\.1\.2", result.stderr), \
        result.stderr[-3000:]
    site = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("pulumi*")), "pip installed packages from a tampered lock"
