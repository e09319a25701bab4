"""scripts/debian-packages.sh, the apt step of scripts/test.sh, with stub commands on PATH:
it installs what the image and monitoring tests need and leaves none of the services those
packages bring enabled or running: Debian's docker-registry (an unauthenticated registry on port
5000, all interfaces) and prometheus (its UI and API on port 9090, all interfaces)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "debian-packages.sh"
PACKAGES = ["buildah", "debootstrap", "docker-registry", "prometheus"]
SERVICES = ["docker-registry", "prometheus"]
# Real tools the script may use; everything else on PATH is a stub.
REAL_TOOLS = ("bash", "sh", "grep", "rm", "chmod", "cat", "mkdir", "touch", "printf", "env")

# Each stub appends its argv to calls.log. apt-get install behaves like Debian's: a package with
# a service enables it in its postinst and starts it unless policy-rc.d answers 101.
STUBS = {
    "id": '[ "$1" = -u ] && echo "$FAKE_UID"',
    "dpkg-query": 'pkg="${@: -1}"\n'
                  '[ -e "$STATE/installed/$pkg" ] || { echo "no packages found matching $pkg" >&2;'
                  ' exit 1; }\nprintf "install ok installed"',
    "apt-get": 'if [ "$1" = install ]; then\n'
               '  for pkg in "$@"; do\n'
               '    case "$pkg" in -*|install) continue;; esac\n'
               '    touch "$STATE/installed/$pkg"\n'
               '    if [ "$pkg" = docker-registry ] || [ "$pkg" = prometheus ]; then\n'
               '      touch "$STATE/enabled-$pkg"\n'
               '      policy="$SYSROOT/usr/sbin/policy-rc.d"\n'
               '      code=0; [ -x "$policy" ] && { "$policy" "$pkg" start || code=$?; }\n'
               '      [ "$code" = 101 ] || touch "$STATE/active-$pkg"\n'
               '    fi\n'
               '  done\n'
               'fi',
    "systemctl": 'if [ "$1 $2" = "disable --now" ]; then\n'
                 '  rm -f "$STATE/enabled-$3" "$STATE/active-$3"\nfi',
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

    def service(self, name: str) -> tuple[bool, bool]:
        """(enabled, running) of the service `name`."""
        return (self.state / f"enabled-{name}").exists(), (self.state / f"active-{name}").exists()

    def services(self) -> dict[str, tuple[bool, bool]]:
        return {name: self.service(name) for name in SERVICES}

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


def test_installing_leaves_every_service_disabled_and_stopped(tmp_path):
    host = make_host(tmp_path)
    result = host.run()
    assert result.returncode == 0, result.stderr
    assert host.commands("apt-get") == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends " + " ".join(PACKAGES)]
    assert host.commands("systemctl") == [f"systemctl disable --now {s}" for s in SERVICES]
    assert host.services() == {s: (False, False) for s in SERVICES}, \
        "a service is still enabled or running"
    assert not (host.sysroot / "usr" / "sbin" / "policy-rc.d").exists(), \
        "the temporary policy-rc.d is removed after the install"


def test_no_service_starts_during_the_install(tmp_path):
    """Without systemd nothing disables them afterwards, so policy-rc.d must hold them back."""
    host = make_host(tmp_path, systemd=False)
    assert host.run().returncode == 0
    assert host.commands("systemctl") == []
    assert host.services() == {s: (True, False) for s in SERVICES}, \
        "a service was started during the install"


def test_an_existing_policy_rc_d_is_left_as_it_is(tmp_path):
    host = make_host(tmp_path)
    policy = host.sysroot / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n# the image's own\n")
    policy.chmod(0o755)
    assert host.run().returncode == 0
    assert policy.read_text().endswith("# the image's own\n")
    assert host.services() == {s: (False, False) for s in SERVICES}


@pytest.mark.parametrize("installed", [("docker-registry",), ("prometheus",),
                                       ("docker-registry", "prometheus"), tuple(PACKAGES)])
def test_a_service_installed_before_is_not_touched(tmp_path, installed):
    host = make_host(tmp_path, installed=installed)
    for service in SERVICES:
        if service in installed:  # the host's own service, enabled and running
            (host.state / f"enabled-{service}").touch()
            (host.state / f"active-{service}").touch()
    assert host.run().returncode == 0
    assert host.commands("systemctl") == [f"systemctl disable --now {s}" for s in SERVICES
                                          if s not in installed]
    assert host.services() == {s: (True, True) if s in installed else (False, False)
                               for s in SERVICES}
    missing = [p for p in PACKAGES if p not in installed]
    installs = [c for c in host.commands("apt-get") if c.startswith("apt-get install")]
    assert installs == ([f"apt-get install -y -qq --no-install-recommends {' '.join(missing)}"]
                        if missing else [])


def test_without_systemctl_nothing_calls_it(tmp_path):
    host = make_host(tmp_path, systemctl=False)
    assert host.run().returncode == 0
    assert host.services() == {s: (True, False) for s in SERVICES}


def test_without_root_nothing_is_installed(tmp_path):
    host = make_host(tmp_path)
    assert host.run(uid=1000).returncode == 0
    assert host.calls() == ["id -u"]
