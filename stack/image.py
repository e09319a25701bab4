"""The worker image: built from worker/Dockerfile and pushed; the Deployment uses its digest.

The build context is the repository root, narrowed by `.dockerignore` to what the image needs
(the worker package and the settings spec). The same allowlist decides the content tag, so a
change to either rolls a new image and nothing else does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi_docker as docker

from stack.config import StackConfig

DOCKERFILE = Path("worker") / "Dockerfile"


def context_files(root: Path) -> list[Path]:
    """Files of the build context: `.dockerignore` is `*` followed by `!<glob>` exceptions."""
    lines = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    if not patterns or patterns[0] != "*" or not all(p.startswith("!") for p in patterns[1:]):
        raise ValueError(".dockerignore must be `*` followed by `!` exceptions only")
    files = {path for p in patterns[1:] for path in root.glob(p[1:]) if path.is_file()}
    return sorted(files)


def content_tag(root: Path) -> str:
    """Deterministic tag from the build context's file names and bytes (`src-<12 hex>`)."""
    digest = hashlib.sha256()
    for path in context_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"src-{digest.hexdigest()[:12]}"


def registry_host(repository: str) -> str:
    """Registry part of a repository name (`docker.io` when the name has none)."""
    first = repository.split("/", 1)[0]
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def registry_server(config: StackConfig) -> str:
    """The registry the image is pushed to and pulled from."""
    return config["registryServer"] or registry_host(config["imageRepository"])


def worker_image(name: str, config: StackConfig, root: Path, tag: str) -> docker.Image:
    """Build the worker image for the stack's platform and push it as `repository:tag`."""
    registry = docker.RegistryArgs(
        server=registry_server(config),
        username=config["registryUsername"],
        password=config.secrets.get("registryPassword"),
    )
    # Gives the Deployment an immutable image reference: a new build means a new digest.
    return docker.Image(
        name,
        image_name=f"{config['imageRepository']}:{tag}",
        build=docker.DockerBuildArgs(
            context=str(root),
            dockerfile=str(root / DOCKERFILE),
            platform=config["imagePlatform"],
        ),
        registry=registry,
        skip_push=False,
    )
