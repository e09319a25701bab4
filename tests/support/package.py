"""A virtual environment of its own, outside the repository, that installs the component
package the way a platform team does: with pip, from a path or a Git URL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PackageVenv:
    root: Path

    @property
    def python(self) -> str:
        return str(self.root / "venv" / "bin" / "python")

    @classmethod
    def empty(cls, root: Path) -> PackageVenv:
        subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
        return cls(root)

    @classmethod
    def create(cls, root: Path) -> PackageVenv:
        """Install what the Python example's requirements.txt names with the command README.md
        gives, run from the repository's root as a reader would (`pulumi install` runs the same
        pip in the example's directory), from a copy of the repository's tracked files (so no
        build left over in the working tree can leak into the package)."""
        venv = cls.empty(root)
        copy_tracked(["components", "examples/python"], root / "source")
        command = readme_example_install_command()
        result = subprocess.run(["bash", "-c", f"set -e; {command}"], cwd=root / "source",
                                capture_output=True, text=True, timeout=900,
                                env={**os.environ, "PATH": f"{root / 'venv' / 'bin'}:"
                                                          f"{os.environ['PATH']}",
                                     "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        if result.returncode != 0:
            raise RuntimeError(f"{command} failed:\n{result.stderr[-4000:]}")
        return venv

    @classmethod
    def with_extras(cls, root: Path, extras: str) -> PackageVenv:
        """Only the component package, from a copy of its tracked files, with the declared
        extras named in `extras` (e.g. "rollouts,pki") and what they require."""
        venv = cls.empty(root)
        copy_tracked(["components"], root / "source")
        venv.pip("install", f"{root / 'source' / 'components'}[{extras}]")
        return venv

    def pip(self, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run([self.python, "-m", "pip", "--disable-pip-version-check", "-q",
                                 *args], cwd=cwd, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"pip {' '.join(args)} failed:\n{result.stderr[-4000:]}")
        return result.stdout

    def run(self, code: str, cwd: Path) -> str:
        """Run Python `code` in this venv from `cwd`; its stdout."""
        result = subprocess.run([self.python, "-c", code], cwd=cwd, capture_output=True,
                                text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-4000:])
        return result.stdout

    def run_program(self, program: Path, project: str, config: dict[str, str]) -> dict:
        """A Pulumi program's resources and exports under the repo's mocks, run by this venv
        (the mocks come from the repo's tools/; everything else from this venv)."""
        args = [self.python, "-m", "tools.mockstack", str(program), "--project", project]
        for key, value in config.items():
            args += ["--set", f"{key}={value}"]
        result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-4000:])
        return json.loads(result.stdout)


def copy_tracked(paths: list[str], directory: Path) -> None:
    """Copy the files Git tracks (or would: untracked, not ignored) under `paths`."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others",
                             "--exclude-standard", *paths], check=True,
                            capture_output=True, text=True).stdout.split()
    for name in listed:
        if (REPO / name).is_file():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, directory / name)


def git_repository_of_the_package(directory: Path) -> tuple[Path, str]:
    """A Git repository holding today's components/ (committed), as a release would; its path
    and the commit."""
    copy_tracked(["components"], directory)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(directory), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q",
        "-m", "release")
    return directory, git("rev-parse", "HEAD")


def readme_example_install_command() -> str:
    """The command README.md gives for installing the Python example's requirements from the
    repository root (a line of a fenced block that installs examples/python's requirements)."""
    readme = (REPO / "README.md").read_text()
    found = re.findall(r"^(cd examples/python && pip install -r requirements\.txt)$", readme,
                       re.MULTILINE)
    assert found, "README.md gives no command that installs the Python example's requirements"
    return found[0]
