"""Reading pip's hash-locked requirement files and the pins they were compiled from, for the
supply-chain tests of the worker image and of the Pulumi program."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, sha256 hashes)} of a `pip-compile --generate-hashes` file.
    AssertionError for a line that is not `name==version` followed by hashes only."""
    entries = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split()
        name, _, version = spec.partition("==")
        assert version, f"{path.name}: {spec} is not pinned with =="
        hashes = [o.removeprefix("--hash=sha256:") for o in options if _HASH.fullmatch(o)]
        assert len(hashes) == len(options), f"{path.name}: {spec}: unexpected {options}"
        entries[canonicalize_name(name)] = (version, hashes)
    return entries


def read_pins(path: Path) -> tuple[dict[str, str], set[str]]:
    """({canonical name: version} of a pins file and the files it includes with `-r`, the
    direct ones: those above its `# transitive` line). Every pin must be `==`."""
    pins, direct, transitive = {}, set(), False
    for line in path.read_text().splitlines():
        if line.startswith("# transitive"):
            transitive = True
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            included, included_direct = read_pins(path.parent / line[3:].strip())
            pins.update(included)
            direct |= included_direct if not transitive else set()
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {line} is not pinned with =="
        name = canonicalize_name(requirement.name)
        pins[name] = specifier.version
        if not transitive:
            direct.add(name)
    return pins, direct


def assert_every_package_hashed(lock: dict[str, tuple[str, list[str]]], path: Path) -> None:
    """Every entry of the lock read from `path` carries at least one `--hash`."""
    assert lock, f"{path} names no package"
    unhashed = sorted(name for name, (_, hashes) in lock.items() if not hashes)
    assert not unhashed, f"{path.name}: no --hash for {unhashed}"


def assert_lock_matches_pins(lock_path: Path, pins_path: Path) -> None:
    """The lock names exactly the versions its `.in` file pins, directly or transitively."""
    pins, _ = read_pins(pins_path)
    locked = {name: version for name, (version, _) in read_lock(lock_path).items()}
    assert locked == pins, f"{lock_path.name} and {pins_path.name} differ; regenerate the " \
                           "lock (command in its header)"


def closure(direct: set[str], installed: dict[str, tuple[str, list[str]]] | None = None
            ) -> set[str]:
    """The direct requirements and everything they need, from the installed packages' metadata
    (the venv runs the locked versions, on the Python minor version the locks are for):
    this venv's, or `installed` ({name: (version, requirement lines)}, see `venv_packages`)."""
    def requires(name: str) -> list[str]:
        if installed is not None:
            return installed[name][1]
        return metadata.distribution(name).requires or []

    found, todo = set(), list(direct)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for line in requires(name):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return found


_LIST_PACKAGES = """
import json
from importlib import metadata
print(json.dumps({d.metadata["Name"]: [d.version, d.requires or []]
                  for d in metadata.distributions()}))
"""


def venv_packages(python: Path) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, requirement lines)} of what another venv has installed."""
    listed = subprocess.run([str(python), "-c", _LIST_PACKAGES], capture_output=True,
                            text=True, check=True, timeout=60)
    return {canonicalize_name(name): (version, requires)
            for name, (version, requires) in json.loads(listed.stdout).items()}


def installed_versions(names) -> dict[str, str | None]:
    """{name: version installed in this venv, or None}."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
