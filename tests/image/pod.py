"""Run one container of a rendered Deployment with `buildah run`, the way the kubelet would.

What is taken from the rendered pod spec: the image reference (pulled by digest from the
registry), `command`/`args` over the image's ENTRYPOINT/CMD, `env` (values, `$(VAR)` expansion,
`secretKeyRef` resolved from the rendered Secrets), Secret volumes written as files with their
`defaultMode` and `fsGroup`, `emptyDir` volumes, `readOnly` mounts, `runAsUser`/`runAsGroup`,
dropped capabilities and `readOnlyRootFilesystem`. Probes run exactly as specified: `httpGet`
against the container's port (host networking, so 127.0.0.1), or `exec` via another `buildah run`.
Not emulated: cgroup resource limits, seccomp profiles other than buildah's default, and the
pod network namespace (the container shares the host's loopback).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.image.oci import buildah
from tools.procs import port_open, wait_for

BUILDAH = ["buildah", "--storage-driver", "vfs"]


def _secret_value(secret: Mapping[str, Any], key: str) -> str | None:
    if key in secret.get("stringData", {}):
        return secret["stringData"][key]
    if key in secret.get("data", {}):
        return base64.b64decode(secret["data"][key]).decode()
    return None


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined names are replaced, `$$` escapes."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


@dataclass
class ProbeResult:
    ok: bool
    detail: str


class PodContainer:
    """One container of a rendered pod template, run with buildah; use as a context manager."""

    def __init__(self, deployment: Mapping[str, Any], secrets: Mapping[str, Mapping[str, Any]],
                 image: str, work_dir: Path, container_name: str | None = None) -> None:
        self.deployment = deployment
        self.pod = deployment["spec"]["template"]["spec"]
        containers = self.pod["containers"]
        self.spec = next((c for c in containers if c["name"] == container_name), containers[0])
        self.secrets = secrets
        self.image = image
        self.work_dir = Path(tempfile.mkdtemp(prefix="pod-", dir=work_dir))
        self.log_file = self.work_dir / "container.log"
        self.container: str | None = None
        self.rootfs: str | None = None
        self.process: subprocess.Popen | None = None
        self.main_pid: int | None = None
        """The container's process, once seen; None before, or if it exited before it was seen."""
        self._mounted: list[str] = []

    # --- the pod spec, resolved ---------------------------------------------------------------
    @property
    def security_context(self) -> dict[str, Any]:
        return {**self.pod.get("securityContext", {}), **self.spec.get("securityContext", {})}

    @property
    def termination_grace_seconds(self) -> int:
        return self.pod.get("terminationGracePeriodSeconds", 30)

    def env(self) -> dict[str, str]:
        """The container's environment as the kubelet builds it (image ENV is added by buildah)."""
        env: dict[str, str] = {}
        namespace = self.deployment["metadata"].get("namespace", "default")
        for source in self.spec.get("envFrom", []):
            ref = source.get("secretRef")
            if ref is None:
                raise NotImplementedError(f"envFrom {source} (only secretRef is emulated)")
            secret = self.secrets[ref["name"]]
            prefix = source.get("prefix", "")
            for key in {**secret.get("data", {}), **secret.get("stringData", {})}:
                env[prefix + key] = _secret_value(secret, key)
        for item in self.spec.get("env", []):
            if "value" in item:
                env[item["name"]] = _expand(item["value"], env)
            elif "valueFrom" in item:
                source = item["valueFrom"]
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    secret = self.secrets.get(ref["name"])
                    value = None if secret is None else _secret_value(secret, ref["key"])
                    if value is None:
                        if ref.get("optional"):
                            continue
                        raise LookupError(f"env {item['name']}: Secret {ref['name']} key "
                                          f"{ref['key']} does not exist (pod would not start)")
                    env[item["name"]] = value
                elif "fieldRef" in source:
                    field = source["fieldRef"]["fieldPath"]
                    env[item["name"]] = {"metadata.name": f"{self.deployment['metadata']['name']}-0",
                                         "metadata.namespace": namespace,
                                         "status.podIP": "127.0.0.1"}[field]
                else:
                    raise NotImplementedError(f"env {item['name']}: {source}")
            else:
                env[item["name"]] = ""
        return env

    def image_config(self) -> dict[str, Any]:
        inspect = json.loads(buildah("inspect", "--type", "container", self.container).stdout)
        return inspect["OCIv1"].get("config", {})

    def argv(self) -> list[str]:
        """`command` replaces ENTRYPOINT (and drops CMD); `args` replaces CMD."""
        config = self.image_config()
        command = self.spec.get("command")
        args = self.spec.get("args")
        env = self.env()
        if command:
            argv = list(command) + list(args or [])
        else:
            argv = list(config.get("Entrypoint") or []) + list(
                args if args is not None else config.get("Cmd") or [])
        if not argv:
            raise ValueError("neither the container nor the image gives a command")
        return [_expand(a, env) for a in argv]

    def user(self) -> str:
        sc = self.security_context
        uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
        if uid is None:
            return self.image_config().get("User") or "0"
        return f"{uid}:{gid if gid is not None else 0}"

    # --- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> PodContainer:
        try:
            self.create()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self) -> None:
        """Pull the image by its pinned reference and prepare volumes and the root filesystem."""
        self.container = buildah("from", "--tls-verify=false", "--pull=always", "--name",
                                 f"pod-{os.getpid()}-{int(time.time() * 1000)}",
                                 f"docker://{self.image}").stdout.strip()
        self.volume_args = self._volumes()
        if self.security_context.get("readOnlyRootFilesystem"):
            self._read_only_root()

    def _volumes(self) -> list[str]:
        volumes = {v["name"]: v for v in self.pod.get("volumes", [])}
        fs_group = self.pod.get("securityContext", {}).get("fsGroup")
        args = []
        for mount in self.spec.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            host = self.work_dir / "volumes" / mount["name"]
            host.mkdir(parents=True, exist_ok=True)
            if "secret" in volume:
                source = volume["secret"]
                secret = self.secrets[source["secretName"]]
                keys = {**secret.get("data", {}), **secret.get("stringData", {})}
                items = source.get("items") or [{"key": k, "path": k} for k in keys]
                for item in items:
                    value = _secret_value(secret, item["key"])
                    if value is None:
                        raise LookupError(f"volume {mount['name']}: no key {item['key']}")
                    path = host / item["path"]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(value)
                    os.chown(path, 0, fs_group if fs_group is not None else 0)
                    path.chmod(item.get("mode", source.get("defaultMode", 0o644)))
                host.chmod(0o755)
            elif "emptyDir" in volume:
                # The kubelet makes emptyDir world-writable (setgid to fsGroup when set).
                if fs_group is not None:
                    os.chown(host, 0, fs_group)
                host.chmod(0o2777 if fs_group is not None else 0o777)
            else:
                raise NotImplementedError(f"volume {mount['name']}: {sorted(volume)}")
            mode = "ro" if mount.get("readOnly") else "rw"
            args += ["-v", f"{host}:{mount['mountPath']}:{mode}"]
        return args

    def _read_only_root(self) -> None:
        """Bind the container's root filesystem read-only, as readOnlyRootFilesystem does.

        Mount points are created first (as a runtime does), and buildah's own bookkeeping file
        /run/.containerenv lands on a small root-owned bind at /run that the container user
        cannot write either.
        """
        self.rootfs = buildah("mount", self.container).stdout.strip()
        for mount in self.spec.get("volumeMounts", []):
            Path(self.rootfs, mount["mountPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)
        # The files a runtime binds over (as the kubelet does for /etc/hosts and resolv.conf).
        for name in ("etc/hosts", "etc/hostname", "etc/resolv.conf"):
            Path(self.rootfs, name).touch(exist_ok=True)
        run_dir = self.work_dir / "run"
        run_dir.mkdir(mode=0o755)
        Path(self.rootfs, "run").mkdir(exist_ok=True)
        for command in (["mount", "--bind", self.rootfs, self.rootfs],
                        ["mount", "-o", "remount,bind,ro", self.rootfs]):
            subprocess.run(command, check=True)
            if command[1] == "--bind":
                self._mounted.append(self.rootfs)
        run_target = str(Path(self.rootfs, "run"))
        subprocess.run(["mount", "--bind", str(run_dir), run_target], check=True)
        self._mounted.append(run_target)

    def _run_args(self) -> list[str]:
        args = ["run", "--isolation", "chroot", "--network", "host", "--user", self.user()]
        if "ALL" in self.security_context.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", "all"]
        for name, value in self.env().items():
            args += ["--env", f"{name}={value}"]
        return args + self.volume_args

    def start(self) -> None:
        for port in self.spec.get("ports", []):
            if port_open(port["containerPort"]):
                raise RuntimeError(f"port {port['containerPort']} ({port.get('name')}) is already "
                                   "in use on this host; the container needs it (host network)")
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [*BUILDAH, *self._run_args(), self.container, "--", *self.argv()],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        # A process that exits at once (a refused setting takes a tenth of a second) can be gone
        # before it is seen: that is a container that exited, as the kubelet reports it, for the
        # probes and the logs to show; not a failure of this harness.
        def seen_or_exited() -> bool:
            self.main_pid = self._find_main_process()
            return self.main_pid is not None or self.exited() is not None

        wait_for(seen_or_exited, 60, "the container's main process (or its exit)")

    def _find_main_process(self) -> int | None:
        """The container's process: the first descendant of buildah chrooted into the rootfs
        that is not buildah's own helper; None while there is none (or no more)."""
        if self.process is None or self.process.poll() is not None:
            return None
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # comm may contain spaces; the fields after its closing parenthesis do not.
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(stat.parent.name))
        queue = [self.process.pid]
        while queue:
            for child in sorted(children.get(queue.pop(0), [])):
                try:
                    comm = Path(f"/proc/{child}/comm").read_text().strip()
                    root = os.readlink(f"/proc/{child}/root")
                except OSError:
                    continue
                if root != "/" and not comm.startswith("memfd:buildah") and comm != "buildah":
                    return child
                queue.append(child)
        return None

    def logs(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def terminate(self, timeout: float) -> tuple[int | None, float]:
        """SIGTERM the container's process as the kubelet does; (exit code or None if it had to
        be killed after `timeout`, seconds it took)."""
        started = time.monotonic()
        if self.main_pid is not None:
            os.kill(self.main_pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            return None, time.monotonic() - started
        return code, time.monotonic() - started

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if self.main_pid is not None:
                try:
                    os.kill(self.main_pid, signal.SIGKILL)
                except OSError:  # gone meanwhile
                    pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def close(self) -> None:
        self._kill()
        for target in reversed(self._mounted):
            subprocess.run(["umount", target], capture_output=True)
        self._mounted.clear()
        if self.container:
            subprocess.run([*BUILDAH, "rm", self.container], capture_output=True)
            self.container = None
        shutil.rmtree(self.work_dir / "volumes", ignore_errors=True)

    # --- probes ---------------------------------------------------------------------------------
    def probe(self, kind: str) -> ProbeResult:
        """Run the container's `kind` probe (livenessProbe, ...) once, as the kubelet would."""
        spec = self.spec[kind]
        timeout = spec.get("timeoutSeconds", 1)
        if "httpGet" in spec:
            get = spec["httpGet"]
            port = get["port"]
            if isinstance(port, str):
                port = next(p["containerPort"] for p in self.spec.get("ports", [])
                            if p.get("name") == port)
            scheme = get.get("scheme", "HTTP").lower()
            host = get.get("host", "127.0.0.1")
            url = f"{scheme}://{host}:{port}{get.get('path', '/')}"
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                            timeout=timeout) as response:
                    return ProbeResult(200 <= response.status < 400, f"{url} -> {response.status}")
            except urllib.error.HTTPError as err:
                return ProbeResult(False, f"{url} -> {err.code}")
            except OSError as err:
                return ProbeResult(False, f"{url} -> {err}")
        if "exec" in spec:
            command = spec["exec"]["command"]
            try:
                # buildah's own start-up is not the probe's: allow it on top of timeoutSeconds.
                result = self.exec(command, timeout=timeout + 30)
            except subprocess.TimeoutExpired:
                return ProbeResult(False, f"exec {command} timed out")
            return ProbeResult(result.returncode == 0,
                               f"exec {command} -> {result.returncode} {result.stdout.strip()}"
                               f"{result.stderr.strip()[-300:]}")
        raise NotImplementedError(f"{kind}: {sorted(spec)}")

    def exec(self, command: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """Run `command` in the running container's filesystem, user, env and mounts."""
        return subprocess.run([*BUILDAH, *self._run_args(), self.container, "--", *command],
                              capture_output=True, text=True, timeout=timeout)

    def wait_probe(self, kind: str, budget: float | None = None) -> tuple[ProbeResult, float]:
        """Probe every periodSeconds until it succeeds or `budget` seconds pass (default: the
        probe's own failureThreshold x periodSeconds, the kubelet's budget for a startup probe).
        """
        spec = self.spec[kind]
        period = spec.get("periodSeconds", 10)
        if budget is None:
            budget = spec.get("failureThreshold", 3) * period
        started = time.monotonic()
        time.sleep(spec.get("initialDelaySeconds", 0))
        while True:
            if self.exited() is not None:
                raise RuntimeError(f"container exited ({self.exited()}):\n{self.logs()[-3000:]}")
            result = self.probe(kind)
            if result.ok or time.monotonic() - started + period > budget:
                return result, time.monotonic() - started
            time.sleep(period)
