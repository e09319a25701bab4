"""What the image is built from is pinned: the base image by digest, every Python package by
version and hash, and the test venv runs the versions the image ships. Offline, no buildah."""

from __future__ import annotations

import re

from tests.support.locks import (assert_every_package_hashed, assert_lock_matches_pins, closure,
                                 installed_versions, read_lock, read_pins)
from tools.conformance import DOCKERFILE, WORKER_DIR

LOCK = WORKER_DIR / "requirements.txt"
PINS = WORKER_DIR / "requirements.in"
DIGEST_PINNED = re.compile(r"^[a-z0-9][a-z0-9./_-]*(?::\d+)?(?:/[a-z0-9._-]+)*"
                           r":(?P<tag>[\w][\w.-]*)@sha256:[0-9a-f]{64}$")


def _dockerfile_lines() -> list[str]:
    """The Dockerfile's lines with `\\` continuations joined."""
    return DOCKERFILE.read_text().replace("\\\n", " ").splitlines()


def _lock() -> dict[str, tuple[str, list[str]]]:
    return read_lock(LOCK)


def _pins() -> tuple[dict[str, str], set[str]]:
    return read_pins(PINS)


def test_no_build_frontend_is_fetched_unpinned():
    """`# syntax=` makes BuildKit pull that frontend image at build time; a tag can move."""
    for line in DOCKERFILE.read_text().splitlines():
        if not line.startswith("#"):
            break
        directive = re.fullmatch(r"#\s*syntax\s*=\s*(\S+)\s*", line, re.IGNORECASE)
        assert directive is None or re.search(r"@sha256:[0-9a-f]{64}$", directive[1]), \
            f"{DOCKERFILE.name}: {line!r} fetches a build frontend by tag; pin it by digest " \
            "or drop the line"


def test_default_base_image_is_pinned_by_digest_with_its_tag():
    lines = _dockerfile_lines()
    (default,) = [line.split("=", 1)[1].strip() for line in lines
                  if line.startswith("ARG BASE_IMAGE=")]
    match = DIGEST_PINNED.match(default)
    assert match, f"ARG BASE_IMAGE={default}: want name:tag@sha256:<64 hex>"
    # The comment above the ARG names the tag, so a reader knows what the digest stands for.
    index = next(i for i, line in enumerate(lines) if line.startswith("ARG BASE_IMAGE="))
    comment = []
    for line in reversed(lines[:index]):
        if not line.startswith("#"):
            break
        comment.append(line)
    assert f":{match['tag']}" in " ".join(comment), "the comment above ARG BASE_IMAGE names no tag"
    # Every stage starts from that pinned default (or an earlier stage), never a floating tag.
    stages: set[str] = set()
    for line in lines:
        if line.upper().startswith("FROM "):
            words = line.split()
            assert words[1] == "${BASE_IMAGE}" or words[1] in stages, line
            if len(words) == 4 and words[2].upper() == "AS":
                stages.add(words[3])


def test_lock_pins_every_package_by_version_and_hash():
    assert_every_package_hashed(_lock(), LOCK)


def test_lock_names_exactly_the_pinned_versions():
    assert_lock_matches_pins(LOCK, PINS)


def test_lock_holds_every_transitive_dependency_and_nothing_else():
    """The closure of the direct requirements, from the installed packages' metadata (the test
    venv runs the image's Python minor version), is exactly what the lock pins."""
    _, direct = _pins()
    needed, locked = closure(direct), set(_lock())
    assert needed - locked == set(), f"not in {LOCK.name}: {sorted(needed - locked)}"
    assert locked - needed == set(), f"needed by nothing: {sorted(locked - needed)}"


def test_test_venv_runs_the_locked_versions():
    """What the tests exercise is what the image ships."""
    locked = {name: version for name, (version, _) in _lock().items()}
    assert installed_versions(locked) == locked, \
        "reinstall the test venv: pip install -r requirements-dev.txt"


def test_image_installs_python_packages_only_hash_checked():
    installs = [line for line in _dockerfile_lines() if re.search(r"\bpip\b.* install\b", line)]
    assert installs, "the Dockerfile installs no Python package"
    for line in installs:
        assert "--require-hashes" in line and "-r /tmp/requirements.txt" in line, line
    assert "COPY worker/requirements.txt /tmp/requirements.txt" in _dockerfile_lines()
