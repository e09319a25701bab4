"""The worker image: built from worker/ and pushed; the Deployment uses its repo digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi_docker as docker

from components.config import StackSettings

# Build by-products that do not change the image and must not change the tag.
_IGNORED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


def content_tag(context: Path) -> str:
    """Deterministic tag from the build context's file names and bytes (`src-<12 hex>`)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        relative = path.relative_to(context)
        if _IGNORED_PARTS.intersection(relative.parts) or path.suffix == ".pyc":
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"src-{digest.hexdigest()[:12]}"


def registry_host(repository: str) -> str:
    """Registry part of a repository name (`docker.io` when the name has none)."""
    first = repository.split("/", 1)[0]
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def worker_image(name: str, settings: StackSettings, context: Path, tag: str) -> docker.Image:
    """Build `context/Dockerfile` for the stack's platform and push it as `repository:tag`."""
    registry = docker.RegistryArgs(
        server=settings.registry_server or registry_host(settings.image_repository),
        username=settings.registry_username,
        password=settings.registry_password,
    )
    # Gives the Deployment an immutable image reference: a new build means a new digest.
    return docker.Image(
        name,
        image_name=f"{settings.image_repository}:{tag}",
        build=docker.DockerBuildArgs(
            context=str(context),
            dockerfile=str(context / "Dockerfile"),
            platform=settings.image_platform,
        ),
        registry=registry,
        skip_push=False,
    )
