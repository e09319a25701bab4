"""buildah, a debootstrap base image and a local docker-registry, driven from the image tests.

No Docker engine and no Docker Hub: the base image is made from Debian packages with
debootstrap, builds and runs use buildah (vfs storage, chroot isolation), and pushes go to
Debian's `docker-registry` on a free loopback port.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tools.procs import Background, free_port, port_open

TOOLS = ("buildah", "debootstrap", "docker-registry")
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")


def missing_prerequisites() -> str | None:
    """Why the image tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (buildah chroot isolation and debootstrap)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return (f"missing {', '.join(missing)} (Debian packages buildah debootstrap "
                f"docker-registry; scripts/test.sh installs them when run as root)")
    return None


def buildah(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run buildah on vfs storage (no overlay or fuse needed); raise with its stderr on failure."""
    result = subprocess.run(["buildah", "--storage-driver", "vfs", *args], capture_output=True,
                            text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"buildah {args[0]} failed ({result.returncode}):\n"
                           f"{result.stderr[-4000:]}")
    return result


def debian_mirror() -> str:
    """The host's Debian mirror (apt is known to reach it), else deb.debian.org."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for stanza in sources.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
    listing = Path("/etc/apt/sources.list")
    if listing.exists():
        match = re.search(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", listing.read_text(), re.M)
        if match:
            return match.group(1)
    return "http://deb.debian.org/debian"


def base_image_name() -> str:
    """Name of the cached base image; the tag changes when the package list does."""
    key = hashlib.sha256(" ".join((SUITE, *BASE_PACKAGES)).encode()).hexdigest()[:12]
    return f"localhost/temporal-worker-base:{SUITE}-{key}"


def image_exists(name: str) -> bool:
    return subprocess.run(["buildah", "--storage-driver", "vfs", "inspect", "--type", "image",
                           name], capture_output=True).returncode == 0


def ensure_base_image(work_dir: Path) -> tuple[str, float | None]:
    """The debootstrap base image, created on first use; (name, seconds spent or None if cached).

    buildah's vfs storage keeps it between runs, so only the first run pays for debootstrap.
    """
    name = base_image_name()
    if image_exists(name):
        return name, None
    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=work_dir))
    try:
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE,
             str(root), debian_mirror()], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(f"debootstrap failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
        # The package cache and lists only add size.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / junk).glob("*"):
                if entry.is_file():
                    entry.unlink()
        container = buildah("from", "scratch").stdout.strip()
        try:
            mount = buildah("mount", container).stdout.strip()
            subprocess.run(f"tar -C {root} -cf - . | tar -C {mount} -xf -", shell=True,
                           check=True)
            buildah("umount", container)
            buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
                    ":/sbin:/bin", "--cmd", "/usr/bin/python3", "--label",
                    f"org.opencontainers.image.description=debootstrap {SUITE} minbase + "
                    f"{' '.join(BASE_PACKAGES)}", container)
            buildah("commit", "--rm", container, name)
        except BaseException:
            subprocess.run(["buildah", "--storage-driver", "vfs", "rm", container],
                           capture_output=True)
            raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return name, time.monotonic() - started


class Registry(Background):
    """Debian's docker-registry (distribution v2) on a free loopback port, storage in a tmp dir."""

    def __init__(self, work_dir: Path) -> None:
        self.port = free_port()
        super().__init__("docker-registry", [], workdir=work_dir)
        self.config = self.workdir / "registry.yml"
        self.argv = ["docker-registry", "serve", str(self.config)]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, ready=None, timeout: float = 30) -> Registry:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.workdir / 'data'}\n"
            f"http:\n  addr: {self.host}\n")
        super().start(ready or (lambda: port_open(self.port)), timeout)
        return self

    def manifest(self, repository: str, reference: str) -> tuple[str, dict]:
        """(Docker-Content-Digest, manifest) as the registry serves them."""
        request = urllib.request.Request(
            f"http://{self.host}/v2/{repository}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            digest = response.headers["Docker-Content-Digest"]
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RuntimeError(f"registry digest {digest} does not match the manifest it served")
        return digest, json.loads(body)


@dataclass(frozen=True)
class BuiltImage:
    """The worker image as built, pushed and read back from the registry."""

    reference: str
    """`host:port/repo@sha256:...`, exactly as the Deployment pins it."""
    repository: str
    """`host:port/repo`."""
    digest: str
    base_image: str
    build_seconds: float
    base_seconds: float | None
    """Time spent making the base image, None when it came from the cache."""
    compressed_bytes: int
    """Sum of the layer blobs and config in the registry (what a node pulls)."""
    unpacked_size: str
    """Size of the image in local storage, as `buildah images` reports it."""


def build_and_push(context: Path, dockerfile: Path, base_image: str, registry: Registry,
                   repository: str, tag: str, work_dir: Path) -> tuple[str, float, str]:
    """buildah-build `dockerfile` with BASE_IMAGE=`base_image` and push it; (local name,
    build seconds, digest from --digestfile)."""
    local = f"localhost/{repository}:{tag}"
    started = time.monotonic()
    # The build stage's pip verifies PyPI with the host's CA bundle (proxies may re-sign TLS).
    buildah("bud", "--isolation", "chroot", "--pull=never", "--build-arg",
            f"BASE_IMAGE={base_image}", "-v", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro",
            "-f", str(dockerfile), "-t", local, str(context), timeout=1800)
    build_seconds = time.monotonic() - started
    digest_file = work_dir / "push.digest"
    buildah("push", "--tls-verify=false", "--digestfile", str(digest_file), local,
            f"docker://{registry.host}/{repository}:{tag}")
    return local, build_seconds, digest_file.read_text().strip()


@contextmanager
def working_container(reference: str) -> Iterator[str]:
    """A buildah container of `reference` (`host:port/repo@sha256:...`), pulled from the
    registry as a node would, removed afterwards."""
    container = buildah("from", "--tls-verify=false", "--pull=always", "--name",
                        f"check-{os.getpid()}-{time.monotonic_ns()}",
                        f"docker://{reference}").stdout.strip()
    try:
        yield container
    finally:
        subprocess.run(["buildah", "--storage-driver", "vfs", "rm", container],
                       capture_output=True)


def run_in(container: str, *argv: str) -> subprocess.CompletedProcess:
    """`argv` in `container` as the image's USER with its ENV; the result, whatever the exit."""
    return subprocess.run(["buildah", "--storage-driver", "vfs", "run", "--isolation", "chroot",
                           container, "--", *argv], capture_output=True, text=True, timeout=120)


def unpacked_size(name: str) -> str:
    """Size of the image in local storage, e.g. `187 MB`."""
    return json.loads(buildah("images", "--json", name).stdout)[0]["size"]


def remove_images(*prefixes: str) -> None:
    """Remove every local image with a name starting with one of `prefixes` (vfs keeps full
    copies, so leftovers add up fast)."""
    for entry in json.loads(buildah("images", "--json").stdout or "[]"):
        if any(n.startswith(prefixes) for n in entry.get("names") or []):
            subprocess.run(["buildah", "--storage-driver", "vfs", "rmi", "-f", entry["id"]],
                           capture_output=True)
