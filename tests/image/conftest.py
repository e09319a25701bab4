"""Session fixtures for the image tests: a local registry and the worker image, built once.

The build is slow on vfs storage, so it happens once per session; the debootstrap base image is
cached in buildah's storage across sessions. Without root or the Debian tools the tests skip
with the reason; on CI (`CI=true`) they fail instead, because there they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.summary import report_lines
from tests.image.oci import (BuiltImage, Registry, build_and_push, ensure_base_image,
                             missing_prerequisites, remove_images, unpacked_size)

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTEXT = REPO_ROOT  # narrowed to the worker and the settings spec by /.dockerignore
DOCKERFILE = REPO_ROOT / "worker" / "Dockerfile"
CACHE = REPO_ROOT / ".cache" / "image"
REPOSITORY = "temporal-worker"
# Filled by the fixtures, printed at the end of the run.
REPORT: dict[str, str] = {}


@pytest.fixture(scope="session")
def image_tools() -> None:
    reason = missing_prerequisites()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"image tests cannot run: {reason}; CI must run them")
    pytest.skip(f"image tests need buildah as root: {reason}")


@pytest.fixture(scope="session")
def registry(image_tools, tmp_path_factory) -> Iterator[Registry]:
    """Debian's docker-registry on a free loopback port, for the whole session."""
    with Registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def worker_image(image_tools, registry: Registry, tmp_path_factory) -> Iterator[BuiltImage]:
    """worker/Dockerfile, unchanged, built on the debootstrap base, pushed, digest read back."""
    if not DOCKERFILE.exists():
        pytest.fail(f"{DOCKERFILE} is missing")
    base, base_seconds = ensure_base_image(CACHE)
    work = tmp_path_factory.mktemp("build")
    # A tag of this session's own, so concurrent sessions on one machine never remove each
    # other's image (the registry is per session anyway).
    tag = f"session-{os.getpid()}"
    local, build_seconds, pushed = build_and_push(CONTEXT, DOCKERFILE, base, registry,
                                                  REPOSITORY, tag, work)
    digest, manifest = registry.manifest(REPOSITORY, tag)
    if digest != pushed:
        pytest.fail(f"registry serves {digest}, buildah pushed {pushed}")
    compressed = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    image = BuiltImage(reference=f"{registry.host}/{REPOSITORY}@{digest}",
                       repository=f"{registry.host}/{REPOSITORY}", digest=digest,
                       base_image=base, build_seconds=build_seconds, base_seconds=base_seconds,
                       compressed_bytes=compressed, unpacked_size=unpacked_size(local))
    REPORT.update({
        "image": image.reference,
        "image size": f"{compressed / 2**20:.1f} MiB compressed in the registry, "
                      f"{image.unpacked_size} unpacked",
        "build time": f"{build_seconds:.1f} s (buildah bud, vfs, chroot)",
        "base image": base + (f" (debootstrap took {base_seconds:.1f} s)" if base_seconds
                              else " (cached)"),
    })
    yield image
    remove_images(local, image.repository)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Hands REPORT to tests/conftest.py's summary through the test reports: under pytest-xdist
    the fixtures run in a worker process, and only test reports reach the printing process."""
    outcome = yield
    if call.when == "teardown" and REPORT:
        report_lines(outcome.get_result(), "worker image", REPORT)
