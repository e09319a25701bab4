"""scripts/debian-packages.sh, the apt step of scripts/test.sh, with stub commands on PATH:
it installs what the image tests need and does not leave Debian's docker-registry service (an
unauthenticated registry on port 5000, all interfaces) enabled or running."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "debian-packages.sh"
PACKAGES = ["buildah", "debootstrap", "docker-registry"]
# Real tools the script may use; everything else on PATH is a stub.
REAL_TOOLS = ("bash", "sh", "grep", "rm", "chmod", "cat", "mkdir", "touch", "printf", "env")

# Each stub appends its argv to calls.log. apt-get install behaves like Debian's: the package's
# postinst enables the service and starts it unless policy-rc.d answers 101.
STUBS = {
    "id": '[ "$1" = -u ] && echo "$FAKE_UID"',
    "dpkg-query": 'pkg="${@: -1}"\n'
                  '[ -e "$STATE/installed/$pkg" ] || { echo "no packages found matching $pkg" >&2;'
                  ' exit 1; }\nprintf "install ok installed"',
    "apt-get": 'if [ "$1" = install ]; then\n'
               '  for pkg in "$@"; do\n'
               '    case "$pkg" in -*|install) continue;; esac\n'
               '    touch "$STATE/installed/$pkg"\n'
               '    if [ "$pkg" = docker-registry ]; then\n'
               '      touch "$STATE/enabled"\n'
               '      policy="$SYSROOT/usr/sbin/policy-rc.d"\n'
               '      code=0; [ -x "$policy" ] && { "$policy" docker-registry start || code=$?; }\n'
               '      [ "$code" = 101 ] || touch "$STATE/active"\n'
               '    fi\n'
               '  done\n'
               'fi',
    "systemctl": 'if [ "$1 $2 $3" = "disable --now docker-registry" ]; then\n'
                 '  rm -f "$STATE/enabled" "$STATE/active"\nfi',
}


@dataclass
class Host:
    """A fake Debian host: stub commands, a system root and the package/service state."""

    root: Path
    path: Path
    sysroot: Path
    state: Path

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def commands(self, name: str) -> list[str]:
        return [c for c in self.calls() if c.split()[0] == name]

    def service(self) -> tuple[bool, bool]:
        """(enabled, running) of docker-registry."""
        return (self.state / "enabled").exists(), (self.state / "active").exists()

    def run(self, uid: int = 0) -> subprocess.CompletedProcess:
        env = {"PATH": str(self.path), "FAKE_UID": str(uid), "STATE": str(self.state),
               "SYSROOT": str(self.sysroot), "HOME": str(self.root)}
        return subprocess.run([str(self.path / "bash"), str(SCRIPT)], env=env,
                              capture_output=True, text=True, timeout=60)


def make_host(tmp_path: Path, *, systemd: bool = True, systemctl: bool = True,
              installed: tuple[str, ...] = ()) -> Host:
    host = Host(tmp_path, tmp_path / "bin", tmp_path / "sysroot", tmp_path / "state")
    host.path.mkdir()
    (host.sysroot / "usr" / "sbin").mkdir(parents=True)
    (host.state / "installed").mkdir(parents=True)
    if systemd:
        (host.sysroot / "run" / "systemd" / "system").mkdir(parents=True)
    for tool in REAL_TOOLS:
        found = shutil.which(tool)
        if found:
            (host.path / tool).symlink_to(found)
    for name, body in STUBS.items():
        if name == "systemctl" and not systemctl:
            continue
        stub = host.path / name
        stub.write_text(f'#!{shutil.which("bash")}\necho "{name} $*" >> "$STATE/calls.log"\n'
                        f"{body}\n")
        stub.chmod(0o755)
    for pkg in installed:
        (host.state / "installed" / pkg).touch()
    return host


def test_test_sh_runs_the_apt_step_through_this_script():
    test_sh = (REPO / "scripts" / "test.sh").read_text()
    assert "scripts/debian-packages.sh" in test_sh and "apt-get" not in test_sh
    assert os.access(SCRIPT, os.X_OK)


def test_installing_docker_registry_leaves_its_service_disabled_and_stopped(tmp_path):
    host = make_host(tmp_path)
    result = host.run()
    assert result.returncode == 0, result.stderr
    assert host.commands("apt-get") == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends " + " ".join(PACKAGES)]
    assert host.commands("systemctl") == ["systemctl disable --now docker-registry"]
    assert host.service() == (False, False), "docker-registry is still enabled or running"
    assert not (host.sysroot / "usr" / "sbin" / "policy-rc.d").exists(), \
        "the temporary policy-rc.d is removed after the install"


def test_the_service_does_not_start_during_the_install(tmp_path):
    """Without systemd nothing disables it afterwards, so policy-rc.d must hold it back."""
    host = make_host(tmp_path, systemd=False)
    assert host.run().returncode == 0
    assert host.commands("systemctl") == []
    assert host.service() == (True, False), "docker-registry was started during the install"


def test_an_existing_policy_rc_d_is_left_as_it_is(tmp_path):
    host = make_host(tmp_path)
    policy = host.sysroot / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n# the image's own\n")
    policy.chmod(0o755)
    assert host.run().returncode == 0
    assert policy.read_text().endswith("# the image's own\n")
    assert host.service() == (False, False)


@pytest.mark.parametrize("installed", [("docker-registry",), tuple(PACKAGES)])
def test_a_docker_registry_installed_before_is_not_touched(tmp_path, installed):
    host = make_host(tmp_path, installed=installed)
    (host.state / "enabled").touch()  # the host's own registry service, enabled and running
    (host.state / "active").touch()
    assert host.run().returncode == 0
    assert host.commands("systemctl") == []
    assert host.service() == (True, True)
    missing = [p for p in PACKAGES if p not in installed]
    installs = [c for c in host.commands("apt-get") if c.startswith("apt-get install")]
    assert installs == ([f"apt-get install -y -qq --no-install-recommends {' '.join(missing)}"]
                        if missing else [])


def test_without_systemctl_nothing_calls_it(tmp_path):
    host = make_host(tmp_path, systemctl=False)
    assert host.run().returncode == 0
    assert host.service() == (True, False)


def test_without_root_nothing_is_installed(tmp_path):
    host = make_host(tmp_path)
    assert host.run(uid=1000).returncode == 0
    assert host.calls() == ["id -u"]
